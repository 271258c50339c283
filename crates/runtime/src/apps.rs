//! Each function assembled from its settings — the one path every Lambda `main` and the local
//! stack take, in the spirit of zero-to-production's `Application::build`. A `main` reads its
//! settings from the environment and runs what its builder returns; the local stack makes the
//! same settings from the stage config (`donut_config::contracts`, as the infra program does)
//! and serves what the same builders return.

use std::time::Duration;

use donut_api::{AdminApi, Limits, RestockApi, SalesApi};
use donut_contract::settings;
use donut_domain::StoreError;
use donut_domain::ports::RelayReport;
use donut_domain::usecases::{WatchdogPolicy, WatchdogReport};
use donut_factory::FactoryClient;
use donut_messaging::FactoryRequester;
use donut_messaging::sweep::{expired_keys_pass, relay_pass, watchdog_pass};
use donut_warehouse::{MySqlWarehouse, OPERATOR};

use donut_messaging::{SnsAlerts, SnsPublisher};

use crate::adapters::{SettingsError, callback_keys, factory_client, warehouse};
use crate::aws::Aws;
use crate::{RdsSecret, RelayNow};

/// How long a purchase that opened a factory order waits for its stock-out to be published
/// before it answers; the scheduled relay publishes what this leaves.
pub const RELAY_AFTER_STOCK_OUT: Duration = Duration::from_secs(1);

pub type SalesHandler = SalesApi<MySqlWarehouse, RelayNow<SnsPublisher>>;

/// λ sales-api: orders and stock levels; a stock-out's event published right after the sale.
pub fn sales_api(aws: &Aws, s: &settings::SalesApi<String>) -> Result<SalesHandler, SettingsError> {
    let warehouse =
        warehouse(aws, &s.base.database)?.with_key_window(key_window(s.idempotency_key_hours));
    let limits = Limits {
        max_quantity: s.max_quantity,
        max_body_bytes: s.max_body_bytes as usize,
    };
    let relay = relay_now(aws, &warehouse, &s.stock_out_topic_arn);
    Ok(SalesApi::new(warehouse, limits).with_after_stock_out(relay))
}

/// How long a stage keeps an `Idempotency-Key`.
fn key_window(hours: u32) -> Duration {
    Duration::from_secs(3600 * u64::from(hours))
}

/// Publishes a stock-out its handler's transaction wrote, right after it commits.
fn relay_now(aws: &Aws, warehouse: &MySqlWarehouse, topic_arn: &str) -> RelayNow<SnsPublisher> {
    RelayNow {
        warehouse: warehouse.clone(),
        publisher: SnsPublisher::new(aws.sns_client(), topic_arn),
        budget: RELAY_AFTER_STOCK_OUT,
    }
}

pub type AdminHandler = AdminApi<MySqlWarehouse, RelayNow<SnsPublisher>>;

/// λ admin-api: the operators' door, logged in as the operators' own database user.
pub fn admin_api(aws: &Aws, s: &settings::AdminApi<String>) -> Result<AdminHandler, SettingsError> {
    let warehouse =
        warehouse(aws, &s.base.database)?.with_key_window(key_window(s.idempotency_key_hours));
    let relay = relay_now(aws, &warehouse, &s.stock_out_topic_arn);
    Ok(AdminApi::new(
        warehouse,
        s.max_body_bytes as usize,
        Duration::from_secs(s.re_request_not_within_seconds),
    )
    .with_after_stock_out(relay))
}

/// λ warehouse-restock: the factory's signed callback.
pub fn warehouse_restock(
    aws: &Aws,
    s: &settings::WarehouseRestock<String>,
) -> Result<RestockApi<MySqlWarehouse>, SettingsError> {
    Ok(RestockApi::new(
        warehouse(aws, &s.base.database)?,
        callback_keys(aws, &s.callback),
        s.max_body_bytes as usize,
    ))
}

/// λ factory-requester: stock-out events from the queue to the legacy factory.
pub fn factory_requester(
    aws: &Aws,
    s: &settings::FactoryRequester<String>,
) -> Result<FactoryRequester<MySqlWarehouse, FactoryClient>, SettingsError> {
    let factory = factory_client(&s.factory, callback_keys(aws, &s.callback));
    // The claim on a factory order outlives one factory call, timeouts included.
    let lease = Duration::from_millis(2 * s.factory.timeout_ms);
    Ok(FactoryRequester::new(
        warehouse(aws, &s.base.database)?,
        factory,
        lease,
    ))
}

/// λ outbox-relay: one pass of the scheduled sweeper (the outbox, then expired idempotency keys).
pub struct OutboxRelay {
    warehouse: MySqlWarehouse,
    publisher: SnsPublisher,
}

pub fn outbox_relay(
    aws: &Aws,
    s: &settings::OutboxRelay<String>,
) -> Result<OutboxRelay, SettingsError> {
    Ok(OutboxRelay {
        warehouse: warehouse(aws, &s.base.database)?,
        publisher: SnsPublisher::new(aws.sns_client(), &s.stock_out_topic_arn),
    })
}

impl OutboxRelay {
    /// A relay pass, then a sweep of idempotency keys past their window (the same schedule).
    /// A failed sweep does not fail the run (the outbox was relayed); its metric shows it.
    pub async fn run(&self) -> Result<RelayReport, StoreError> {
        // Boxed, as the watchdog's pass: deep futures inside a Lambda handler's future.
        let report = Box::pin(relay_pass(&self.warehouse, &self.publisher)).await?;
        let _ = expired_keys_pass(&self.warehouse).await;
        Ok(report)
    }
}

/// λ factory-watchdog: one pass over the factory orders that stopped moving.
pub struct FactoryWatchdog {
    warehouse: MySqlWarehouse,
    factory: FactoryClient,
    alerts: SnsAlerts,
    /// From the settings; the local stack shortens it, as it shortens the queue's timeout.
    pub policy: WatchdogPolicy,
}

pub fn factory_watchdog(
    aws: &Aws,
    s: &settings::FactoryWatchdog<String>,
) -> Result<FactoryWatchdog, SettingsError> {
    Ok(FactoryWatchdog {
        warehouse: warehouse(aws, &s.base.database)?,
        factory: factory_client(&s.factory, callback_keys(aws, &s.callback)),
        alerts: SnsAlerts::new(aws.sns_client(), &s.ops_topic_arn),
        policy: WatchdogPolicy {
            deadline: Duration::from_secs(60 * s.deadline_minutes),
            open_deadline: Duration::from_secs(60 * s.open_deadline_minutes),
            max_attempts: s.max_attempts,
        },
    })
}

impl FactoryWatchdog {
    pub async fn run(&self) -> Result<WatchdogReport, StoreError> {
        // Boxed: inside a Lambda handler's future, the pass's future nests deeper than the
        // compiler's default recursion limit allows for its layout.
        Box::pin(watchdog_pass(
            &self.warehouse,
            &self.factory,
            &self.alerts,
            self.policy,
        ))
        .await
    }
}

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
