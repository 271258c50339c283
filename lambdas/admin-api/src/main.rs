//! λ admin-api: the operators' door (`/admin/…`, IAM-authorized by API Gateway): the catalogue,
//! stock adjustments, factory orders; every change audited with the caller's IAM ARN.

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, apps, telemetry};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("admin-api");
    let api = &apps::admin_api(&Aws::from_env(), &settings::AdminApi::from_env()?)?;
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(api.handle(request).await)
    }))
    .await
}
