//! The transactional outbox: stock-out events written with the purchase that caused them,
//! published by a relay that claims rows with `FOR UPDATE SKIP LOCKED` (MySQL 8 and
//! MariaDB 10.6+), so two relays never publish the same row at once.

use donut_domain::ports::{Pending, RelayReport};
use donut_domain::services::publish_retry_delay;
use donut_domain::{EventPublisher, OutboxStore, StockOutEvent, StoreError};
use mysql_async::TxOpts;
use mysql_async::prelude::*;

use crate::MySqlWarehouse;
use crate::pool::map_err;

/// A row whose payload cannot be read is retried no sooner than this (ops must look at it).
const CORRUPT_ROW_DELAY_SECS: u64 = 3600;

impl OutboxStore for MySqlWarehouse {
    async fn relay<P: EventPublisher>(
        &self,
        publisher: &P,
        max: usize,
    ) -> Result<RelayReport, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        let rows: Vec<(u64, String, u32)> = tx
            .exec(
                "SELECT id, payload, attempts FROM outbox \
                 WHERE published_at IS NULL AND next_attempt_at <= UTC_TIMESTAMP(6) \
                 ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
                (max as u64,),
            )
            .await
            .map_err(map_err)?;
        let mut report = RelayReport::default();
        for (id, payload, attempts) in rows {
            let outcome = match StockOutEvent::from_json(&payload) {
                Ok(event) => publisher
                    .publish(&event)
                    .await
                    .map(|()| event)
                    .map_err(|e| (e.to_string(), publish_retry_delay(attempts + 1).as_secs())),
                Err(e) => Err((e.to_string(), CORRUPT_ROW_DELAY_SECS)),
            };
            match outcome {
                Ok(event) => {
                    tx.exec_drop(
                        "UPDATE outbox SET published_at = UTC_TIMESTAMP(6), attempts = attempts + 1, \
                         last_error = NULL WHERE id = ?",
                        (id,),
                    )
                    .await
                    .map_err(map_err)?;
                    tracing::info!(
                        correlation_id = %event.correlation_id,
                        factory_order_id = %event.factory_order_id,
                        product_id = %event.product_id,
                        "stock-out event published"
                    );
                    report.published += 1;
                }
                Err((error, delay)) => {
                    let error: String = error.chars().take(500).collect();
                    tx.exec_drop(
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ?, \
                         next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL ? SECOND WHERE id = ?",
                        (&error, delay, id),
                    )
                    .await
                    .map_err(map_err)?;
                    tracing::warn!(outbox_id = id, retry_in_s = delay, %error, "stock-out event not published");
                    report.failed += 1;
                }
            }
        }
        tx.commit().await.map_err(map_err)?;
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
