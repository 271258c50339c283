//! λ factory-requester: SQS batches of stock-out events → the legacy factory; reports
//! per-message failures (ReportBatchItemFailures).

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use donut_messaging::FactoryRequester;
use donut_runtime::settings::{parse_var, var};
use donut_runtime::{callback_signer, factory_client, telemetry, warehouse};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("factory-requester");
    let aws = aws_config::load_from_env().await;
    let warehouse = warehouse(&aws).await?;
    let factory = factory_client(callback_signer(&aws, &var("CALLBACK_BASE_URL")?).await?)?;
    // The claim on a factory order outlives one factory call, timeouts included.
    let lease = Duration::from_millis(2 * parse_var::<u64>("FACTORY_TIMEOUT_MS", 5000)?);
    let requester: &'static _ =
        Box::leak(Box::new(FactoryRequester::new(warehouse, factory, lease)));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, Error>(requester.handle(event.payload).await)
    }))
    .await
}
