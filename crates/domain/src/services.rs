//! The few pieces of behaviour that span more than one port.

use std::time::Duration;

use crate::{
    Alerts, FactoryApi, FactoryError, FactoryOrderStatus, FactoryReceipt, FactoryRequest,
    StockOutEvent, StoreError, Warehouse,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The factory took the order; its id is recorded.
    Requested(FactoryReceipt),
    /// A redelivery: the order was requested (or fulfilled) already, the factory was not called.
    AlreadyDone(FactoryOrderStatus),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Factory(#[from] FactoryError),
    #[error("stock-out event names factory order {0}, which the warehouse does not know")]
    UnknownOrder(crate::FactoryOrderId),
    #[error("another consumer is calling the factory for order {0}")]
    Busy(crate::FactoryOrderId),
}

/// Turns one stock-out event into one factory request, once per factory order however often
/// (and however concurrently) the event is delivered. `lease` bounds how long one consumer
/// may hold the order while it calls the factory; keep it above the factory call's timeout.
pub async fn request_from_factory<W: Warehouse, F: FactoryApi>(
    warehouse: &W,
    factory: &F,
    event: &StockOutEvent,
    lease: Duration,
) -> Result<RequestOutcome, RequestError> {
    let order = warehouse
        .factory_order(event.factory_order_id)
        .await?
        .ok_or(RequestError::UnknownOrder(event.factory_order_id))?;
    if !order.status.needs_request() {
        return Ok(RequestOutcome::AlreadyDone(order.status));
    }
    if !warehouse.claim_factory_request(order.id, lease).await? {
        // Either it was requested a moment ago, or a concurrent delivery is on it; a retry
        // after the visibility timeout will find it requested.
        return Err(RequestError::Busy(order.id));
    }
    let request = FactoryRequest {
        factory_order_id: order.id,
        factory_product_id: order.factory_product_id,
        quantity: order.quantity,
        stock_left: event.stock_left,
        correlation_id: order.correlation_id,
    };
    let receipt = match factory.request(&request).await {
        Ok(receipt) => receipt,
        Err(e) => {
            warehouse.release_factory_claim(order.id).await?;
            return Err(e.into());
        }
    };
    warehouse.record_factory_request(order.id, &receipt).await?;
    Ok(RequestOutcome::Requested(receipt))
}

/// When the factory owes us a callback for too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogPolicy {
    /// An order requested this long ago and not fulfilled is overdue.
    pub deadline: Duration,
    /// Requests per order (the first included) before ops are told instead.
    pub max_attempts: u32,
}

/// What one watchdog pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchdogReport {
    /// Overdue orders found.
    pub overdue: usize,
    /// Asked of the factory again, with the same factory order id.
    pub re_requested: usize,
    /// Given up on and reported to ops.
    pub surfaced: usize,
    /// Re-requests the factory refused or never answered; tried again next pass.
    pub failed: usize,
}

/// The factory-order watchdog: the legacy factory loses callbacks, so an order it accepted
/// and never called back for is asked again (same id: the restock stays exactly-once), up to
/// `max_attempts` requests; then ops are alerted and the order is left to them.
pub async fn watchdog_sweep<W: Warehouse, F: FactoryApi, A: Alerts>(
    warehouse: &W,
    factory: &F,
    alerts: &A,
    policy: WatchdogPolicy,
) -> Result<WatchdogReport, StoreError> {
    let mut report = WatchdogReport::default();
    for order in warehouse
        .overdue_factory_orders(policy.deadline, 50)
        .await?
    {
        report.overdue += 1;
        if order.request_attempts >= policy.max_attempts {
            match alerts.factory_order_overdue(&order).await {
                Ok(()) => {
                    warehouse.mark_surfaced(order.id).await?;
                    report.surfaced += 1;
                }
                // Not marked: the next pass alerts again.
                Err(_) => report.failed += 1,
            }
            continue;
        }
        if !warehouse.claim_overdue(order.id, policy.deadline).await? {
            continue;
        }
        let request = FactoryRequest {
            factory_order_id: order.id,
            factory_product_id: order.factory_product_id.clone(),
            quantity: order.quantity,
            stock_left: 0,
            correlation_id: order.correlation_id.clone(),
        };
        match factory.request(&request).await {
            Ok(_) => report.re_requested += 1,
            Err(_) => report.failed += 1,
        }
    }
    Ok(report)
}

/// How long the outbox waits before publishing a row again after `attempts` failures:
/// 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn publish_retry_delay(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(8)).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ports::RestockOutcome;
    use crate::*;

    #[derive(Default)]
    struct MemWarehouse {
        orders: Mutex<Vec<FactoryOrder>>,
        attempts: AtomicUsize,
        claimed: Mutex<bool>,
        surfaced: Mutex<Vec<FactoryOrderId>>,
    }

    impl Warehouse for MemWarehouse {
        async fn purchase(&self, _: &PurchaseRequest) -> Result<PurchaseOutcome, StoreError> {
            unreachable!("not used by the requester")
        }
        async fn products(&self) -> Result<Vec<Product>, StoreError> {
            Ok(vec![])
        }
        async fn product(&self, _: &ProductId) -> Result<Option<Product>, StoreError> {
            Ok(None)
        }
        async fn factory_order(
            &self,
            id: FactoryOrderId,
        ) -> Result<Option<FactoryOrder>, StoreError> {
            Ok(self
                .orders
                .lock()
                .unwrap()
                .iter()
                .find(|o| o.id == id)
                .cloned())
        }
        async fn record_factory_request(
            &self,
            id: FactoryOrderId,
            r: &FactoryReceipt,
        ) -> Result<bool, StoreError> {
            let mut orders = self.orders.lock().unwrap();
            let o = orders.iter_mut().find(|o| o.id == id).unwrap();
            let moved = o.status == FactoryOrderStatus::Open;
            if moved {
                o.status = FactoryOrderStatus::Requested;
                o.factory_request_id = Some(r.factory_request_id.clone());
            }
            Ok(moved)
        }
        async fn claim_factory_request(
            &self,
            _: FactoryOrderId,
            _: Duration,
        ) -> Result<bool, StoreError> {
            let mut claimed = self.claimed.lock().unwrap();
            if *claimed {
                return Ok(false);
            }
            *claimed = true;
            self.attempts.fetch_add(1, Ordering::SeqCst);
            for o in self.orders.lock().unwrap().iter_mut() {
                o.request_attempts += 1;
            }
            Ok(true)
        }
        async fn release_factory_claim(&self, _: FactoryOrderId) -> Result<(), StoreError> {
            *self.claimed.lock().unwrap() = false;
            Ok(())
        }
        async fn overdue_factory_orders(
            &self,
            _: Duration,
            _: usize,
        ) -> Result<Vec<FactoryOrder>, StoreError> {
            let surfaced = self.surfaced.lock().unwrap().clone();
            Ok(self
                .orders
                .lock()
                .unwrap()
                .iter()
                .filter(|o| o.status == FactoryOrderStatus::Requested && !surfaced.contains(&o.id))
                .cloned()
                .collect())
        }
        async fn claim_overdue(&self, id: FactoryOrderId, _: Duration) -> Result<bool, StoreError> {
            let mut orders = self.orders.lock().unwrap();
            let o = orders.iter_mut().find(|o| o.id == id).unwrap();
            o.request_attempts += 1;
            Ok(true)
        }
        async fn mark_surfaced(&self, id: FactoryOrderId) -> Result<(), StoreError> {
            self.surfaced.lock().unwrap().push(id);
            Ok(())
        }
        async fn restock(&self, _: FactoryOrderId) -> Result<RestockOutcome, StoreError> {
            Ok(RestockOutcome::UnknownOrder)
        }
    }

    struct CountingFactory {
        calls: AtomicUsize,
        fail: bool,
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

    const LEASE: Duration = Duration::from_secs(30);

    fn setup() -> (MemWarehouse, StockOutEvent) {
        let new = NewFactoryOrder {
            id: FactoryOrderId::new(),
            product_id: ProductId::parse("glazed").unwrap(),
            factory_product_id: "1".into(),
            quantity: 10,
            correlation_id: CorrelationId::new(),
        };
        let w = MemWarehouse::default();
        w.orders.lock().unwrap().push(FactoryOrder {
            id: new.id,
            product_id: new.product_id.clone(),
            factory_product_id: new.factory_product_id.clone(),
            quantity: new.quantity,
            status: FactoryOrderStatus::Open,
            factory_request_id: None,
            correlation_id: new.correlation_id.clone(),
            request_attempts: 0,
        });
        let event = new.stock_out_event(0, uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
        (w, event)
    }

    #[test]
    fn requests_once_however_often_delivered() {
        let (w, event) = setup();
        let f = CountingFactory {
            calls: AtomicUsize::new(0),
            fail: false,
        };
        let first = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap();
        assert!(matches!(first, RequestOutcome::Requested(_)));
        let second = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap();
        assert_eq!(
            second,
            RequestOutcome::AlreadyDone(FactoryOrderStatus::Requested)
        );
        assert_eq!(f.calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn factory_failures_are_errors_and_leave_the_order_open() {
        let (w, event) = setup();
        let f = CountingFactory {
            calls: AtomicUsize::new(0),
            fail: true,
        };
        let err = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap_err();
        assert_eq!(err, RequestError::Factory(FactoryError::Status(503)));
        let order = block_on(w.factory_order(event.factory_order_id))
            .unwrap()
            .unwrap();
        assert_eq!(order.status, FactoryOrderStatus::Open);
        assert_eq!(w.attempts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_concurrent_claim_is_busy_and_a_failed_call_releases_the_claim() {
        let (w, event) = setup();
        *w.claimed.lock().unwrap() = true;
        let f = CountingFactory {
            calls: AtomicUsize::new(0),
            fail: false,
        };
        let err = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap_err();
        assert_eq!(err, RequestError::Busy(event.factory_order_id));
        assert_eq!(f.calls.load(Ordering::SeqCst), 0);
        *w.claimed.lock().unwrap() = false;
        let failing = CountingFactory {
            calls: AtomicUsize::new(0),
            fail: true,
        };
        assert!(block_on(request_from_factory(&w, &failing, &event, LEASE)).is_err());
        assert!(!*w.claimed.lock().unwrap(), "released after the failure");
    }

    #[test]
    fn unknown_orders_are_errors() {
        let (_, event) = setup();
        let w = MemWarehouse::default();
        let f = CountingFactory {
            calls: AtomicUsize::new(0),
            fail: false,
        };
        let err = block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap_err();
        assert_eq!(err, RequestError::UnknownOrder(event.factory_order_id));
        assert_eq!(f.calls.load(Ordering::SeqCst), 0);
    }

    #[derive(Default)]
    struct RecordingAlerts(Mutex<Vec<FactoryOrderId>>);

    impl Alerts for RecordingAlerts {
        async fn factory_order_overdue(&self, order: &FactoryOrder) -> Result<(), PublishError> {
            self.0.lock().unwrap().push(order.id);
            Ok(())
        }
    }

    #[test]
    fn the_watchdog_re_requests_then_surfaces() {
        let (w, event) = setup();
        let f = CountingFactory {
            calls: AtomicUsize::new(0),
            fail: false,
        };
        block_on(request_from_factory(&w, &f, &event, LEASE)).unwrap();
        let alerts = RecordingAlerts::default();
        let policy = WatchdogPolicy {
            deadline: Duration::from_secs(60),
            max_attempts: 3,
        };
        // attempts 1 → 2 → 3: two re-requests with the same id, then ops hear of it.
        for expected_calls in [2, 3] {
            let r = block_on(watchdog_sweep(&w, &f, &alerts, policy)).unwrap();
            assert_eq!((r.re_requested, r.surfaced), (1, 0));
            assert_eq!(f.calls.load(Ordering::SeqCst), expected_calls);
        }
        let r = block_on(watchdog_sweep(&w, &f, &alerts, policy)).unwrap();
        assert_eq!((r.re_requested, r.surfaced), (0, 1));
        assert_eq!(*alerts.0.lock().unwrap(), vec![event.factory_order_id]);
        let r = block_on(watchdog_sweep(&w, &f, &alerts, policy)).unwrap();
        assert_eq!(
            r,
            WatchdogReport::default(),
            "surfaced orders are left to ops"
        );
    }

    #[test]
    fn publish_backoff_grows_and_caps() {
        assert_eq!(publish_retry_delay(1), Duration::from_secs(1));
        assert_eq!(publish_retry_delay(2), Duration::from_secs(2));
        assert_eq!(publish_retry_delay(4), Duration::from_secs(8));
        assert_eq!(publish_retry_delay(50), Duration::from_secs(256));
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
}
