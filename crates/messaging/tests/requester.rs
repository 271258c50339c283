//! The factory-requester against a real MariaDB and the factory simulator.

use std::net::SocketAddr;
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use donut_domain::*;
use donut_factory::{CallbackSecret, CallbackSigner, FactoryClient, FactoryClientConfig};
use donut_messaging::FactoryRequester;
use donut_testkit::{Shelf, TestDb};
use donut_warehouse::MySqlWarehouse;
use factory_sim::{FactorySim, Knobs, Stats};
use serde_json::json;

const LEASE: Duration = Duration::from_secs(30);

async fn sim(knobs: Knobs) -> FactorySim {
    FactorySim::start(SocketAddr::from(([127, 0, 0, 1], 0)), knobs, Some(7))
        .await
        .unwrap()
}

fn requester(db: &TestDb, sim: &FactorySim) -> FactoryRequester<MySqlWarehouse, FactoryClient> {
    let mut config = FactoryClientConfig::new(sim.url());
    config.request_timeout = Duration::from_millis(500);
    // Callbacks go nowhere here: these tests stop at the factory's acknowledgement.
    let signer = CallbackSigner::new(
        CallbackSecret::new("c".repeat(32)).unwrap(),
        "http://127.0.0.1:1",
    );
    FactoryRequester::new(
        db.warehouse.clone(),
        FactoryClient::new(&config, signer),
        LEASE,
    )
}

async fn stats(sim: &FactorySim) -> Stats {
    reqwest::get(format!("{}/stats", sim.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A stock-out on product `id`; returns the event the outbox holds for it.
async fn stock_out(db: &TestDb, id: &'static str) -> StockOutEvent {
    let req = PurchaseRequest {
        product_id: ProductId::parse(id).unwrap(),
        quantity: Quantity::parse(1, 10).unwrap(),
        correlation_id: CorrelationId::new(),
        idempotency_key: None,
        buyer: None,
    };
    let PurchaseOutcome::OutOfStock(o) = db.warehouse.purchase(&req).await.unwrap() else {
        panic!()
    };
    let id = o.restock.unwrap().factory_order_id;
    let payload: String = {
        use mysql_async::prelude::Queryable;
        db.conn()
            .await
            .exec_first(
                "SELECT payload FROM outbox WHERE payload LIKE ?",
                (format!("%{id}%"),),
            )
            .await
            .unwrap()
            .unwrap()
    };
    StockOutEvent::from_json(&payload).unwrap()
}

/// An SQS event as Lambda receives it, one record per (message id, body).
fn batch(records: &[(&str, String)]) -> SqsEvent {
    let records: Vec<_> = records
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:factory-orders", "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

async fn order(db: &TestDb, id: FactoryOrderId) -> FactoryOrder {
    db.warehouse
        .factory_order(id)
        .await
        .unwrap()
        .expect("the factory order exists")
}

fn failed_ids(r: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<_> = r
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_mixed_batch_reports_only_the_failures() {
    let db = TestDb::with_shelves(&[Shelf::new("a", 0), Shelf::new("b", 0)]).await;
    let good = stock_out(&db, "a").await;
    let sim = sim(Knobs::default()).await;
    let r = requester(&db, &sim);

    let unknown = {
        let mut e = stock_out(&db, "b").await;
        e.factory_order_id = FactoryOrderId::new();
        e
    };
    let response = r
        .handle(batch(&[
            ("m-good", good.to_json()),
            ("m-poison", "this is not an event".into()),
            ("m-unknown", unknown.to_json()),
            ("m-empty", String::new()),
        ]))
        .await;
    assert_eq!(
        failed_ids(&response),
        vec!["m-empty", "m-poison", "m-unknown"]
    );
    let order = order(&db, good.factory_order_id).await;
    assert_eq!(order.status, FactoryOrderStatus::Requested);
    assert!(order.factory_request_id.is_some());
    assert_eq!(stats(&sim).await.received, 1);
}

#[tokio::test]
async fn the_same_event_delivered_twice_calls_the_factory_once() {
    let db = TestDb::with_shelves(&[Shelf::new("a", 0)]).await;
    let event = stock_out(&db, "a").await;
    let sim = sim(Knobs::default()).await;
    let r = requester(&db, &sim);
    // Twice in one batch (handled concurrently), then again in a later batch.
    let first = r
        .handle(batch(&[("m1", event.to_json()), ("m2", event.to_json())]))
        .await;
    let second = r.handle(batch(&[("m3", event.to_json())])).await;
    assert!(second.batch_item_failures.is_empty());
    // At most the concurrent twin may be asked to retry; it finds the order requested then.
    assert!(first.batch_item_failures.len() <= 1);
    let retry = r.handle(batch(&[("m2", event.to_json())])).await;
    assert!(retry.batch_item_failures.is_empty());
    assert_eq!(stats(&sim).await.received, 1, "factory called once");
}

#[tokio::test]
async fn factory_failures_and_hangs_fail_the_message_and_leave_the_order_open() {
    let db = TestDb::with_shelves(&[Shelf::new("a", 0)]).await;
    let event = stock_out(&db, "a").await;
    let sim = sim(Knobs {
        fail_first: 2,
        ..Knobs::default()
    })
    .await;
    let r = requester(&db, &sim);
    for _ in 0..2 {
        let response = r.handle(batch(&[("m", event.to_json())])).await;
        assert_eq!(failed_ids(&response), vec!["m"]);
        let order = order(&db, event.factory_order_id).await;
        assert_eq!(order.status, FactoryOrderStatus::Open);
    }
    let response = r.handle(batch(&[("m", event.to_json())])).await;
    assert!(response.batch_item_failures.is_empty());
    let order = order(&db, event.factory_order_id).await;
    assert_eq!(order.status, FactoryOrderStatus::Requested);
    assert_eq!(order.request_attempts, 3);

    let hanging = sim_hanging().await;
    let db2 = TestDb::with_shelves(&[Shelf::new("h", 0)]).await;
    let event = stock_out(&db2, "h").await;
    let started = std::time::Instant::now();
    let response = requester(&db2, &hanging)
        .handle(batch(&[("m", event.to_json())]))
        .await;
    assert_eq!(failed_ids(&response), vec!["m"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the client timed out"
    );
}

async fn sim_hanging() -> FactorySim {
    sim(Knobs {
        hang_rate: 1.0,
        ..Knobs::default()
    })
    .await
}

#[tokio::test]
async fn an_sns_envelope_is_unwrapped() {
    let db = TestDb::with_shelves(&[Shelf::new("a", 0)]).await;
    let event = stock_out(&db, "a").await;
    let sim = sim(Knobs::default()).await;
    let envelope =
        json!({"Type": "Notification", "MessageId": "x", "Message": event.to_json()}).to_string();
    let response = requester(&db, &sim).handle(batch(&[("m", envelope)])).await;
    assert!(response.batch_item_failures.is_empty());
}

/// A corpus of malformed SQS message bodies: every one is reported failed (so it reaches the
/// DLQ after maxReceiveCount), none calls the factory or changes an order.
#[tokio::test]
async fn malformed_events_fail_without_side_effects() {
    let db = TestDb::with_shelves(&[Shelf::new("a", 0)]).await;
    let good = stock_out(&db, "a").await;
    let sim = sim(Knobs::default()).await;
    let r = requester(&db, &sim);
    let valid: serde_json::Value = serde_json::from_str(&good.to_json()).unwrap();
    let mut bodies: Vec<String> = [
        "",
        " ",
        "null",
        "true",
        "1",
        "[]",
        "{}",
        "{",
        "not json",
        "\u{feff}{}",
        "<xml/>",
        "'",
        "\"stock_out\"",
        "{\"Type\":\"Notification\"}",
        "{\"Type\":\"Notification\",\"Message\":\"{}\"}",
        "{\"Type\":\"Notification\",\"Message\":42}",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // The valid event with one field broken at a time.
    let breakages: Vec<(&str, serde_json::Value)> = vec![
        ("version", json!(2)),
        ("version", json!("1")),
        ("version", json!(null)),
        ("type", json!("restock")),
        ("type", json!(null)),
        ("event_id", json!("nope")),
        ("event_id", json!(1)),
        ("correlation_id", json!("")),
        ("correlation_id", json!("a b")),
        ("correlation_id", json!("x".repeat(200))),
        ("product_id", json!("")),
        ("product_id", json!("' OR 1=1")),
        ("product_id", json!("ｇlazed")),
        ("product_id", json!(7)),
        ("factory_product_id", json!(null)),
        ("factory_order_id", json!("not-a-uuid")),
        ("factory_order_id", json!(null)),
        ("quantity", json!(0)),
        ("quantity", json!(-1)),
        ("quantity", json!(1.5)),
        ("quantity", json!("3")),
        ("quantity", json!(4294967296_i64)),
        ("stock_left", json!(-1)),
        ("stock_left", json!(null)),
        ("occurred_at", json!("yesterday")),
        ("occurred_at", json!(0)),
        ("occurred_at", json!(null)),
        ("extra", json!(true)),
    ];
    for (field, value) in breakages {
        let mut v = valid.clone();
        v[field] = value;
        bodies.push(v.to_string());
    }
    for field in [
        "version",
        "type",
        "event_id",
        "correlation_id",
        "product_id",
        "factory_order_id",
        "quantity",
        "occurred_at",
    ] {
        let mut v = valid.clone();
        v.as_object_mut().unwrap().remove(field);
        bodies.push(v.to_string());
    }
    assert!(bodies.len() >= 50, "{} bodies", bodies.len());
    let records: Vec<(String, String)> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("m{i:03}"), b.clone()))
        .collect();
    let refs: Vec<(&str, String)> = records
        .iter()
        .map(|(id, b)| (id.as_str(), b.clone()))
        .collect();
    for chunk in refs.chunks(10) {
        let response = r.handle(batch(chunk)).await;
        assert_eq!(
            response.batch_item_failures.len(),
            chunk.len(),
            "every malformed event fails"
        );
    }
    assert_eq!(
        stats(&sim).await.received,
        0,
        "the factory was never called"
    );
    let order = order(&db, good.factory_order_id).await;
    assert_eq!(
        (order.status, order.request_attempts),
        (FactoryOrderStatus::Open, 0)
    );
    println!("malformed events tried: {}", bodies.len());
}

const SQS_EVENT: &str = include_str!("../../../tests/fixtures/aws/sqs-stock-out.json");

/// The SQS event in AWS's own shape (raw SNS delivery: our event as the body, the correlation
/// id as a message attribute) is read and requested like the local event source's.
#[tokio::test]
async fn an_sqs_event_in_awss_own_shape_is_requested() {
    let db = TestDb::with_shelves(&[Shelf::new("a", 0)]).await;
    let event = stock_out(&db, "a").await;
    let sim = sim(Knobs::default()).await;
    let body = serde_json::to_string(&event.to_json()).unwrap();
    let text = SQS_EVENT
        .replace("\"{{EVENT}}\"", &body)
        .replace("{{CORRELATION_ID}}", event.correlation_id.as_str());
    let sqs: SqsEvent = serde_json::from_str(&text).expect("an SQS event");
    let response = requester(&db, &sim).handle(sqs).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(
        order(&db, event.factory_order_id).await.status,
        FactoryOrderStatus::Requested
    );
    assert_eq!(stats(&sim).await.received, 1);
}
