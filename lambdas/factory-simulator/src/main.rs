//! λ factory-simulator (stages with `factorySimulator: "true"`): the legacy factory's
//! simulator behind a function URL; its delay queue brings the callbacks when they are due.

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .without_time()
        .init();
    let settings = settings::FactorySimulator::from_env()?;
    let sqs = aws_sdk_sqs::Client::new(&aws_config::load_from_env().await);
    let sim = &factory_sim::deployed::simulator(&settings, sqs)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        factory_sim::deployed::handle(sim, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
