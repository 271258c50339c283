//! The warehouse port on MySQL.

use std::time::Duration;

use donut_domain::catalogue::order_state;
use donut_domain::ports::{OpsOutcome, RestockOutcome};
use donut_domain::purchase::{PurchaseDraft, ShelfState, plan_reorder, restock_info};
use donut_domain::usecases::{CallbackTarget, restock_refusal};
use donut_domain::{
    AuditAction, Buyer, CorrelationId, FactoryOrder, FactoryOrderId, FactoryOrderStatus,
    FactoryReceipt, IdempotencyKey, NewFactoryOrder, Operator, OrderId, OutOfStock, Product,
    ProductId, PurchaseOutcome, PurchaseRequest, Quantity, ReorderRule, RestockInfo, Sale,
    SoldOrder, StockOutEvent, StoreError,
};
use donut_domain::{ExpiredKeys, FactoryOrderOps, FactoryOrders, OverdueOrders, Restocks, Shelves};
use mysql_async::prelude::*;
use mysql_async::{Row, TxOpts};

use crate::MySqlWarehouse;
use crate::catalogue::{AuditRow, audit_row};
use crate::pool::{is_deadlock, map_err};

const SELECT_PRODUCT: &str = "SELECT product_id, name, price_cents, qty, reorder_point, \
     reorder_qty, factory_product_id FROM products";

pub(crate) const SELECT_FACTORY_ORDERS: &str = "SELECT factory_order_id, product_id, factory_product_id, \
     quantity, status, factory_request_id, correlation_id, request_attempts, chases FROM factory_orders";

/// How often a purchase that lost a deadlock is tried again before the buyer gets a 503.
const DEADLOCK_RETRIES: usize = 3;

impl Shelves for MySqlWarehouse {
    async fn purchase(&self, request: &PurchaseRequest) -> Result<PurchaseOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match purchase_call(&mut conn, request, self.key_window()).await {
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
            .query(format!(
                "{SELECT_PRODUCT} WHERE retired_at IS NULL ORDER BY product_id"
            ))
            .await
            .map_err(map_err)?;
        rows.into_iter().map(product_from_row).collect()
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<Row> = conn
            .exec_first(
                format!("{SELECT_PRODUCT} WHERE product_id = ? AND retired_at IS NULL"),
                (id.as_str(),),
            )
            .await
            .map_err(map_err)?;
        row.map(product_from_row).transpose()
    }

    async fn order(&self, id: OrderId) -> Result<Option<SoldOrder>, StoreError> {
        let mut conn = self.conn().await?;
        // Orders sold during a deploy by the previous release have no unit price yet: their
        // product's price stands in.
        // Product, quantity, unit price, when, the stored key, the buyer.
        type OrderRow = (String, u32, i64, String, Option<String>, Option<String>);
        let row: Option<OrderRow> = conn
            .exec_first(
                "SELECT o.product_id, o.quantity, COALESCE(o.unit_price_cents, p.price_cents), \
                 DATE_FORMAT(o.created_at, '%Y-%m-%dT%H:%i:%s.%fZ'), o.idempotency_key, o.buyer \
                 FROM orders o JOIN products p ON p.product_id = o.product_id \
                 WHERE o.order_id = ?",
                (id.to_string(),),
            )
            .await
            .map_err(map_err)?;
        let Some((product_id, quantity, unit_price_cents, created_at, key, buyer)) = row else {
            return Ok(None);
        };
        let buyer = buyer
            .map(|b| Buyer::parse(&b))
            .transpose()
            .map_err(internal)?;
        Ok(Some(SoldOrder {
            order_id: id,
            product_id: parse_product_id(&product_id)?,
            quantity: Quantity::parse(i64::from(quantity), u32::MAX).map_err(internal)?,
            unit_price_cents,
            created_at: time::OffsetDateTime::parse(
                &created_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(internal)?,
            idempotency_key: key
                .map(|k| IdempotencyKey::from_stored(&k, buyer.as_ref()))
                .transpose()
                .map_err(internal)?,
            buyer,
        }))
    }
}

impl FactoryOrders for MySqlWarehouse {
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
}

impl OverdueOrders for MySqlWarehouse {
    async fn overdue_factory_orders(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        self.factory_orders_where(
            "status = 'requested' AND surfaced_at IS NULL \
             AND requested_at < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND ORDER BY requested_at",
            older_than,
            limit,
        )
        .await
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

    async fn stalled_open_orders(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        self.factory_orders_where(
            &format!("{STALLED_OPEN} ORDER BY created_at"),
            older_than,
            limit,
        )
        .await
    }

    async fn chase_open_order(
        &self,
        id: FactoryOrderId,
        older_than: Duration,
        event: &StockOutEvent,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        tx.exec_drop(
            format!(
                "UPDATE factory_orders SET chases = chases + 1, chased_at = UTC_TIMESTAMP(6) \
                 WHERE factory_order_id = ? AND {STALLED_OPEN}"
            ),
            (id.to_string(), older_than.as_micros() as u64),
        )
        .await
        .map_err(map_err)?;
        if tx.affected_rows() != 1 {
            tx.rollback().await.map_err(map_err)?;
            return Ok(false);
        }
        insert_outbox_row(&mut tx, event).await?;
        tx.commit().await.map_err(map_err)?;
        tracing::warn!(
            correlation_id = %event.correlation_id,
            factory_order_id = %id,
            product_id = %event.product_id,
            "open factory order stalled: its stock-out is published again"
        );
        Ok(true)
    }

    async fn oldest_unfinished(&self) -> Result<Option<Duration>, StoreError> {
        let mut conn = self.conn().await?;
        let age: Option<Option<i64>> = conn
            .query_first(
                "SELECT TIMESTAMPDIFF(MICROSECOND, MIN(created_at), UTC_TIMESTAMP(6)) \
                 FROM factory_orders WHERE status IN ('open', 'requested')",
            )
            .await
            .map_err(map_err)?;
        Ok(age
            .flatten()
            .map(|us| Duration::from_micros(us.max(0) as u64)))
    }
}

impl MySqlWarehouse {
    /// Up to `limit` factory orders matching `condition` (which ends with its ORDER BY and
    /// takes one parameter, the age in microseconds).
    async fn factory_orders_where(
        &self,
        condition: &str,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<Row> = conn
            .exec(
                format!("{SELECT_FACTORY_ORDERS} WHERE {condition} LIMIT ?"),
                (older_than.as_micros() as u64, limit as u64),
            )
            .await
            .map_err(map_err)?;
        rows.into_iter().map(factory_order_from_row).collect()
    }
}

/// An `open` order nobody is moving: its stock-out last published more than `?` µs ago, no
/// consumer holding it, ops not told yet.
const STALLED_OPEN: &str = "status = 'open' AND surfaced_at IS NULL \
     AND COALESCE(chased_at, created_at) < UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND \
     AND (request_lease_until IS NULL OR request_lease_until < UTC_TIMESTAMP(6))";

/// Writes a stock-out event into the outbox, due at once (the caller's transaction).
async fn insert_outbox_row(
    tx: &mut mysql_async::Transaction<'_>,
    event: &StockOutEvent,
) -> Result<(), StoreError> {
    tx.exec_drop(
        "INSERT INTO outbox (event_id, correlation_id, payload, created_at, next_attempt_at) \
         VALUES (?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
        (
            event.event_id.to_string(),
            event.correlation_id.as_str(),
            event.to_json(),
        ),
    )
    .await
    .map_err(map_err)
}

impl FactoryOrderOps for MySqlWarehouse {
    async fn re_request(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
        not_within: Duration,
        event: &StockOutEvent,
    ) -> Result<OpsOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        // How long ago the order was last asked for: opened, chased or requested.
        let row: Option<(String, i64)> = tx
            .exec_first(
                "SELECT status, TIMESTAMPDIFF(MICROSECOND, GREATEST(created_at, \
                 COALESCE(chased_at, created_at), COALESCE(requested_at, created_at)), \
                 UTC_TIMESTAMP(6)) FROM factory_orders WHERE factory_order_id = ? FOR UPDATE",
                (id.to_string(),),
            )
            .await
            .map_err(map_err)?;
        let Some((status, since_us)) = row else {
            return Ok(OpsOutcome::UnknownOrder);
        };
        let was = parse_status(&status)?;
        let since = Duration::from_micros(since_us.max(0) as u64);
        if !was.unfinished() {
            return Ok(OpsOutcome::Unchanged(was));
        }
        if since < not_within {
            return Ok(OpsOutcome::InFlight(since));
        }
        tx.exec_drop(
            "UPDATE factory_orders SET status = 'open', surfaced_at = NULL, chases = 0, \
             request_attempts = 0, request_lease_until = NULL, requested_at = NULL, \
             chased_at = UTC_TIMESTAMP(6) WHERE factory_order_id = ?",
            (id.to_string(),),
        )
        .await
        .map_err(map_err)?;
        insert_outbox_row(&mut tx, event).await?;
        let row = AuditRow {
            action: AuditAction::ReRequest,
            product_id: event.product_id.as_str(),
            factory_order_id: Some(id.to_string()),
            before: Some(order_state(id, was)),
            after: order_state(id, FactoryOrderStatus::Open),
            reason: None,
        };
        audit_row(&mut tx, operator, &row).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        tracing::warn!(
            operator = %operator.arn,
            correlation_id = %event.correlation_id,
            factory_order_id = %id,
            product_id = %event.product_id,
            was = %was,
            "ops: factory order re-requested (open again, its stock-out published again)"
        );
        Ok(OpsOutcome::Done { was })
    }

    async fn cancel(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
    ) -> Result<OpsOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        let row: Option<(String, String, String)> = tx
            .exec_first(
                "SELECT status, correlation_id, product_id FROM factory_orders \
                 WHERE factory_order_id = ? FOR UPDATE",
                (id.to_string(),),
            )
            .await
            .map_err(map_err)?;
        let Some((status, correlation_id, product_id)) = row else {
            return Ok(OpsOutcome::UnknownOrder);
        };
        let was = parse_status(&status)?;
        if !was.unfinished() {
            return Ok(OpsOutcome::Unchanged(was));
        }
        tx.exec_drop(
            "UPDATE factory_orders SET status = 'cancelled', \
             request_lease_until = NULL, cancelled_at = UTC_TIMESTAMP(6) WHERE factory_order_id = ?",
            (id.to_string(),),
        )
        .await
        .map_err(map_err)?;
        let row = AuditRow {
            action: AuditAction::Cancel,
            product_id: product_id.as_str(),
            factory_order_id: Some(id.to_string()),
            before: Some(order_state(id, was)),
            after: order_state(id, FactoryOrderStatus::Cancelled),
            reason: None,
        };
        audit_row(&mut tx, operator, &row).await.map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        tracing::warn!(
            operator = %operator.arn,
            correlation_id = %correlation_id,
            factory_order_id = %id,
            product_id = %product_id,
            was = %was,
            "ops: factory order cancelled (the product's next stock-out opens a new one)"
        );
        Ok(OpsOutcome::Done { was })
    }
}

impl Restocks for MySqlWarehouse {
    async fn restock(&self, id: FactoryOrderId, asked: u32) -> Result<RestockOutcome, StoreError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(map_err)?;
        let order: Option<Row> = tx
            .exec_first(
                "SELECT product_id, status, quantity, correlation_id, \
                 TIMESTAMPDIFF(MICROSECOND, created_at, UTC_TIMESTAMP(6)), request_attempts, \
                 factory_request_id FROM factory_orders WHERE factory_order_id = ? FOR UPDATE",
                (id.to_string(),),
            )
            .await
            .map_err(map_err)?;
        let Some(order) = order else {
            return Ok(RestockOutcome::UnknownOrder);
        };
        let (product_id, status, quantity, correlation_id, waited_us, attempts, request_id): (
            String,
            String,
            u32,
            String,
            i64,
            u32,
            Option<String>,
        ) = mysql_async::from_row_opt(order).map_err(internal)?;
        let product_id = parse_product_id(&product_id)?;
        let correlation_id = parse_correlation_id(&correlation_id)?;
        let target = CallbackTarget {
            product_id: &product_id,
            correlation_id: &correlation_id,
            status: parse_status(&status)?,
            quantity,
            request_attempts: attempts,
            factory_request_id: request_id.as_deref(),
        };
        if let Some(outcome) = restock_refusal(&target, asked) {
            tx.rollback().await.map_err(map_err)?;
            return Ok(outcome);
        }
        tx.exec_drop(
            "UPDATE factory_orders SET status = 'fulfilled', \
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

/// What `donut_sell_v6` and `donut_sell_keyed_v6` (migration 013) answer: one column (`stock`)
/// for a sale that left the shelf above its reorder point and is committed; otherwise the
/// twelve columns `donut_sell_v5` (migration 012) answers, from `donut_sell_shelf_v6` or, for a
/// key that made a sale or is in flight, from the key's row.
#[derive(Debug)]
struct SellRow {
    /// The product exists.
    found: bool,
    sold: bool,
    /// The stock after the purchase (`None` only when not found).
    stock: Option<u32>,
    /// The transaction is still open, the product's row locked: the shelf is low with no
    /// factory order open, and the caller decides.
    decide: bool,
    /// The shelf and its open factory order, read when the shelf is low.
    reorder_point: Option<u32>,
    reorder_qty: Option<u32>,
    factory_product_id: Option<String>,
    open_id: Option<String>,
    open_status: Option<String>,
    /// What the key's sale answered, when the key made one (`step = 'replay'`).
    replay: Option<Replay>,
    /// A purchase with the same key is in flight (`step = 'busy'`).
    busy: bool,
}

/// The stored answer of a key's sale.
#[derive(Debug)]
struct Replay {
    order_id: String,
    fingerprint: String,
    opened_now: bool,
}

impl FromRow for SellRow {
    fn from_row_opt(row: Row) -> Result<Self, mysql_async::FromRowError> {
        if row.len() == 1 {
            // Sold and committed; the shelf is above its reorder point.
            let (stock,) = <(u32,)>::from_row_opt(row)?;
            return Ok(Self {
                found: true,
                sold: true,
                stock: Some(stock),
                decide: false,
                reorder_point: None,
                reorder_qty: None,
                factory_product_id: None,
                open_id: None,
                open_status: None,
                replay: None,
                busy: false,
            });
        }
        type Raw = (
            u8,
            u8,
            Option<u32>,
            String,
            Option<u32>,
            Option<u32>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            u8,
        );
        let (
            found,
            sold,
            stock,
            step,
            reorder_point,
            reorder_qty,
            factory_product_id,
            open_id,
            open_status,
            replay_order,
            replay_fingerprint,
            replay_opened,
        ) = Raw::from_row_opt(row)?;
        let replay = match (step.as_str(), replay_order, replay_fingerprint) {
            ("replay", Some(order_id), Some(fingerprint)) => Some(Replay {
                order_id,
                fingerprint,
                opened_now: replay_opened == 1,
            }),
            _ => None,
        };
        Ok(Self {
            found: found == 1,
            sold: sold == 1,
            stock,
            decide: step == "decide",
            reorder_point,
            reorder_qty,
            factory_product_id,
            open_id,
            open_status,
            replay,
            busy: step == "busy",
        })
    }
}

/// One purchase. `donut_sell_v6` (`donut_sell_keyed_v6` with a key) sells or refuses (or, for a key that made a sale already,
/// returns that sale's answer); a sale that leaves the shelf above its reorder
/// point is committed in that one round trip. When the shelf is left low with no factory order
/// open, the transaction stays open (the product's row locked) while the domain decides
/// ([`plan_reorder`]); a second round trip then opens the factory order with its stock-out
/// event (`donut_open_factory_order_v3`), or ends the transaction. Every id comes from the draft.
async fn purchase_call(
    conn: &mut mysql_async::Conn,
    request: &PurchaseRequest,
    key_window: Duration,
) -> Result<PurchaseOutcome, mysql_async::Error> {
    let draft = PurchaseDraft::new();
    let key = request.idempotency_key.as_ref();
    let buyer = request.buyer.as_ref().map(Buyer::as_str);
    let row: Option<SellRow> = match request.stored_key() {
        // Without a key, the procedure without the key's parameters and variables (each
        // costs the server on every call: migration 013).
        None => {
            conn.exec_first(
                "CALL donut_sell_v6(?, ?, ?, ?, ?)",
                (
                    request.product_id.as_str(),
                    request.quantity.get(),
                    draft.order_id.to_string(),
                    request.correlation_id.as_str(),
                    buyer,
                ),
            )
            .await?
        }
        Some(stored) => {
            conn.exec_first(
                "CALL donut_sell_keyed_v6(?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request.product_id.as_str(),
                    request.quantity.get(),
                    draft.order_id.to_string(),
                    request.correlation_id.as_str(),
                    stored,
                    request.fingerprint(),
                    key_window.as_secs(),
                    buyer,
                ),
            )
            .await?
        }
    };
    let row = row.ok_or_else(|| corrupt("donut_sell_v6 answered no row"))?;
    if let Some(key) = key {
        if row.busy {
            return Ok(PurchaseOutcome::KeyInFlight(key.clone()));
        }
        if let Some(replay) = &row.replay {
            return replayed(request, key, replay, &row);
        }
    }
    let (true, Some(stock)) = (row.found, row.stock) else {
        return Ok(PurchaseOutcome::UnknownProduct(request.product_id.clone()));
    };
    let shelf = match (row.reorder_point, row.reorder_qty, row.factory_product_id) {
        (Some(point), Some(quantity), Some(factory_product_id)) => Some(ShelfState {
            stock,
            reorder: ReorderRule { point, quantity },
            factory_product_id,
            open_order: open_order(row.open_id, row.open_status)?,
        }),
        _ => None,
    };
    let opened = match (&shelf, row.decide) {
        (Some(shelf), true) => {
            let decided = decide(conn, request, &draft, shelf, row.sold).await;
            if decided.is_err() {
                // The procedure's handler rolled back what failed in it; anything else must not
                // leave the transaction (and the row lock) open on a pooled connection.
                let _ = conn.query_drop("ROLLBACK").await;
            }
            decided?
        }
        (None, true) => return Err(corrupt("donut_sell left a decision without its shelf")),
        (_, false) => None,
    };
    let restock = shelf.and_then(|shelf| restock_info(&draft, shelf.open_order, opened.as_ref()));
    Ok(if row.sold {
        PurchaseOutcome::Sold(Sale {
            order_id: draft.order_id,
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
    })
}

/// The second round trip of a purchase that left its shelf low, in the transaction
/// `donut_sell` left open: the domain's decision, written and committed.
async fn decide(
    conn: &mut mysql_async::Conn,
    request: &PurchaseRequest,
    draft: &PurchaseDraft,
    shelf: &ShelfState,
    sold: bool,
) -> Result<Option<NewFactoryOrder>, mysql_async::Error> {
    let Some(order) = plan_reorder(request, shelf, sold, draft) else {
        conn.query_drop(if sold { "COMMIT" } else { "ROLLBACK" })
            .await?;
        return Ok(None);
    };
    let event = order.stock_out_event(shelf.stock, draft.event_id, draft.at);
    conn.exec_drop(
        "CALL donut_open_factory_order_v3(?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order.id.to_string(),
            order.product_id.as_str(),
            order.factory_product_id.as_str(),
            order.quantity,
            order.correlation_id.as_str(),
            event.event_id.to_string(),
            event.to_json(),
            request.stored_key(),
        ),
    )
    .await?;
    tracing::info!(
        correlation_id = %order.correlation_id,
        product_id = %order.product_id,
        factory_order_id = %order.id,
        quantity = order.quantity,
        stock_left = shelf.stock,
        "stock-out: factory order opened"
    );
    Ok(Some(order))
}

/// The answer a key's sale gave, for a retry of it; another request under the key is refused.
fn replayed(
    request: &PurchaseRequest,
    key: &IdempotencyKey,
    replay: &Replay,
    row: &SellRow,
) -> Result<PurchaseOutcome, mysql_async::Error> {
    if replay.fingerprint != request.fingerprint() {
        return Ok(PurchaseOutcome::KeyReused(key.clone()));
    }
    let restock = open_order(row.open_id.clone(), row.open_status.clone())?.map(|(id, status)| {
        RestockInfo {
            factory_order_id: id,
            status,
            opened_now: replay.opened_now,
            // Published when it was opened: nothing to relay again.
            stock_out_event: None,
        }
    });
    Ok(PurchaseOutcome::Replayed(Sale {
        order_id: OrderId::parse(&replay.order_id).map_err(corrupt)?,
        product_id: request.product_id.clone(),
        quantity: request.quantity,
        remaining: row
            .stock
            .ok_or_else(|| corrupt("a replay without its stock"))?,
        restock,
    }))
}

pub(crate) fn open_order(
    id: Option<String>,
    status: Option<String>,
) -> Result<Option<(FactoryOrderId, FactoryOrderStatus)>, mysql_async::Error> {
    match (id, status) {
        (Some(id), Some(status)) => Ok(Some((
            FactoryOrderId::parse(&id).map_err(corrupt)?,
            FactoryOrderStatus::parse(&status).ok_or_else(|| corrupt(status))?,
        ))),
        _ => Ok(None),
    }
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

/// A row of [`SELECT_FACTORY_ORDERS`]'s columns.
pub(crate) type FactoryOrderRow = (
    String,
    String,
    String,
    u32,
    String,
    Option<String>,
    String,
    u32,
    u32,
);

pub(crate) fn factory_order_from_row(row: Row) -> Result<FactoryOrder, StoreError> {
    factory_order_from(mysql_async::from_row_opt(row).map_err(internal)?)
}

pub(crate) fn factory_order_from(
    (
        id,
        product_id,
        factory_product_id,
        quantity,
        status,
        request_id,
        correlation_id,
        attempts,
        chases,
    ): FactoryOrderRow,
) -> Result<FactoryOrder, StoreError> {
    Ok(FactoryOrder {
        id: FactoryOrderId::parse(&id).map_err(internal)?,
        product_id: parse_product_id(&product_id)?,
        factory_product_id,
        quantity,
        status: parse_status(&status)?,
        factory_request_id: request_id,
        correlation_id: parse_correlation_id(&correlation_id)?,
        request_attempts: attempts,
        chases,
    })
}

impl ExpiredKeys for MySqlWarehouse {
    /// Each statement a short range on `idempotency_keys_expiry`.
    async fn sweep_expired_keys(&self, batch: u32, max_batches: u32) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        let mut swept = 0;
        for _ in 0..max_batches {
            conn.exec_drop(
                "DELETE FROM idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) \
                 ORDER BY expires_at LIMIT ?",
                (batch,),
            )
            .await
            .map_err(map_err)?;
            let deleted = conn.affected_rows();
            swept += deleted;
            if deleted < u64::from(batch) {
                break;
            }
        }
        Ok(swept)
    }

    async fn oldest_expired_key(&self) -> Result<Option<Duration>, StoreError> {
        let mut conn = self.conn().await?;
        // The first entry of `idempotency_keys_expiry`: one index probe.
        let micros: Option<Option<i64>> = conn
            .query_first(
                "SELECT TIMESTAMPDIFF(MICROSECOND, MIN(expires_at), UTC_TIMESTAMP(6)) \
                 FROM idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6)",
            )
            .await
            .map_err(map_err)?;
        Ok(micros
            .flatten()
            .map(|us| Duration::from_micros(us.max(0) as u64)))
    }
}
