//! The warehouse in memory: every port the MySQL adapter implements, with the same rules (the
//! domain's `plan_reorder` on purchase, one open factory order per product, leases and
//! attempts, restock once, the outbox and its claims), on a clock the test moves ([`MemWarehouse::advance`]). For tests
//! of the handlers and services that need a warehouse but not a database.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use donut_domain::NewFactoryOrder;
use donut_domain::catalogue::{
    Write, adjustment_restock, order_state, plan_adjustment, plan_restock, plan_update,
};
use donut_domain::ports::{
    Due, OUTBOX_CLAIM_LEASE, OpsOutcome, OutboxRow, Pending, RestockOutcome, Settlement,
};
use donut_domain::purchase::{
    PurchaseDraft, ShelfState, leaves_shelf_low, plan_reorder, restock_info,
};
use donut_domain::usecases::{CallbackTarget, restock_refusal};
use donut_domain::{
    AuditAction, AuditEntry, Catalogue, CatalogueEntry, CatalogueOutcome, NewProduct, Operator,
    ProductChange, StockChange,
};
use donut_domain::{
    ExpiredKeys, FactoryOrder, FactoryOrderId, FactoryOrderOps, FactoryOrderStatus, FactoryOrders,
    FactoryReceipt, OrderId, OutOfStock, Outbox, OverdueOrders, Product, ProductId,
    PurchaseOutcome, PurchaseRequest, Restocks, Sale, Shelves, SoldOrder, StockOutEvent,
    StoreError,
};

#[derive(Debug, Clone)]
struct Order {
    order: FactoryOrder,
    /// Virtual times (since the warehouse was made).
    created: Duration,
    requested: Option<Duration>,
    lease_until: Option<Duration>,
    /// When the watchdog (or ops) last published its stock-out again.
    chased: Option<Duration>,
    surfaced: bool,
}

impl Order {
    /// When its stock-out was last published: opened, or chased since.
    fn last_published(&self) -> Duration {
        self.chased.unwrap_or(self.created)
    }

    fn stalled_open(&self, older_than: Duration, now: Duration) -> bool {
        self.order.status == FactoryOrderStatus::Open
            && !self.surfaced
            && self.last_published() + older_than < now
            && self.lease_until.is_none_or(|until| until < now)
    }
}

#[derive(Default)]
struct State {
    now: Duration,
    products: BTreeMap<String, Product>,
    orders: Vec<Order>,
    sold: Vec<(ProductId, u32)>,
    /// Stock-out events written again (chases, ops re-requests), oldest first.
    republished: Vec<StockOutEvent>,
    outbox: Vec<OutboxEntry>,
    /// Each idempotency key that made a sale: the request's fingerprint, the sale, when its
    /// window ends.
    keys: BTreeMap<String, (String, Sale, Duration)>,
    /// How long a key is kept (`None`: the MySQL adapter's default).
    key_window: Option<Duration>,
    /// Retired products' ids.
    retired: std::collections::BTreeSet<String>,
    /// The catalogue's audit trail, oldest first.
    audit: Vec<AuditEntry>,
    /// Operators' keys, by (IAM ARN, key): what the change asked, its kept answer, when its
    /// window ends.
    operator_keys: BTreeMap<(String, String), (String, String, Duration)>,
    orders_sold: Vec<SoldOrder>,
}

/// A row of the outbox, as the MySQL adapter keeps it.
#[derive(Debug, Clone)]
struct OutboxEntry {
    id: u64,
    event_id: Option<uuid::Uuid>,
    payload: String,
    attempts: u32,
    created: Duration,
    /// Due at; a claim moves it on by the lease.
    next_attempt: Duration,
    claimed_by: Option<String>,
    published: bool,
    last_error: Option<String>,
}

impl State {
    /// A new factory order, `open`, and its stock-out in the outbox (`stock` left on the shelf).
    fn open_factory_order(&mut self, new: &NewFactoryOrder, stock: u32, draft: &PurchaseDraft) {
        let now = self.now;
        self.orders.push(Order {
            order: FactoryOrder {
                id: new.id,
                product_id: new.product_id.clone(),
                factory_product_id: new.factory_product_id.clone(),
                quantity: new.quantity,
                status: FactoryOrderStatus::Open,
                factory_request_id: None,
                correlation_id: new.correlation_id.clone(),
                request_attempts: 0,
                chases: 0,
            },
            created: now,
            requested: None,
            lease_until: None,
            chased: None,
            surfaced: false,
        });
        let event = new.stock_out_event(stock, draft.event_id, draft.at);
        self.write_outbox(Some(event.event_id), event.to_json());
    }

    /// Writes a row to the outbox, due at once.
    fn write_outbox(&mut self, event_id: Option<uuid::Uuid>, payload: String) {
        let id = self.outbox.len() as u64 + 1;
        let now = self.now;
        self.outbox.push(OutboxEntry {
            id,
            event_id,
            payload,
            attempts: 0,
            created: now,
            next_attempt: now,
            claimed_by: None,
            published: false,
            last_error: None,
        });
    }
}

#[derive(Default)]
pub struct MemWarehouse {
    state: Mutex<State>,
}

impl MemWarehouse {
    /// A warehouse holding these products.
    pub fn with(products: impl IntoIterator<Item = Product>) -> Self {
        let w = Self::default();
        {
            let mut s = w.state();
            for p in products {
                s.products.insert(p.id.as_str().to_owned(), p);
            }
        }
        w
    }

    /// Keys kept this long (the MySQL adapter's `with_key_window`).
    pub fn with_key_window(self, window: Duration) -> Self {
        self.state().key_window = Some(window);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves the warehouse's clock on (leases run out, orders become overdue).
    pub fn advance(&self, by: Duration) {
        self.state().now += by;
    }

    /// Units sold so far, per product.
    pub fn sold(&self, product: &str) -> u32 {
        self.state()
            .sold
            .iter()
            .filter(|(p, _)| p.as_str() == product)
            .map(|(_, q)| q)
            .sum()
    }

    /// The stock-out events the watchdog or ops published again, oldest first.
    pub fn republished(&self) -> Vec<StockOutEvent> {
        self.state().republished.clone()
    }

    /// Writes a raw row into the outbox, due at once (a row the relay cannot read, say).
    pub fn write_outbox(&self, payload: &str) {
        self.state().write_outbox(None, payload.to_owned());
    }

    /// Each outbox row: (published, attempts, last error).
    pub fn outbox(&self) -> Vec<(bool, u32, Option<String>)> {
        self.state()
            .outbox
            .iter()
            .map(|r| (r.published, r.attempts, r.last_error.clone()))
            .collect()
    }

    /// Every factory order, oldest first.
    pub fn factory_orders(&self) -> Vec<FactoryOrder> {
        self.state()
            .orders
            .iter()
            .map(|o| o.order.clone())
            .collect()
    }
}

fn unknown(id: FactoryOrderId) -> StoreError {
    StoreError::Internal(format!("no factory order {id}"))
}

impl Shelves for MemWarehouse {
    async fn purchase(&self, request: &PurchaseRequest) -> Result<PurchaseOutcome, StoreError> {
        let mut s = self.state();
        let now = s.now;
        // A key is taken until its window has passed (the procedure's `expires_at < now`).
        if let Some(key) = &request.idempotency_key
            && let Some(stored) = request.stored_key()
            && let Some((fingerprint, sale, expires)) = s.keys.get(&stored)
            && now <= *expires
        {
            return Ok(if *fingerprint == request.fingerprint() {
                let mut sale = sale.clone();
                if let Some(restock) = &mut sale.restock {
                    restock.stock_out_event = None;
                }
                PurchaseOutcome::Replayed(sale)
            } else {
                PurchaseOutcome::KeyReused(key.clone())
            });
        }
        let open = s
            .orders
            .iter()
            .find(|o| o.order.product_id == request.product_id && o.order.status.unfinished())
            .map(|o| (o.order.id, o.order.status));
        if s.retired.contains(request.product_id.as_str()) {
            return Ok(PurchaseOutcome::UnknownProduct(request.product_id.clone()));
        }
        let Some(product) = s.products.get_mut(request.product_id.as_str()) else {
            return Ok(PurchaseOutcome::UnknownProduct(request.product_id.clone()));
        };
        let quantity = request.quantity.get();
        let unit_price_cents = product.price_cents;
        let sold = product.stock >= quantity;
        if sold {
            product.stock -= quantity;
        }
        let shelf = ShelfState {
            stock: product.stock,
            reorder: product.reorder,
            factory_product_id: product.factory_product_id.clone(),
            open_order: open,
        };
        let draft = PurchaseDraft::new();
        let reorder = plan_reorder(request, &shelf, sold, &draft);
        if let Some(new) = &reorder {
            s.open_factory_order(new, shelf.stock, &draft);
        }
        let restock = leaves_shelf_low(sold, shelf.stock, shelf.reorder)
            .then(|| restock_info(&draft, shelf.open_order, reorder.as_ref()))
            .flatten();
        Ok(if sold {
            s.sold.push((request.product_id.clone(), quantity));
            s.orders_sold.push(SoldOrder {
                order_id: draft.order_id,
                product_id: request.product_id.clone(),
                quantity: request.quantity,
                unit_price_cents,
                created_at: draft.at,
                idempotency_key: request.idempotency_key.clone(),
                buyer: request.buyer.clone(),
            });
            let sale = Sale {
                order_id: draft.order_id,
                product_id: request.product_id.clone(),
                quantity: request.quantity,
                remaining: shelf.stock,
                restock,
            };
            if let Some(stored) = request.stored_key() {
                let expires = now + s.key_window.unwrap_or(donut_warehouse::DEFAULT_KEY_WINDOW);
                s.keys
                    .insert(stored, (request.fingerprint(), sale.clone(), expires));
            }
            PurchaseOutcome::Sold(sale)
        } else {
            PurchaseOutcome::OutOfStock(OutOfStock {
                product_id: request.product_id.clone(),
                requested: request.quantity,
                available: shelf.stock,
                restock,
            })
        })
    }

    async fn order(&self, id: OrderId) -> Result<Option<SoldOrder>, StoreError> {
        Ok(self
            .state()
            .orders_sold
            .iter()
            .find(|o| o.order_id == id)
            .cloned())
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let s = self.state();
        Ok(s.products
            .values()
            .filter(|p| !s.retired.contains(p.id.as_str()))
            .cloned()
            .collect())
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let s = self.state();
        if s.retired.contains(id.as_str()) {
            return Ok(None);
        }
        Ok(s.products.get(id.as_str()).cloned())
    }
}

impl ExpiredKeys for MemWarehouse {
    async fn sweep_expired_keys(&self, batch: u32, max_batches: u32) -> Result<u64, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let limit = u64::from(batch) * u64::from(max_batches);
        let mut expired: Vec<(Duration, String)> = s
            .keys
            .iter()
            .filter(|(_, (_, _, expires))| *expires < now)
            .map(|(key, (_, _, expires))| (*expires, key.clone()))
            .collect();
        expired.sort();
        expired.truncate(limit as usize);
        for (_, key) in &expired {
            s.keys.remove(key);
        }
        Ok(expired.len() as u64)
    }

    async fn oldest_expired_key(&self) -> Result<Option<Duration>, StoreError> {
        let s = self.state();
        Ok(s.keys
            .values()
            .map(|(_, _, expires)| *expires)
            .filter(|expires| *expires < s.now)
            .min()
            .map(|expires| s.now - expires))
    }
}

impl Restocks for MemWarehouse {
    async fn restock(&self, id: FactoryOrderId, asked: u32) -> Result<RestockOutcome, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let Some(o) = s.orders.iter_mut().find(|o| o.order.id == id) else {
            return Ok(RestockOutcome::UnknownOrder);
        };
        let target = CallbackTarget {
            product_id: &o.order.product_id,
            correlation_id: &o.order.correlation_id,
            status: o.order.status,
            quantity: o.order.quantity,
            request_attempts: o.order.request_attempts,
            factory_request_id: o.order.factory_request_id.as_deref(),
        };
        if let Some(refused) = restock_refusal(&target, asked) {
            return Ok(refused);
        }
        let (product_id, correlation_id) =
            (o.order.product_id.clone(), o.order.correlation_id.clone());
        o.order.status = FactoryOrderStatus::Fulfilled;
        let (added, waited) = (o.order.quantity, now.saturating_sub(o.created));
        let product = s
            .products
            .get_mut(product_id.as_str())
            .ok_or_else(|| StoreError::Internal(format!("no product {product_id}")))?;
        product.stock += added;
        Ok(RestockOutcome::Restocked {
            stock: product.stock,
            product_id,
            added,
            correlation_id,
            waited,
        })
    }
}

impl FactoryOrders for MemWarehouse {
    async fn factory_order(&self, id: FactoryOrderId) -> Result<Option<FactoryOrder>, StoreError> {
        Ok(self
            .state()
            .orders
            .iter()
            .find(|o| o.order.id == id)
            .map(|o| o.order.clone()))
    }

    async fn record_factory_request(
        &self,
        id: FactoryOrderId,
        receipt: &FactoryReceipt,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let o = s
            .orders
            .iter_mut()
            .find(|o| o.order.id == id)
            .ok_or_else(|| unknown(id))?;
        if o.order.status != FactoryOrderStatus::Open {
            return Ok(false);
        }
        o.order.status = FactoryOrderStatus::Requested;
        o.order.factory_request_id = Some(receipt.factory_request_id.clone());
        o.requested = Some(now);
        o.lease_until = None;
        Ok(true)
    }

    async fn claim_factory_request(
        &self,
        id: FactoryOrderId,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let Some(o) = s.orders.iter_mut().find(|o| o.order.id == id) else {
            return Ok(false);
        };
        let free = o.lease_until.is_none_or(|until| until < now);
        if o.order.status != FactoryOrderStatus::Open || !free {
            return Ok(false);
        }
        o.order.request_attempts += 1;
        o.lease_until = Some(now + lease);
        Ok(true)
    }

    async fn release_factory_claim(&self, id: FactoryOrderId) -> Result<(), StoreError> {
        if let Some(o) = self.state().orders.iter_mut().find(|o| o.order.id == id) {
            o.lease_until = None;
        }
        Ok(())
    }
}

impl OverdueOrders for MemWarehouse {
    async fn overdue_factory_orders(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        let s = self.state();
        let mut overdue: Vec<&Order> = s
            .orders
            .iter()
            .filter(|o| o.order.status == FactoryOrderStatus::Requested && !o.surfaced)
            .filter(|o| o.requested.is_some_and(|at| at + older_than < s.now))
            .collect();
        overdue.sort_by_key(|o| o.requested);
        Ok(overdue
            .into_iter()
            .take(limit)
            .map(|o| o.order.clone())
            .collect())
    }

    async fn claim_overdue(
        &self,
        id: FactoryOrderId,
        older_than: Duration,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let Some(o) = s.orders.iter_mut().find(|o| o.order.id == id) else {
            return Ok(false);
        };
        let due = o.requested.is_some_and(|at| at + older_than < now);
        if o.order.status != FactoryOrderStatus::Requested || o.surfaced || !due {
            return Ok(false);
        }
        o.order.request_attempts += 1;
        o.requested = Some(now);
        Ok(true)
    }

    async fn mark_surfaced(&self, id: FactoryOrderId) -> Result<(), StoreError> {
        let mut s = self.state();
        let o = s
            .orders
            .iter_mut()
            .find(|o| o.order.id == id)
            .ok_or_else(|| unknown(id))?;
        o.surfaced = true;
        Ok(())
    }

    async fn stalled_open_orders(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<FactoryOrder>, StoreError> {
        let s = self.state();
        Ok(s.orders
            .iter()
            .filter(|o| o.stalled_open(older_than, s.now))
            .take(limit)
            .map(|o| o.order.clone())
            .collect())
    }

    async fn chase_open_order(
        &self,
        id: FactoryOrderId,
        older_than: Duration,
        event: &StockOutEvent,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let Some(o) = s.orders.iter_mut().find(|o| o.order.id == id) else {
            return Ok(false);
        };
        if !o.stalled_open(older_than, now) {
            return Ok(false);
        }
        o.order.chases += 1;
        o.chased = Some(now);
        s.republished.push(event.clone());
        s.write_outbox(Some(event.event_id), event.to_json());
        Ok(true)
    }

    async fn oldest_unfinished(&self) -> Result<Option<Duration>, StoreError> {
        let s = self.state();
        Ok(s.orders
            .iter()
            .filter(|o| o.order.status.unfinished())
            .map(|o| s.now.saturating_sub(o.created))
            .max())
    }
}

impl State {
    fn entry(&self, id: &str) -> Option<CatalogueEntry> {
        self.products.get(id).map(|p| CatalogueEntry {
            product: p.clone(),
            retired: self.retired.contains(id),
        })
    }

    fn audit(
        &mut self,
        operator: &Operator,
        action: AuditAction,
        before: Option<&CatalogueEntry>,
        after: &CatalogueEntry,
        reason: Option<&str>,
    ) {
        let json = |e: &CatalogueEntry| serde_json::to_string(e).unwrap_or_default();
        let entry = self.audit_entry(operator, action, after.product.id.clone());
        self.audit.push(AuditEntry {
            before: before.map(json),
            after: json(after),
            reason: reason.map(str::to_owned),
            ..entry
        });
    }

    /// The audit row of an ops action on a factory order.
    fn audit_order(
        &mut self,
        operator: &Operator,
        action: AuditAction,
        order: &FactoryOrder,
        was: FactoryOrderStatus,
    ) {
        let entry = self.audit_entry(operator, action, order.product_id.clone());
        self.audit.push(AuditEntry {
            factory_order_id: Some(order.id),
            before: Some(order_state(order.id, was)),
            after: order_state(order.id, order.status),
            ..entry
        });
    }

    fn audit_entry(
        &self,
        operator: &Operator,
        action: AuditAction,
        product_id: ProductId,
    ) -> AuditEntry {
        let at = time::OffsetDateTime::UNIX_EPOCH + self.now;
        AuditEntry {
            id: self.audit.len() as u64 + 1,
            at: at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            actor: operator.arn.clone(),
            action,
            product_id,
            factory_order_id: None,
            before: None,
            after: String::new(),
            reason: None,
            correlation_id: operator.correlation_id.as_str().to_owned(),
            reference: operator.reference.as_ref().map(|r| r.as_str().to_owned()),
        }
    }

    /// The answer a keyed change gives without being made, as the MySQL adapter decides it
    /// (a change in flight cannot be met here: the state's lock serialises changes).
    fn claim_key(&mut self, operator: &Operator, write: Write<'_>) -> Option<CatalogueOutcome> {
        let key = operator.idempotency_key.as_ref()?;
        let slot = (operator.arn.clone(), key.as_str().to_owned());
        match self.operator_keys.get(&slot) {
            Some((_, _, expires)) if *expires < self.now => {
                self.operator_keys.remove(&slot);
                None
            }
            Some((asked, _, _)) if *asked != write.fingerprint() => {
                Some(CatalogueOutcome::KeyReused(key.clone()))
            }
            Some((_, answer, _)) => Some(
                CatalogueOutcome::replay(answer)
                    .unwrap_or_else(|_| CatalogueOutcome::KeyInFlight(key.clone())),
            ),
            None => None,
        }
    }

    /// Keeps a keyed change's answer with its key.
    fn keep_answer(&mut self, operator: &Operator, write: Write<'_>, outcome: &CatalogueOutcome) {
        if let (Some(key), Some(answer)) = (&operator.idempotency_key, outcome.kept()) {
            let expires = self.now
                + self
                    .key_window
                    .unwrap_or(donut_warehouse::DEFAULT_KEY_WINDOW);
            self.operator_keys.insert(
                (operator.arn.clone(), key.as_str().to_owned()),
                (write.fingerprint(), answer, expires),
            );
        }
    }

    /// Writes `entry` back (its product and whether it is retired).
    fn store(&mut self, entry: &CatalogueEntry) {
        let id = entry.product.id.as_str().to_owned();
        if entry.retired {
            self.retired.insert(id.clone());
        } else {
            self.retired.remove(&id);
        }
        self.products.insert(id, entry.product.clone());
    }
}

impl Catalogue for MemWarehouse {
    async fn catalogue(&self) -> Result<Vec<CatalogueEntry>, StoreError> {
        let s = self.state();
        Ok(s.products.keys().filter_map(|id| s.entry(id)).collect())
    }

    async fn entry(&self, id: &ProductId) -> Result<Option<CatalogueEntry>, StoreError> {
        Ok(self.state().entry(id.as_str()))
    }

    async fn create(
        &self,
        operator: &Operator,
        product: &NewProduct,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut s = self.state();
        let write = Write::Create(product);
        if let Some(answer) = s.claim_key(operator, write) {
            return Ok(answer);
        }
        if let Some(existing) = s.entry(product.id.as_str()) {
            return Ok(CatalogueOutcome::Exists(existing));
        }
        let after = CatalogueEntry {
            product: product.clone().into_product(),
            retired: false,
        };
        s.store(&after);
        s.audit(operator, AuditAction::Create, None, &after, None);
        let outcome = CatalogueOutcome::Changed {
            before: None,
            after,
            restock: None,
        };
        s.keep_answer(operator, write, &outcome);
        Ok(outcome)
    }

    async fn update(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &ProductChange,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut s = self.state();
        let write = Write::Update(id, change);
        if let Some(answer) = s.claim_key(operator, write) {
            return Ok(answer);
        }
        let Some(before) = s.entry(id.as_str()) else {
            return Ok(CatalogueOutcome::UnknownProduct);
        };
        let Some((after, action)) = plan_update(&before, change) else {
            return Ok(CatalogueOutcome::Unchanged(before));
        };
        s.store(&after);
        s.audit(operator, action, Some(&before), &after, None);
        let outcome = CatalogueOutcome::Changed {
            before: Some(before),
            after,
            restock: None,
        };
        s.keep_answer(operator, write, &outcome);
        Ok(outcome)
    }

    async fn adjust_stock(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &StockChange,
    ) -> Result<CatalogueOutcome, StoreError> {
        let mut s = self.state();
        let write = Write::Adjust(id, change);
        if let Some(answer) = s.claim_key(operator, write) {
            return Ok(answer);
        }
        let Some(before) = s.entry(id.as_str()) else {
            return Ok(CatalogueOutcome::UnknownProduct);
        };
        let after = match plan_adjustment(&before, change) {
            Ok(Some(after)) => after,
            Ok(None) => return Ok(CatalogueOutcome::Unchanged(before)),
            Err(refused) => return Ok(CatalogueOutcome::Refused(refused)),
        };
        let stock = after.product.stock;
        s.store(&after);
        s.audit(
            operator,
            AuditAction::Adjust,
            Some(&before),
            &after,
            Some(&change.reason),
        );
        let open = s
            .orders
            .iter()
            .find(|o| o.order.product_id == *id && o.order.status.unfinished())
            .map(|o| (o.order.id, o.order.status));
        let shelf = ShelfState {
            stock,
            reorder: after.product.reorder,
            factory_product_id: after.product.factory_product_id.clone(),
            open_order: open,
        };
        let draft = PurchaseDraft::new();
        let opened = plan_restock(id, &shelf, after.retired, operator, &draft);
        if let Some(new) = &opened {
            s.open_factory_order(new, stock, &draft);
        }
        let restock = adjustment_restock(&after, &draft, open, opened.as_ref());
        let outcome = CatalogueOutcome::Changed {
            before: Some(before),
            after,
            restock,
        };
        s.keep_answer(operator, write, &outcome);
        Ok(outcome)
    }

    async fn audit_trail(
        &self,
        product: Option<&ProductId>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .state()
            .audit
            .iter()
            .rev()
            .filter(|a| product.is_none_or(|p| a.product_id == *p))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn unfinished_factory_orders(
        &self,
        limit: usize,
    ) -> Result<Vec<(FactoryOrder, Duration)>, StoreError> {
        let s = self.state();
        Ok(s.orders
            .iter()
            .filter(|o| o.order.status.unfinished())
            .take(limit)
            .map(|o| (o.order.clone(), s.now.saturating_sub(o.created)))
            .collect())
    }
}

impl FactoryOrderOps for MemWarehouse {
    async fn re_request(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
        not_within: Duration,
        event: &StockOutEvent,
    ) -> Result<OpsOutcome, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let Some(o) = s.orders.iter_mut().find(|o| o.order.id == id) else {
            return Ok(OpsOutcome::UnknownOrder);
        };
        let was = o.order.status;
        if !was.unfinished() {
            return Ok(OpsOutcome::Unchanged(was));
        }
        let last_asked = o.last_published().max(o.requested.unwrap_or_default());
        let since = now.saturating_sub(last_asked);
        if since < not_within {
            return Ok(OpsOutcome::InFlight(since));
        }
        o.order.status = FactoryOrderStatus::Open;
        o.order.request_attempts = 0;
        o.order.chases = 0;
        o.surfaced = false;
        o.lease_until = None;
        o.requested = None;
        o.chased = Some(now);
        let order = o.order.clone();
        s.republished.push(event.clone());
        s.write_outbox(Some(event.event_id), event.to_json());
        s.audit_order(operator, AuditAction::ReRequest, &order, was);
        Ok(OpsOutcome::Done { was })
    }

    async fn cancel(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
    ) -> Result<OpsOutcome, StoreError> {
        let mut s = self.state();
        let Some(o) = s.orders.iter_mut().find(|o| o.order.id == id) else {
            return Ok(OpsOutcome::UnknownOrder);
        };
        let was = o.order.status;
        if !was.unfinished() {
            return Ok(OpsOutcome::Unchanged(was));
        }
        o.order.status = FactoryOrderStatus::Cancelled;
        o.lease_until = None;
        let order = o.order.clone();
        s.audit_order(operator, AuditAction::Cancel, &order, was);
        Ok(OpsOutcome::Done { was })
    }
}

impl Outbox for MemWarehouse {
    async fn claim(&self, claim: &str, due: Due) -> Result<Vec<OutboxRow>, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let mut rows: Vec<&mut OutboxEntry> = s
            .outbox
            .iter_mut()
            .filter(|r| !r.published && r.next_attempt <= now)
            .filter(|r| match due {
                Due::Oldest(_) => true,
                Due::Event(id) => r.event_id == Some(id),
            })
            .collect();
        rows.sort_by_key(|r| (r.next_attempt, r.id));
        let max = match due {
            Due::Oldest(max) => max,
            Due::Event(_) => 1,
        };
        Ok(rows
            .into_iter()
            .take(max)
            .map(|r| {
                r.claimed_by = Some(claim.to_owned());
                r.next_attempt = now + OUTBOX_CLAIM_LEASE;
                OutboxRow {
                    id: r.id,
                    payload: r.payload.clone(),
                    attempts: r.attempts,
                }
            })
            .collect())
    }

    async fn settle(
        &self,
        id: u64,
        claim: &str,
        settlement: Settlement<'_>,
    ) -> Result<bool, StoreError> {
        let mut s = self.state();
        let now = s.now;
        let Some(r) = s
            .outbox
            .iter_mut()
            .find(|r| r.id == id && r.claimed_by.as_deref() == Some(claim))
        else {
            return Ok(false);
        };
        r.attempts += 1;
        r.claimed_by = None;
        match settlement {
            Settlement::Published => {
                r.published = true;
                r.last_error = None;
            }
            Settlement::Retry { error, after } => {
                r.last_error = Some(error.to_owned());
                r.next_attempt = now + after;
            }
        }
        Ok(true)
    }

    async fn release(&self, claim: &str, keep: &[u64]) -> Result<(), StoreError> {
        let mut s = self.state();
        let now = s.now;
        for r in s.outbox.iter_mut().filter(|r| {
            r.claimed_by.as_deref() == Some(claim) && !r.published && !keep.contains(&r.id)
        }) {
            r.claimed_by = None;
            r.next_attempt = now;
        }
        Ok(())
    }

    async fn pending(&self) -> Result<Pending, StoreError> {
        let s = self.state();
        let unpublished = s.outbox.iter().filter(|r| !r.published);
        Ok(Pending {
            rows: unpublished.clone().count() as u64,
            oldest: unpublished.map(|r| s.now.saturating_sub(r.created)).max(),
        })
    }
}
