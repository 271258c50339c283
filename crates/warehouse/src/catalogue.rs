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

const SELECT_ENTRY: &str = "SELECT product_id, name, price_cents, qty, reorder_point, \
     reorder_qty, factory_product_id, retired_at IS NOT NULL FROM products";

/// A row of [`SELECT_ENTRY`]'s columns.
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

/// The product's row, locked for the rest of the transaction, with the factory order open for
/// it (if any).
async fn locked(
    tx: &mut mysql_async::Transaction<'_>,
    id: &ProductId,
) -> Result<Option<(CatalogueEntry, Option<(String, String)>)>, StoreError> {
    let row: Option<Row> = tx
        .exec_first(
            "SELECT p.product_id, p.name, p.price_cents, p.qty, p.reorder_point, p.reorder_qty, \
             p.factory_product_id, p.retired_at IS NOT NULL, f.factory_order_id, f.status \
             FROM products p LEFT JOIN factory_orders f \
               ON f.factory_order_id = p.open_factory_order_id AND f.status IN ('open', 'requested') \
             WHERE p.product_id = ? FOR UPDATE",
            (id.as_str(),),
        )
        .await
        .map_err(map_err)?;
    let Some(row) = row else {
        return Ok(None);
    };
    #[allow(clippy::type_complexity)]
    let (id, name, price, stock, point, quantity, factory_id, retired, open_id, open_status): (
        String,
        String,
        i64,
        u32,
        u32,
        u32,
        String,
        bool,
        Option<String>,
        Option<String>,
    ) = mysql_async::from_row_opt(row).map_err(internal)?;
    let entry = entry_from((id, name, price, stock, point, quantity, factory_id, retired))?;
    Ok(Some((entry, open_id.zip(open_status))))
}

impl Catalogue for MySqlWarehouse {
    async fn catalogue(&self) -> Result<Vec<CatalogueEntry>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .query(format!("{SELECT_ENTRY} ORDER BY product_id"))
            .await
            .map_err(map_err)?;
        rows.into_iter().map(entry_from_row).collect()
    }

    async fn entry(&self, id: &ProductId) -> Result<Option<CatalogueEntry>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{SELECT_ENTRY} WHERE product_id = ?"),
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
            Ok(after) => after,
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
