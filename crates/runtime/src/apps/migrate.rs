use donut_contract::settings;
use donut_domain::StoreError;
use donut_warehouse::{MySqlWarehouse, OPERATOR};

use crate::adapters::{RdsSecret, SettingsError, warehouse};
use crate::aws::Aws;

/// λ migrate: the schema, the functions' own database user, the operators' function's user,
/// and the seed when asked.
pub struct Migrate {
    warehouse: MySqlWarehouse,
    app_login: RdsSecret,
    app_user: String,
    operator_login: RdsSecret,
    operator_user: String,
    app_user_hosts: String,
}

/// What one migrate run did.
#[derive(Debug, serde::Serialize)]
pub struct Migrated {
    pub applied: Vec<u32>,
    pub app_user: String,
    pub operator_user: String,
    pub seeded: bool,
}

pub fn migrate(aws: &Aws, s: &settings::Migrate<String>) -> Result<Migrate, SettingsError> {
    Ok(Migrate {
        warehouse: warehouse(aws, &s.base.database)?,
        app_login: RdsSecret::new(aws, &s.app_db_secret_arn),
        app_user: s.app_user.clone(),
        operator_login: RdsSecret::new(aws, &s.operator_db_secret_arn),
        operator_user: s.operator_user.clone(),
        app_user_hosts: s.app_user_hosts.clone(),
    })
}

impl Migrate {
    pub async fn run(&self, seed: bool) -> Result<Migrated, MigrateError> {
        let applied = self.warehouse.migrate().await?;
        let (user, password) = self.app_login.login_made_once(&self.app_user).await?;
        self.warehouse
            .ensure_app_user(&user, &password, &self.app_user_hosts)
            .await?;
        let (operator, password) = self
            .operator_login
            .login_made_once(&self.operator_user)
            .await?;
        self.warehouse
            .ensure_user(&operator, &password, &self.app_user_hosts, &OPERATOR)
            .await?;
        if seed {
            self.warehouse.seed().await?;
        }
        Ok(Migrated {
            applied,
            app_user: user,
            operator_user: operator,
            seeded: seed,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}
