//! λ factory-watchdog: on a schedule, asks the factory again for orders it accepted and never
//! called back for, and publishes again the stock-out of open orders whose message never got
//! through; after `max_attempts`, alerts ops (ops SNS topic) and emits the
//! `FactoryOrdersOverdue` metric (EMF) that the overdue alarm watches — the same pass as the
//! local stack's sweep (`donut_messaging::sweep::watchdog_pass`).

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use std::time::Duration;

use donut_contract::settings::{self, Contract};
use donut_domain::services::WatchdogPolicy;
use donut_messaging::sweep::watchdog_pass;
use donut_runtime::{Aws, LazyAlerts, callback_keys, factory_client, telemetry, warehouse};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("factory-watchdog");
    let settings = settings::FactoryWatchdog::from_env()?;
    let aws = Aws::from_env();
    let warehouse = &warehouse(&aws, &settings.base.database)?;
    let factory = &factory_client(&settings.factory, callback_keys(&aws, &settings.callback));
    let alerts = &LazyAlerts::new(&aws, &settings.ops_topic_arn);
    let policy = WatchdogPolicy {
        deadline: Duration::from_secs(60 * settings.deadline_minutes),
        open_deadline: Duration::from_secs(60 * settings.open_deadline_minutes),
        max_attempts: settings.max_attempts,
    };
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let r = watchdog_pass(warehouse, factory, alerts, policy).await?;
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
