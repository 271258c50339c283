//! The transactional outbox: stock-out events written with the purchase that caused them,
//! published by a relay that first claims due rows, then publishes them with no transaction
//! open, then settles each row only if its claim is still the relay's.
//!
//! **The claim** is one short transaction: `SELECT … FOR UPDATE SKIP LOCKED` picks up to `n`
//! due rows (oldest due first, along the `outbox_due` index) and an `UPDATE … WHERE id IN (…)`
//! of exactly those rows sets the relay's claim id and a lease (`next_attempt_at` = now +
//! [`CLAIM_LEASE_SECS`]); then it commits. Why claims cannot deadlock, on MariaDB 10.11 and on
//! MySQL 8.4 alike (both InnoDB, both documenting `SKIP LOCKED`; sessions run at READ
//! COMMITTED):
//! - `SKIP LOCKED` never waits for a row lock: a row another transaction holds (another
//!   claim, a settle, a purchase still inserting it) is passed over, not waited for;
//! - the `UPDATE` touches only rows the claim's own `SELECT` locked, by primary key, and READ
//!   COMMITTED takes no gap locks, so its index changes wait for nobody either;
//! - a settle or a release is one autocommitted `UPDATE` by primary key (plus its claim id):
//!   it may wait for a claim that holds its row, but that claim waits for nothing, so no wait
//!   ever closes a cycle.
//!
//! The earlier claim, one `UPDATE … ORDER BY id LIMIT n`, waited for rows other claims and
//! settles held while holding index entries of its own, and lost deadlocks (1213) to them
//! under load. Every outbox statement is still retried when it loses a lock (a deadlock or a
//! lock wait timeout; at most [`LOCK_ATTEMPTS`] runs): InnoDB may pick a victim for reasons
//! of its own, and a relay that meets a busy database must still publish and report.
//!
//! A relay that dies mid-pass leaves its rows to the next relay once the lease runs out
//! (at-least-once: consumers deduplicate on the factory order).

use std::time::Duration;

use donut_domain::ports::{Pending, RelayReport};
use donut_domain::services::publish_retry_delay;
use donut_domain::{EventPublisher, OutboxStore, StockOutEvent, StoreError};
use mysql_async::prelude::*;
use mysql_async::{Conn, TxOpts};

use crate::MySqlWarehouse;
use crate::pool::{LOCK_ATTEMPTS, exec_retrying, lock_backoff, lost_a_lock, map_err};

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

/// A claimed row: id, payload, attempts so far.
type Claimed = (u64, String, u32);

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
            keep_leased: Vec::new(),
        };
        let mut report = RelayReport::default();
        let mut complete = true;
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
            let outcome = match &settled {
                Settled::Published(_) => None,
                Settled::Failed { error, retry_in } => Some((error.as_str(), *retry_in)),
            };
            if let Err(e) = self.settle(id, &claim, outcome).await {
                // The database failed us even after retries. A published row stays leased
                // (a release would make it due at once: published twice); the rest of the
                // pass is given back, and the pass reports what it did.
                if let Settled::Published(_) = settled {
                    unsettled.keep_leased.push(id);
                    report.published += 1;
                }
                tracing::warn!(outbox_id = id, error = %e, lease_s = CLAIM_LEASE_SECS,
                    "outbox row not settled; pass stopped, its lease runs out instead");
                complete = false;
                break;
            }
            match settled {
                Settled::Published(event) => {
                    tracing::info!(
                        correlation_id = %event.correlation_id,
                        factory_order_id = %event.factory_order_id,
                        product_id = %event.product_id,
                        "stock-out event published"
                    );
                    report.published += 1;
                }
                Settled::Failed { error, retry_in } => {
                    tracing::warn!(outbox_id = id, retry_in_s = retry_in.as_secs(), %error, "stock-out event not published");
                    report.failed += 1;
                }
            }
        }
        if complete {
            unsettled.claim = None;
        }
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

/// Gives back what a claim still holds when the pass ends before it settled its rows, except
/// the rows in `keep_leased` (published, not recorded as such).
struct Unsettled {
    warehouse: MySqlWarehouse,
    claim: Option<String>,
    keep_leased: Vec<u64>,
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        let (Some(claim), Ok(runtime)) = (self.claim.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let warehouse = self.warehouse.clone();
        let keep = std::mem::take(&mut self.keep_leased);
        runtime.spawn(async move {
            if let Err(e) = warehouse.release(&claim, &keep).await {
                tracing::warn!(error = %e, "outbox claim not given back; its lease runs out instead");
            }
        });
    }
}

impl MySqlWarehouse {
    /// Makes the rows still held by `claim` due again, but those in `keep`.
    async fn release(&self, claim: &str, keep: &[u64]) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let mut params: Vec<mysql_async::Value> = vec![claim.into()];
        params.extend(keep.iter().map(|&id| id.into()));
        let keep_out = if keep.is_empty() {
            String::new()
        } else {
            format!(" AND id NOT IN ({})", placeholders(keep.len()))
        };
        exec_retrying(
            &mut conn,
            &format!(
                "UPDATE outbox SET claimed_by = NULL, next_attempt_at = UTC_TIMESTAMP(6) \
                 WHERE claimed_by = ? AND published_at IS NULL{keep_out}"
            ),
            params.into(),
        )
        .await
        .map_err(map_err)?;
        Ok(())
    }

    /// Claims up to `max` due rows for `claim` (see the module's doc), again when the claim
    /// lost a lock.
    async fn claim(&self, claim: &str, max: usize) -> Result<Vec<Claimed>, StoreError> {
        let mut conn = self.conn().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match claim_due_rows(&mut conn, claim, max).await {
                Err(e) if lost_a_lock(&e) && attempt < LOCK_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "outbox claim lost a lock; again");
                    lock_backoff(attempt).await;
                }
                other => return other.map_err(map_err),
            }
        }
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
        let settled =
            match failure {
                None => exec_retrying(
                    &mut conn,
                    "UPDATE outbox SET published_at = UTC_TIMESTAMP(6), attempts = attempts + 1, \
                     last_error = NULL, claimed_by = NULL WHERE id = ? AND claimed_by = ?",
                    (id, claim).into(),
                )
                .await,
                Some((error, retry_in)) => {
                    let error: String = error.chars().take(500).collect();
                    exec_retrying(
                    &mut conn,
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, claimed_by = NULL, \
                     next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND \
                     WHERE id = ? AND claimed_by = ?",
                    (error, retry_in.as_secs(), id, claim).into(),
                )
                .await
                }
            }
            .map_err(map_err)?;
        if settled == 0 {
            tracing::warn!(
                outbox_id = id,
                "outbox row's claim ran out before it was settled"
            );
        }
        Ok(())
    }
}

/// The claim's transaction: lock up to `max` due rows that no one else holds, lease them to
/// `claim`, commit.
async fn claim_due_rows(
    conn: &mut Conn,
    claim: &str,
    max: usize,
) -> Result<Vec<Claimed>, mysql_async::Error> {
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let rows: Vec<Claimed> = tx
        .exec(
            "SELECT id, payload, attempts FROM outbox \
             WHERE published_at IS NULL AND next_attempt_at <= UTC_TIMESTAMP(6) \
             ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED",
            (max as u64,),
        )
        .await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(rows);
    }
    let mut params: Vec<mysql_async::Value> = vec![claim.into(), CLAIM_LEASE_SECS.into()];
    params.extend(rows.iter().map(|(id, _, _)| (*id).into()));
    tx.exec_drop(
        format!(
            "UPDATE outbox SET claimed_by = ?, next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND \
             WHERE id IN ({})",
            placeholders(rows.len())
        ),
        params,
    )
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// `?, ?, …` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}
