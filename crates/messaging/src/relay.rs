//! The outbox relay: drains unpublished stock-out events to the publisher. It runs right
//! after a stock-out commits (best effort, from the Sales API) and as a sweeper (a scheduled
//! Lambda in AWS, a loop locally), so a crash between the database and SNS loses nothing.

use donut_domain::ports::RelayReport;
use donut_domain::{EventPublisher, OutboxStore, StoreError};

/// Rows claimed per pass.
pub const BATCH: usize = 25;

/// Relays passes until a pass publishes nothing or `max_passes` ran; returns the totals.
pub async fn relay_until_drained<S: OutboxStore, P: EventPublisher>(
    store: &S,
    publisher: &P,
    max_passes: usize,
) -> Result<RelayReport, StoreError> {
    let mut total = RelayReport::default();
    for _ in 0..max_passes {
        let pass = store.relay(publisher, BATCH).await?;
        total.published += pass.published;
        total.failed += pass.failed;
        if pass.published == 0 {
            break;
        }
    }
    Ok(total)
}
