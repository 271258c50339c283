//! λ outbox-relay: the scheduled sweeper that publishes what the best-effort publish after a
//! stock-out left in the outbox, and reports the oldest unpublished age (`OutboxOldestAge`).

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, apps, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("outbox-relay");
    let relay = &apps::outbox_relay(&Aws::from_env(), &settings::OutboxRelay::from_env()?)?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let report = relay.run().await?;
        Ok::<_, Error>(json!({ "published": report.published, "failed": report.failed }))
    }))
    .await
}
