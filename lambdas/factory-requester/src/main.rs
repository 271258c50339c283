//! λ factory-requester: SQS batches of stock-out events → the legacy factory; reports
//! per-message failures (ReportBatchItemFailures).

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use donut_contract::settings::{self, Contract};
use donut_messaging::FactoryRequester;
use donut_runtime::{Aws, callback_keys, factory_client, telemetry, warehouse};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("factory-requester");
    let settings = settings::FactoryRequester::from_env()?;
    let aws = Aws::from_env();
    let warehouse = warehouse(&aws, &settings.base.database)?;
    let factory = factory_client(&settings.factory, callback_keys(&aws, &settings.callback));
    // The claim on a factory order outlives one factory call, timeouts included.
    let lease = Duration::from_millis(2 * settings.factory.timeout_ms);
    let requester = &FactoryRequester::new(warehouse, factory, lease);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(requester.handle(event.payload).await)
    }))
    .await
}
