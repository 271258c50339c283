//! The outbox relay: publishes the stock-out events purchases wrote to the outbox. It runs
//! right after a stock-out, for that purchase's own event (best effort, from the Sales API,
//! under a time budget), and as a sweeper for every due row (a scheduled Lambda in AWS, a loop
//! locally), so a crash between the database and SNS loses nothing.
//!
//! One pass: claim due rows ([`Outbox::claim`], leased so no other relay takes them), publish
//! each with no transaction open, settle each under the claim — published, or due again after
//! a backoff ([`publish_retry_delay`]); a row whose payload cannot be read waits
//! [`CORRUPT_ROW_DELAY`] (ops must look at it). A pass that stops early (out of time, or the
//! database failed a settle) gives its unsettled rows back at once, except the ones it
//! published and could not record: those stay leased, so they are not published again before
//! the lease runs out. Delivery is at least once: consumers deduplicate on the factory order.

use std::time::Duration;

use tokio::time::Instant;

use crate::ports::{Due, Outbox, RelayReport, Settlement};
use crate::{EventPublisher, StockOutEvent, StoreError};

/// Rows claimed per pass of the sweeper.
pub const BATCH: usize = 25;

/// A row whose payload cannot be read is retried no sooner than this.
pub const CORRUPT_ROW_DELAY: Duration = Duration::from_secs(3600);

/// How long the outbox waits before publishing a row again after `attempts` failures:
/// 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn publish_retry_delay(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(8)).min(Duration::from_secs(300))
}

/// What one claimed row became.
enum Outcome {
    Published(StockOutEvent),
    Failed { error: String, retry_in: Duration },
}

/// One pass over the rows `due` names. With a `budget`, the pass stops when it runs out (a
/// publish still in flight is abandoned: it may or may not have reached the publisher) and
/// gives back what it did not settle.
pub async fn relay_once<S: Outbox, P: EventPublisher>(
    store: &S,
    publisher: &P,
    due: Due,
    budget: Option<Duration>,
) -> Result<RelayReport, StoreError> {
    let deadline = budget.map(|b| Instant::now() + b);
    let claim = uuid::Uuid::new_v4().to_string();
    let rows = store.claim(&claim, due).await?;
    let mut report = RelayReport::default();
    let mut complete = true;
    let mut keep_leased = Vec::new();
    for row in rows {
        let outcome = match StockOutEvent::from_json(&row.payload) {
            Ok(event) => {
                let published = match deadline {
                    Some(at) => tokio::time::timeout_at(at, publisher.publish(&event)).await,
                    None => Ok(publisher.publish(&event).await),
                };
                match published {
                    Ok(Ok(())) => Outcome::Published(event),
                    Ok(Err(e)) => Outcome::Failed {
                        error: e.to_string(),
                        retry_in: publish_retry_delay(row.attempts + 1),
                    },
                    Err(_) => {
                        tracing::warn!(outbox_id = row.id, "relay out of time; rows given back");
                        complete = false;
                        break;
                    }
                }
            }
            Err(e) => Outcome::Failed {
                error: e.to_string(),
                retry_in: CORRUPT_ROW_DELAY,
            },
        };
        let settlement = match &outcome {
            Outcome::Published(_) => Settlement::Published,
            Outcome::Failed { error, retry_in } => Settlement::Retry {
                error,
                after: *retry_in,
            },
        };
        match store.settle(row.id, &claim, settlement).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    outbox_id = row.id,
                    "outbox row's claim ran out before it was settled"
                )
            }
            Err(e) => {
                // The database failed us even after its retries. A published row stays leased
                // (given back, it would be due at once: published twice); the rest of the pass
                // is given back, and the pass reports what it did.
                if let Outcome::Published(_) = outcome {
                    keep_leased.push(row.id);
                    report.published += 1;
                }
                tracing::warn!(outbox_id = row.id, error = %e,
                    "outbox row not settled; pass stopped, its lease runs out instead");
                complete = false;
                break;
            }
        }
        match outcome {
            Outcome::Published(event) => {
                tracing::info!(
                    correlation_id = %event.correlation_id,
                    factory_order_id = %event.factory_order_id,
                    product_id = %event.product_id,
                    "stock-out event published"
                );
                report.published += 1;
            }
            Outcome::Failed { error, retry_in } => {
                tracing::warn!(outbox_id = row.id, retry_in_s = retry_in.as_secs(), %error,
                    "stock-out event not published");
                report.failed += 1;
            }
        }
    }
    if !complete && let Err(e) = store.release(&claim, &keep_leased).await {
        tracing::warn!(error = %e, "outbox claim not given back; its lease runs out instead");
    }
    Ok(report)
}

/// Passes over the oldest due rows until a pass publishes nothing or `max_passes` ran; the
/// totals.
pub async fn relay_until_drained<S: Outbox, P: EventPublisher>(
    store: &S,
    publisher: &P,
    max_passes: usize,
) -> Result<RelayReport, StoreError> {
    let mut total = RelayReport::default();
    for _ in 0..max_passes {
        let pass = relay_once(store, publisher, Due::Oldest(BATCH), None).await?;
        total.published += pass.published;
        total.failed += pass.failed;
        if pass.published == 0 {
            break;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_backoff_grows_and_caps() {
        assert_eq!(publish_retry_delay(1), Duration::from_secs(1));
        assert_eq!(publish_retry_delay(2), Duration::from_secs(2));
        assert_eq!(publish_retry_delay(4), Duration::from_secs(8));
        assert_eq!(publish_retry_delay(50), Duration::from_secs(256));
    }
}
