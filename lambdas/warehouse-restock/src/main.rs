//! λ warehouse-restock: the factory's signed callback,
//! `POST /factory/callback/{id}?q=…&exp=…&kid=…&sig=…`.

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, apps, telemetry};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("warehouse-restock");
    let api = &apps::warehouse_restock(&Aws::from_env(), &settings::WarehouseRestock::from_env()?)?;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(api.handle(request).await)
    }))
    .await
}
