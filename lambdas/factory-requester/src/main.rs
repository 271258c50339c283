//! λ factory-requester: SQS batches of stock-out events → the legacy factory; reports
//! per-message failures (ReportBatchItemFailures).

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, apps, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("factory-requester");
    let requester =
        &apps::factory_requester(&Aws::from_env(), &settings::FactoryRequester::from_env()?)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(requester.handle(event.payload).await)
    }))
    .await
}
