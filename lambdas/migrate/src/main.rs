//! λ migrate: applies the schema migrations, keeps the functions' own database user (only the
//! statements they run; its login in `APP_DB_SECRET_ARN`), and on dev stacks loads the seed.
//! It alone logs in as the master user. The infra program invokes it on every `pulumi up`,
//! before the functions get their new configuration.

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, apps, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("migrate");
    let migrate = &apps::migrate(&Aws::from_env(), &settings::Migrate::from_env()?)?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let seed = event.payload.get("seed").and_then(Value::as_bool);
        Ok::<_, Error>(migrate.run(seed.unwrap_or(false)).await?)
    }))
    .await
}
