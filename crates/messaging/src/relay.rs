//! The outbox relay: drains unpublished stock-out events to the publisher. It runs right
//! after a stock-out commits (best effort, from the Sales API) and as a sweeper (a scheduled
//! Lambda in AWS, a loop locally), so a crash between the database and SNS loses nothing.

use std::time::Duration;

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

/// The sweeper as a loop, for hosts without a scheduler.
pub struct RelayLoop<S, P> {
    pub store: S,
    pub publisher: P,
    pub interval: Duration,
}

impl<S: OutboxStore, P: EventPublisher> RelayLoop<S, P> {
    /// Runs until `shutdown` resolves. Store errors are logged and retried next tick.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            match relay_until_drained(&self.store, &self.publisher, 40).await {
                Ok(r) if r.published + r.failed > 0 => {
                    tracing::info!(published = r.published, failed = r.failed, "outbox sweep")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox sweep failed; retrying next tick"),
            }
        }
    }
}
