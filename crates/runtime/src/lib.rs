//! Wiring shared by every Lambda `main` and by the local stack: settings from the
//! environment, secrets from Secrets Manager, the adapters built from them, JSON logs.
//!
//! A Lambda `main` is: `telemetry::init`, read its settings, build its handler, run it.

pub mod adapters;
pub mod apps;
pub mod aws;
pub mod metrics;
pub mod telemetry;

pub use adapters::{RdsSecret, SettingsError, callback_keys, factory_client, warehouse};
pub use aws::Aws;

use donut_api::AfterStockOut;
use donut_domain::EventPublisher;
use donut_domain::ports::Due;
use donut_domain::usecases::relay_once;
use donut_messaging::SnsPublisher;
use donut_warehouse::MySqlWarehouse;

/// Publishes a purchase's own stock-out event right after it commits, bounded in time; the
/// scheduled sweeper publishes whatever this leaves (and every other due row).
pub struct RelayNow<P = SnsPublisher> {
    pub warehouse: MySqlWarehouse,
    pub publisher: P,
    pub budget: std::time::Duration,
}

impl<P: EventPublisher> AfterStockOut for RelayNow<P> {
    async fn after_stock_out(&self, event_id: uuid::Uuid) {
        let due = Due::Event(event_id);
        match relay_once(&self.warehouse, &self.publisher, due, Some(self.budget)).await {
            Ok(report) => tracing::debug!(
                published = report.published,
                failed = report.failed,
                "stock-out relayed"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "relay after stock-out failed; the sweeper will retry")
            }
        }
    }
}
