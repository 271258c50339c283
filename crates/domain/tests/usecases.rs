//! The use cases that span ports (requesting from the factory, the watchdog) on the in-memory
//! warehouse, with a factory and alerts that count what they are asked.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use donut_domain::ports::RestockOutcome;
use donut_domain::usecases::{
    RequestError, RequestOutcome, WatchdogPolicy, re_request_order, request_from_factory,
    watchdog_sweep,
};
use donut_domain::*;
use donut_testkit::MemWarehouse;

const LEASE: Duration = Duration::from_secs(30);

/// One glazed, anonymously, without a key.
fn one_glazed() -> PurchaseRequest {
    PurchaseRequest {
        product_id: ProductId::parse("glazed").unwrap(),
        quantity: Quantity::parse(1, 10).unwrap(),
        correlation_id: CorrelationId::new(),
        idempotency_key: None,
        buyer: None,
    }
}

fn ops() -> Operator {
    Operator {
        arn: "arn:aws:iam::123456789012:user/ops".to_owned(),
        correlation_id: CorrelationId::new(),
        reference: None,
        idempotency_key: None,
    }
}

struct CountingFactory {
    calls: AtomicUsize,
    fail: bool,
}

impl CountingFactory {
    fn new(fail: bool) -> Self {
        Self {
            calls: AtomicUsize::new(0),
            fail,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl FactoryApi for CountingFactory {
    async fn request(&self, r: &FactoryRequest) -> Result<FactoryReceipt, FactoryError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(FactoryError::Status(503));
        }
        Ok(FactoryReceipt {
            factory_request_id: format!("f-{}", r.factory_order_id),
        })
    }
}

#[derive(Default)]
struct RecordingAlerts(Mutex<Vec<FactoryOrderId>>);

impl Alerts for RecordingAlerts {
    async fn factory_order_overdue(&self, order: &FactoryOrder) -> Result<(), PublishError> {
        self.0.lock().unwrap().push(order.id);
        Ok(())
    }
}

/// A warehouse whose only product just ran out: one open factory order, and its event.
fn setup() -> (MemWarehouse, StockOutEvent) {
    let w = MemWarehouse::with([Product {
        id: ProductId::parse("glazed").unwrap(),
        name: "Glazed".into(),
        price_cents: 150,
        stock: 0,
        reorder: ReorderRule {
            point: 0,
            quantity: 10,
        },
        factory_product_id: "1".into(),
    }]);
    let request = one_glazed();
    let PurchaseOutcome::OutOfStock(refused) = block_on(w.purchase(&request)).unwrap() else {
        panic!("an empty shelf refuses")
    };
    let id = refused.restock.unwrap().factory_order_id;
    let order = block_on(w.factory_order(id)).unwrap().unwrap();
    let new = NewFactoryOrder {
        id,
        product_id: order.product_id,
        factory_product_id: order.factory_product_id,
        quantity: order.quantity,
        correlation_id: order.correlation_id,
    };
    let event = new.stock_out_event(0, uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
    (w, event)
}

fn order(w: &MemWarehouse, id: FactoryOrderId) -> FactoryOrder {
    block_on(w.factory_order(id)).unwrap().unwrap()
}

#[test]
fn requests_once_however_often_delivered() {
    let (w, event) = setup();
    let f = CountingFactory::new(false);
    let first = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap();
    assert!(matches!(first, RequestOutcome::Requested(_)));
    let second = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap();
    assert_eq!(
        second,
        RequestOutcome::AlreadyDone(FactoryOrderStatus::Requested)
    );
    assert_eq!(f.calls(), 1);
}

#[test]
fn factory_failures_are_errors_and_leave_the_order_open() {
    let (w, event) = setup();
    let f = CountingFactory::new(true);
    let err = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap_err();
    assert_eq!(err, RequestError::Factory(FactoryError::Status(503)));
    let o = order(&w, event.factory_order_id);
    assert_eq!(o.status, FactoryOrderStatus::Open);
    assert_eq!(o.request_attempts, 1);
}

#[test]
fn a_concurrent_claim_is_busy_and_a_failed_call_releases_the_claim() {
    let (w, event) = setup();
    let id = event.factory_order_id;
    // Another consumer holds the claim.
    assert!(block_on(w.claim_factory_request(id, LEASE)).unwrap());
    let f = CountingFactory::new(false);
    let err = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap_err();
    assert_eq!(err, RequestError::Busy(id));
    assert_eq!(f.calls(), 0);
    // Its lease runs out; a failing call then gives the claim back at once.
    w.advance(LEASE + Duration::from_secs(1));
    let failing = CountingFactory::new(true);
    assert!(block_on(request_from_factory(&w, &failing, &event, LEASE)).is_err());
    assert!(
        block_on(w.claim_factory_request(id, LEASE)).unwrap(),
        "released after the failure"
    );
}

#[test]
fn unknown_orders_are_errors() {
    let (_, event) = setup();
    let w = MemWarehouse::default();
    let f = CountingFactory::new(false);
    let err = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap_err();
    assert_eq!(err, RequestError::UnknownOrder(event.factory_order_id));
    assert_eq!(f.calls(), 0);
}

#[test]
fn the_watchdog_re_requests_then_surfaces() {
    let (w, event) = setup();
    let f = CountingFactory::new(false);
    block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap();
    let alerts = RecordingAlerts::default();
    let policy = WatchdogPolicy {
        deadline: Duration::from_secs(60),
        open_deadline: Duration::from_secs(600),
        max_attempts: 3,
    };
    let sweep = || block_on(watchdog_sweep(&w, &f, &alerts, policy)).unwrap();
    assert_eq!(sweep().overdue, 0, "not overdue yet");
    // attempts 1 → 2 → 3: two re-requests with the same id, then ops hear of it.
    for expected_calls in [2, 3] {
        w.advance(Duration::from_secs(61));
        let r = sweep();
        assert_eq!((r.re_requested, r.surfaced), (1, 0));
        assert_eq!(f.calls(), expected_calls);
    }
    w.advance(Duration::from_secs(61));
    let r = sweep();
    assert_eq!((r.re_requested, r.surfaced), (0, 1));
    assert_eq!(*alerts.0.lock().unwrap(), vec![event.factory_order_id]);
    w.advance(Duration::from_secs(61));
    let r = sweep();
    assert_eq!(
        (r.overdue, r.surfaced),
        (0, 0),
        "surfaced orders are left to ops"
    );
    assert_eq!(
        r.oldest_unfinished,
        Some(Duration::from_secs(4 * 61)),
        "and still counted as unfinished"
    );
}

const POLICY: WatchdogPolicy = WatchdogPolicy {
    deadline: Duration::from_secs(60),
    open_deadline: Duration::from_secs(600),
    max_attempts: 3,
};

/// The stock-out's message never got through (dead-lettered, purged, expired): the order stays
/// `open`, and the watchdog publishes its stock-out again, then tells ops.
#[test]
fn a_stalled_open_order_is_published_again_then_surfaced() {
    let (w, event) = setup();
    let id = event.factory_order_id;
    let (f, alerts) = (CountingFactory::new(false), RecordingAlerts::default());
    let sweep = || block_on(watchdog_sweep(&w, &f, &alerts, POLICY)).unwrap();
    w.advance(Duration::from_secs(599));
    assert_eq!(sweep().republished, 0, "not stalled yet");
    for chase in 1..=3 {
        w.advance(Duration::from_secs(2));
        let r = sweep();
        assert_eq!((r.republished, r.surfaced), (1, 0), "chase {chase}");
        let again = w.republished();
        assert_eq!(again.len(), chase);
        let last = again.last().unwrap();
        assert_eq!(
            last.factory_order_id, id,
            "same order: exactly-once downstream"
        );
        assert_ne!(last.event_id, event.event_id, "a new event");
        assert_eq!(last.correlation_id, event.correlation_id);
        w.advance(Duration::from_secs(599));
        assert_eq!(sweep().republished, 0, "chased at most once per deadline");
    }
    w.advance(Duration::from_secs(2));
    let r = sweep();
    assert_eq!((r.republished, r.surfaced), (0, 1));
    assert_eq!(*alerts.0.lock().unwrap(), vec![id]);
    assert_eq!(
        f.calls(),
        0,
        "open orders go through the queue, not straight to the factory"
    );
    w.advance(Duration::from_secs(601));
    assert_eq!(sweep().overdue, 0, "left to ops");
}

/// Ops' re-request: an order the watchdog gave up on goes back to `open` and its stock-out is
/// published again; a repeat while it is on its way, or on a finished order, changes nothing.
#[test]
fn ops_re_request_reopens_a_surfaced_order_once() {
    let (w, event) = setup();
    let id = event.factory_order_id;
    let (f, alerts) = (CountingFactory::new(false), RecordingAlerts::default());
    block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap();
    for _ in 0..4 {
        w.advance(Duration::from_secs(61));
        block_on(watchdog_sweep(&w, &f, &alerts, POLICY)).unwrap();
    }
    assert_eq!(*alerts.0.lock().unwrap(), vec![id], "surfaced");
    let not_within = Duration::from_secs(60);
    assert_eq!(
        block_on(re_request_order(&w, &ops(), id, not_within)).unwrap(),
        OpsOutcome::Done {
            was: FactoryOrderStatus::Requested
        }
    );
    let o = order(&w, id);
    assert_eq!(
        (o.status, o.request_attempts, o.chases),
        (FactoryOrderStatus::Open, 0, 0)
    );
    assert_eq!(w.republished().len(), 1);
    assert_eq!(
        block_on(re_request_order(&w, &ops(), id, not_within)).unwrap(),
        OpsOutcome::InFlight(Duration::ZERO),
        "idempotent while on its way"
    );
    assert_eq!(w.republished().len(), 1);
    // The requester takes the republished event: one more factory call, same order.
    block_on(request_from_factory(&w, &f, &w.republished()[0], LEASE)).unwrap();
    assert_eq!(f.calls(), 4);
    block_on(w.restock(id, 10)).unwrap();
    assert_eq!(
        block_on(re_request_order(&w, &ops(), id, not_within)).unwrap(),
        OpsOutcome::Unchanged(FactoryOrderStatus::Fulfilled)
    );
    assert_eq!(
        block_on(re_request_order(
            &w,
            &ops(),
            FactoryOrderId::new(),
            not_within
        ))
        .unwrap(),
        OpsOutcome::UnknownOrder
    );
}

/// Ops' cancel frees the product's one open slot: the next stock-out opens a new order. A
/// cancelled order's late callback still adds its stock.
#[test]
fn ops_cancel_lets_the_shelf_order_again() {
    let (w, event) = setup();
    let id = event.factory_order_id;
    // The requester began sending it to the factory.
    assert!(block_on(w.claim_factory_request(id, LEASE)).unwrap());
    assert_eq!(
        block_on(w.cancel(&ops(), id)).unwrap(),
        OpsOutcome::Done {
            was: FactoryOrderStatus::Open
        }
    );
    assert_eq!(
        block_on(w.cancel(&ops(), id)).unwrap(),
        OpsOutcome::Unchanged(FactoryOrderStatus::Cancelled),
        "idempotent"
    );
    let request = one_glazed();
    let PurchaseOutcome::OutOfStock(refused) = block_on(w.purchase(&request)).unwrap() else {
        panic!("still empty")
    };
    let restock = refused.restock.unwrap();
    assert!(restock.opened_now, "a new order");
    assert_ne!(restock.factory_order_id, id);
    let (f, alerts) = (CountingFactory::new(false), RecordingAlerts::default());
    w.advance(Duration::from_secs(10_000));
    let r = block_on(watchdog_sweep(&w, &f, &alerts, POLICY)).unwrap();
    assert_eq!(r.republished, 1, "only the new order is chased");
    assert_eq!(
        w.republished()[0].factory_order_id,
        restock.factory_order_id
    );
    assert!(matches!(
        block_on(w.restock(id, 10)).unwrap(),
        RestockOutcome::Restocked { added: 10, .. }
    ));
}

#[test]
fn a_restock_lands_once_and_the_next_stock_out_orders_again() {
    let (w, event) = setup();
    let id = event.factory_order_id;
    assert!(
        matches!(
            block_on(w.restock(id, 10)).unwrap(),
            RestockOutcome::NotRequested { .. }
        ),
        "never sent to the factory: no callback can be the factory's"
    );
    // The requester claims it before it calls: from then on a fast callback is accepted.
    assert!(block_on(w.claim_factory_request(id, LEASE)).unwrap());
    assert!(matches!(
        block_on(w.restock(id, 11)).unwrap(),
        RestockOutcome::QuantityMismatch { ordered: 10, .. }
    ));
    let RestockOutcome::Restocked { added, stock, .. } = block_on(w.restock(id, 10)).unwrap()
    else {
        panic!("restocked")
    };
    assert_eq!((added, stock), (10, 10));
    assert!(matches!(
        block_on(w.restock(id, 10)).unwrap(),
        RestockOutcome::AlreadyFulfilled { .. }
    ));
    assert_eq!(w.factory_orders().len(), 1);
}

/// The core has no runtime; these futures never wait on I/O, so polling once suffices.
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("in-memory future did not complete"),
    }
}
