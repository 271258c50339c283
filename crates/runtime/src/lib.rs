//! Wiring shared by every Lambda `main` and by the local stack: settings from the
//! environment, secrets from Secrets Manager, the adapters built from them, JSON logs.
//!
//! A Lambda `main` is: `telemetry::init`, read its settings, build its handler, run it.

pub mod aws;
pub mod metrics;
pub mod settings;
pub mod telemetry;

pub use aws::{Aws, LazyAlerts, LazyPublisher, LazySns};
pub use settings::{
    APP_DB_USER, RdsSecret, SettingsError, callback_keys, factory_client, sns_publisher, warehouse,
};

use donut_api::AfterStockOut;
use donut_domain::EventPublisher;
use donut_messaging::{SnsPublisher, relay_until_drained};
use donut_warehouse::MySqlWarehouse;

/// Publishes the outbox right after a stock-out, bounded in time; the scheduled sweeper
/// publishes whatever this leaves.
pub struct RelayNow<P = SnsPublisher> {
    pub warehouse: MySqlWarehouse,
    pub publisher: P,
    pub budget: std::time::Duration,
}

impl<P: EventPublisher> AfterStockOut for RelayNow<P> {
    async fn after_stock_out(&self) {
        let relay = relay_until_drained(&self.warehouse, &self.publisher, 4);
        match tokio::time::timeout(self.budget, relay).await {
            Ok(Ok(report)) => tracing::debug!(
                published = report.published,
                failed = report.failed,
                "outbox relayed"
            ),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "outbox relay after stock-out failed; the sweeper will retry")
            }
            Err(_) => tracing::warn!(
                "outbox relay after stock-out ran out of time; the sweeper will retry"
            ),
        }
    }
}
