//! A stock-out published right after the change that made it commits: a sale (sales-api), an
//! operator's change to a shelf (admin-api). The scheduled relay publishes what this leaves.

use std::time::Duration;

use donut_api::AfterStockOut;
use donut_domain::EventPublisher;
use donut_domain::ports::Due;
use donut_domain::usecases::relay_once;
use donut_messaging::SnsPublisher;
use donut_warehouse::MySqlWarehouse;

use crate::aws::Aws;

/// How long a purchase that opened a factory order waits for its stock-out to be published
/// before it answers; the scheduled relay publishes what this leaves.
pub const RELAY_AFTER_STOCK_OUT: Duration = Duration::from_secs(1);

/// Publishes a purchase's own stock-out event right after it commits, bounded in time; the
/// scheduled sweeper publishes whatever this leaves (and every other due row).
pub struct RelayNow<P = SnsPublisher> {
    pub warehouse: MySqlWarehouse,
    pub publisher: P,
    pub budget: Duration,
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

/// Publishes a stock-out its handler's transaction wrote, right after it commits.
pub(super) fn relay_now(
    aws: &Aws,
    warehouse: &MySqlWarehouse,
    topic_arn: &str,
) -> RelayNow<SnsPublisher> {
    RelayNow {
        warehouse: warehouse.clone(),
        publisher: SnsPublisher::new(aws.sns_client(), topic_arn),
        budget: RELAY_AFTER_STOCK_OUT,
    }
}

/// How long a stage keeps an `Idempotency-Key`.
pub(super) fn key_window(hours: u32) -> Duration {
    Duration::from_secs(3600 * u64::from(hours))
}
