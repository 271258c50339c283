//! The outbox port on MySQL: stock-out events written with the purchase that caused them; the
//! relay (`donut_messaging::relay`) claims due rows here, publishes them with no transaction
//! open, then settles each row only if its claim is still the relay's.
//!
//! **The claim** is one short transaction: `SELECT … FOR UPDATE SKIP LOCKED` picks up to `n`
//! due rows (oldest due first, along the `outbox_due` index) and an `UPDATE … WHERE id IN (…)`
//! of exactly those rows sets the relay's claim id and a lease (`next_attempt_at` = now +
//! [`OUTBOX_CLAIM_LEASE`]); then it commits. Why claims cannot deadlock, on MariaDB 10.11 and on
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
//! A relay that dies mid-pass leaves its rows to the next relay once the lease runs out.

use donut_domain::ports::{Due, OUTBOX_CLAIM_LEASE, OutboxRow, Pending, Settlement};
use donut_domain::{Outbox, StoreError};
use mysql_async::prelude::*;
use mysql_async::{Conn, TxOpts};

use crate::MySqlWarehouse;
use crate::pool::{LOCK_ATTEMPTS, exec_retrying, lock_backoff, lost_a_lock, map_err};

impl Outbox for MySqlWarehouse {
    /// The claim's transaction (see the module's doc), again when it lost a lock.
    async fn claim(&self, claim: &str, due: Due) -> Result<Vec<OutboxRow>, StoreError> {
        let mut conn = self.conn().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match claim_due_rows(&mut conn, claim, due).await {
                Err(e) if lost_a_lock(&e) && attempt < LOCK_ATTEMPTS => {
                    tracing::debug!(attempt, error = %e, "outbox claim lost a lock; again");
                    lock_backoff(attempt).await;
                }
                other => return other.map_err(map_err),
            }
        }
    }

    async fn settle(
        &self,
        id: u64,
        claim: &str,
        settlement: Settlement<'_>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let settled =
            match settlement {
                Settlement::Published => exec_retrying(
                    &mut conn,
                    "UPDATE outbox SET published_at = UTC_TIMESTAMP(6), attempts = attempts + 1, \
                     last_error = NULL, claimed_by = NULL WHERE id = ? AND claimed_by = ?",
                    (id, claim).into(),
                )
                .await,
                Settlement::Retry { error, after } => {
                    let error: String = error.chars().take(500).collect();
                    exec_retrying(
                    &mut conn,
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, claimed_by = NULL, \
                     next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND \
                     WHERE id = ? AND claimed_by = ?",
                    (error, after.as_secs(), id, claim).into(),
                )
                .await
                }
            }
            .map_err(map_err)?;
        Ok(settled == 1)
    }

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

/// The claim's transaction: lock the rows `due` names that are due and that no one else
/// holds, lease them to `claim`, commit.
async fn claim_due_rows(
    conn: &mut Conn,
    claim: &str,
    due: Due,
) -> Result<Vec<OutboxRow>, mysql_async::Error> {
    const DUE: &str = "SELECT id, payload, attempts FROM outbox \
         WHERE published_at IS NULL AND next_attempt_at <= UTC_TIMESTAMP(6)";
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let rows: Vec<(u64, String, u32)> = match due {
        Due::Oldest(max) => {
            tx.exec(
                format!("{DUE} ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED"),
                (max as u64,),
            )
            .await?
        }
        Due::Event(event_id) => {
            tx.exec(
                format!("{DUE} AND event_id = ? FOR UPDATE SKIP LOCKED"),
                (event_id.to_string(),),
            )
            .await?
        }
    };
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(Vec::new());
    }
    let mut params: Vec<mysql_async::Value> =
        vec![claim.into(), OUTBOX_CLAIM_LEASE.as_secs().into()];
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
    Ok(rows
        .into_iter()
        .map(|(id, payload, attempts)| OutboxRow {
            id,
            payload,
            attempts,
        })
        .collect())
}

/// `?, ?, …` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}
