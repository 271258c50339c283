//! λ factory-watchdog: on a schedule, asks the factory again for orders it accepted and never
//! called back for, and publishes again the stock-out of open orders whose message never got
//! through; after `max_attempts`, alerts ops (ops SNS topic) and emits the
//! `FactoryOrdersOverdue` metric (EMF) that the overdue alarm watches — the same pass as the
//! local stack's sweep (`donut_runtime::apps::factory_watchdog`).

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, apps, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("factory-watchdog");
    let watchdog =
        &apps::factory_watchdog(&Aws::from_env(), &settings::FactoryWatchdog::from_env()?)?;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let r = watchdog.run().await?;
        Ok::<_, Error>(json!({
            "overdue": r.overdue,
            "re_requested": r.re_requested,
            "republished": r.republished,
            "surfaced": r.surfaced,
            "failed": r.failed,
            "oldest_unfinished_s": r.oldest_unfinished.map(|d| d.as_secs()),
        }))
    }))
    .await
}
