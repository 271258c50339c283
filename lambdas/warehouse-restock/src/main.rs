//! λ warehouse-restock: the factory's signed callback, `POST /factory/callback/{id}?token=…`.

use donut_api::RestockApi;
use donut_runtime::settings::{parse_var, var};
use donut_runtime::{callback_signer, telemetry, warehouse};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("warehouse-restock");
    let aws = aws_config::load_from_env().await;
    let warehouse = warehouse(&aws).await?;
    let signer = callback_signer(&aws, &var("CALLBACK_BASE_URL")?).await?;
    let api: &'static _ = Box::leak(Box::new(RestockApi::new(
        warehouse,
        signer,
        parse_var("MAX_BODY_BYTES", 16384)?,
    )));
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(api.handle(request).await)
    }))
    .await
}
