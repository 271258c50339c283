//! λ warehouse-restock: the factory's signed callback, `POST /factory/callback/{id}?token=…`.

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_api::RestockApi;
use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, callback_keys, telemetry, warehouse};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("warehouse-restock");
    let settings = settings::WarehouseRestock::from_env()?;
    let aws = Aws::from_env();
    let warehouse = warehouse(&aws, &settings.base.database)?;
    let keys = callback_keys(&aws, &settings.callback);
    let api = &RestockApi::new(warehouse, keys, settings.max_body_bytes as usize);
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(api.handle(request).await)
    }))
    .await
}
