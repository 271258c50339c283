//! The outbox relay over the in-memory warehouse: no database, no SNS. The MySQL adapter's
//! claims and leases have their own tests in `crates/warehouse/tests/`.

use std::sync::Mutex;
use std::time::Duration;

use donut_domain::ports::{Due, OUTBOX_CLAIM_LEASE};
use donut_domain::usecases::{CORRUPT_ROW_DELAY, relay_once, relay_until_drained};
use donut_domain::*;
use donut_testkit::MemWarehouse;

/// Records what it publishes; fails while `fail` is set; never answers when `hang` is.
#[derive(Default)]
struct Publisher {
    seen: Mutex<Vec<StockOutEvent>>,
    fail: Mutex<bool>,
    hang: bool,
}

impl Publisher {
    fn failing() -> Self {
        Self {
            fail: Mutex::new(true),
            ..Self::default()
        }
    }

    fn hanging() -> Self {
        Self {
            hang: true,
            ..Self::default()
        }
    }

    fn seen(&self) -> Vec<FactoryOrderId> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.factory_order_id)
            .collect()
    }
}

impl EventPublisher for Publisher {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        if *self.fail.lock().unwrap() {
            return Err(PublishError("SNS says no".into()));
        }
        self.seen.lock().unwrap().push(event.clone());
        Ok(())
    }
}

/// A warehouse with `n` empty shelves and one refused purchase each: `n` stock-outs, each with
/// its event in the outbox. Returns each purchase's event id.
async fn stock_outs(n: usize) -> (MemWarehouse, Vec<uuid::Uuid>) {
    let products: Vec<Product> = (0..n)
        .map(|i| Product {
            id: ProductId::parse(&format!("empty-{i}")).unwrap(),
            name: format!("empty {i}"),
            price_cents: 100,
            stock: 0,
            reorder: ReorderRule {
                point: 0,
                quantity: 6,
            },
            factory_product_id: format!("f-{i}"),
        })
        .collect();
    let ids: Vec<ProductId> = products.iter().map(|p| p.id.clone()).collect();
    let w = MemWarehouse::with(products);
    let mut events = Vec::new();
    for id in ids {
        let outcome = w
            .purchase(&PurchaseRequest {
                product_id: id,
                quantity: Quantity::parse(1, 10).unwrap(),
                correlation_id: CorrelationId::new(),
                idempotency_key: None,
                buyer: None,
            })
            .await
            .unwrap();
        let PurchaseOutcome::OutOfStock(refused) = outcome else {
            panic!("an empty shelf sells nothing: {outcome:?}")
        };
        events.push(refused.restock.unwrap().stock_out_event.unwrap());
    }
    (w, events)
}

#[tokio::test]
async fn each_stock_out_is_published_once() {
    let (w, _) = stock_outs(30).await;
    let p = Publisher::default();
    let report = relay_until_drained(&w, &p, 10).await.unwrap();
    assert_eq!((report.published, report.failed), (30, 0));
    assert_eq!(p.seen().len(), 30);
    let orders: Vec<FactoryOrderId> = w.factory_orders().iter().map(|o| o.id).collect();
    assert_eq!(p.seen(), orders, "oldest first, each its order's");
    assert_eq!(w.pending().await.unwrap().rows, 0);
    let again = relay_until_drained(&w, &p, 10).await.unwrap();
    assert_eq!(again.published, 0, "published rows stay published");
}

#[tokio::test]
async fn the_publish_after_a_stock_out_takes_only_its_own_event() {
    let (w, events) = stock_outs(3).await;
    let p = Publisher::default();
    let report = relay_once(&w, &p, Due::Event(events[1]), None)
        .await
        .unwrap();
    assert_eq!(report.published, 1);
    assert_eq!(p.seen(), vec![w.factory_orders()[1].id]);
    assert_eq!(
        w.pending().await.unwrap().rows,
        2,
        "the sweeper's to publish"
    );
    let report = relay_once(&w, &p, Due::Event(events[1]), None)
        .await
        .unwrap();
    assert_eq!(report.published, 0, "once only");
}

#[tokio::test]
async fn a_failed_publish_backs_off_and_is_published_later() {
    let (w, _) = stock_outs(2).await;
    let p = Publisher::failing();
    let report = relay_until_drained(&w, &p, 10).await.unwrap();
    assert_eq!((report.published, report.failed), (0, 2));
    *p.fail.lock().unwrap() = false;
    assert_eq!(
        relay_until_drained(&w, &p, 10).await.unwrap().published,
        0,
        "not due again at once"
    );
    w.advance(Duration::from_secs(1));
    assert_eq!(relay_until_drained(&w, &p, 10).await.unwrap().published, 2);
    let rows = w.outbox();
    assert!(
        rows.iter()
            .all(|(published, attempts, error)| *published && *attempts == 2 && error.is_none())
    );
}

#[tokio::test]
async fn a_row_that_cannot_be_read_waits_an_hour_and_blocks_nothing() {
    let (w, _) = stock_outs(1).await;
    w.write_outbox("{\"not\": \"an event\"}");
    let p = Publisher::default();
    let report = relay_until_drained(&w, &p, 10).await.unwrap();
    assert_eq!((report.published, report.failed), (1, 1));
    let (published, attempts, error) = w.outbox()[1].clone();
    assert!(!published && attempts == 1 && error.is_some());
    w.advance(CORRUPT_ROW_DELAY - Duration::from_secs(1));
    assert_eq!(relay_until_drained(&w, &p, 10).await.unwrap().failed, 0);
    w.advance(Duration::from_secs(1));
    assert_eq!(relay_until_drained(&w, &p, 10).await.unwrap().failed, 1);
}

#[tokio::test]
async fn a_pass_out_of_time_gives_its_rows_back_at_once() {
    let (w, events) = stock_outs(3).await;
    let budget = Some(Duration::from_millis(50));
    let report = relay_once(&w, &Publisher::hanging(), Due::Event(events[0]), budget)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    let report = relay_once(&w, &Publisher::hanging(), Due::Oldest(10), budget)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
    let p = Publisher::default();
    assert_eq!(
        relay_until_drained(&w, &p, 10).await.unwrap().published,
        3,
        "due again at once, not after the lease"
    );
}

#[tokio::test]
async fn a_relay_that_died_holding_rows_leaves_them_to_the_next_after_the_lease() {
    use donut_domain::ports::Outbox;
    let (w, _) = stock_outs(2).await;
    // A relay claims and dies: no settle, no release.
    assert_eq!(
        w.claim("dead-relay", Due::Oldest(10)).await.unwrap().len(),
        2
    );
    let p = Publisher::default();
    assert_eq!(relay_until_drained(&w, &p, 10).await.unwrap().published, 0);
    w.advance(OUTBOX_CLAIM_LEASE);
    assert_eq!(relay_until_drained(&w, &p, 10).await.unwrap().published, 2);
    // The dead relay's settle, should it wake, changes nothing.
    assert!(
        !w.settle(1, "dead-relay", ports::Settlement::Published)
            .await
            .unwrap()
    );
}
