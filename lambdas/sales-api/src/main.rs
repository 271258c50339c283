//! λ sales-api: `POST /orders`, `GET /products`, `GET /products/{id}` behind API Gateway.

use std::time::Duration;

use donut_api::{Limits, SalesApi};
use donut_runtime::settings::parse_var;
use donut_runtime::{RelayNow, sns_publisher, telemetry, warehouse};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("sales-api");
    let aws = aws_config::load_from_env().await;
    let warehouse = warehouse(&aws).await?;
    let limits = Limits {
        max_quantity: parse_var("MAX_QUANTITY", 10)?,
        max_body_bytes: parse_var("MAX_BODY_BYTES", 16384)?,
    };
    let relay = RelayNow {
        warehouse: warehouse.clone(),
        publisher: sns_publisher(&aws)?,
        budget: Duration::from_secs(1),
    };
    let api: &'static _ = Box::leak(Box::new(
        SalesApi::new(warehouse, limits).with_after_stock_out(relay),
    ));
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(api.handle(request).await)
    }))
    .await
}
