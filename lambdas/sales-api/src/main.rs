//! λ sales-api: `POST /orders`, `GET /products`, `GET /products/{id}` behind API Gateway.

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use std::time::Duration;

use donut_api::{Limits, SalesApi};
use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, RelayNow, sns_publisher, telemetry, warehouse};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("sales-api");
    let settings = settings::SalesApi::from_env()?;
    let aws = Aws::from_env();
    let warehouse = warehouse(&aws, &settings.base.database)?;
    let limits = Limits {
        max_quantity: settings.max_quantity,
        max_body_bytes: settings.max_body_bytes as usize,
    };
    let relay = RelayNow {
        warehouse: warehouse.clone(),
        publisher: sns_publisher(&aws, &settings.stock_out_topic_arn),
        budget: Duration::from_secs(1),
    };
    let api = &SalesApi::new(warehouse, limits).with_after_stock_out(relay);
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(api.handle(request).await)
    }))
    .await
}
