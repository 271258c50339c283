//! λ outbox-relay: the scheduled sweeper that publishes what the best-effort publish after a
//! stock-out left in the outbox, and reports the oldest unpublished age (`OutboxOldestAge`).

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use donut_messaging::sweep::relay_pass;
use donut_runtime::{Aws, sns_publisher, telemetry, warehouse};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("outbox-relay");
    let settings = settings::OutboxRelay::from_env()?;
    let aws = Aws::from_env();
    let warehouse = &warehouse(&aws, &settings.base.database)?;
    let publisher = &sns_publisher(&aws, &settings.stock_out_topic_arn);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = relay_pass(warehouse, publisher).await?;
        Ok::<_, Error>(json!({ "published": report.published, "failed": report.failed }))
    }))
    .await
}
