//! What the core needs from the outside world: one small trait per edge.

use std::future::Future;

use crate::{
    AuditEntry, CatalogueEntry, CatalogueOutcome, NewProduct, Operator, ProductChange, StockChange,
};
use crate::{
    CorrelationId, FactoryOrder, FactoryOrderId, FactoryReceipt, FactoryRequest, OrderId, Product,
    ProductId, PurchaseOutcome, PurchaseRequest, SoldOrder, StockOutEvent,
};

/// The warehouse could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database is unreachable or timed out: worth retrying later (HTTP 503).
    #[error("warehouse unavailable: {0}")]
    Unavailable(String),
    /// The database answered with something the code cannot make sense of.
    #[error("warehouse error: {0}")]
    Internal(String),
}

/// What a restock callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestockOutcome {
    Restocked {
        product_id: ProductId,
        added: u32,
        stock: u32,
        correlation_id: CorrelationId,
        /// From the stock-out that opened the order to this restock.
        waited: std::time::Duration,
    },
    /// The order was fulfilled before: nothing changed.
    AlreadyFulfilled {
        product_id: ProductId,
        correlation_id: CorrelationId,
    },
    /// The factory was never asked for this order (it still waits in the queue): a callback
    /// for it cannot be the factory's. Nothing changed.
    NotRequested {
        correlation_id: CorrelationId,
    },
    /// The callback is for another quantity than the one ordered. Nothing changed.
    QuantityMismatch {
        ordered: u32,
        correlation_id: CorrelationId,
    },
    UnknownOrder,
}

/// The shelves: what the Sales API reads and sells from.
pub trait Shelves: Send + Sync {
    /// Sells `quantity` units if (and only if) the shelf has them, atomically; in the same
    /// transaction opens the factory order and outbox row a stock-out calls for.
    fn purchase(
        &self,
        request: &PurchaseRequest,
    ) -> impl Future<Output = Result<PurchaseOutcome, StoreError>> + Send;

    fn products(&self) -> impl Future<Output = Result<Vec<Product>, StoreError>> + Send;

    fn product(
        &self,
        id: &ProductId,
    ) -> impl Future<Output = Result<Option<Product>, StoreError>> + Send;

    /// An order as it was sold.
    fn order(
        &self,
        id: OrderId,
    ) -> impl Future<Output = Result<Option<SoldOrder>, StoreError>> + Send;
}

/// The factory's callback: what the restock handler does.
pub trait Restocks: Send + Sync {
    /// Fulfils the factory order and adds the quantity *we ordered* to stock, once — if the
    /// factory was asked for it (the requester has begun sending it: claimed at least once,
    /// or requested) and `quantity` is what was ordered.
    fn restock(
        &self,
        id: FactoryOrderId,
        quantity: u32,
    ) -> impl Future<Output = Result<RestockOutcome, StoreError>> + Send;
}

/// Factory orders on their way to the factory: what the factory-requester needs.
pub trait FactoryOrders: Send + Sync {
    fn factory_order(
        &self,
        id: FactoryOrderId,
    ) -> impl Future<Output = Result<Option<FactoryOrder>, StoreError>> + Send;

    /// Records the factory's acknowledgement. Returns false when the order had already left
    /// the `open` state (a duplicate delivery, or the callback came first).
    fn record_factory_request(
        &self,
        id: FactoryOrderId,
        receipt: &FactoryReceipt,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Claims the right to call the factory for this `open` order for `lease`, counting one
    /// more attempt. False when the order is no longer open or another consumer holds the
    /// claim: concurrent deliveries of one event make one factory call.
    fn claim_factory_request(
        &self,
        id: FactoryOrderId,
        lease: std::time::Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Gives the claim back after a failed factory call, so a retry need not wait the lease out.
    fn release_factory_claim(
        &self,
        id: FactoryOrderId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Orders the factory accepted and never called back for: what the watchdog needs.
pub trait OverdueOrders: Send + Sync {
    /// Factory orders the factory accepted more than `older_than` ago and never called back
    /// for, that ops have not been told about yet; oldest first.
    fn overdue_factory_orders(
        &self,
        older_than: std::time::Duration,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<FactoryOrder>, StoreError>> + Send;

    /// Claims an overdue order for one more request (counting the attempt and restarting its
    /// clock). False when it was fulfilled or claimed meanwhile.
    fn claim_overdue(
        &self,
        id: FactoryOrderId,
        older_than: std::time::Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records that ops were told about this order; the watchdog leaves it alone from then on.
    fn mark_surfaced(
        &self,
        id: FactoryOrderId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `open` orders whose stock-out was last published more than `older_than` ago (its
    /// message may be in the DLQ, or gone), no consumer holding them, ops not told yet;
    /// oldest first.
    fn stalled_open_orders(
        &self,
        older_than: std::time::Duration,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<FactoryOrder>, StoreError>> + Send;

    /// Publishes a stalled `open` order's stock-out again: counts the chase, restarts its
    /// clock and writes `event` to the outbox, in one transaction. False when the order moved
    /// on (or another watchdog chased it) meanwhile.
    fn chase_open_order(
        &self,
        id: FactoryOrderId,
        older_than: std::time::Duration,
        event: &StockOutEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// How long the oldest unfinished (`open` or `requested`) order has waited, if any.
    fn oldest_unfinished(
        &self,
    ) -> impl Future<Output = Result<Option<std::time::Duration>, StoreError>> + Send;
}

/// The catalogue and its shelves as operators change them. Every change names its operator
/// and writes its audit row in its own transaction; none races a sale (each holds the
/// product's row lock, as a sale does). A write whose operator brings an `Idempotency-Key`
/// keeps the key, this write's [`crate::catalogue::Write::fingerprint`] and its answer
/// ([`CatalogueOutcome::kept`]) in the same transaction, for the warehouse's key window: a
/// repeat answers `Replayed` and changes nothing, another request under the key is
/// `KeyReused`, a repeat while the first is in flight `KeyInFlight`.
pub trait Catalogue: Send + Sync {
    /// Every product, retired ones too, by id.
    fn catalogue(&self) -> impl Future<Output = Result<Vec<CatalogueEntry>, StoreError>> + Send;

    fn entry(
        &self,
        id: &ProductId,
    ) -> impl Future<Output = Result<Option<CatalogueEntry>, StoreError>> + Send;

    /// A new product on the shelf (`Exists` when the id is taken).
    fn create(
        &self,
        operator: &Operator,
        product: &NewProduct,
    ) -> impl Future<Output = Result<CatalogueOutcome, StoreError>> + Send;

    /// Name, price, reorder settings, factory id, retired or not (`Unchanged` when nothing
    /// differs).
    fn update(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &ProductChange,
    ) -> impl Future<Output = Result<CatalogueOutcome, StoreError>> + Send;

    /// The shelf's stock by a delta or to a count. One that leaves the shelf low opens its
    /// factory order — with its stock-out in the outbox — in the same transaction, as a sale
    /// does ([`crate::catalogue::plan_restock`]).
    fn adjust_stock(
        &self,
        operator: &Operator,
        id: &ProductId,
        change: &StockChange,
    ) -> impl Future<Output = Result<CatalogueOutcome, StoreError>> + Send;

    /// The newest audit rows first (of one product, or all), at most `limit`.
    fn audit_trail(
        &self,
        product: Option<&ProductId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// Factory orders not finished (`open` or `requested`), oldest first, with how long each
    /// has waited.
    fn unfinished_factory_orders(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(FactoryOrder, std::time::Duration)>, StoreError>> + Send;
}

/// Idempotency keys past their window, as the scheduled sweep removes them.
pub trait ExpiredKeys: Send + Sync {
    /// Removes keys past their window, `batch` a statement, at most `max_batches` statements;
    /// how many went.
    fn sweep_expired_keys(
        &self,
        batch: u32,
        max_batches: u32,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// How long the oldest key still stored has been past its window; `None` when no stored
    /// key is past it. A sweep that keeps failing shows as this growing.
    fn oldest_expired_key(
        &self,
    ) -> impl Future<Output = Result<Option<std::time::Duration>, StoreError>> + Send;
}

/// What an ops command did to a factory order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpsOutcome {
    /// Changed; the order was in this state before.
    Done {
        was: crate::FactoryOrderStatus,
    },
    /// Nothing to do: the order is already in this (final) state.
    Unchanged(crate::FactoryOrderStatus),
    /// Asked again less than the given time ago: that request is still on its way.
    InFlight(std::time::Duration),
    UnknownOrder,
}

/// What ops may do to a factory order the system gave up on (or that they want moving). Each
/// change is an audit row naming its operator, in its own transaction.
pub trait FactoryOrderOps: Send + Sync {
    /// Back to `open`, counters and the ops flag cleared, its stock-out (`event`) in the outbox:
    /// the requester asks the factory again with the same factory order id. An order asked
    /// for (created, chased or re-requested) less than `not_within` ago is left alone.
    fn re_request(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
        not_within: std::time::Duration,
        event: &StockOutEvent,
    ) -> impl Future<Output = Result<OpsOutcome, StoreError>> + Send;

    /// `cancelled`: the product's one open slot is freed, so its next stock-out opens a new order.
    fn cancel(
        &self,
        operator: &Operator,
        id: FactoryOrderId,
    ) -> impl Future<Output = Result<OpsOutcome, StoreError>> + Send;
}

/// What one relay pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayReport {
    pub published: usize,
    pub failed: usize,
}

/// What the outbox still holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub rows: u64,
    /// Age of the oldest unpublished row; `None` when there is none.
    pub oldest: Option<std::time::Duration>,
}

/// A row of the outbox a relay has claimed: the event as stored and its publish attempts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: u64,
    pub payload: String,
    pub attempts: u32,
}

/// How long a claim keeps other relays off its rows: far longer than one pass's publishes
/// (each bounded by the publisher's timeouts). A relay that dies mid-pass leaves its rows to
/// the next relay once this runs out.
pub const OUTBOX_CLAIM_LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// Which due rows a claim takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Up to this many, oldest due first.
    Oldest(usize),
    /// This stock-out event's row, if it is due and no one holds it.
    Event(uuid::Uuid),
}

/// What became of a claimed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement<'a> {
    Published,
    /// Not published; due again after `after`, `error` kept for ops.
    Retry {
        error: &'a str,
        after: std::time::Duration,
    },
}

/// The transactional outbox of stock-out events (written in the purchase's transaction), as a
/// relay uses it: claim due rows under a lease no other relay takes them through, settle each,
/// give back what a pass did not settle. The relay itself — parsing, publishing, backoff — is
/// `donut_messaging::relay`.
pub trait Outbox: Send + Sync {
    /// Leases the rows `due` names to `claim`; rows another claim holds are skipped, not waited for.
    fn claim(
        &self,
        claim: &str,
        due: Due,
    ) -> impl Future<Output = Result<Vec<OutboxRow>, StoreError>> + Send;

    /// Settles a row if `claim` still holds it; `false` when its lease ran out first (another
    /// relay may have it now).
    fn settle(
        &self,
        id: u64,
        claim: &str,
        settlement: Settlement<'_>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Makes the rows `claim` still holds due at once, but those in `keep` (published, not
    /// recorded as such: they stay leased, so they are not published again at once).
    fn release(
        &self,
        claim: &str,
        keep: &[u64],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Rows not yet published, and how long the oldest has waited.
    fn pending(&self) -> impl Future<Output = Result<Pending, StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publishing failed: {0}")]
pub struct PublishError(pub String);

/// Where stock-out events go (SNS in AWS).
pub trait EventPublisher: Send + Sync {
    fn publish(
        &self,
        event: &StockOutEvent,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Why the factory did not take an order. Every variant is worth a retry later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FactoryError {
    #[error("factory timed out after {0} ms")]
    Timeout(u64),
    #[error("factory unreachable: {0}")]
    Connection(String),
    #[error("factory answered HTTP {0}")]
    Status(u16),
    #[error("factory answered something unreadable: {0}")]
    BadResponse(String),
    /// Our side could not make the request (e.g. the keys that sign its callback URL could not
    /// be read); the factory was not called.
    #[error("the factory request could not be made: {0}")]
    NotSent(String),
}

/// How ops hear about what the system could not fix by itself (the ops SNS topic in AWS).
pub trait Alerts: Send + Sync {
    fn factory_order_overdue(
        &self,
        order: &FactoryOrder,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// The legacy factory.
pub trait FactoryApi: Send + Sync {
    fn request(
        &self,
        request: &FactoryRequest,
    ) -> impl Future<Output = Result<FactoryReceipt, FactoryError>> + Send;
}
