//! The catalogue port on MySQL: operators' changes, each in one transaction with its audit row
//! (`catalogue_audit`, migration 010), each holding the product's row lock as a sale does; a
//! keyed change's key and answer (`operator_keys`, migration 011) in the same transaction.

use std::time::Duration;

use donut_domain::catalogue::{
    Write, adjustment_restock, plan_adjustment, plan_restock, plan_update,
};
use donut_domain::purchase::{PurchaseDraft, ShelfState};
use donut_domain::{
    AuditAction, AuditEntry, Catalogue, CatalogueEntry, CatalogueOutcome, FactoryOrder,
    FactoryOrderId, NewProduct, Operator, Product, ProductChange, ProductId, ReorderRule,
    StockChange, StoreError,
};
use mysql_async::prelude::*;
use mysql_async::{Row, TxOpts};

use crate::MySqlWarehouse;
use crate::pool::{LOCK_WAIT_TIMEOUT, map_err};
use crate::store::{factory_order_from, open_order};

const SELECT_ENTRY_COLUMNS: &str = "SELECT product_id, name, price_cents, qty, reorder_point, \
     reorder_qty, factory_product_id, retired_at IS NOT NULL";

/// A row of the audit trail as read: id, at, actor, action, product, factory order, before,
/// after, reason, correlation id, reference.
type AuditRowRead = (
    u64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    String,
    Option<String>,
);

/// A row of [`SELECT_ENTRY_COLUMNS`].
type EntryRow = (String, String, i64, u32, u32, u32, String, bool);

fn entry_from_row(row: Row) -> Result<CatalogueEntry, StoreError> {
    entry_from(mysql_async::from_row_opt(row).map_err(internal)?)
}

fn entry_from(
    (id, name, price_cents, stock, point, quantity, factory_product_id, retired): EntryRow,
) -> Result<CatalogueEntry, StoreError> {
    Ok(CatalogueEntry {
        product: Product {
            id: ProductId::parse(&id).map_err(internal)?,
            name,
            price_cents,
            stock,
            reorder: ReorderRule { point, quantity },
            factory_product_id,
        },
        retired,
    })
}

fn internal(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("unexpected value in the catalogue: {what}"))
}

fn json(entry: &CatalogueEntry) -> String {
    serde_json::to_string(entry).unwrap_or_default()
}

/// Writes the audit row of a change to the catalogue, inside its transaction.
async fn audit(
    tx: &mut mysql_async::Transaction<'_>,
    operator: &Operator,
    action: AuditAction,
    before: Option<&CatalogueEntry>,
    after: &CatalogueEntry,
    reason: Option<&str>,
) -> Result<(), mysql_async::Error> {
    let row = AuditRow {
        action,
        product_id: after.product.id.as_str(),
        factory_order_id: None,
        before: before.map(json),
        after: json(after),
        reason,
    };
    audit_row(tx, operator, &row).await
}

/// One row of `catalogue_audit`, as a change writes it.
pub(crate) struct AuditRow<'a> {
    pub action: AuditAction,
    pub product_id: &'a str,
    pub factory_order_id: Option<String>,
    pub before: Option<String>,
    pub after: String,
    pub reason: Option<&'a str>,
}

/// Writes an audit row inside its change's transaction.
pub(crate) async fn audit_row(
    tx: &mut mysql_async::Transaction<'_>,
    operator: &Operator,
    row: &AuditRow<'_>,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "INSERT INTO catalogue_audit (at, actor, action, product_id, factory_order_id, \
         before_state, after_state, reason, correlation_id, reference) \
         VALUES (UTC_TIMESTAMP(6), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            operator.arn.as_str(),
            row.action.as_str(),
            row.product_id,
            row.factory_order_id.as_deref(),
            row.before.as_deref(),
            row.after.as_str(),
            row.reason,
            operator.correlation_id.as_str(),
            operator.reference.as_ref().map(|r| r.as_str()),
        ),
    )
    .await
}

/// Expired operators' keys one keyed change deletes before it begins: operators' changes are
/// few, so this keeps the table at about the keys of one window.
const KEY_SWEEP_PER_CHANGE: u32 = 10;

/// Deletes a few of the operators' keys past their window (best effort: a failure leaves them
/// to the next change).
async fn sweep_operator_keys(conn: &mut mysql_async::Conn, operator: &Operator) {
    if operator.idempotency_key.is_none() {
        return;
    }
    if let Err(e) = conn
        .exec_drop(
            "DELETE FROM operator_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?",
            (KEY_SWEEP_PER_CHANGE,),
        )
        .await
    {
        tracing::warn!(error = %e, "expired operators' keys not swept; the next change tries");
    }
}

/// Claims the operator's key for `write` as the first statement of the change's transaction:
/// `None` when it is claimed (or the change has no key) and the change goes on; else the
/// answer the change gives without being made — the first answer again, the key reused for
/// another request, or the first still in flight (its uncommitted row held this insert
/// longer than the session's lock wait).
async fn claim_key(
    tx: &mut mysql_async::Transaction<'_>,
    operator: &Operator,
    write: Write<'_>,
    window: Duration,
) -> Result<Option<CatalogueOutcome>, StoreError> {
    let Some(key) = &operator.idempotency_key else {
        return Ok(None);
    };
    let fingerprint = write.fingerprint();
    let insert = "INSERT INTO operator_keys (actor_sha, idem_key, fingerprint, answer, created_at, \
         expires_at) VALUES (SHA2(?, 256), ?, ?, NULL, UTC_TIMESTAMP(6), \
         UTC_TIMESTAMP(6) + INTERVAL ? SECOND)";
    let params = (
        operator.arn.as_str(),
        key.as_str(),
        fingerprint.as_str(),
        window.as_secs(),
    );
    match tx.exec_drop(insert, params).await {
        Ok(()) => return Ok(None),
        Err(mysql_async::Error::Server(e)) if e.code == LOCK_WAIT_TIMEOUT => {
            return Ok(Some(CatalogueOutcome::KeyInFlight(key.clone())));
        }
        Err(mysql_async::Error::Server(e)) if e.code == 1062 => {}
        Err(e) => return Err(map_err(e)),
    }
    // Taken, and committed (a duplicate is reported only once the holder committed). The
    // failed insert holds a shared lock on the row; a plain read (this transaction's first, so
    // its snapshot is taken now) sees the committed row without asking for more: retries
    // racing each other each hold a shared lock, and none waits on another.
    let kept: Option<(String, Option<String>, bool)> = tx
        .exec_first(
            "SELECT fingerprint, answer, expires_at < UTC_TIMESTAMP(6) FROM operator_keys \
             WHERE actor_sha = SHA2(?, 256) AND idem_key = ?",
            (operator.arn.as_str(), key.as_str()),
        )
        .await
        .map_err(map_err)?;
    match kept {
        // Past its window: free again. (Two requests reusing one expired key at the same
        // instant may deadlock here; the loser answers 503, and its retry finds the key.)
        Some((_, _, true)) | None => {
            tx.exec_drop(
                "DELETE FROM operator_keys WHERE actor_sha = SHA2(?, 256) AND idem_key = ?",
                (operator.arn.as_str(), key.as_str()),
            )
            .await
            .map_err(map_err)?;
            tx.exec_drop(insert, params).await.map_err(map_err)?;
            Ok(None)
        }
        Some((asked, _, false)) if asked != fingerprint => {
            Ok(Some(CatalogueOutcome::KeyReused(key.clone())))
        }
        Some((_, Some(answer), false)) => CatalogueOutcome::replay(&answer)
            .map(Some)
            .map_err(|e| internal(format!("a kept answer: {e}"))),
        Some((_, None, false)) => Ok(Some(CatalogueOutcome::KeyInFlight(key.clone()))),
    }
}

/// Keeps a keyed change's answer with its key, before the change commits.
async fn keep_answer(
    tx: &mut mysql_async::Transaction<'_>,
    operator: &Operator,
    outcome: &CatalogueOutcome,
) -> Result<(), StoreError> {
    let (Some(key), Some(answer)) = (&operator.idempotency_key, outcome.kept()) else {
        return Ok(());
    };
    tx.exec_drop(
        "UPDATE operator_keys SET answer = ? WHERE actor_sha = SHA2(?, 256) AND idem_key = ?",
        (answer, operator.arn.as_str(), key.as_str()),
    )
    .await
    .map_err(map_err)
}

/// The product's row, locked for the rest of the transaction (as a sale locks it), and the
/// factory order open for it, read without a lock: the restock locks the order first and the
/// product second, so locking both here, in the other order, could deadlock with it.
async fn locked(
    tx: &mut mysql_async::Transaction<'_>,
    id: &ProductId,
) -> Result<Option<(CatalogueEntry, Option<(String, String)>)>, StoreError> {
    let row: Option<(EntryRow, Option<String>)> = tx
        .exec_first(
            format!("{SELECT_ENTRY_COLUMNS}, open_factory_order_id FROM products WHERE product_id = ? FOR UPDATE"),
            (id.as_str(),),
        )
        .await
        .map_err(map_err)?
        .map(|row: Row| {
            let (a, b, c, d, e, f, g, h, open): (
                String,
                String,
                i64,
                u32,
                u32,
                u32,
                String,
                bool,
                Option<String>,
            ) = mysql_async::from_row_opt(row).map_err(internal)?;
            Ok::<_, StoreError>(((a, b, c, d, e, f, g, h), open))
        })
        .transpose()?;
    let Some((entry, open_id)) = row else {
        return Ok(None);
    };
    let open = match open_id {
        Some(open_id) => tx
            .exec_first(
                "SELECT factory_order_id, status FROM factory_orders \
                 WHERE factory_order_id = ? AND status IN ('open', 'requested')",
                (open_id,),
            )
            .await
            .map_err(map_err)?,
        None => None,
    };
    Ok(Some((entry_from(entry)?, open)))
}

impl Catalogue for MySqlWarehouse {
    async fn catalogue(&self) -> Result<Vec<CatalogueEntry>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .query(format!(
                "{SELECT_ENTRY_COLUMNS} FROM products ORDER BY product_id"
            ))
            .await
            .map_err(map_err)?;
        rows.into_iter().map(entry_from_row).collect()
    }

    async fn entry(&self, id: &ProductId) -> Result<Option<CatalogueEntry>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{SELECT_ENTRY_COLUMNS} FROM products WHERE product_id = ?"),
                (id.as_str(),),
            )
            .await
            .map_err(map_err)?;
        row.map(entry_from_row).transpose()
    }

    async fn create(
        &self,
        operator: &Operator,
        product: &NewProduct,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut conn = self.conn().await?;
        sweep_operator_keys(&mut conn, operator).await;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        if let Some(answer) =
            claim_key(&mut tx, operator, Write::Create(product), self.key_window()).await?
        {
            tx.rollback().await.map_err(map_err)?;
            return Ok(answer);
        }
        let inserted = tx
            .exec_drop(
                "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, \
                 reorder_qty, factory_product_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    product.id.as_str(),
                    product.name.as_str(),
                    product.price_cents,
                    product.stock,
                    product.reorder.point,
                    product.reorder.quantity,
                    product.factory_product_id.as_str(),
                ),
            )
            .await;
        match inserted {
            Err(mysql_async::Error::Server(e)) if e.code == 1062 => {
                tx.rollback().await.map_err(map_err)?;
                drop(conn);
                let existing = self.entry(&product.id).await?;
                return Ok(
                    existing.map_or(CatalogueOutcome::UnknownProduct, CatalogueOutcome::Exists)
                );
            }
            other => other.map_err(map_err)?,
        }
        let after = CatalogueEntry {
            product: product.clone().into_product(),
            retired: false,
        };
        audit(&mut tx, operator, AuditAction::Create, None, &after, None)
            .await
            .map_err(map_err)?;
        let outcome = CatalogueOutcome::Changed {
            before: None,
            after,
            restock: None,
        };
        keep_answer(&mut tx, operator, &outcome).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn update(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &ProductChange,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut conn = self.conn().await?;
        sweep_operator_keys(&mut conn, operator).await;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        if let Some(answer) = claim_key(
            &mut tx,
            operator,
            Write::Update(id, change),
            self.key_window(),
        )
        .await?
        {
            tx.rollback().await.map_err(map_err)?;
            return Ok(answer);
        }
        let Some((before, _)) = locked(&mut tx, id).await? else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(CatalogueOutcome::UnknownProduct);
        };
        let Some((after, action)) = plan_update(&before, change) else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(CatalogueOutcome::Unchanged(before));
        };
        let p = &after.product;
        tx.exec_drop(
            "UPDATE products SET name = ?, price_cents = ?, reorder_point = ?, reorder_qty = ?, \
             factory_product_id = ?, \
             retired_at = IF(?, COALESCE(retired_at, UTC_TIMESTAMP(6)), NULL) \
             WHERE product_id = ?",
            (
                p.name.as_str(),
                p.price_cents,
                p.reorder.point,
                p.reorder.quantity,
                p.factory_product_id.as_str(),
                after.retired,
                id.as_str(),
            ),
        )
        .await
        .map_err(map_err)?;
        audit(&mut tx, operator, action, Some(&before), &after, None)
            .await
            .map_err(map_err)?;
        let outcome = CatalogueOutcome::Changed {
            before: Some(before),
            after,
            restock: None,
        };
        keep_answer(&mut tx, operator, &outcome).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(outcome)
    }

    async fn adjust_stock(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &StockChange,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut conn = self.conn().await?;
        sweep_operator_keys(&mut conn, operator).await;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        if let Some(answer) = claim_key(
            &mut tx,
            operator,
            Write::Adjust(id, change),
            self.key_window(),
        )
        .await?
        {
            tx.rollback().await.map_err(map_err)?;
            return Ok(answer);
        }
        let Some((before, open)) = locked(&mut tx, id).await? else {
            tx.rollback().await.map_err(map_err)?;
            return Ok(CatalogueOutcome::UnknownProduct);
        };
        let after = match plan_adjustment(&before, change) {
            Ok(Some(after)) => after,
            Ok(None) => {
                tx.rollback().await.map_err(map_err)?;
                return Ok(CatalogueOutcome::Unchanged(before));
            }
            Err(refused) => {
                tx.rollback().await.map_err(map_err)?;
                return Ok(CatalogueOutcome::Refused(refused));
            }
        };
        let stock = after.product.stock;
        tx.exec_drop(
            "UPDATE products SET qty = ? WHERE product_id = ?",
            (stock, id.as_str()),
        )
        .await
        .map_err(map_err)?;
        audit(
            &mut tx,
            operator,
            AuditAction::Adjust,
            Some(&before),
            &after,
            Some(change.reason.as_str()),
        )
        .await
        .map_err(map_err)?;
        let shelf = ShelfState {
            stock,
            reorder: after.product.reorder,
            factory_product_id: after.product.factory_product_id.clone(),
            open_order: open
                .map(|(id, status)| open_order(Some(id), Some(status)))
                .transpose()
                .map_err(map_err)?
                .flatten(),
        };
        let draft = PurchaseDraft::new();
        let opened = plan_restock(id, &shelf, after.retired, operator, &draft);
        let restock = adjustment_restock(&after, &draft, shelf.open_order, opened.as_ref());
        let outcome = CatalogueOutcome::Changed {
            before: Some(before),
            after,
            restock,
        };
        // Kept before the factory order's procedure, which commits.
        keep_answer(&mut tx, operator, &outcome).await?;
        match &opened {
            // As a sale that leaves the shelf low: the factory order, the shelf's pointer and
            // the stock-out's outbox row, and the commit of it all (the procedure commits).
            Some(order) => {
                let event = order.stock_out_event(stock, draft.event_id, draft.at);
                tx.exec_drop(
                    "CALL donut_open_factory_order_v3(?, ?, ?, ?, ?, ?, ?, NULL)",
                    (
                        order.id.to_string(),
                        order.product_id.as_str(),
                        order.factory_product_id.as_str(),
                        order.quantity,
                        order.correlation_id.as_str(),
                        event.event_id.to_string(),
                        event.to_json(),
                    ),
                )
                .await
                .map_err(map_err)?;
                tx.commit().await.map_err(map_err)?;
                tracing::info!(
                    correlation_id = %order.correlation_id,
                    product_id = %order.product_id,
                    factory_order_id = %order.id,
                    quantity = order.quantity,
                    stock_left = stock,
                    "stock-out by an adjustment: factory order opened"
                );
            }
            None => tx.commit().await.map_err(map_err)?,
        }
        Ok(outcome)
    }

    async fn audit_trail(
        &self,
        product: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT id, DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s.%fZ'), actor, action, product_id, \
                 factory_order_id, before_state, after_state, reason, correlation_id, \
                 reference FROM catalogue_audit \
                 WHERE (? IS NULL OR product_id = ?) ORDER BY id DESC LIMIT ?",
                (
                    product.map(ProductId::as_str),
                    product.map(ProductId::as_str),
                    limit as u64,
                ),
            )
            .await
            .map_err(map_err)?;
        rows.into_iter()
            .map(|row| {
                let (
                    id,
                    at,
                    actor,
                    action,
                    product_id,
                    order,
                    before,
                    after,
                    reason,
                    correlation_id,
                    reference,
                ): AuditRowRead = mysql_async::from_row_opt(row).map_err(internal)?;
                Ok(AuditEntry {
                    id,
                    at,
                    actor,
                    action: AuditAction::parse(&action).ok_or_else(|| internal(&action))?,
                    product_id: ProductId::parse(&product_id).map_err(internal)?,
                    factory_order_id: order
                        .map(|o| FactoryOrderId::parse(&o).map_err(internal))
                        .transpose()?,
                    before,
                    after,
                    reason,
                    correlation_id,
                    reference,
                })
            })
            .collect()
    }

    async fn unfinished_factory_orders(
        &self,
        limit: usize,
    ) -> Result<Vec<(FactoryOrder, Duration)>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                "SELECT factory_order_id, product_id, factory_product_id, quantity, status, \
                 factory_request_id, correlation_id, request_attempts, chases, \
                 TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)) \
                 FROM factory_orders WHERE status IN ('open', 'requested') \
                 ORDER BY created_at, factory_order_id LIMIT ?",
                (limit as u64,),
            )
            .await
            .map_err(map_err)?;
        rows.into_iter()
            .map(|row| {
                let (a, b, c, d, e, f, g, h, i, micros): (
                    String,
                    String,
                    String,
                    u32,
                    String,
                    Option<String>,
                    String,
                    u32,
                    u32,
                    i64,
                ) = mysql_async::from_row_opt(row).map_err(internal)?;
                Ok((
                    factory_order_from((a, b, c, d, e, f, g, h, i))?,
                    Duration::from_micros(micros.max(0) as u64),
                ))
            })
            .collect()
    }
}
