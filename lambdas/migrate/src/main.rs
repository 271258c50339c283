//! λ migrate: applies the schema migrations (and, on dev stacks, the seed). The infra
//! program invokes it on every `pulumi up`, before the functions serve.

use donut_runtime::{telemetry, warehouse};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("migrate");
    let aws = aws_config::load_from_env().await;
    let warehouse: &'static _ = Box::leak(Box::new(warehouse(&aws).await?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let applied = warehouse.migrate().await?;
        let seeded = event
            .payload
            .get("seed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if seeded {
            warehouse.seed().await?;
        }
        Ok::<_, Error>(json!({ "applied": applied, "seeded": seeded }))
    }))
    .await
}
