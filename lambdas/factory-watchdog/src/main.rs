//! λ factory-watchdog: on a schedule, asks the factory again for orders it accepted and never
//! called back for; after `FACTORY_MAX_ATTEMPTS` requests, alerts ops (ops SNS topic) and
//! emits the `FactoryOrdersOverdue` metric (EMF) that the overdue alarm watches — the same
//! pass as the local stack's sweep (`donut_messaging::sweep::watchdog_pass`).

use std::time::Duration;

use donut_domain::services::WatchdogPolicy;
use donut_messaging::SnsAlerts;
use donut_messaging::sweep::watchdog_pass;
use donut_runtime::settings::{parse_var, var};
use donut_runtime::{callback_signer, factory_client, telemetry, warehouse};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("factory-watchdog");
    let aws = aws_config::load_from_env().await;
    let warehouse: &'static _ = Box::leak(Box::new(warehouse(&aws).await?));
    let factory: &'static _ = Box::leak(Box::new(factory_client(
        callback_signer(&aws, &var("CALLBACK_BASE_URL")?).await?,
    )?));
    let alerts: &'static _ = Box::leak(Box::new(SnsAlerts::new(
        aws_sdk_sns::Client::new(&aws),
        var("OPS_TOPIC_ARN")?,
    )));
    let policy = WatchdogPolicy {
        deadline: Duration::from_secs(60 * parse_var::<u64>("FACTORY_DEADLINE_MINUTES", 30)?),
        max_attempts: parse_var("FACTORY_MAX_ATTEMPTS", 3)?,
    };
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let r = watchdog_pass(warehouse, factory, alerts, policy).await?;
        Ok::<_, Error>(json!({ "overdue": r.overdue, "re_requested": r.re_requested, "surfaced": r.surfaced, "failed": r.failed }))
    }))
    .await
}
