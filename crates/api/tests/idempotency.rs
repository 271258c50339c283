//! `Idempotency-Key` on `POST /orders` and `GET /orders/{order_id}`, through API Gateway v2
//! events, on a real MariaDB.

use donut_api::{Limits, SalesApi};
use donut_apigw::{HttpCall, HttpReply, to_lambda_request};
use donut_testkit::{Shelf, TestDb};
use donut_warehouse::MySqlWarehouse;
use serde_json::{Value, json};

fn sales(db: &TestDb) -> SalesApi<MySqlWarehouse> {
    SalesApi::new(
        db.warehouse.clone(),
        Limits {
            max_quantity: 10,
            max_body_bytes: 1024,
        },
    )
}

async fn send(
    api: &SalesApi<MySqlWarehouse>,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &Value,
) -> HttpReply {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(key) = key {
        headers.push(("idempotency-key".to_owned(), key.to_owned()));
    }
    let call = HttpCall {
        method,
        path,
        raw_query: "",
        headers,
        body: &bytes,
        source_ip: "127.0.0.1",
    };
    api.handle(to_lambda_request(&call).unwrap()).await.into()
}

async fn buy(
    api: &SalesApi<MySqlWarehouse>,
    key: Option<&str>,
    product: &str,
    quantity: u32,
) -> HttpReply {
    send(
        api,
        "POST",
        "/orders",
        key,
        &json!({"product_id": product, "quantity": quantity}),
    )
    .await
}

#[tokio::test]
async fn a_retry_with_its_key_answers_the_sale_again_and_sells_nothing() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let api = sales(&db);
    let first = buy(&api, Some("buyer-1-purchase-1"), "glazed", 3).await;
    assert_eq!(first.status, 200, "{:?}", first.json());
    assert_eq!(first.header("idempotent-replayed"), None);
    // Stock moves on between the sale and its retry.
    assert_eq!(buy(&api, None, "glazed", 2).await.status, 200);
    let retry = buy(&api, Some("buyer-1-purchase-1"), "glazed", 3).await;
    assert_eq!(retry.status, 200, "{:?}", retry.json());
    assert_eq!(
        retry.json(),
        first.json(),
        "the same answer, the same order id"
    );
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        db.stock("glazed").await,
        5,
        "3 + 2 sold, the retry sold nothing"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM orders", ()).await, 2);
    // The quoted form of the same key (a structured-field string) is the same key.
    let quoted = buy(&api, Some("\"buyer-1-purchase-1\""), "glazed", 3).await;
    assert_eq!(quoted.json(), first.json());
}

#[tokio::test]
async fn the_same_key_for_another_request_is_422_and_sells_nothing() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let api = sales(&db);
    assert_eq!(buy(&api, Some("k-422"), "glazed", 1).await.status, 200);
    let other = buy(&api, Some("k-422"), "glazed", 2).await;
    assert_eq!(other.status, 422, "{:?}", other.json());
    assert_eq!(other.json()["error"]["code"], "idempotency_key_reused");
    assert_eq!(db.stock("glazed").await, 9);
}

#[tokio::test]
async fn malformed_keys_are_400() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let api = sales(&db);
    let long = "k".repeat(256);
    for key in [
        "",
        "\"\"",
        "\"unterminated",
        "a\"b\"",
        long.as_str(),
        "tab\there",
    ] {
        let reply = buy(&api, Some(key), "glazed", 1).await;
        assert_eq!(reply.status, 400, "{key:?}: {:?}", reply.json());
        assert_eq!(reply.json()["error"]["code"], "invalid_idempotency_key");
    }
    assert_eq!(
        buy(&api, Some(&"k".repeat(255)), "glazed", 1).await.status,
        200
    );
    assert_eq!(
        db.stock("glazed").await,
        9,
        "only the well-formed key bought"
    );
}

#[tokio::test]
async fn a_refused_purchase_records_nothing_and_its_retry_is_processed_anew() {
    let db = TestDb::with_shelves(&[Shelf::new("jelly", 0).reorder(0, 0)]).await;
    let api = sales(&db);
    let refused = buy(&api, Some("k-refused"), "jelly", 1).await;
    assert_eq!(refused.status, 409);
    db.exec("UPDATE products SET qty = 5 WHERE product_id = 'jelly'", ())
        .await;
    let retry = buy(&api, Some("k-refused"), "jelly", 1).await;
    assert_eq!(retry.status, 200, "{:?}", retry.json());
    assert_eq!(retry.header("idempotent-replayed"), None);
    assert_eq!(db.stock("jelly").await, 4);
}

#[tokio::test]
async fn a_retry_while_the_first_is_in_flight_is_409_with_retry_after() {
    use mysql_async::prelude::Queryable;
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let api = sales(&db);
    // Another purchase holds the key, not yet committed.
    let mut holder = db.conn().await;
    holder.query_drop("START TRANSACTION").await.unwrap();
    holder
        .exec_drop(
            "INSERT INTO idempotency_keys (idem_key, fingerprint, order_id, remaining, created_at, \
             expires_at) VALUES ('k-busy', 'glazed 1', UUID(), 9, UTC_TIMESTAMP(6), \
             UTC_TIMESTAMP(6) + INTERVAL 1 DAY)",
            (),
        )
        .await
        .unwrap();
    let busy = buy(&api, Some("k-busy"), "glazed", 1).await;
    assert_eq!(busy.status, 409, "{:?}", busy.json());
    assert_eq!(busy.json()["error"]["code"], "idempotency_key_in_flight");
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_eq!(db.stock("glazed").await, 10, "never a second sale");
    holder.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(buy(&api, Some("k-busy"), "glazed", 1).await.status, 200);
}

#[tokio::test]
async fn a_key_past_its_window_can_be_used_again() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let api = sales(&db);
    let first = buy(&api, Some("k-old"), "glazed", 1).await;
    db.exec(
        "UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND",
        (),
    )
    .await;
    let again = buy(&api, Some("k-old"), "glazed", 1).await;
    assert_eq!(again.status, 200);
    assert_ne!(again.json()["order_id"], first.json()["order_id"]);
    assert_eq!(db.stock("glazed").await, 8);
}

#[tokio::test]
async fn duplicate_storms_sell_once_per_key_and_answer_alike() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 1000).reorder(0, 10)]).await;
    let api = std::sync::Arc::new(sales(&db));
    const KEYS: usize = 20;
    const COPIES: usize = 6;
    let mut tasks = Vec::new();
    for copy in 0..COPIES {
        for key in 0..KEYS {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                let reply = buy(
                    &api,
                    Some(&format!("storm-{key}")),
                    "glazed",
                    1 + (key % 3) as u32,
                )
                .await;
                (key, copy, reply.status, reply.json())
            }));
        }
    }
    let mut answers: Vec<Vec<Value>> = vec![Vec::new(); KEYS];
    for task in tasks {
        let (key, _, status, body) = task.await.unwrap();
        match status {
            200 => answers[key].push(body),
            // In flight past the 1 s wait: allowed, never a second sale.
            409 => assert_eq!(body["error"]["code"], "idempotency_key_in_flight"),
            other => panic!("storm-{key}: {other} {body}"),
        }
    }
    let sold: i64 = (0..KEYS).map(|k| 1 + (k % 3) as i64).sum();
    assert_eq!(db.stock("glazed").await, 1000 - sold, "one sale per key");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM orders", ()).await,
        KEYS as i64
    );
    for (key, bodies) in answers.iter().enumerate() {
        assert!(!bodies.is_empty(), "storm-{key} got an answer");
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "storm-{key}: every answer alike: {bodies:?}"
        );
    }
}

#[tokio::test]
async fn an_order_can_be_looked_up() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let api = sales(&db);
    let sold = buy(&api, Some("k-look"), "glazed", 3).await;
    let id = sold.json()["order_id"].as_str().unwrap().to_owned();
    let found = send(&api, "GET", &format!("/orders/{id}"), None, &Value::Null).await;
    assert_eq!(found.status, 200, "{:?}", found.json());
    let body = found.json();
    assert_eq!(body["order_id"], id.as_str());
    assert_eq!(body["product_id"], "glazed");
    assert_eq!(body["quantity"], 3);
    assert_eq!(body["unit_price_cents"], 150);
    assert_eq!(body["total_cents"], 450);
    assert_eq!(body["idempotency_key"], "k-look");
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    let unknown = uuid::Uuid::new_v4();
    let missing = send(
        &api,
        "GET",
        &format!("/orders/{unknown}"),
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "unknown_order");
    let bad = send(&api, "GET", "/orders/not-an-id", None, &Value::Null).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["code"], "invalid_order_id");
}

/// The function dies after its commit and before its reply (the buyer sees a dropped
/// connection, or API Gateway's 504): the buyer retries with its key, reaching a new instance
/// with a pool of its own, and gets the original order; the stock fell once.
#[tokio::test]
async fn a_reply_lost_after_the_commit_is_recovered_by_the_retry() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let lost = {
        let dying = SalesApi::new(
            MySqlWarehouse::new(&donut_warehouse::DbConfig::from_url(&db.url).unwrap()),
            Limits::default(),
        );
        let reply = buy(&dying, Some("k-lost"), "glazed", 2).await;
        assert_eq!(reply.status, 200);
        reply.json()["order_id"].as_str().unwrap().to_owned()
        // The instance and its connections go with it; the buyer never saw the reply.
    };
    let fresh = SalesApi::new(
        MySqlWarehouse::new(&donut_warehouse::DbConfig::from_url(&db.url).unwrap()),
        Limits::default(),
    );
    let retry = buy(&fresh, Some("k-lost"), "glazed", 2).await;
    assert_eq!(retry.status, 200);
    assert_eq!(
        retry.json()["order_id"],
        lost.as_str(),
        "the original order"
    );
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(db.stock("glazed").await, 8, "sold once");
}

/// The database is down: the buyer gets 503 (+ Retry-After) and nothing is sold; it retries
/// with the same key once the database is back, and the purchase sells exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_then_a_retry_sells_exactly_once() {
    let mut server = donut_testkit::PrivateMariaDb::start().await;
    let url = server.url();
    let db = TestDb::new_on(url.trim_end_matches("/donut")).await;
    db.add_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)])
        .await;
    let config = donut_warehouse::DbConfig::from_url(&db.url)
        .unwrap()
        .with_acquire_timeout(std::time::Duration::from_millis(500));
    let api = SalesApi::new(MySqlWarehouse::new(&config), Limits::default());
    server.kill();
    let down = buy(&api, Some("k-down"), "glazed", 3).await;
    assert_eq!(down.status, 503, "{:?}", down.json());
    assert_eq!(down.header("retry-after"), Some("1"));
    server.resume().await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        let reply = buy(&api, Some("k-down"), "glazed", 3).await;
        if reply.status == 200 {
            answers.push(reply.json());
        }
    }
    assert!(!answers.is_empty(), "the database came back");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(db.stock("glazed").await, 7, "sold exactly once");
}
