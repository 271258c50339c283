//! `Idempotency-Key` on `POST /orders` and `GET /orders/{order_id}`, through API Gateway v2
//! events, on a real MariaDB.

use donut_api::{Limits, SalesApi};
use donut_apigw::{HttpCall, HttpReply};
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
    send_by(api, None, method, path, key, body).await
}

/// `send`, as API Gateway's JWT authorizer lets it through for the token of `sub` (if any).
async fn send_by(
    api: &SalesApi<MySqlWarehouse>,
    sub: Option<&str>,
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
    let caller = sub.map(|sub| donut_apigw::jwt::JwtCaller {
        claims: [("sub".to_owned(), sub.to_owned())].into(),
        scopes: None,
    });
    let request = donut_apigw::to_lambda_request_authorized(
        &call,
        caller.as_ref().map(donut_apigw::Authorized::Jwt),
    )
    .unwrap();
    api.handle(request).await.into()
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

/// A key a sale wrote through `donut_sell_v2` (before migration 009 moved the remaining stock
/// onto the order row) still answers its sale, with the stock it left.
#[tokio::test]
async fn a_key_written_before_migration_9_answers_its_sale() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let order_id = uuid::Uuid::new_v4().to_string();
    db.exec(
        "CALL donut_sell_v2('glazed', 2, ?, 'c-old', 'k-v2', 'glazed 2', 86400)",
        (&order_id,),
    )
    .await;
    let retry = buy(&sales(&db), Some("k-v2"), "glazed", 2).await;
    assert_eq!(retry.status, 200, "{:?}", retry.json());
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json()["order_id"], order_id.as_str());
    assert_eq!(retry.json()["remaining"], 8);
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
    assert_eq!(
        body["idempotency_key"],
        Value::Null,
        "an anonymous buyer's key is nobody's to be told"
    );
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

/// One request of a storm: which key, whether it asks what its key's first request asks (its
/// "home": product `key % 2`, quantity `1 + key % 3`) or something else under the same key,
/// which wave it starts in (a wave's requests run at once; waves follow each other), and how
/// long it waits before it is sent.
#[derive(Debug, Clone)]
struct Call {
    key: usize,
    other_body: bool,
    wave: usize,
    delay_us: u64,
}

impl Call {
    fn body(&self) -> (usize, u32) {
        let (product, quantity) = (self.key % 2, 1 + (self.key % 3) as u32);
        if self.other_body {
            (1 - product, quantity % 3 + 1)
        } else {
            (product, quantity)
        }
    }
}

fn storms() -> impl proptest::strategy::Strategy<Value = (usize, Vec<Call>)> {
    use proptest::prelude::*;
    (1usize..=6).prop_flat_map(|keys| {
        let call = (0..keys, prop::bool::weighted(0.2), 0usize..4, 0u64..1500).prop_map(
            |(key, other_body, wave, delay_us)| Call {
                key,
                other_body,
                wave,
                delay_us,
            },
        );
        (Just(keys), prop::collection::vec(call, 1..=48))
    })
}

/// The property the storms check: whatever the mix of duplicates, concurrency and interleaving,
/// each key sells exactly once (its first body wins; stock falls by that sale alone), every 200
/// for a key is the same reply (the same order, the same remaining stock, the same restock),
/// exactly one of them is not a replay, and every other reply is 422 (another body under the
/// key) or 409 in flight. The shelves reorder below 190, so sales also open factory orders.
#[test]
fn storms_of_retries_sell_once_per_key_and_answer_alike() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = runtime.block_on(TestDb::new());
    let api = std::sync::Arc::new(sales(&db));
    let cases = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 128,
        ..Config::default()
    });
    let outcome = runner.run(&storms(), |(keys, calls)| {
        let case = cases.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let products: [&'static str; 2] = [
            Box::leak(format!("storm{case}-glazed").into_boxed_str()),
            Box::leak(format!("storm{case}-jelly").into_boxed_str()),
        ];
        runtime
            .block_on(async {
                db.add_shelves(&products.map(|p| Shelf::new(p, 200).reorder(190, 50)))
                    .await;
                let mut replies: Vec<(Call, HttpReply)> = Vec::new();
                for wave in 0..4 {
                    let sent: Vec<_> = calls
                        .iter()
                        .filter(|c| c.wave == wave)
                        .cloned()
                        .map(|call| {
                            let api = api.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(std::time::Duration::from_micros(call.delay_us))
                                    .await;
                                let (product, quantity) = call.body();
                                let key = format!("storm{case}-key{}", call.key);
                                let reply =
                                    buy(&api, Some(&key), products[product], quantity).await;
                                (call, reply)
                            })
                        })
                        .collect();
                    for task in sent {
                        replies.push(task.await.unwrap());
                    }
                }
                check_storm(&db, case, keys, &products, &replies).await
            })
            .map_err(TestCaseError::fail)
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// Each key's order row against the replies; the shelves against the orders.
async fn check_storm(
    db: &TestDb,
    case: usize,
    keys: usize,
    products: &[&str; 2],
    replies: &[(Call, HttpReply)],
) -> Result<(), String> {
    use mysql_async::prelude::Queryable;
    let mut conn = db.conn().await;
    for key in 0..keys {
        let name = format!("storm{case}-key{key}");
        let mine: Vec<&(Call, HttpReply)> = replies.iter().filter(|(c, _)| c.key == key).collect();
        let orders: Vec<(String, String, u32)> = conn
            .exec(
                "SELECT order_id, product_id, quantity FROM orders WHERE idempotency_key = ?",
                (&name,),
            )
            .await
            .map_err(|e| e.to_string())?;
        if mine.is_empty() {
            if !orders.is_empty() {
                return Err(format!("{name}: sold without a request"));
            }
            continue;
        }
        let [(order_id, product, quantity)] = orders.as_slice() else {
            return Err(format!("{name}: {} sales, not 1", orders.len()));
        };
        let sold: Vec<Value> = mine
            .iter()
            .filter(|(_, r)| r.status == 200)
            .map(|(_, r)| r.json())
            .collect();
        let fresh = mine
            .iter()
            .filter(|(_, r)| r.status == 200 && r.header("idempotent-replayed").is_none())
            .count();
        if fresh != 1 {
            return Err(format!(
                "{name}: {fresh} replies that are not replays, not 1"
            ));
        }
        if let Some(other) = sold.iter().find(|b| *b != &sold[0]) {
            return Err(format!("{name}: replies differ: {} and {other}", sold[0]));
        }
        if sold[0]["order_id"] != order_id.as_str()
            || sold[0]["product_id"] != product.as_str()
            || sold[0]["quantity"] != *quantity
        {
            return Err(format!("{name}: {} is not its order row", sold[0]));
        }
        for (call, reply) in &mine {
            let (p, q) = call.body();
            let same_body = products[p] == product && q == *quantity;
            let code = reply.json()["error"]["code"].clone();
            let allowed = match reply.status {
                200 => same_body,
                422 => !same_body && code == "idempotency_key_reused",
                409 => code == "idempotency_key_in_flight",
                _ => false,
            };
            if !allowed {
                return Err(format!(
                    "{name}: {call:?} answered {} {}",
                    reply.status,
                    reply.json()
                ));
            }
        }
    }
    for product in products {
        let sold = db
            .count(
                "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE product_id = ?",
                (product,),
            )
            .await;
        let stock = db.stock(product).await;
        if stock + sold != 200 {
            return Err(format!("{product}: {stock} left after {sold} sold of 200"));
        }
    }
    Ok(())
}

/// On a stage with buyers' identities: the same key from two buyers is two purchases, and an
/// order (with its key) is shown to its buyer only.
#[tokio::test]
async fn two_buyers_with_the_same_key_make_two_purchases_each_their_own() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 10).reorder(0, 10)]).await;
    let api = sales(&db);
    let order = json!({"product_id": "glazed", "quantity": 2});
    let ann = send_by(&api, Some("ann"), "POST", "/orders", Some("cart-1"), &order).await;
    let bob = send_by(&api, Some("bob"), "POST", "/orders", Some("cart-1"), &order).await;
    assert_eq!((ann.status, bob.status), (200, 200));
    assert_eq!(
        bob.header("idempotent-replayed"),
        None,
        "bob's own purchase"
    );
    let id = ann.json()["order_id"].as_str().unwrap().to_owned();
    assert_ne!(id, bob.json()["order_id"].as_str().unwrap());
    let retry = send_by(&api, Some("ann"), "POST", "/orders", Some("cart-1"), &order).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.json()["order_id"], id.as_str());
    assert_eq!(db.count("SELECT COUNT(*) FROM orders", ()).await, 2);

    let path = format!("/orders/{id}");
    let mine = send_by(&api, Some("ann"), "GET", &path, None, &Value::Null).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.json()["idempotency_key"], "cart-1");
    let theirs = send_by(&api, Some("bob"), "GET", &path, None, &Value::Null).await;
    assert_eq!(
        (theirs.status, theirs.json()["error"]["code"].clone()),
        (404, json!("unknown_order")),
        "another buyer's order does not exist for bob"
    );
    let anonymous = send(&api, "GET", &path, None, &Value::Null).await;
    assert_eq!(anonymous.status, 404);
    let nobody = send_by(&api, Some(""), "GET", &path, None, &Value::Null).await;
    assert_eq!(nobody.status, 403, "a token without a sub names nobody");
}
