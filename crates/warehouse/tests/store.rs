//! The warehouse store against a real MariaDB: one database per test.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use donut_domain::ports::{Due, RelayReport, RestockOutcome};
use donut_domain::usecases::relay_once;
use donut_domain::*;
use donut_testkit::{Shelf, TestDb};
use donut_warehouse::{DbConfig, MySqlWarehouse};

/// One relay pass over up to `max` of the oldest due rows, no time budget.
async fn relay<P: EventPublisher>(
    warehouse: &MySqlWarehouse,
    publisher: &P,
    max: usize,
) -> Result<RelayReport, StoreError> {
    relay_once(warehouse, publisher, Due::Oldest(max), None).await
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

/// Buys 1 of an empty product; the refusal must open a new factory order, whose id it returns.
async fn refused_with_new_order(db: &TestDb, product: &str) -> FactoryOrderId {
    let PurchaseOutcome::OutOfStock(refused) =
        db.warehouse.purchase(&buy(product, 1)).await.unwrap()
    else {
        panic!("expected out of stock")
    };
    let restock = refused.restock.expect("a factory order");
    assert!(restock.opened_now);
    restock.factory_order_id
}

/// Neither buying `bought` nor looking up `looked_up` finds a product.
async fn assert_unknown(db: &TestDb, bought: &str, looked_up: &str) {
    let outcome = db.warehouse.purchase(&buy(bought, 1)).await.unwrap();
    assert_eq!(
        outcome,
        PurchaseOutcome::UnknownProduct(ProductId::parse(bought).unwrap())
    );
    assert_eq!(
        db.warehouse
            .product(&ProductId::parse(looked_up).unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_sale_decrements_stock_and_records_the_order() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(2, 20)]).await;
    let req = buy("glazed", 3);
    let PurchaseOutcome::Sold(sale) = db.warehouse.purchase(&req).await.unwrap() else {
        panic!("expected a sale")
    };
    assert_eq!(sale.remaining, 7);
    assert_eq!(sale.restock, None);
    assert_eq!(db.stock("glazed").await, 7);
    let recorded = db
        .count(
            "SELECT quantity FROM orders WHERE order_id = ? AND correlation_id = ?",
            (sale.order_id.to_string(), req.correlation_id.as_str()),
        )
        .await;
    assert_eq!(recorded, 3);
    assert_eq!(db.count("SELECT COUNT(*) FROM factory_orders", ()).await, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM outbox", ()).await, 0);
}

#[tokio::test]
async fn reaching_the_reorder_point_opens_one_factory_order_with_its_outbox_row() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 5).reorder(2, 24)]).await;
    let PurchaseOutcome::Sold(sale) = db.warehouse.purchase(&buy("glazed", 3)).await.unwrap()
    else {
        panic!("expected a sale")
    };
    let restock = sale.restock.expect("a restock was opened");
    assert!(restock.opened_now);
    assert_eq!(restock.status, FactoryOrderStatus::Open);
    let order = db
        .warehouse
        .factory_order(restock.factory_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.quantity, 24);
    assert_eq!(order.factory_product_id, "f-glazed");

    // The outbox row carries the event for exactly that factory order.
    let payload: String = {
        use mysql_async::prelude::Queryable;
        db.conn()
            .await
            .query_first("SELECT payload FROM outbox")
            .await
            .unwrap()
            .unwrap()
    };
    let event = StockOutEvent::from_json(&payload).unwrap();
    assert_eq!(event.factory_order_id, restock.factory_order_id);
    assert_eq!(event.stock_left, 2);
    assert_eq!(event.quantity, 24);

    // Selling below the point while the order is open opens nothing new.
    let PurchaseOutcome::Sold(sale) = db.warehouse.purchase(&buy("glazed", 1)).await.unwrap()
    else {
        panic!("expected a sale")
    };
    assert!(!sale.restock.unwrap().opened_now);
    assert_eq!(db.count("SELECT COUNT(*) FROM factory_orders", ()).await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM outbox", ()).await, 1);
}

#[tokio::test]
async fn an_empty_shelf_refuses_and_orders_once() {
    let db = TestDb::with_shelves(&[Shelf::new("jelly", 1).reorder(0, 12)]).await;
    let PurchaseOutcome::OutOfStock(first) = db.warehouse.purchase(&buy("jelly", 2)).await.unwrap()
    else {
        panic!("expected out of stock")
    };
    assert_eq!(first.available, 1);
    assert!(first.restock.as_ref().unwrap().opened_now);
    assert_eq!(
        db.stock("jelly").await,
        1,
        "a refused purchase changes no stock"
    );

    let PurchaseOutcome::OutOfStock(second) =
        db.warehouse.purchase(&buy("jelly", 5)).await.unwrap()
    else {
        panic!("expected out of stock")
    };
    let again = second.restock.unwrap();
    assert!(!again.opened_now);
    assert_eq!(
        again.factory_order_id,
        first.restock.unwrap().factory_order_id
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM factory_orders", ()).await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM outbox", ()).await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM orders", ()).await, 0);
}

#[tokio::test]
async fn unknown_products_are_reported_and_change_nothing() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 1)]).await;
    assert_unknown(&db, "nope", "nope").await;
    assert_eq!(db.count("SELECT COUNT(*) FROM orders", ()).await, 0);
}

#[tokio::test]
async fn restock_adds_the_ordered_quantity_exactly_once() {
    let db = TestDb::with_shelves(&[Shelf::new("maple", 1).reorder(0, 30)]).await;
    let PurchaseOutcome::Sold(sale) = db.warehouse.purchase(&buy("maple", 1)).await.unwrap() else {
        panic!("expected a sale")
    };
    let id = sale.restock.unwrap().factory_order_id;
    assert!(
        matches!(
            db.warehouse.restock(id, 30).await.unwrap(),
            RestockOutcome::NotRequested { .. }
        ),
        "never sent: no callback can be the factory's"
    );
    let receipt = FactoryReceipt {
        factory_request_id: "factory-1".into(),
    };
    assert!(
        db.warehouse
            .record_factory_request(id, &receipt)
            .await
            .unwrap()
    );
    assert!(
        !db.warehouse
            .record_factory_request(id, &receipt)
            .await
            .unwrap(),
        "only once"
    );

    assert!(matches!(
        db.warehouse.restock(id, 31).await.unwrap(),
        RestockOutcome::QuantityMismatch { ordered: 30, .. }
    ));
    let first = db.warehouse.restock(id, 30).await.unwrap();
    assert!(
        matches!(
            first,
            RestockOutcome::Restocked {
                added: 30,
                stock: 30,
                ..
            }
        ),
        "{first:?}"
    );
    for _ in 0..3 {
        let again = db.warehouse.restock(id, 30).await.unwrap();
        assert!(
            matches!(again, RestockOutcome::AlreadyFulfilled { .. }),
            "{again:?}"
        );
    }
    assert_eq!(db.stock("maple").await, 30);
    assert_eq!(
        db.warehouse
            .restock(FactoryOrderId::new(), 30)
            .await
            .unwrap(),
        RestockOutcome::UnknownOrder
    );

    // The episode is over: the next stock-out opens a new factory order.
    db.exec("UPDATE products SET qty = 0 WHERE product_id = 'maple'", ())
        .await;
    assert_ne!(refused_with_new_order(&db, "maple").await, id);
}

#[tokio::test]
async fn products_are_listed_in_order() {
    let db = TestDb::with_shelves(&[Shelf::new("b", 2), Shelf::new("a", 1)]).await;
    let products = db.warehouse.products().await.unwrap();
    let ids: Vec<_> = products.iter().map(|p| (p.id.as_str(), p.stock)).collect();
    assert_eq!(ids, vec![("a", 1), ("b", 2)]);
}

#[tokio::test]
async fn migrations_are_idempotent_and_the_seed_is_too() {
    let db = TestDb::new().await;
    assert_eq!(db.master.migrate().await.unwrap(), Vec::<u32>::new());
    db.master.seed().await.unwrap();
    db.master.seed().await.unwrap();
    let products = db.warehouse.products().await.unwrap();
    assert!(products.len() >= 5);
    assert!(
        products
            .iter()
            .all(|p| p.reorder.quantity > 0 && !p.factory_product_id.is_empty())
    );
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_not_a_panic() {
    // Nothing listens on port 1.
    let config = DbConfig::from_url("mysql://donut:donut@127.0.0.1:1/donut")
        .unwrap()
        .with_acquire_timeout(Duration::from_millis(500));
    let w = MySqlWarehouse::new(&config);
    let err = w.purchase(&buy("glazed", 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        !format!("{config:?}").contains("donut:donut"),
        "no password in Debug"
    );
}

/// The invariant the whole system exists for: 1000 buyers race for 100 donuts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_buyers_never_oversell_a_hundred_donuts() {
    let db = TestDb::with_shelves(&[Shelf::new("rush", 100).reorder(0, 100)]).await;
    let started = Instant::now();
    let buyers = (0..1000).map(|_| {
        let w = db.warehouse.clone();
        tokio::spawn(async move { w.purchase(&buy("rush", 1)).await })
    });
    let outcomes = futures::future::join_all(buyers).await;
    let elapsed = started.elapsed();
    let (mut sold, mut refused) = (0, 0);
    for o in outcomes {
        match o.unwrap().unwrap() {
            PurchaseOutcome::Sold(_) => sold += 1,
            PurchaseOutcome::OutOfStock(_) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    println!("1000 concurrent purchases of 1 unit for 100 units: {elapsed:?}");
    assert_eq!((sold, refused), (100, 900));
    assert_eq!(db.stock("rush").await, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM orders", ()).await, 100);
    assert_eq!(
        db.count("SELECT COALESCE(SUM(quantity), 0) FROM orders", ())
            .await,
        100
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM factory_orders", ()).await, 1);
    assert_eq!(db.count("SELECT COUNT(*) FROM outbox", ()).await, 1);
}

struct RecordingPublisher {
    seen: Mutex<Vec<StockOutEvent>>,
    fail: bool,
    delay: Duration,
}

impl RecordingPublisher {
    fn new(fail: bool) -> Self {
        Self {
            seen: Mutex::new(vec![]),
            fail,
            delay: Duration::ZERO,
        }
    }
}

impl EventPublisher for RecordingPublisher {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        tokio::time::sleep(self.delay).await;
        if self.fail {
            return Err(PublishError("SNS says no".into()));
        }
        self.seen.lock().unwrap().push(event.clone());
        Ok(())
    }
}

async fn stock_outs(db: &TestDb, n: usize) {
    for i in 0..n {
        let id: &'static str = Box::leak(format!("p{i}").into_boxed_str());
        db.exec(
            "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, factory_product_id) \
             VALUES (?, ?, 100, 0, 0, 5, '9')",
            (id, id),
        )
        .await;
        db.warehouse.purchase(&buy(id, 1)).await.unwrap();
    }
}

#[tokio::test]
async fn the_relay_publishes_each_row_once_and_retries_failures_later() {
    let db = TestDb::new().await;
    stock_outs(&db, 3).await;
    assert_eq!(db.warehouse.pending().await.unwrap().rows, 3);

    let failing = RecordingPublisher::new(true);
    let report = relay(&db.warehouse, &failing, 10).await.unwrap();
    assert_eq!((report.published, report.failed), (0, 3));
    assert_eq!(
        db.warehouse.pending().await.unwrap().rows,
        3,
        "nothing lost"
    );
    // Backed off: not due again at once.
    let ok = RecordingPublisher::new(false);
    assert_eq!(relay(&db.warehouse, &ok, 10).await.unwrap().published, 0);
    db.exec("UPDATE outbox SET next_attempt_at = UTC_TIMESTAMP(6)", ())
        .await;
    assert_eq!(relay(&db.warehouse, &ok, 10).await.unwrap().published, 3);
    assert_eq!(db.warehouse.pending().await.unwrap().rows, 0);
    assert_eq!(
        relay(&db.warehouse, &ok, 10).await.unwrap().published,
        0,
        "published rows stay published"
    );
    assert_eq!(ok.seen.lock().unwrap().len(), 3);
    assert_eq!(db.count("SELECT MAX(attempts) FROM outbox", ()).await, 2);
}

/// A publisher whose first publish succeeds, then takes the database away (SIGKILL).
struct KillsTheDatabase {
    server: Mutex<donut_testkit::PrivateMariaDb>,
    published: Mutex<Vec<uuid::Uuid>>,
}

impl EventPublisher for KillsTheDatabase {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        self.published.lock().unwrap().push(event.event_id);
        self.server.lock().unwrap().kill();
        Ok(())
    }
}

/// A relay whose database fails it after a publish reports what it published (the pass
/// stops there) instead of an error, and the published row stays leased rather than due at
/// once: published again only after its lease, never in a hurry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_loses_its_database_mid_pass_reports_what_it_published() {
    let server = donut_testkit::PrivateMariaDb::start().await;
    let db = TestDb::new_on(&server.url()).await;
    stock_outs(&db, 2).await;
    let publisher = KillsTheDatabase {
        server: Mutex::new(server),
        published: Mutex::new(vec![]),
    };
    let report = relay(&db.warehouse, &publisher, 10).await.unwrap();
    assert_eq!((report.published, report.failed), (1, 0));
    let killed_after = publisher.published.lock().unwrap().clone();
    assert_eq!(killed_after.len(), 1, "the pass stopped");

    let mut server = publisher.server.into_inner().unwrap();
    server.resume().await;
    let ok = RecordingPublisher::new(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    while relay(&db.warehouse, &ok, 10).await.is_err() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = |publisher: &RecordingPublisher| -> Vec<uuid::Uuid> {
        publisher
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.event_id)
            .collect()
    };
    assert!(
        !seen(&ok).contains(&killed_after[0]),
        "the published row waits out its lease"
    );
    db.exec("UPDATE outbox SET next_attempt_at = UTC_TIMESTAMP(6)", ())
        .await;
    relay(&db.warehouse, &ok, 10).await.unwrap();
    assert_eq!(db.warehouse.pending().await.unwrap().rows, 0);
    assert!(seen(&ok).contains(&killed_after[0]), "then at-least-once");
}

/// A publisher that, while "calling SNS", tries to lock every outbox row from another
/// connection without waiting: it succeeds only if the relay holds no row lock across the call.
struct LockProbe {
    url: String,
    free: Mutex<Vec<bool>>,
}

impl EventPublisher for LockProbe {
    async fn publish(&self, _: &StockOutEvent) -> Result<(), PublishError> {
        use mysql_async::prelude::Queryable;
        let mut conn = mysql_async::Conn::from_url(&self.url).await.unwrap();
        conn.query_drop("START TRANSACTION").await.unwrap();
        let locked = conn
            .query_drop("SELECT id FROM outbox FOR UPDATE NOWAIT")
            .await;
        conn.query_drop("ROLLBACK").await.unwrap();
        self.free.lock().unwrap().push(locked.is_ok());
        Ok(())
    }
}

#[tokio::test]
async fn no_outbox_row_stays_locked_while_the_relay_publishes() {
    let db = TestDb::new().await;
    stock_outs(&db, 3).await;
    let probe = LockProbe {
        url: db.url.clone(),
        free: Mutex::new(vec![]),
    };
    assert_eq!(relay(&db.warehouse, &probe, 10).await.unwrap().published, 3);
    assert_eq!(*probe.free.lock().unwrap(), vec![true; 3]);
    assert_eq!(db.warehouse.pending().await.unwrap().rows, 0);
}

#[tokio::test]
async fn a_claimed_row_waits_out_its_lease_then_another_relay_takes_it() {
    let db = TestDb::new().await;
    stock_outs(&db, 1).await;
    // A relay claimed the row and died before publishing.
    db.exec(
        "UPDATE outbox SET claimed_by = 'dead-relay', \
         next_attempt_at = UTC_TIMESTAMP(6) + INTERVAL 120 SECOND",
        (),
    )
    .await;
    let ok = RecordingPublisher::new(false);
    assert_eq!(
        relay(&db.warehouse, &ok, 10).await.unwrap().published,
        0,
        "leased"
    );
    db.exec("UPDATE outbox SET next_attempt_at = UTC_TIMESTAMP(6)", ())
        .await;
    assert_eq!(
        relay(&db.warehouse, &ok, 10).await.unwrap().published,
        1,
        "lease over"
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM outbox WHERE claimed_by IS NULL AND published_at IS NOT NULL",
            ()
        )
        .await,
        1
    );
}

#[tokio::test]
async fn one_claim_at_a_time_and_none_once_requested() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let id = refused_with_new_order(&db, "glazed").await;
    let lease = Duration::from_secs(30);
    assert!(db.warehouse.claim_factory_request(id, lease).await.unwrap());
    assert!(
        !db.warehouse.claim_factory_request(id, lease).await.unwrap(),
        "held"
    );
    db.warehouse.release_factory_claim(id).await.unwrap();
    assert!(
        db.warehouse
            .claim_factory_request(id, Duration::from_millis(1))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        db.warehouse.claim_factory_request(id, lease).await.unwrap(),
        "an expired lease is free"
    );
    let receipt = FactoryReceipt {
        factory_request_id: "r".into(),
    };
    assert!(
        db.warehouse
            .record_factory_request(id, &receipt)
            .await
            .unwrap()
    );
    db.warehouse.release_factory_claim(id).await.unwrap();
    assert!(
        !db.warehouse.claim_factory_request(id, lease).await.unwrap(),
        "requested orders are not claimed"
    );
    let order = db.warehouse.factory_order(id).await.unwrap().unwrap();
    assert_eq!(order.request_attempts, 3);
}

#[tokio::test]
async fn overdue_orders_are_claimed_once_per_deadline_and_left_alone_once_surfaced() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let id = refused_with_new_order(&db, "glazed").await;
    let deadline = Duration::from_secs(60);
    assert!(
        db.warehouse
            .overdue_factory_orders(deadline, 10)
            .await
            .unwrap()
            .is_empty(),
        "open orders are the queue's"
    );
    assert!(
        db.warehouse
            .claim_factory_request(id, deadline)
            .await
            .unwrap()
    );
    let receipt = FactoryReceipt {
        factory_request_id: "r".into(),
    };
    assert!(
        db.warehouse
            .record_factory_request(id, &receipt)
            .await
            .unwrap()
    );
    assert!(
        db.warehouse
            .overdue_factory_orders(deadline, 10)
            .await
            .unwrap()
            .is_empty(),
        "not yet overdue"
    );

    db.exec(
        "UPDATE factory_orders SET requested_at = UTC_TIMESTAMP(6) - INTERVAL 2 MINUTE",
        (),
    )
    .await;
    let overdue = db
        .warehouse
        .overdue_factory_orders(deadline, 10)
        .await
        .unwrap();
    assert_eq!(overdue.iter().map(|o| o.id).collect::<Vec<_>>(), vec![id]);
    assert!(db.warehouse.claim_overdue(id, deadline).await.unwrap());
    assert!(
        !db.warehouse.claim_overdue(id, deadline).await.unwrap(),
        "its clock restarted"
    );
    assert_eq!(
        db.warehouse
            .factory_order(id)
            .await
            .unwrap()
            .unwrap()
            .request_attempts,
        2
    );

    db.exec(
        "UPDATE factory_orders SET requested_at = UTC_TIMESTAMP(6) - INTERVAL 2 MINUTE",
        (),
    )
    .await;
    db.warehouse.mark_surfaced(id).await.unwrap();
    assert!(
        db.warehouse
            .overdue_factory_orders(deadline, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!db.warehouse.claim_overdue(id, deadline).await.unwrap());
    // A late callback still restocks a surfaced order, once.
    assert!(matches!(
        db.warehouse.restock(id, 5).await.unwrap(),
        RestockOutcome::Restocked { added: 5, .. }
    ));
}

/// An `open` order whose stock-out never got through is chased once per open deadline: its
/// chase and the new outbox row in one transaction, never while a consumer holds the order.
#[tokio::test]
async fn stalled_open_orders_are_chased_once_per_deadline() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let id = refused_with_new_order(&db, "glazed").await;
    let deadline = Duration::from_secs(3600);
    let stalled = || async {
        db.warehouse
            .stalled_open_orders(deadline, 10)
            .await
            .unwrap()
    };
    assert!(stalled().await.is_empty(), "fresh");
    db.exec(
        "UPDATE factory_orders SET created_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR",
        (),
    )
    .await;
    // A consumer is calling the factory for it: not stalled.
    assert!(
        db.warehouse
            .claim_factory_request(id, deadline)
            .await
            .unwrap()
    );
    assert!(stalled().await.is_empty(), "held by a consumer");
    db.warehouse.release_factory_claim(id).await.unwrap();
    let order = stalled().await.pop().expect("stalled");
    assert_eq!((order.id, order.chases), (id, 0));

    let event = order.stock_out_again(uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
    assert!(
        db.warehouse
            .chase_open_order(id, deadline, &event)
            .await
            .unwrap()
    );
    assert!(
        !db.warehouse
            .chase_open_order(id, deadline, &event)
            .await
            .unwrap(),
        "its clock restarted"
    );
    assert!(stalled().await.is_empty());
    assert_eq!(
        db.warehouse
            .factory_order(id)
            .await
            .unwrap()
            .unwrap()
            .chases,
        1
    );
    let payloads: Vec<String> = {
        use mysql_async::prelude::Queryable;
        db.conn()
            .await
            .query("SELECT payload FROM outbox ORDER BY id")
            .await
            .unwrap()
    };
    assert_eq!(payloads.len(), 2, "the stock-out, then its chase");
    assert_eq!(StockOutEvent::from_json(&payloads[1]).unwrap(), event);
    let oldest = db.warehouse.oldest_unfinished().await.unwrap().unwrap();
    assert!(oldest >= Duration::from_secs(7200), "{oldest:?}");
}

/// Ops' actions on the real warehouse, as the operators' user: re-request (idempotent while on its way), cancel (frees
/// the product's slot: the next stock-out opens a new order), both no-ops on finished orders.
#[tokio::test]
async fn ops_commands_move_orders_in_the_database() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 0).reorder(0, 5)]).await;
    let id = refused_with_new_order(&db, "glazed").await;
    let order = db.warehouse.factory_order(id).await.unwrap().unwrap();
    let event = order.stock_out_again(uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
    let not_within = Duration::from_secs(60);
    // As the operators' function runs them: its own database user.
    let ops = &db.operator;
    let alice = Operator {
        arn: "arn:aws:iam::123456789012:user/ops-alice".to_owned(),
        correlation_id: CorrelationId::new(),
        reference: None,
        idempotency_key: None,
    };
    assert!(matches!(
        ops.re_request(&alice, id, not_within, &event)
            .await
            .unwrap(),
        OpsOutcome::InFlight(_)
    ));
    db.exec(
        "UPDATE factory_orders SET status = 'requested', request_attempts = 4, factory_request_id = 'f-1', \
         requested_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR, \
         created_at = UTC_TIMESTAMP(6) - INTERVAL 3 HOUR, surfaced_at = UTC_TIMESTAMP(6)",
        (),
    )
    .await;
    assert_eq!(
        ops.re_request(&alice, id, not_within, &event)
            .await
            .unwrap(),
        OpsOutcome::Done {
            was: FactoryOrderStatus::Requested
        }
    );
    let again = db.warehouse.factory_order(id).await.unwrap().unwrap();
    assert_eq!(
        (again.status, again.request_attempts, again.chases),
        (FactoryOrderStatus::Open, 0, 0)
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM factory_orders WHERE surfaced_at IS NULL",
            ()
        )
        .await,
        1
    );
    assert_eq!(
        db.warehouse.pending().await.unwrap().rows,
        2,
        "published again"
    );
    assert!(
        matches!(
            ops.re_request(&alice, id, not_within, &event)
                .await
                .unwrap(),
            OpsOutcome::InFlight(_)
        ),
        "a repeat while on its way changes nothing"
    );

    assert_eq!(
        ops.cancel(&alice, id).await.unwrap(),
        OpsOutcome::Done {
            was: FactoryOrderStatus::Open
        }
    );
    assert_eq!(
        ops.cancel(&alice, id).await.unwrap(),
        OpsOutcome::Unchanged(FactoryOrderStatus::Cancelled)
    );
    assert_eq!(
        ops.re_request(&alice, id, not_within, &event)
            .await
            .unwrap(),
        OpsOutcome::Unchanged(FactoryOrderStatus::Cancelled)
    );
    assert_eq!(
        ops.cancel(&alice, FactoryOrderId::new()).await.unwrap(),
        OpsOutcome::UnknownOrder
    );
    let next = refused_with_new_order(&db, "glazed").await;
    assert_ne!(next, id, "the shelf ordered again");
    // The cancelled order's donuts arrive after all (the factory had it: its request id is
    // kept through the re-request): counted, once.
    assert!(matches!(
        db.warehouse.restock(id, 5).await.unwrap(),
        RestockOutcome::Restocked { added: 5, .. }
    ));
    assert_eq!(db.stock("glazed").await, 5);
}

#[tokio::test]
async fn product_ids_are_case_sensitive() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 3)]).await;
    assert_unknown(&db, "GLAZED", "Glazed").await;
    assert_eq!(db.stock("glazed").await, 3);
}

/// The functions' own user: exactly the statements they run, table by table, nothing else.
#[tokio::test]
async fn the_application_user_may_run_what_the_functions_run_and_nothing_more() {
    let db = TestDb::with_shelves(&[Shelf::new("app-glazed", 3).reorder(1, 5)]).await;
    let user = format!("app_{}", &db.name[2..12]);
    let password = "Abcdefghijklmnopqrstuvwxyz0123456789";
    // Only from where the functions run: here loopback (on AWS the VPC's range).
    let hosts = "127.0.0.0/255.0.0.0";
    db.master
        .ensure_app_user(&user, password, "%")
        .await
        .unwrap();
    db.master
        .ensure_app_user(&user, password, hosts)
        .await
        .unwrap();
    // What an earlier release granted: the whole database, DELETE on a table it never needed.
    db.exec(
        &format!(
            "GRANT SELECT, INSERT, UPDATE, EXECUTE ON `{}`.* TO '{user}'@'{hosts}'",
            db.name
        ),
        (),
    )
    .await;
    db.exec(
        &format!(
            "GRANT DELETE ON `{}`.`orders` TO '{user}'@'{hosts}'",
            db.name
        ),
        (),
    )
    .await;
    db.master
        .ensure_app_user(&user, password, hosts)
        .await
        .unwrap(); // idempotent, and takes back what an earlier release gave
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'",
            (user.as_str(),)
        )
        .await,
        0,
        "the any-host account of an earlier release is gone"
    );
    let held = db.master.app_user_privileges(&user, hosts).await.unwrap();
    let mut expected: Vec<(Option<String>, String)> = vec![(None, "EXECUTE".to_owned())];
    for (table, privileges) in donut_warehouse::APP_GRANTS {
        for p in privileges.split(", ") {
            expected.push((Some((*table).to_owned()), p.to_owned()));
        }
    }
    expected.sort();
    assert_eq!(held, expected, "exactly the grants, per table");
    let url = db
        .url
        .replacen("donut:donut", &format!("{user}:{password}"), 1);
    let app = MySqlWarehouse::new(&DbConfig::from_url(&url).unwrap());
    // What the functions do works: a purchase reads, updates and inserts.
    let sold = app.purchase(&buy("app-glazed", 1)).await;
    assert!(matches!(sold, Ok(PurchaseOutcome::Sold(_))), "{sold:?}");
    // The procedure runs with the caller's rights, and the stock-out path (factory order,
    // outbox, the shelf's pointer) needs no more than the user has.
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() \
             AND ROUTINE_NAME LIKE 'donut\\_%' AND SECURITY_TYPE <> 'INVOKER'",
            ()
        )
        .await,
        0,
        "every procedure runs with the caller's rights"
    );
    let low = app.purchase(&buy("app-glazed", 1)).await;
    assert!(
        matches!(&low, Ok(PurchaseOutcome::Sold(s)) if s.restock.as_ref().is_some_and(|r| r.opened_now)),
        "{low:?}"
    );
    // Nothing else: no DDL, no DELETE but the keys', no other table or database.
    use mysql_async::prelude::Queryable;
    let mut conn = mysql_async::Conn::from_url(&url).await.unwrap();
    for statement in [
        "CREATE TABLE intruder (id INT)",
        "DROP TABLE products",
        "DELETE FROM products",
        "DELETE FROM orders",
        "DELETE FROM outbox",
        "DELETE FROM factory_orders",
        "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, \
         factory_product_id) VALUES ('x', 'x', 1, 1, 0, 1, 'x')",
        "UPDATE orders SET quantity = 0",
        "SELECT COUNT(*) FROM schema_migrations",
        "SELECT COUNT(*) FROM mysql.user",
    ] {
        let refused = conn.query_drop(statement).await;
        assert!(refused.is_err(), "{statement} was allowed");
    }
    conn.query_drop("DELETE FROM idempotency_keys WHERE idem_key = 'none'")
        .await
        .expect("the keys' DELETE");
    // Names that could smuggle SQL never reach the server.
    assert!(
        db.master
            .ensure_app_user("x'; DROP TABLE products; --", password, hosts)
            .await
            .is_err()
    );
    assert!(
        db.master
            .ensure_app_user(&user, "short", hosts)
            .await
            .is_err()
    );
    assert!(
        db.master
            .ensure_app_user(&user, password, "%' OR 1=1 --")
            .await
            .is_err()
    );
    // From outside its range the same login is refused.
    db.master
        .ensure_app_user(&user, password, "10.40.0.0/255.255.0.0")
        .await
        .unwrap();
    assert!(
        mysql_async::Conn::from_url(&url).await.is_err(),
        "a login from outside the VPC's range"
    );
}

/// The purchase's mechanics (`donut_sell`, `donut_open_factory_order`) against the domain's rule
/// (`plan_reorder`) and event (`stock_out_event`), over every shelf shape that matters: stock below, at and above the
/// request and the reorder point, no reorder quantity, a factory order already open.
#[tokio::test]
async fn the_procedure_decides_like_the_domain() {
    use donut_domain::purchase::{PurchaseDraft, ShelfState, leaves_shelf_low, plan_reorder};
    let db = TestDb::new().await;
    let mut cases = 0;
    for stock in 0..=4u32 {
        for (point, reorder_qty) in [(0, 24), (2, 24), (2, 0)] {
            for open in [false, true] {
                for quantity in [1u32, 3] {
                    cases += 1;
                    let id = format!("case-{cases}");
                    let product: &'static str = Box::leak(id.into_boxed_str());
                    db.add_shelves(&[Shelf::new(product, stock).reorder(point, reorder_qty)])
                        .await;
                    let open_order = open.then(FactoryOrderId::new);
                    if let Some(open_id) = open_order {
                        db.exec(
                            "INSERT INTO factory_orders (factory_order_id, product_id, \
                             factory_product_id, quantity, status, correlation_id, created_at) \
                             VALUES (?, ?, '9', 5, 'requested', 'c', UTC_TIMESTAMP(6))",
                            (open_id.to_string(), product),
                        )
                        .await;
                        db.exec(
                            "UPDATE products SET open_factory_order_id = ? WHERE product_id = ?",
                            (open_id.to_string(), product),
                        )
                        .await;
                    }
                    let request = buy(product, i64::from(quantity));
                    let outcome = db.warehouse.purchase(&request).await.unwrap();
                    let sold = stock >= quantity;
                    let left = if sold { stock - quantity } else { stock };
                    let (restock, seen_left) = match &outcome {
                        PurchaseOutcome::Sold(s) if sold => (s.restock.clone(), s.remaining),
                        PurchaseOutcome::OutOfStock(o) if !sold => (o.restock.clone(), o.available),
                        other => panic!("{product}: stock {stock}, bought {quantity}: {other:?}"),
                    };
                    assert_eq!(seen_left, left, "{product}");
                    assert_eq!(db.stock(product).await, i64::from(left), "{product}");
                    assert_eq!(
                        db.count(
                            "SELECT COUNT(*) FROM orders WHERE product_id = ?",
                            (product,)
                        )
                        .await,
                        i64::from(sold),
                        "{product}: one order row per sale"
                    );

                    let shelf = ShelfState {
                        stock: left,
                        reorder: ReorderRule {
                            point,
                            quantity: reorder_qty,
                        },
                        factory_product_id: format!("f-{product}"),
                        open_order: open_order.map(|id| (id, FactoryOrderStatus::Requested)),
                    };
                    let payload: Option<String> = {
                        use mysql_async::prelude::Queryable;
                        db.conn()
                            .await
                            .exec_first(
                                "SELECT o.payload FROM outbox o JOIN factory_orders f \
                                 ON f.correlation_id = o.correlation_id AND f.product_id = ? \
                                 AND f.status = 'open'",
                                (product,),
                            )
                            .await
                            .unwrap()
                    };
                    let event = payload.map(|p| StockOutEvent::from_json(&p).unwrap());
                    // The domain, given the ids the procedure used, plans the same order and
                    // announces it with the same event, field for field.
                    let draft = PurchaseDraft {
                        factory_order_id: event
                            .as_ref()
                            .map_or_else(FactoryOrderId::new, |e| e.factory_order_id),
                        event_id: event
                            .as_ref()
                            .map_or_else(uuid::Uuid::new_v4, |e| e.event_id),
                        at: event
                            .as_ref()
                            .map_or_else(time::OffsetDateTime::now_utc, |e| e.occurred_at),
                        ..PurchaseDraft::new()
                    };
                    let planned = plan_reorder(&request, &shelf, sold, &draft);
                    let expected =
                        planned.map(|o| o.stock_out_event(left, draft.event_id, draft.at));
                    assert_eq!(
                        event, expected,
                        "{product}: stock {stock}, point {point}, reorder {reorder_qty}, open {open}, bought {quantity}"
                    );
                    // The buyer hears of a restock only when the shelf is left low.
                    let low = leaves_shelf_low(sold, left, shelf.reorder);
                    assert_eq!(
                        restock.as_ref().map(|r| r.opened_now),
                        match (&event, open && low) {
                            (Some(_), _) => Some(true),
                            (None, true) => Some(false),
                            (None, false) => None,
                        },
                        "{product}"
                    );
                }
            }
        }
    }
    assert_eq!(cases, 60);
}

/// A warm instance keeps its connection between requests (no login, no re-prepare per
/// purchase), with an idle timeout (AWS) or without (local runs).
#[tokio::test]
async fn a_warm_warehouse_keeps_its_connection() {
    use mysql_async::prelude::Queryable;
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 1000).reorder(0, 0)]).await;
    for idle in [None, Some(Duration::from_secs(60))] {
        let mut config = DbConfig::from_url(&db.url).unwrap().with_max_connections(1);
        if let Some(idle) = idle {
            config = config.with_idle_timeout(idle);
        }
        let warehouse = MySqlWarehouse::new(&config);
        // One probe connection held throughout: taking one from the test's pool each time
        // could open another while the last was still being returned to it.
        let mut probe = db.conn().await;
        let mut seen = Vec::new();
        for _ in 0..20 {
            warehouse.purchase(&buy("glazed", 1)).await.unwrap();
            let ids: Vec<u64> = probe
                .exec(
                    "SELECT ID FROM information_schema.PROCESSLIST \
                     WHERE DB = ? AND ID <> CONNECTION_ID()",
                    (&db.name,),
                )
                .await
                .unwrap();
            seen.push(ids);
        }
        warehouse.close().await;
        assert!(
            // The test database's pool may hold an idle one too; none of them may change.
            seen.windows(2).all(|w| w[0] == w[1]) && !seen[0].is_empty(),
            "idle timeout {idle:?}: the warehouse's connections after each purchase: {seen:?}"
        );
    }
}

/// A login handed out by the test, counting how often it was asked for.
struct CountedLogin {
    user: String,
    password: String,
    asked: std::sync::atomic::AtomicUsize,
}

impl donut_warehouse::Credentials for CountedLogin {
    fn current(&self) -> donut_warehouse::Login<'_> {
        self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Box::pin(async move { Ok((self.user.clone(), self.password.clone())) })
    }
}

/// A deferred login is fetched by the first request that needs a connection, once.
#[tokio::test]
async fn a_deferred_login_is_read_by_the_first_request_only() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10)]).await;
    let url = mysql_async::Opts::from_url(&db.url).unwrap();
    let login = std::sync::Arc::new(CountedLogin {
        user: url.user().unwrap().to_owned(),
        password: url.pass().unwrap().to_owned(),
        asked: Default::default(),
    });
    let config = DbConfig::from_parts(
        url.ip_or_hostname(),
        url.tcp_port(),
        "",
        "",
        url.db_name().unwrap(),
    );
    let warehouse = MySqlWarehouse::with_deferred_login(&config, login.clone());
    assert_eq!(
        login.asked.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "not at start"
    );
    for _ in 0..3 {
        warehouse.purchase(&buy("glazed", 1)).await.unwrap();
    }
    assert_eq!(login.asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(db.stock("glazed").await, 7);
}

/// A publisher that never answers (a relay pass cut short by its time budget).
struct Hanging;

impl EventPublisher for Hanging {
    async fn publish(&self, _: &StockOutEvent) -> Result<(), PublishError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_relay_pass_cut_short_gives_its_rows_back() {
    let db = TestDb::new().await;
    stock_outs(&db, 2).await;
    let budget = Some(Duration::from_millis(200));
    let cut = relay_once(&db.warehouse, &Hanging, Due::Oldest(10), budget).await;
    assert_eq!(
        cut.unwrap(),
        RelayReport::default(),
        "the pass was cut short"
    );
    let ok = RecordingPublisher::new(false);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut published = 0;
    while published < 2 && Instant::now() < deadline {
        published += relay(&db.warehouse, &ok, 10).await.unwrap().published;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(published, 2, "due again at once, not after the lease");
}

fn keyed_operator(key: &str) -> Operator {
    Operator {
        arn: "arn:aws:sts::123456789012:assumed-role/ops/alice".to_owned(),
        correlation_id: CorrelationId::new(),
        reference: None,
        idempotency_key: Some(IdempotencyKey::parse(key).unwrap()),
    }
}

/// A keyed adjustment and its retries all at once (a client that gave up waiting and asked
/// again): the change is made once, and every request gets its answer.
#[tokio::test]
async fn a_keyed_change_racing_its_retries_is_made_once() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 100)]).await;
    let ops = db.operator.clone();
    let id = ProductId::parse("glazed").unwrap();
    let change = StockChange {
        adjustment: Adjustment::By(-1),
        reason: "one eaten".into(),
    };
    let outcomes = futures::future::join_all((0..8).map(|_| {
        let (ops, id, change) = (ops.clone(), id.clone(), change.clone());
        async move {
            ops.adjust_stock(&keyed_operator("race-1"), &id, &change)
                .await
                .unwrap()
        }
    }))
    .await;
    let made: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, CatalogueOutcome::Changed { .. }))
        .collect();
    assert_eq!(made.len(), 1, "{outcomes:?}");
    let CatalogueOutcome::Changed { after, .. } = made[0] else {
        unreachable!()
    };
    assert!(
        outcomes.iter().all(|o| match o {
            CatalogueOutcome::Changed { .. } => true,
            CatalogueOutcome::Replayed { after: a, .. } => a == after,
            _ => false,
        }),
        "every retry answers the change: {outcomes:?}"
    );
    assert_eq!(
        db.count("SELECT qty FROM products WHERE product_id = 'glazed'", ())
            .await,
        99
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM catalogue_audit", ()).await,
        1
    );
}

/// Operators' keys past their window go as keyed changes come: each deletes a few.
#[tokio::test]
async fn expired_operator_keys_are_swept_by_the_next_keyed_change() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 100)]).await;
    for n in 0..3 {
        db.exec(
            "INSERT INTO operator_keys (actor_sha, idem_key, fingerprint, answer, created_at, \
             expires_at) VALUES (SHA2('someone', 256), ?, '[]', '{}', \
             UTC_TIMESTAMP(6) - INTERVAL 2 DAY, UTC_TIMESTAMP(6) - INTERVAL 1 DAY)",
            (format!("old-{n}"),),
        )
        .await;
    }
    let change = StockChange {
        adjustment: Adjustment::To(50),
        reason: "counted".into(),
    };
    let id = ProductId::parse("glazed").unwrap();
    db.operator
        .adjust_stock(&keyed_operator("count-1"), &id, &change)
        .await
        .unwrap();
    assert_eq!(
        db.count("SELECT COUNT(*) FROM operator_keys", ()).await,
        1,
        "the expired gone, the new one kept"
    );
}
