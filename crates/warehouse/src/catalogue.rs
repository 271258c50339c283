//! The catalogue port on MySQL: operators' changes, each in one transaction with its audit row
//! (`catalogue_audit`, migration 010), each holding the product's row lock as a sale does.

use std::time::Duration;

use donut_domain::catalogue::{adjustment_restock, plan_adjustment, plan_restock, plan_update};
use donut_domain::purchase::{PurchaseDraft, ShelfState};
use donut_domain::{
    AuditAction, AuditEntry, Catalogue, CatalogueEntry, CatalogueOutcome, FactoryOrder, NewProduct,
    Operator, Product, ProductChange, ProductId, ReorderRule, StockChange, StoreError,
};
use mysql_async::prelude::*;
use mysql_async::{Row, TxOpts};

use crate::MySqlWarehouse;
use crate::pool::map_err;
use crate::store::{factory_order_from, open_order};

const SELECT_ENTRY_COLUMNS: &str = "SELECT product_id, name, price_cents, qty, reorder_point, \
     reorder_qty, factory_product_id, retired_at IS NOT NULL";

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

/// Writes the audit row of a change, inside its transaction.
async fn audit(
    tx: &mut mysql_async::Transaction<'_>,
    operator: &Operator,
    action: AuditAction,
    before: Option<&CatalogueEntry>,
    after: &CatalogueEntry,
    reason: Option<&str>,
) -> Result<(), mysql_async::Error> {
    tx.exec_drop(
        "INSERT INTO catalogue_audit (at, actor, action, product_id, before_state, after_state, \
         reason, correlation_id) VALUES (UTC_TIMESTAMP(6), ?, ?, ?, ?, ?, ?, ?)",
        (
            operator.arn.as_str(),
            action.as_str(),
            after.product.id.as_str(),
            before.map(json),
            json(after),
            reason,
            operator.correlation_id.as_str(),
        ),
    )
    .await
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
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
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
        tx.commit().await.map_err(map_err)?;
        Ok(CatalogueOutcome::Changed {
            before: None,
            after,
            restock: None,
        })
    }

    async fn update(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &ProductChange,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
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
        tx.commit().await.map_err(map_err)?;
        Ok(CatalogueOutcome::Changed {
            before: Some(before),
            after,
            restock: None,
        })
    }

    async fn adjust_stock(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &StockChange,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
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
        match &opened {
            // As a sale that leaves the shelf low: the factory order, the shelf's pointer and
            // the stock-out's outbox row, and the commit of it all (the procedure commits).
            Some(order) => {
                let event = order.stock_out_event(stock, draft.event_id, draft.at);
                tx.exec_drop(
                    "CALL donut_open_factory_order_v2(?, ?, ?, ?, ?, ?, ?, NULL)",
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
        let restock = adjustment_restock(&after, &draft, shelf.open_order, opened.as_ref());
        Ok(CatalogueOutcome::Changed {
            before: Some(before),
            after,
            restock,
        })
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
                 before_state, after_state, reason, correlation_id FROM catalogue_audit \
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
                let (id, at, actor, action, product_id, before, after, reason, correlation_id): (
                    u64,
                    String,
                    String,
                    String,
                    String,
                    Option<String>,
                    String,
                    Option<String>,
                    String,
                ) = mysql_async::from_row_opt(row).map_err(internal)?;
                Ok(AuditEntry {
                    id,
                    at,
                    actor,
                    action: AuditAction::parse(&action).ok_or_else(|| internal(&action))?,
                    product_id: ProductId::parse(&product_id).map_err(internal)?,
                    before,
                    after,
                    reason,
                    correlation_id,
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
