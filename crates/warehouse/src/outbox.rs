//! The transactional outbox: stock-out events written with the purchase that caused them,
//! published by a relay that first claims due rows — one autocommitted `UPDATE … ORDER BY id
//! LIMIT n` sets its claim id and a lease (`next_attempt_at` = now + [`CLAIM_LEASE_SECS`]) — then
//! publishes them with no transaction open, then settles each row only if its claim is still
//! the relay's. Two relays never claim one row at once (the second UPDATE waits for the first's
//! row locks, then finds the rows no longer due); a relay that dies mid-pass leaves its rows to
//! the next relay once the lease runs out (at-least-once, as before: consumers deduplicate).

use std::time::Duration;

use donut_domain::ports::{Pending, RelayReport};
use donut_domain::services::publish_retry_delay;
use donut_domain::{EventPublisher, OutboxStore, StockOutEvent, StoreError};
use mysql_async::prelude::*;

use crate::MySqlWarehouse;
use crate::pool::map_err;

/// A row whose payload cannot be read is retried no sooner than this (ops must look at it).
const CORRUPT_ROW_DELAY_SECS: u64 = 3600;

/// How long a claim keeps other relays off its rows: far longer than one pass's publishes
/// (each bounded by the SNS client's timeouts).
pub const CLAIM_LEASE_SECS: u64 = 120;

/// What one claimed row became.
enum Settled {
    Published(StockOutEvent),
    Failed { error: String, retry_in: Duration },
}

impl OutboxStore for MySqlWarehouse {
    async fn relay<P: EventPublisher>(
        &self,
        publisher: &P,
        max: usize,
    ) -> Result<RelayReport, StoreError> {
        let claim = uuid::Uuid::new_v4().to_string();
        let rows = self.claim(&claim, max).await?;
        // A pass cut short (the publish-after-stock-out runs under a time budget) gives its
        // unsettled rows back at once rather than leaving them leased.
        let mut unsettled = Unsettled {
            warehouse: self.clone(),
            claim: Some(claim.clone()),
        };
        let mut report = RelayReport::default();
        for (id, payload, attempts) in rows {
            let settled = match StockOutEvent::from_json(&payload) {
                Ok(event) => match publisher.publish(&event).await {
                    Ok(()) => Settled::Published(event),
                    Err(e) => Settled::Failed {
                        error: e.to_string(),
                        retry_in: publish_retry_delay(attempts + 1),
                    },
                },
                Err(e) => Settled::Failed {
                    error: e.to_string(),
                    retry_in: Duration::from_secs(CORRUPT_ROW_DELAY_SECS),
                },
            };
            match settled {
                Settled::Published(event) => {
                    self.settle(id, &claim, None).await?;
                    tracing::info!(
                        correlation_id = %event.correlation_id,
                        factory_order_id = %event.factory_order_id,
                        product_id = %event.product_id,
                        "stock-out event published"
                    );
                    report.published += 1;
                }
                Settled::Failed { error, retry_in } => {
                    let error: String = error.chars().take(500).collect();
                    self.settle(id, &claim, Some((&error, retry_in))).await?;
                    tracing::warn!(outbox_id = id, retry_in_s = retry_in.as_secs(), %error, "stock-out event not published");
                    report.failed += 1;
                }
            }
        }
        unsettled.claim = None;
        Ok(report)
    }

    async fn pending(&self) -> Result<Pending, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<(u64, Option<i64>)> = conn
            .query_first(
                "SELECT COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) \
                 FROM outbox WHERE published_at IS NULL",
            )
            .await
            .map_err(map_err)?;
        let (rows, micros) = row.unwrap_or_default();
        Ok(Pending {
            rows,
            oldest: micros.map(|us| std::time::Duration::from_micros(us.max(0) as u64)),
        })
    }
}

/// Gives back what a claim still holds when the pass is dropped before it settled its rows.
struct Unsettled {
    warehouse: MySqlWarehouse,
    claim: Option<String>,
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        let (Some(claim), Ok(runtime)) = (self.claim.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let warehouse = self.warehouse.clone();
        runtime.spawn(async move {
            if let Err(e) = warehouse.release(&claim).await {
                tracing::warn!(error = %e, "outbox claim not given back; its lease runs out instead");
            }
        });
    }
}

impl MySqlWarehouse {
    /// Makes the rows still held by `claim` due again.
    async fn release(&self, claim: &str) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE outbox SET claimed_by = NULL, next_attempt_at = UTC_TIMESTAMP(6) \
             WHERE claimed_by = ? AND published_at IS NULL",
            (claim,),
        )
        .await
        .map_err(map_err)
    }

    /// Claims up to `max` due rows for `claim` and reads them back: (id, payload, attempts).
    async fn claim(&self, claim: &str, max: usize) -> Result<Vec<(u64, String, u32)>, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE outbox SET claimed_by = ?, next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND \
             WHERE published_at IS NULL AND next_attempt_at <= UTC_TIMESTAMP(6) ORDER BY id LIMIT ?",
            (claim, CLAIM_LEASE_SECS, max as u64),
        )
        .await
        .map_err(map_err)?;
        if conn.affected_rows() == 0 {
            return Ok(Vec::new());
        }
        conn.exec(
            "SELECT id, payload, attempts FROM outbox \
             WHERE claimed_by = ? AND published_at IS NULL ORDER BY id",
            (claim,),
        )
        .await
        .map_err(map_err)
    }

    /// Marks a claimed row published (`failure` None) or due again later, if the claim is
    /// still ours (a lease that ran out may have passed the row to another relay).
    async fn settle(
        &self,
        id: u64,
        claim: &str,
        failure: Option<(&str, Duration)>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        match failure {
            None => {
                conn.exec_drop(
                    "UPDATE outbox SET published_at = UTC_TIMESTAMP(6), attempts = attempts + 1, \
                     last_error = NULL, claimed_by = NULL WHERE id = ? AND claimed_by = ?",
                    (id, claim),
                )
                .await
            }
            Some((error, retry_in)) => {
                conn.exec_drop(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, claimed_by = NULL, \
                     next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND \
                     WHERE id = ? AND claimed_by = ?",
                    (error, retry_in.as_secs(), id, claim),
                )
                .await
            }
        }
        .map_err(map_err)?;
        if conn.affected_rows() == 0 {
            tracing::warn!(
                outbox_id = id,
                "outbox row's claim ran out before it was settled"
            );
        }
        Ok(())
    }
}
