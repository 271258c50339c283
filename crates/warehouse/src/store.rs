//! The warehouse port on MySQL.

use std::time::Duration;

use donut_domain::ports::RestockOutcome;
use donut_domain::purchase::{ShelfState, plan_reorder, restock_info};
use donut_domain::{
    CorrelationId, FactoryOrder, FactoryOrderId, FactoryOrderStatus, FactoryReceipt,
    NewFactoryOrder, OrderId, OutOfStock, Product, ProductId, PurchaseOutcome, PurchaseRequest,
    ReorderRule, Sale, StoreError, Warehouse,
};
use mysql_async::prelude::*;
use mysql_async::{Row, Transaction, TxOpts};

use crate::MySqlWarehouse;
use crate::pool::{is_deadlock, map_err};

const SELECT_PRODUCT: &str = "SELECT product_id, name, price_cents, qty, reorder_point, \
     reorder_qty, factory_product_id FROM products";

const SELECT_FACTORY_ORDERS: &str = "SELECT factory_order_id, product_id, factory_product_id, \
     quantity, status, factory_request_id, correlation_id, request_attempts FROM factory_orders";

/// How often a purchase that lost a deadlock is tried again before the buyer gets a 503.
const DEADLOCK_RETRIES: usize = 3;

impl Warehouse for MySqlWarehouse {
    async fn purchase(&self, request: &PurchaseRequest) -> Result<PurchaseOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match purchase_tx(&mut conn, request).await {
                Err(e) if is_deadlock(&e) && attempt < DEADLOCK_RETRIES => {
                    tracing::warn!(attempt, "purchase lost a deadlock; retrying");
                }
                other => return other.map_err(map_err),
            }
        }
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .query(format!("{SELECT_PRODUCT} ORDER BY product_id"))
            .await
            .map_err(map_err)?;
        rows.into_iter().map(product_from_row).collect()
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{SELECT_PRODUCT} WHERE product_id = ?"),
                (id.as_str(),),
            )
            .await
            .map_err(map_err)?;
        row.map(product_from_row).transpose()
    }

    async fn factory_order(&self, id: FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{SELECT_FACTORY_ORDERS} WHERE factory_order_id = ?"),
                (id.to_string(),),
            )
            .await
            .map_err(map_err)?;
        row.map(factory_order_from_row).transpose()
    }

    async fn record_factory_request(
        &self,
        id: FactoryOrderId,
        receipt: &FactoryReceipt,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE factory_orders SET status = 'requested', factory_request_id = ?, \
             requested_at = UTC_TIMESTAMP(6), request_lease_until = NULL \
             WHERE factory_order_id = ? AND status = 'open'",
            (&receipt.factory_request_id, id.to_string()),
        )
        .await
        .map_err(map_err)?;
        Ok(conn.affected_rows() == 1)
    }

    async fn claim_factory_request(
        &self,
        id: FactoryOrderId,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE factory_orders SET request_attempts = request_attempts + 1, \
             request_lease_until = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND \
             WHERE factory_order_id = ? AND status = 'open' \
             AND (request_lease_until IS NULL OR request_lease_until < UTC_TIMESTAMP(6))",
            (lease.as_micros() as u64, id.to_string()),
        )
        .await
        .map_err(map_err)?;
        Ok(conn.affected_rows() == 1)
    }

    async fn release_factory_claim(&self, id: FactoryOrderId) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE factory_orders SET request_lease_until = NULL WHERE factory_order_id = ?",
            (id.to_string(),),
        )
        .await
        .map_err(map_err)
    }

    async fn overdue_factory_orders(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "{SELECT_FACTORY_ORDERS} WHERE status = 'requested' AND surfaced_at IS NULL \
                     AND requested_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND ORDER BY requested_at LIMIT ?"
                ),
                (older_than.as_micros() as u64, limit as u64),
            )
            .await
            .map_err(map_err)?;
        rows.into_iter().map(factory_order_from_row).collect()
    }

    async fn claim_overdue(
        &self,
        id: FactoryOrderId,
        older_than: Duration,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE factory_orders SET request_attempts = request_attempts + 1, requested_at = UTC_TIMESTAMP(6) \
             WHERE factory_order_id = ? AND status = 'requested' AND surfaced_at IS NULL \
             AND requested_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND",
            (id.to_string(), older_than.as_micros() as u64),
        )
        .await
        .map_err(map_err)?;
        Ok(conn.affected_rows() == 1)
    }

    async fn mark_surfaced(&self, id: FactoryOrderId) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.exec_drop(
            "UPDATE factory_orders SET surfaced_at = UTC_TIMESTAMP(6) WHERE factory_order_id = ?",
            (id.to_string(),),
        )
        .await
        .map_err(map_err)
    }

    async fn restock(&self, id: FactoryOrderId) -> Result<RestockOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        let order: Option<(String, String, u32, String, i64)> = tx
            .exec_first(
                "SELECT product_id, status, quantity, correlation_id, \
                 TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)) FROM factory_orders \
                 WHERE factory_order_id = ? FOR UPDATE",
                (id.to_string(),),
            )
            .await
            .map_err(map_err)?;
        let Some((product_id, status, quantity, correlation_id, waited_us)) = order else {
            return Ok(RestockOutcome::UnknownOrder);
        };
        let product_id = parse_product_id(&product_id)?;
        let correlation_id = parse_correlation_id(&correlation_id)?;
        if !parse_status(&status)?.accepts_restock() {
            tx.rollback().await.map_err(map_err)?;
            return Ok(RestockOutcome::AlreadyFulfilled {
                product_id,
                correlation_id,
            });
        }
        tx.exec_drop(
            "UPDATE factory_orders SET status = 'fulfilled', open_product_id = NULL, \
             fulfilled_at = UTC_TIMESTAMP(6) WHERE factory_order_id = ?",
            (id.to_string(),),
        )
        .await
        .map_err(map_err)?;
        tx.exec_drop(
            "UPDATE products SET qty = qty + ? WHERE product_id = ?",
            (quantity, product_id.as_str()),
        )
        .await
        .map_err(map_err)?;
        let stock: Option<u32> = tx
            .exec_first(
                "SELECT qty FROM products WHERE product_id = ?",
                (product_id.as_str(),),
            )
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(RestockOutcome::Restocked {
            product_id,
            added: quantity,
            stock: stock.unwrap_or_default(),
            correlation_id,
            waited: Duration::from_micros(waited_us.max(0) as u64),
        })
    }
}

/// qty, reorder point, reorder quantity, factory product id, open factory order id and status.
type ShelfRow = (u32, u32, u32, String, Option<String>, Option<String>);

/// One purchase, one transaction:
/// 1. the conditional `UPDATE` (its affected-row count decides whether the sale happens);
/// 2. the shelf as it now stands, row-locked (stock, reorder rule, the open factory order);
/// 3. the order row when sold; the factory order and the outbox row when the domain says so.
async fn purchase_tx(
    conn: &mut mysql_async::Conn,
    request: &PurchaseRequest,
) -> Result<PurchaseOutcome, mysql_async::Error> {
    let product_id = request.product_id.as_str();
    let quantity = request.quantity.get();
    let mut tx = conn.start_transaction(TxOpts::default()).await?;

    tx.exec_drop(
        "UPDATE products SET qty = qty - ? WHERE product_id = ? AND qty >= ?",
        (quantity, product_id, quantity),
    )
    .await?;
    let sold = tx.affected_rows() == 1;

    let shelf: Option<ShelfRow> = tx
        .exec_first(
            "SELECT p.qty, p.reorder_point, p.reorder_qty, p.factory_product_id, \
                    f.factory_order_id, f.status \
             FROM products p LEFT JOIN factory_orders f ON f.open_product_id = p.product_id \
             WHERE p.product_id = ? FOR UPDATE",
            (product_id,),
        )
        .await?;
    let Some((stock, point, reorder_qty, factory_product_id, open_id, open_status)) = shelf else {
        tx.rollback().await?;
        return Ok(PurchaseOutcome::UnknownProduct(request.product_id.clone()));
    };
    let open_order = match (open_id, open_status) {
        (Some(id), Some(status)) => Some((
            FactoryOrderId::parse(&id).map_err(corrupt)?,
            FactoryOrderStatus::parse(&status).ok_or_else(|| corrupt(status))?,
        )),
        _ => None,
    };
    let shelf = ShelfState {
        stock,
        reorder: ReorderRule {
            point,
            quantity: reorder_qty,
        },
        factory_product_id,
        open_order,
    };

    let reorder = plan_reorder(request, &shelf, sold);
    if let Some(order) = &reorder {
        open_factory_order(&mut tx, order, shelf.stock).await?;
    }
    let restock = restock_info(&shelf, reorder.as_ref());

    let outcome = if sold {
        let order_id = OrderId::new();
        tx.exec_drop(
            "INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at) \
             VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6))",
            (
                order_id.to_string(),
                product_id,
                quantity,
                request.correlation_id.as_str(),
            ),
        )
        .await?;
        PurchaseOutcome::Sold(Sale {
            order_id,
            product_id: request.product_id.clone(),
            quantity: request.quantity,
            remaining: stock,
            restock,
        })
    } else {
        PurchaseOutcome::OutOfStock(OutOfStock {
            product_id: request.product_id.clone(),
            requested: request.quantity,
            available: stock,
            restock,
        })
    };
    tx.commit().await?;
    Ok(outcome)
}

/// The stock-out: the factory order and its outbox row, in the purchase's transaction.
async fn open_factory_order(
    tx: &mut Transaction<'_>,
    order: &NewFactoryOrder,
    stock_left: u32,
) -> Result<(), mysql_async::Error> {
    let event = order.stock_out_event(stock_left, time::OffsetDateTime::now_utc());
    tx.exec_drop(
        "INSERT INTO factory_orders (factory_order_id, product_id, open_product_id, \
         factory_product_id, quantity, status, correlation_id, created_at) \
         VALUES (?, ?, ?, ?, ?, 'open', ?, UTC_TIMESTAMP(6))",
        (
            order.id.to_string(),
            order.product_id.as_str(),
            order.product_id.as_str(),
            &order.factory_product_id,
            order.quantity,
            order.correlation_id.as_str(),
        ),
    )
    .await?;
    tx.exec_drop(
        "INSERT INTO outbox (event_id, correlation_id, payload, created_at, next_attempt_at) \
         VALUES (?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
        (
            event.event_id.to_string(),
            event.correlation_id.as_str(),
            event.to_json(),
        ),
    )
    .await?;
    tracing::info!(
        correlation_id = %order.correlation_id,
        product_id = %order.product_id,
        factory_order_id = %order.id,
        quantity = order.quantity,
        stock_left,
        "stock-out: factory order opened"
    );
    Ok(())
}

fn corrupt(what: impl std::fmt::Display) -> mysql_async::Error {
    mysql_async::Error::Other(format!("unexpected value in the warehouse: {what}").into())
}

fn internal(what: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("unexpected value in the warehouse: {what}"))
}

fn parse_product_id(raw: &str) -> Result<ProductId, StoreError> {
    ProductId::parse(raw).map_err(internal)
}

fn parse_correlation_id(raw: &str) -> Result<CorrelationId, StoreError> {
    CorrelationId::parse(raw).map_err(internal)
}

fn parse_status(raw: &str) -> Result<FactoryOrderStatus, StoreError> {
    FactoryOrderStatus::parse(raw).ok_or_else(|| internal(raw))
}

fn product_from_row(row: Row) -> Result<Product, StoreError> {
    let (id, name, price_cents, stock, point, quantity, factory_product_id): (
        String,
        String,
        i64,
        u32,
        u32,
        u32,
        String,
    ) = mysql_async::from_row_opt(row).map_err(internal)?;
    Ok(Product {
        id: parse_product_id(&id)?,
        name,
        price_cents,
        stock,
        reorder: ReorderRule { point, quantity },
        factory_product_id,
    })
}

fn factory_order_from_row(row: Row) -> Result<FactoryOrder, StoreError> {
    let (
        id,
        product_id,
        factory_product_id,
        quantity,
        status,
        request_id,
        correlation_id,
        attempts,
    ): (
        String,
        String,
        String,
        u32,
        String,
        Option<String>,
        String,
        u32,
    ) = mysql_async::from_row_opt(row).map_err(internal)?;
    Ok(FactoryOrder {
        id: FactoryOrderId::parse(&id).map_err(internal)?,
        product_id: parse_product_id(&product_id)?,
        factory_product_id,
        quantity,
        status: parse_status(&status)?,
        factory_request_id: request_id,
        correlation_id: parse_correlation_id(&correlation_id)?,
        request_attempts: attempts,
    })
}
