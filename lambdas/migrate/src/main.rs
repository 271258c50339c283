//! λ migrate: applies the schema migrations, keeps the functions' own database user (only the
//! statements they run; its login in `APP_DB_SECRET_ARN`), and on dev stacks loads the seed.
//! It alone logs in as the master user. The infra program invokes it on every `pulumi up`,
//! before the functions get their new configuration.

// A Lambda links only what it uses: every dependency in its Cargo.toml is used here.
#![warn(unused_crate_dependencies)]

use donut_contract::settings::{self, Contract};
use donut_runtime::{Aws, RdsSecret, telemetry, warehouse};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init("migrate");
    let settings = settings::Migrate::from_env()?;
    let aws = Aws::from_env();
    let warehouse = &warehouse(&aws, &settings.base.database)?;
    let app_login = &RdsSecret::new(&aws, &settings.app_db_secret_arn);
    let settings = &settings;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let applied = warehouse.migrate().await?;
        let (user, password) = app_login.app_login().await?;
        warehouse
            .ensure_app_user(&user, &password, &settings.app_user_hosts)
            .await?;
        let seeded = event
            .payload
            .get("seed")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if seeded {
            warehouse.seed().await?;
        }
        Ok::<_, Error>(json!({ "applied": applied, "app_user": user, "seeded": seeded }))
    }))
    .await
}
