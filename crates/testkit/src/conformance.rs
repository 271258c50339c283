//! One suite of the warehouse ports, run against every implementation: [`MemWarehouse`] (the
//! double the handler and service tests use) and MariaDB logged in as the functions' user,
//! with exactly the grants the deployed functions have. So the double cannot drift from the
//! adapter, and a statement the functions' user may not run fails `make test` — as it would
//! fail on AWS.
//!
//! Each case is a function over a [`Subject`]; [`warehouse_conformance!`] makes a test of
//! each for one implementation. Time passes through the subject: the double's clock is moved,
//! the database's is waited for (so cases keep their waits to about a second).

use std::future::Future;
use std::time::Duration;

use donut_domain::ports::{Due, OpsOutcome, RestockOutcome, Settlement};
use donut_domain::usecases;
use donut_domain::{
    Adjustment, AuditAction, Catalogue, CatalogueOutcome, NewProduct, Operator, ProductChange,
    StockChange,
};
use donut_domain::{
    Buyer, CorrelationId, ExpiredKeys, FactoryOrderId, FactoryOrderOps, FactoryOrderStatus,
    FactoryOrders, FactoryReceipt, IdempotencyKey, Outbox, OverdueOrders, Product, ProductId,
    PurchaseOutcome, PurchaseRequest, Quantity, ReorderRule, Restocks, Shelves,
};

use crate::{MemWarehouse, Shelf, TestDb};

/// Every port a warehouse implements.
pub trait Warehouse:
    Shelves
    + Restocks
    + FactoryOrders
    + OverdueOrders
    + FactoryOrderOps
    + Outbox
    + ExpiredKeys
    + Catalogue
{
}

impl<T> Warehouse for T where
    T: Shelves
        + Restocks
        + FactoryOrders
        + OverdueOrders
        + FactoryOrderOps
        + Outbox
        + ExpiredKeys
        + Catalogue
{
}

/// How long a subject keeps an idempotency key (the adapter's least: a whole second).
pub const KEY_WINDOW: Duration = Duration::from_secs(1);

/// A warehouse under test, and its clock.
pub trait Subject: Send + Sync {
    type W: Warehouse;
    /// As the serving functions reach it.
    fn warehouse(&self) -> &Self::W;
    /// As the operators' function reaches it (its own database user).
    fn operator(&self) -> &Self::W;
    /// Lets `by` pass for the warehouse.
    fn pass(&self, by: Duration) -> impl Future<Output = ()> + Send;
}

/// The in-memory double, its clock moved by the suite.
pub struct Mem(MemWarehouse);

impl Mem {
    pub async fn with(shelves: Vec<Shelf>) -> Self {
        let products = shelves.into_iter().map(|s| Product {
            id: ProductId::parse(s.product_id).expect("a shelf's id"),
            name: s.product_id.to_owned(),
            price_cents: 150,
            stock: s.qty,
            reorder: ReorderRule {
                point: s.reorder_point,
                quantity: s.reorder_qty,
            },
            factory_product_id: format!("f-{}", s.product_id),
        });
        Self(MemWarehouse::with(products).with_key_window(KEY_WINDOW))
    }
}

impl Subject for Mem {
    type W = MemWarehouse;
    fn warehouse(&self) -> &MemWarehouse {
        &self.0
    }
    fn operator(&self) -> &MemWarehouse {
        &self.0
    }
    async fn pass(&self, by: Duration) {
        self.0.advance(by);
    }
}

/// MariaDB, a database of the case's own, through the functions' user.
pub struct MariaDb {
    // Kept for its database's life.
    _db: TestDb,
    warehouse: donut_warehouse::MySqlWarehouse,
    operator: donut_warehouse::MySqlWarehouse,
}

impl MariaDb {
    pub async fn with(shelves: Vec<Shelf>) -> Self {
        let db = TestDb::with_shelves(&shelves).await;
        let warehouse = db.warehouse.clone().with_key_window(KEY_WINDOW);
        let operator = db.operator.clone().with_key_window(KEY_WINDOW);
        Self {
            _db: db,
            warehouse,
            operator,
        }
    }
}

impl Subject for MariaDb {
    type W = donut_warehouse::MySqlWarehouse;
    fn warehouse(&self) -> &Self::W {
        &self.warehouse
    }
    fn operator(&self) -> &Self::W {
        &self.operator
    }
    async fn pass(&self, by: Duration) {
        tokio::time::sleep(by).await;
    }
}

/// Makes one test per case for the subject `$make` (`async fn(Vec<Shelf>) -> impl Subject`).
#[macro_export]
macro_rules! warehouse_conformance {
    ($make:path) => {
        $crate::warehouse_conformance!(@cases $make;
            a_sale_takes_stock_and_is_recorded,
            an_empty_shelf_refuses_and_an_unknown_product_is_named,
            the_reorder_point_opens_one_factory_order,
            a_key_replays_its_sale,
            keys_and_orders_are_each_buyers_own,
            a_key_with_another_request_is_refused,
            a_refused_keyed_purchase_records_nothing,
            a_key_past_its_window_is_free_again,
            the_sweep_removes_expired_keys_only,
            a_factory_order_is_claimed_once_at_a_time,
            a_restock_adds_the_ordered_quantity_once,
            overdue_orders_are_claimed_once_then_surfaced,
            stalled_open_orders_are_chased_once,
            ops_re_request_and_cancel,
            a_keyed_change_is_made_once,
            an_operator_key_is_the_operators_own,
            outbox_rows_are_claimed_settled_and_released,
            operators_create_change_retire_and_restore_audited,
            an_adjustment_that_leaves_a_shelf_low_opens_its_factory_order,
            an_adjustment_never_leaves_a_shelf_below_zero,
            unfinished_factory_orders_are_listed_oldest_first,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::conformance::$case(async |shelves| $make(shelves).await).await;
            }
        )*
    };
}

fn buy(product: &str, quantity: i64) -> PurchaseRequest {
    PurchaseRequest {
        product_id: ProductId::parse(product).unwrap(),
        quantity: Quantity::parse(quantity, 1000).unwrap(),
        correlation_id: CorrelationId::new(),
        idempotency_key: None,
        buyer: None,
    }
}

fn keyed(product: &str, quantity: i64, key: &str) -> PurchaseRequest {
    PurchaseRequest {
        idempotency_key: Some(IdempotencyKey::parse(key).unwrap()),
        ..buy(product, quantity)
    }
}

pub async fn keys_and_orders_are_each_buyers_own<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 10)]).await;
    let w = s.warehouse();
    let ann = Buyer::parse("ann").unwrap();
    let bob = Buyer::parse("auth0|5f1b-bob").unwrap();
    let by = |buyer: &Buyer| PurchaseRequest {
        buyer: Some(buyer.clone()),
        ..keyed("glazed", 2, "cart-1")
    };
    let PurchaseOutcome::Sold(anns) = w.purchase(&by(&ann)).await.unwrap() else {
        panic!("sold to ann")
    };
    let PurchaseOutcome::Sold(bobs) = w.purchase(&by(&bob)).await.unwrap() else {
        panic!("the same key from bob is bob's own purchase")
    };
    assert_ne!(anns.order_id, bobs.order_id);
    assert!(matches!(
        w.purchase(&by(&ann)).await.unwrap(),
        PurchaseOutcome::Replayed(sale) if sale.order_id == anns.order_id
    ));
    assert_eq!(stock(&s, "glazed").await, 6, "two sales, one retry");
    // An order is its buyer's: nobody else sees it, nor its key.
    let seen = usecases::order(w, anns.order_id, Some(&ann))
        .await
        .unwrap()
        .expect("ann sees her order");
    assert_eq!(seen.buyer.as_ref(), Some(&ann));
    assert_eq!(
        seen.key_for(Some(&ann)).map(IdempotencyKey::as_str),
        Some("cart-1"),
        "as ann sent it"
    );
    assert_eq!(seen.key_for(Some(&bob)), None);
    for stranger in [Some(&bob), None] {
        assert_eq!(
            usecases::order(w, anns.order_id, stranger).await.unwrap(),
            None,
            "{stranger:?}"
        );
    }
    // An anonymous buyer's order (a stage without identities): anyone's to see, its key
    // nobody's.
    let PurchaseOutcome::Sold(anon) = w.purchase(&keyed("glazed", 1, "cart-1")).await.unwrap()
    else {
        panic!("sold anonymously: the key is not ann's nor bob's")
    };
    let seen = usecases::order(w, anon.order_id, Some(&bob))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seen.buyer.as_ref(), seen.key_for(None)), (None, None));
}

/// A key of the case's own (keys are global: the database is the case's, the key need not be).
fn new_key() -> String {
    format!("key-{}", uuid::Uuid::new_v4().simple())
}

async fn stock<S: Subject>(s: &S, product: &str) -> u32 {
    s.warehouse()
        .product(&ProductId::parse(product).unwrap())
        .await
        .unwrap()
        .expect("the product")
        .stock
}

/// Sells out `product` (reorder point 0): the refusal opens a factory order, whose id it returns.
async fn open_order<S: Subject>(s: &S, product: &str) -> FactoryOrderId {
    let PurchaseOutcome::OutOfStock(refused) =
        s.warehouse().purchase(&buy(product, 1)).await.unwrap()
    else {
        panic!("{product} should be empty")
    };
    let restock = refused.restock.expect("a factory order");
    assert!(restock.opened_now);
    restock.factory_order_id
}

/// The factory was asked for `id` and answered.
async fn requested<S: Subject>(s: &S, id: FactoryOrderId) {
    let w = s.warehouse();
    assert!(
        w.claim_factory_request(id, Duration::from_secs(60))
            .await
            .unwrap()
    );
    let receipt = FactoryReceipt {
        factory_request_id: format!("req-{id}"),
    };
    assert!(w.record_factory_request(id, &receipt).await.unwrap());
}

pub async fn a_sale_takes_stock_and_is_recorded<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("b-cruller", 1), Shelf::new("a-glazed", 5)]).await;
    let w = s.warehouse();
    let PurchaseOutcome::Sold(sale) = w.purchase(&buy("a-glazed", 2)).await.unwrap() else {
        panic!("sold")
    };
    assert_eq!((sale.remaining, sale.restock), (3, None));
    assert_eq!(stock(&s, "a-glazed").await, 3);
    let order = w.order(sale.order_id).await.unwrap().expect("recorded");
    assert_eq!(
        (order.product_id.as_str(), order.quantity.get()),
        ("a-glazed", 2)
    );
    assert_eq!((order.unit_price_cents, order.idempotency_key), (150, None));
    let ids: Vec<String> = w
        .products()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id.as_str().to_owned())
        .collect();
    assert_eq!(ids, ["a-glazed", "b-cruller"], "listed by id");
    assert_eq!(w.order(donut_domain::OrderId::new()).await.unwrap(), None);
}

pub async fn an_empty_shelf_refuses_and_an_unknown_product_is_named<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 2)]).await;
    let w = s.warehouse();
    let PurchaseOutcome::OutOfStock(refused) = w.purchase(&buy("glazed", 3)).await.unwrap() else {
        panic!("refused")
    };
    assert_eq!((refused.requested.get(), refused.available), (3, 2));
    assert_eq!(
        w.purchase(&buy("sprinkled", 1)).await.unwrap(),
        PurchaseOutcome::UnknownProduct(ProductId::parse("sprinkled").unwrap())
    );
    assert_eq!(
        w.product(&ProductId::parse("Glazed").unwrap())
            .await
            .unwrap(),
        None,
        "ids are case-sensitive"
    );
    assert_eq!(stock(&s, "glazed").await, 2);
}

pub async fn the_reorder_point_opens_one_factory_order<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 3).reorder(1, 5)]).await;
    let w = s.warehouse();
    let PurchaseOutcome::Sold(low) = w.purchase(&buy("glazed", 2)).await.unwrap() else {
        panic!("sold")
    };
    let opened = low.restock.expect("the shelf is low");
    assert!(opened.opened_now && opened.stock_out_event.is_some());
    let order = w
        .factory_order(opened.factory_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            order.status,
            order.quantity,
            order.factory_product_id.as_str()
        ),
        (FactoryOrderStatus::Open, 5, "f-glazed")
    );
    let PurchaseOutcome::Sold(last) = w.purchase(&buy("glazed", 1)).await.unwrap() else {
        panic!("sold")
    };
    let same = last.restock.expect("still low");
    assert_eq!(
        (same.factory_order_id, same.opened_now),
        (opened.factory_order_id, false)
    );
    assert_eq!(w.pending().await.unwrap().rows, 1, "one stock-out");
    assert!(w.oldest_unfinished().await.unwrap().is_some());
}

pub async fn a_key_replays_its_sale<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 10)]).await;
    let w = s.warehouse();
    let key = new_key();
    let PurchaseOutcome::Sold(sale) = w.purchase(&keyed("glazed", 2, &key)).await.unwrap() else {
        panic!("sold")
    };
    let PurchaseOutcome::Replayed(again) = w.purchase(&keyed("glazed", 2, &key)).await.unwrap()
    else {
        panic!("replayed")
    };
    assert_eq!((again.order_id, again.remaining), (sale.order_id, 8));
    assert_eq!(stock(&s, "glazed").await, 8, "sold once");
    let order = w.order(sale.order_id).await.unwrap().unwrap();
    assert_eq!(
        order.idempotency_key.map(|k| k.as_str().to_owned()),
        Some(key)
    );
}

pub async fn a_key_with_another_request_is_refused<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 10)]).await;
    let w = s.warehouse();
    let key = new_key();
    assert!(matches!(
        w.purchase(&keyed("glazed", 2, &key)).await.unwrap(),
        PurchaseOutcome::Sold(_)
    ));
    assert!(matches!(
        w.purchase(&keyed("glazed", 3, &key)).await.unwrap(),
        PurchaseOutcome::KeyReused(_)
    ));
    assert_eq!(stock(&s, "glazed").await, 8);
}

/// What the first deploy's smoke test does: a keyed purchase refused (no stock, no such
/// product) keeps nothing under its key, so its retry is a purchase like any other.
pub async fn a_refused_keyed_purchase_records_nothing<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 1)]).await;
    let w = s.warehouse();
    let key = new_key();
    assert!(matches!(
        w.purchase(&keyed("glazed", 2, &key)).await.unwrap(),
        PurchaseOutcome::OutOfStock(_)
    ));
    assert!(
        matches!(
            w.purchase(&keyed("glazed", 1, &key)).await.unwrap(),
            PurchaseOutcome::Sold(_)
        ),
        "the refusal kept nothing under the key"
    );
    let other = new_key();
    assert!(matches!(
        w.purchase(&keyed("sprinkled", 1, &other)).await.unwrap(),
        PurchaseOutcome::UnknownProduct(_)
    ));
    assert!(matches!(
        w.purchase(&keyed("glazed", 1, &other)).await.unwrap(),
        PurchaseOutcome::OutOfStock(_)
    ));
    assert_eq!(w.oldest_expired_key().await.unwrap(), None);
}

pub async fn a_key_past_its_window_is_free_again<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 10)]).await;
    let w = s.warehouse();
    let key = new_key();
    let PurchaseOutcome::Sold(first) = w.purchase(&keyed("glazed", 1, &key)).await.unwrap() else {
        panic!("sold")
    };
    s.pass(KEY_WINDOW + Duration::from_millis(1200)).await;
    let PurchaseOutcome::Sold(second) = w.purchase(&keyed("glazed", 1, &key)).await.unwrap() else {
        panic!("a key past its window sells again")
    };
    assert_ne!(first.order_id, second.order_id);
    assert_eq!(stock(&s, "glazed").await, 8);
    assert!(matches!(
        w.purchase(&keyed("glazed", 1, &key)).await.unwrap(),
        PurchaseOutcome::Replayed(r) if r.order_id == second.order_id
    ));
}

pub async fn the_sweep_removes_expired_keys_only<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 10)]).await;
    let w = s.warehouse();
    let (old, fresh) = (new_key(), new_key());
    assert!(matches!(
        w.purchase(&keyed("glazed", 1, &old)).await.unwrap(),
        PurchaseOutcome::Sold(_)
    ));
    assert_eq!(
        w.oldest_expired_key().await.unwrap(),
        None,
        "within its window"
    );
    s.pass(KEY_WINDOW + Duration::from_millis(1200)).await;
    let PurchaseOutcome::Sold(kept) = w.purchase(&keyed("glazed", 1, &fresh)).await.unwrap() else {
        panic!("sold")
    };
    let past = w
        .oldest_expired_key()
        .await
        .unwrap()
        .expect("one key past its window");
    assert!(
        past > Duration::ZERO && past < Duration::from_secs(60),
        "{past:?}"
    );
    assert_eq!(w.sweep_expired_keys(1000, 5).await.unwrap(), 1);
    assert_eq!(w.sweep_expired_keys(1000, 5).await.unwrap(), 0);
    assert_eq!(w.oldest_expired_key().await.unwrap(), None);
    assert!(matches!(
        w.purchase(&keyed("glazed", 1, &fresh)).await.unwrap(),
        PurchaseOutcome::Replayed(r) if r.order_id == kept.order_id
    ));
    assert!(matches!(
        w.purchase(&keyed("glazed", 1, &old)).await.unwrap(),
        PurchaseOutcome::Sold(_)
    ));
}

pub async fn a_factory_order_is_claimed_once_at_a_time<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let w = s.warehouse();
    let id = open_order(&s, "glazed").await;
    let lease = Duration::from_secs(60);
    assert!(w.claim_factory_request(id, lease).await.unwrap());
    assert!(!w.claim_factory_request(id, lease).await.unwrap(), "held");
    w.release_factory_claim(id).await.unwrap();
    assert!(
        w.claim_factory_request(id, lease).await.unwrap(),
        "given back"
    );
    let receipt = FactoryReceipt {
        factory_request_id: "req-1".into(),
    };
    assert!(w.record_factory_request(id, &receipt).await.unwrap());
    assert!(
        !w.record_factory_request(id, &receipt).await.unwrap(),
        "a duplicate delivery"
    );
    assert!(
        !w.claim_factory_request(id, lease).await.unwrap(),
        "requested"
    );
    let order = w.factory_order(id).await.unwrap().unwrap();
    assert_eq!(
        (
            order.status,
            order.factory_request_id.as_deref(),
            order.request_attempts
        ),
        (FactoryOrderStatus::Requested, Some("req-1"), 2)
    );
}

pub async fn a_restock_adds_the_ordered_quantity_once<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let w = s.warehouse();
    let id = open_order(&s, "glazed").await;
    assert!(matches!(
        w.restock(id, 5).await.unwrap(),
        RestockOutcome::NotRequested { .. }
    ));
    requested(&s, id).await;
    assert!(matches!(
        w.restock(id, 4).await.unwrap(),
        RestockOutcome::QuantityMismatch { ordered: 5, .. }
    ));
    let RestockOutcome::Restocked {
        product_id,
        added,
        stock: now,
        ..
    } = w.restock(id, 5).await.unwrap()
    else {
        panic!("restocked")
    };
    assert_eq!((product_id.as_str(), added, now), ("glazed", 5, 5));
    assert!(matches!(
        w.restock(id, 5).await.unwrap(),
        RestockOutcome::AlreadyFulfilled { .. }
    ));
    assert_eq!(
        w.restock(FactoryOrderId::new(), 5).await.unwrap(),
        RestockOutcome::UnknownOrder
    );
    assert_eq!(stock(&s, "glazed").await, 5, "added once");
    assert_eq!(
        w.factory_order(id).await.unwrap().unwrap().status,
        FactoryOrderStatus::Fulfilled
    );
    assert_eq!(w.oldest_unfinished().await.unwrap(), None);
}

pub async fn overdue_orders_are_claimed_once_then_surfaced<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let w = s.warehouse();
    let id = open_order(&s, "glazed").await;
    requested(&s, id).await;
    let deadline = Duration::from_secs(1);
    assert!(
        w.overdue_factory_orders(deadline, 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.pass(Duration::from_millis(1500)).await;
    let overdue = w.overdue_factory_orders(deadline, 10).await.unwrap();
    assert_eq!(overdue.iter().map(|o| o.id).collect::<Vec<_>>(), [id]);
    assert!(w.claim_overdue(id, deadline).await.unwrap());
    assert!(
        !w.claim_overdue(id, deadline).await.unwrap(),
        "its clock restarted"
    );
    s.pass(Duration::from_millis(1500)).await;
    w.mark_surfaced(id).await.unwrap();
    assert!(
        w.overdue_factory_orders(deadline, 10)
            .await
            .unwrap()
            .is_empty(),
        "ops were told"
    );
}

pub async fn stalled_open_orders_are_chased_once<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let w = s.warehouse();
    let id = open_order(&s, "glazed").await;
    let deadline = Duration::from_secs(1);
    assert!(
        w.stalled_open_orders(deadline, 10)
            .await
            .unwrap()
            .is_empty()
    );
    s.pass(Duration::from_millis(1500)).await;
    let order = w
        .stalled_open_orders(deadline, 10)
        .await
        .unwrap()
        .pop()
        .expect("stalled");
    assert_eq!((order.id, order.chases), (id, 0));
    let event = order.stock_out_again(uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
    assert!(w.chase_open_order(id, deadline, &event).await.unwrap());
    assert!(
        !w.chase_open_order(id, deadline, &event).await.unwrap(),
        "its clock restarted"
    );
    assert!(
        w.stalled_open_orders(deadline, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(w.factory_order(id).await.unwrap().unwrap().chases, 1);
    assert_eq!(
        w.pending().await.unwrap().rows,
        2,
        "the stock-out, then its chase"
    );
}

pub async fn ops_re_request_and_cancel<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 0).reorder(0, 5)]).await;
    // Ops act through the operators' function: as its own database user.
    let w = s.operator();
    let id = open_order(&s, "glazed").await;
    requested(&s, id).await;
    let order = w.factory_order(id).await.unwrap().unwrap();
    let event = order.stock_out_again(uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
    let not_within = Duration::from_secs(1);
    let alice = operator();
    assert!(matches!(
        w.re_request(&alice, id, not_within, &event).await.unwrap(),
        OpsOutcome::InFlight(_)
    ));
    s.pass(Duration::from_millis(1500)).await;
    assert_eq!(
        w.re_request(&alice, id, not_within, &event).await.unwrap(),
        OpsOutcome::Done {
            was: FactoryOrderStatus::Requested
        }
    );
    assert_eq!(
        w.factory_order(id).await.unwrap().unwrap().status,
        FactoryOrderStatus::Open
    );
    assert_eq!(
        w.cancel(&alice, id).await.unwrap(),
        OpsOutcome::Done {
            was: FactoryOrderStatus::Open
        }
    );
    assert_eq!(
        w.cancel(&alice, id).await.unwrap(),
        OpsOutcome::Unchanged(FactoryOrderStatus::Cancelled)
    );
    assert_eq!(
        w.cancel(&alice, FactoryOrderId::new()).await.unwrap(),
        OpsOutcome::UnknownOrder
    );
    // Each action that changed the order is audited, by whom, on which order; the refusals
    // (in flight, already cancelled) are not.
    let trail = w
        .audit_trail(Some(&ProductId::parse("glazed").unwrap()), 10)
        .await
        .unwrap();
    let rows: Vec<_> = trail
        .iter()
        .map(|a| (a.action, a.factory_order_id, a.actor.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            (AuditAction::Cancel, Some(id), alice.arn.as_str()),
            (AuditAction::ReRequest, Some(id), alice.arn.as_str())
        ]
    );
    assert!(
        trail[1]
            .before
            .as_deref()
            .unwrap()
            .contains("\"requested\"")
    );
    assert!(trail[1].after.contains("\"open\""));
    assert!(trail[0].after.contains("\"cancelled\""));
    assert_eq!(trail[0].correlation_id, alice.correlation_id.as_str());
    let again = open_order(&s, "glazed").await;
    assert_ne!(again, id, "the slot was freed");
}

pub async fn outbox_rows_are_claimed_settled_and_released<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![
        Shelf::new("glazed", 0).reorder(0, 5),
        Shelf::new("cruller", 0).reorder(0, 5),
    ])
    .await;
    let w = s.warehouse();
    open_order(&s, "glazed").await;
    open_order(&s, "cruller").await;
    assert_eq!(w.pending().await.unwrap().rows, 2);
    let rows = w.claim("a", Due::Oldest(10)).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.attempts == 0));
    assert!(
        w.claim("b", Due::Oldest(10)).await.unwrap().is_empty(),
        "leased"
    );
    assert!(
        w.settle(rows[0].id, "a", Settlement::Published)
            .await
            .unwrap()
    );
    assert!(
        !w.settle(rows[1].id, "b", Settlement::Published)
            .await
            .unwrap(),
        "not b's"
    );
    w.release("a", &[]).await.unwrap();
    let again = w.claim("b", Due::Oldest(10)).await.unwrap();
    assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), [rows[1].id]);
    let retry = Settlement::Retry {
        error: "SNS throttled",
        after: Duration::from_secs(3600),
    };
    assert!(w.settle(rows[1].id, "b", retry).await.unwrap());
    assert!(
        w.claim("c", Due::Oldest(10)).await.unwrap().is_empty(),
        "not due yet"
    );
    let pending = w.pending().await.unwrap();
    assert_eq!(pending.rows, 1);
    assert!(pending.oldest.is_some());
}

fn operator() -> Operator {
    Operator {
        arn: "arn:aws:iam::123456789012:user/ops-alice".to_owned(),
        correlation_id: CorrelationId::new(),
        reference: None,
        idempotency_key: None,
    }
}

/// A new product, as an operator puts it on the shelf.
fn cruller() -> NewProduct {
    NewProduct {
        id: ProductId::parse("cruller").unwrap(),
        name: "French Cruller".into(),
        price_cents: 195,
        stock: 12,
        reorder: ReorderRule {
            point: 2,
            quantity: 24,
        },
        factory_product_id: "7".into(),
    }
}

/// `who`, under `key`.
fn under_key(who: &Operator, key: &str) -> Operator {
    Operator {
        correlation_id: CorrelationId::new(),
        idempotency_key: Some(IdempotencyKey::parse(key).unwrap()),
        ..who.clone()
    }
}

pub async fn a_keyed_change_is_made_once<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 10).reorder(3, 20)]).await;
    let op = s.operator();
    let id = ProductId::parse("glazed").unwrap();
    let alice = under_key(&operator(), "delivery-17");
    let delivery = StockChange {
        adjustment: Adjustment::By(-7),
        reason: "a tray dropped".into(),
    };
    let first = op.adjust_stock(&alice, &id, &delivery).await.unwrap();
    let CatalogueOutcome::Changed {
        before,
        after,
        restock,
    } = first
    else {
        panic!("adjusted: {first:?}")
    };
    assert!(
        restock.as_ref().is_some_and(|r| r.opened_now),
        "low: reordered"
    );
    // The retry (another request, the same key and body) answers the same, changes nothing.
    let retry = under_key(&alice, "delivery-17");
    assert_eq!(
        op.adjust_stock(&retry, &id, &delivery).await.unwrap(),
        CatalogueOutcome::Replayed {
            before,
            after,
            restock
        }
    );
    assert_eq!(stock(&s, "glazed").await, 3, "taken once");
    assert_eq!(op.audit_trail(None, 10).await.unwrap().len(), 1);
    assert_eq!(op.unfinished_factory_orders(10).await.unwrap().len(), 1);
    // The key for another request: refused, nothing changed.
    let other = StockChange {
        adjustment: Adjustment::By(-1),
        ..delivery.clone()
    };
    assert!(matches!(
        op.adjust_stock(&retry, &id, &other).await.unwrap(),
        CatalogueOutcome::KeyReused(_)
    ));
    assert_eq!(stock(&s, "glazed").await, 3);
    // A keyed create replays its creation, not "exists".
    let cruller = cruller();
    let create = under_key(&alice, "new-cruller");
    assert!(matches!(
        op.create(&create, &cruller).await.unwrap(),
        CatalogueOutcome::Changed { before: None, .. }
    ));
    assert!(matches!(
        op.create(&create, &cruller).await.unwrap(),
        CatalogueOutcome::Replayed { before: None, after, .. } if after.product.stock == 12
    ));
    // A keyed change that changed nothing keeps nothing: the key is free for what comes next.
    let same_price = ProductChange {
        price_cents: Some(195),
        ..ProductChange::default()
    };
    let price = under_key(&alice, "price-1");
    let cruller_id = cruller.id.clone();
    assert!(matches!(
        op.update(&price, &cruller_id, &same_price).await.unwrap(),
        CatalogueOutcome::Unchanged(_)
    ));
    let dearer = ProductChange {
        price_cents: Some(210),
        ..ProductChange::default()
    };
    assert!(matches!(
        op.update(&price, &cruller_id, &dearer).await.unwrap(),
        CatalogueOutcome::Changed { .. }
    ));
    assert!(matches!(
        op.update(&price, &cruller_id, &dearer).await.unwrap(),
        CatalogueOutcome::Replayed { after, .. } if after.product.price_cents == 210
    ));
    // Past its window the key is free again: the same body is a new change.
    s.pass(KEY_WINDOW + Duration::from_millis(1100)).await;
    assert!(matches!(
        op.adjust_stock(&retry, &id, &other).await.unwrap(),
        CatalogueOutcome::Changed { after, .. } if after.product.stock == 2
    ));
}

pub async fn an_operator_key_is_the_operators_own<S: Subject>(make: impl AsyncFn(Vec<Shelf>) -> S) {
    let s = make(vec![Shelf::new("glazed", 10)]).await;
    let op = s.operator();
    let id = ProductId::parse("glazed").unwrap();
    let alice = under_key(&operator(), "morning-count");
    let bob = under_key(
        &Operator {
            arn: "arn:aws:sts::123456789012:assumed-role/ops/bob".to_owned(),
            ..operator()
        },
        "morning-count",
    );
    let delivery = StockChange {
        adjustment: Adjustment::By(5),
        reason: "delivery".into(),
    };
    assert!(matches!(
        op.adjust_stock(&alice, &id, &delivery).await.unwrap(),
        CatalogueOutcome::Changed { .. }
    ));
    assert!(
        matches!(
            op.adjust_stock(&bob, &id, &delivery).await.unwrap(),
            CatalogueOutcome::Changed { after, .. } if after.product.stock == 20
        ),
        "bob's key is not alice's: his change is made"
    );
    let actors: Vec<String> = op
        .audit_trail(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.actor)
        .collect();
    assert_eq!(actors, [bob.arn.clone(), alice.arn.clone()]);
}

pub async fn operators_create_change_retire_and_restore_audited<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 5)]).await;
    let (w, op) = (s.warehouse(), s.operator());
    let alice = operator();
    let cruller = cruller();
    assert!(matches!(
        op.create(&alice, &cruller).await.unwrap(),
        CatalogueOutcome::Changed { before: None, .. }
    ));
    assert!(matches!(
        op.create(&alice, &cruller).await.unwrap(),
        CatalogueOutcome::Exists(e) if e.product.stock == 12
    ));
    assert_eq!(stock(&s, "cruller").await, 12, "on sale at once");
    let id = cruller.id.clone();
    let price = ProductChange {
        price_cents: Some(210),
        ..ProductChange::default()
    };
    assert!(matches!(
        op.update(&alice, &id, &price).await.unwrap(),
        CatalogueOutcome::Changed { after, .. } if after.product.price_cents == 210
    ));
    assert!(matches!(
        op.update(&alice, &id, &price).await.unwrap(),
        CatalogueOutcome::Unchanged(_)
    ));
    let retire = ProductChange {
        retired: Some(true),
        ..ProductChange::default()
    };
    op.update(&alice, &id, &retire).await.unwrap();
    assert_eq!(
        w.purchase(&buy("cruller", 1)).await.unwrap(),
        PurchaseOutcome::UnknownProduct(id.clone()),
        "a retired product sells nothing"
    );
    assert_eq!(w.product(&id).await.unwrap(), None, "nor is it listed");
    assert!(
        w.products()
            .await
            .unwrap()
            .iter()
            .all(|p| p.id.as_str() != "cruller")
    );
    let entry = op
        .entry(&id)
        .await
        .unwrap()
        .expect("operators still see it");
    assert!(entry.retired);
    assert_eq!(entry.product.stock, 12, "its stock kept");
    let restore = ProductChange {
        retired: Some(false),
        ..ProductChange::default()
    };
    op.update(&alice, &id, &restore).await.unwrap();
    assert!(matches!(
        w.purchase(&buy("cruller", 1)).await.unwrap(),
        PurchaseOutcome::Sold(sale) if sale.remaining == 11
    ));
    assert_eq!(
        op.update(&alice, &ProductId::parse("nope").unwrap(), &price)
            .await
            .unwrap(),
        CatalogueOutcome::UnknownProduct
    );
    let trail = op.audit_trail(Some(&id), 10).await.unwrap();
    let actions: Vec<AuditAction> = trail.iter().map(|a| a.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::Restore,
            AuditAction::Retire,
            AuditAction::Update,
            AuditAction::Create
        ],
        "newest first, one row per change"
    );
    assert!(
        trail
            .iter()
            .all(|a| a.actor == alice.arn && a.correlation_id == alice.correlation_id.as_str())
    );
    assert_eq!(trail[3].before, None);
    assert!(
        trail[2]
            .before
            .as_deref()
            .unwrap()
            .contains("\"price_cents\":195")
    );
    assert!(trail[2].after.contains("\"price_cents\":210"));
    assert_eq!(op.catalogue().await.unwrap().len(), 2);
}

pub async fn an_adjustment_that_leaves_a_shelf_low_opens_its_factory_order<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 10).reorder(3, 20)]).await;
    let (w, op) = (s.warehouse(), s.operator());
    let id = ProductId::parse("glazed").unwrap();
    let broke = |n: i64| StockChange {
        adjustment: Adjustment::By(-n),
        reason: "dropped a tray".into(),
    };
    let alice = operator();
    let CatalogueOutcome::Changed { after, restock, .. } =
        op.adjust_stock(&alice, &id, &broke(5)).await.unwrap()
    else {
        panic!("adjusted")
    };
    assert_eq!((after.product.stock, restock), (5, None), "above its point");
    let CatalogueOutcome::Changed { restock, .. } =
        op.adjust_stock(&alice, &id, &broke(2)).await.unwrap()
    else {
        panic!("adjusted")
    };
    let opened = restock.expect("at its point: a factory order");
    assert!(opened.opened_now && opened.stock_out_event.is_some());
    let order = w
        .factory_order(opened.factory_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (order.quantity, order.correlation_id.as_str()),
        (20, alice.correlation_id.as_str()),
        "the operator's request is the order's correlation id"
    );
    assert_eq!(
        w.pending().await.unwrap().rows,
        1,
        "its stock-out in the outbox"
    );
    let count = StockChange {
        adjustment: Adjustment::To(1),
        reason: "counted".into(),
    };
    let CatalogueOutcome::Changed { restock, .. } =
        op.adjust_stock(&alice, &id, &count).await.unwrap()
    else {
        panic!("adjusted")
    };
    let same = restock.expect("still low");
    assert_eq!(
        (same.factory_order_id, same.opened_now),
        (opened.factory_order_id, false),
        "one factory order per stock-out, as for sales"
    );
    assert_eq!(w.pending().await.unwrap().rows, 1);
    // A sale after the adjustment sells what the count says.
    assert!(matches!(
        w.purchase(&buy("glazed", 2)).await.unwrap(),
        PurchaseOutcome::OutOfStock(o) if o.available == 1
    ));
    let trail = op.audit_trail(Some(&id), 10).await.unwrap();
    assert_eq!(trail.len(), 3);
    assert_eq!(trail[0].reason.as_deref(), Some("counted"));
    assert!(trail[0].after.contains("\"stock\":1"));
}

pub async fn an_adjustment_never_leaves_a_shelf_below_zero<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![Shelf::new("glazed", 3)]).await;
    let op = s.operator();
    let alice = operator();
    let id = ProductId::parse("glazed").unwrap();
    let take = StockChange {
        adjustment: Adjustment::By(-4),
        reason: "stolen".into(),
    };
    assert!(matches!(
        op.adjust_stock(&alice, &id, &take).await.unwrap(),
        CatalogueOutcome::Refused(_)
    ));
    assert_eq!(
        op.adjust_stock(&alice, &ProductId::parse("nope").unwrap(), &take)
            .await
            .unwrap(),
        CatalogueOutcome::UnknownProduct
    );
    for same in [Adjustment::By(0), Adjustment::To(3)] {
        let change = StockChange {
            adjustment: same,
            reason: "counted".into(),
        };
        assert!(matches!(
            op.adjust_stock(&alice, &id, &change).await.unwrap(),
            CatalogueOutcome::Unchanged(e) if e.product.stock == 3
        ));
    }
    assert_eq!(stock(&s, "glazed").await, 3);
    assert!(
        op.audit_trail(None, 10).await.unwrap().is_empty(),
        "nothing changed"
    );
}

pub async fn unfinished_factory_orders_are_listed_oldest_first<S: Subject>(
    make: impl AsyncFn(Vec<Shelf>) -> S,
) {
    let s = make(vec![
        Shelf::new("glazed", 0).reorder(0, 5),
        Shelf::new("cruller", 0).reorder(0, 5),
    ])
    .await;
    let op = s.operator();
    let first = open_order(&s, "glazed").await;
    s.pass(Duration::from_millis(20)).await;
    let second = open_order(&s, "cruller").await;
    requested(&s, second).await;
    let listed = op.unfinished_factory_orders(10).await.unwrap();
    assert_eq!(
        listed.iter().map(|(o, _)| o.id).collect::<Vec<_>>(),
        [first, second]
    );
    assert!(listed[0].1 >= listed[1].1, "the oldest has waited longest");
    assert_eq!(listed[1].0.request_attempts, 1);
    assert_eq!(op.unfinished_factory_orders(1).await.unwrap().len(), 1);
}
