//! The HTTP handlers, driven through API Gateway v2 events, on a real MariaDB.

use std::time::Duration;

use donut_api::{Limits, RestockApi, SalesApi};
use donut_apigw::{HttpCall, HttpReply, to_lambda_request};
use donut_domain::{FactoryOrderId, FactoryOrders};
use donut_factory::{CallbackSecret, CallbackSigner};
use donut_testkit::{Shelf, TestDb};
use donut_warehouse::{DbConfig, MySqlWarehouse};
use serde_json::{Value, json};

fn call<'a>(
    method: &'a str,
    path: &'a str,
    query: &'a str,
    body: &'a [u8],
    content_type: &str,
) -> HttpCall<'a> {
    let mut headers = vec![("user-agent".to_owned(), "test".to_owned())];
    if !content_type.is_empty() {
        headers.push(("content-type".to_owned(), content_type.to_owned()));
    }
    HttpCall {
        method,
        path,
        raw_query: query,
        headers,
        body,
        source_ip: "127.0.0.1",
    }
}

async fn send_sales(api: &SalesApi<MySqlWarehouse>, c: HttpCall<'_>) -> HttpReply {
    api.handle(to_lambda_request(&c).unwrap()).await.into()
}

async fn order(api: &SalesApi<MySqlWarehouse>, body: &Value) -> HttpReply {
    let bytes = body.to_string().into_bytes();
    send_sales(api, call("POST", "/orders", "", &bytes, "application/json")).await
}

fn sales(db: &TestDb) -> SalesApi<MySqlWarehouse> {
    SalesApi::new(
        db.warehouse.clone(),
        Limits {
            max_quantity: 10,
            max_body_bytes: 1024,
        },
    )
}

#[tokio::test]
async fn a_sale_answers_200_with_what_is_left() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 5).reorder(1, 10)]).await;
    let api = sales(&db);
    let mut c = call(
        "POST",
        "/orders",
        "",
        br#"{"product_id":"glazed","quantity":2}"#,
        "application/json; charset=utf-8",
    );
    c.headers
        .push(("x-correlation-id".into(), "buyer-42".into()));
    let reply = send_sales(&api, c).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    let body = reply.json();
    assert_eq!(body["product_id"], "glazed");
    assert_eq!(body["quantity"], 2);
    assert_eq!(body["remaining"], 3);
    assert_eq!(body["restock"], Value::Null);
    assert!(body["order_id"].as_str().unwrap().len() == 36);
    // Ours, not the buyer's: every correlation id is the server's (it reaches ops' logs and
    // e-mails); the buyer's own is a reference kept on the log lines only.
    let ours = reply.header("x-correlation-id").unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&ours).is_ok(), "{ours}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM orders WHERE correlation_id = ?",
            (ours,)
        )
        .await,
        1
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM orders WHERE correlation_id = 'buyer-42'",
            ()
        )
        .await,
        0
    );
}

#[tokio::test]
async fn no_stock_answers_409_and_says_a_factory_order_is_open() {
    let db = TestDb::with_shelves(&[Shelf::new("jelly", 1).reorder(0, 10)]).await;
    let api = sales(&db);
    let reply = order(&api, &json!({"product_id": "jelly", "quantity": 3})).await;
    assert_eq!(reply.status, 409);
    let body = reply.json();
    assert_eq!(body["error"]["code"], "out_of_stock");
    assert_eq!(body["available"], 1);
    assert_eq!(body["restock"]["status"], "open");
    assert_eq!(body["restock"]["opened_now"], true);
    assert!(body["restock"]["factory_order_id"].is_string());
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("factory order is open")
    );
}

#[tokio::test]
async fn unknown_products_are_404() {
    let db = TestDb::with_shelves(&[]).await;
    let api = sales(&db);
    let reply = order(&api, &json!({"product_id": "ghost", "quantity": 1})).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "unknown_product");
    let reply = send_sales(&api, call("GET", "/products/ghost", "", b"", "")).await;
    assert_eq!(reply.status, 404);
}

#[tokio::test]
async fn products_are_listed_and_shown() {
    let db = TestDb::with_shelves(&[Shelf::new("a", 3).reorder(1, 9), Shelf::new("b", 0)]).await;
    let api = sales(&db);
    let reply = send_sales(&api, call("GET", "/products", "", b"", "")).await;
    assert_eq!(reply.status, 200);
    let products = reply.json()["products"].as_array().unwrap().clone();
    assert_eq!(products.len(), 2);
    assert_eq!(products[0]["product_id"], "a");
    assert_eq!(products[0]["stock"], 3);
    assert_eq!(products[0]["reorder_point"], 1);
    assert_eq!(products[0]["reorder_quantity"], 9);
    let reply = send_sales(&api, call("GET", "/products/b/", "", b"", "")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["stock"], 0);
}

/// Every malformed order is a 4xx with a JSON error body and changes nothing.
#[tokio::test]
async fn malformed_orders_are_4xx_with_a_json_error_and_change_nothing() {
    let db = TestDb::with_shelves(&[Shelf::new("glazed", 5)]).await;
    let api = sales(&db);
    let big = format!(
        r#"{{"product_id":"glazed","quantity":1,"pad":"{}"}}"#,
        "x".repeat(2000)
    );
    let cases: Vec<(&[u8], &str, u16, &str)> = vec![
        (b"{", "application/json", 400, "invalid_json"),
        (b"not json", "application/json", 400, "invalid_json"),
        (b"[]", "application/json", 400, "invalid_body"),
        (b"null", "application/json", 400, "invalid_body"),
        (b"{}", "application/json", 400, "invalid_body"),
        (
            br#"{"product_id":"glazed"}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"quantity":1}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"product_id":"glazed","quantity":1,"extra":true}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"product_id":"glazed","quantity":"1"}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"product_id":"glazed","quantity":1.5}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"product_id":"glazed","quantity":99999999999999999999999}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"product_id":"glazed","quantity":null}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"product_id":7,"quantity":1}"#,
            "application/json",
            400,
            "invalid_body",
        ),
        (
            br#"{"product_id":"glazed","quantity":0}"#,
            "application/json",
            400,
            "invalid_quantity",
        ),
        (
            br#"{"product_id":"glazed","quantity":-1}"#,
            "application/json",
            400,
            "invalid_quantity",
        ),
        (
            br#"{"product_id":"glazed","quantity":11}"#,
            "application/json",
            400,
            "invalid_quantity",
        ),
        (
            br#"{"product_id":"","quantity":1}"#,
            "application/json",
            400,
            "invalid_product_id",
        ),
        (
            br#"{"product_id":"glazed' OR '1'='1","quantity":1}"#,
            "application/json",
            400,
            "invalid_product_id",
        ),
        (
            br#"{"product_id":"gl\u0000azed","quantity":1}"#,
            "application/json",
            400,
            "invalid_product_id",
        ),
        (big.as_bytes(), "application/json", 400, "body_too_large"),
        (b"", "application/json", 400, "empty_body"),
        (
            br#"{"product_id":"glazed","quantity":1}"#,
            "text/plain",
            415,
            "unsupported_media_type",
        ),
        (
            br#"{"product_id":"glazed","quantity":1}"#,
            "",
            415,
            "unsupported_media_type",
        ),
        (&[0xff, 0xfe, 0xfd], "application/json", 400, "invalid_json"),
    ];
    for (body, content_type, status, code) in cases {
        let reply = send_sales(&api, call("POST", "/orders", "", body, content_type)).await;
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_eq!(reply.status, status, "{shown}: {:?}", reply.json());
        assert_eq!(reply.json()["error"]["code"], code, "{shown}");
        assert!(reply.json()["error"]["message"].is_string(), "{shown}");
    }
    assert_eq!(db.stock("glazed").await, 5);
    assert_eq!(db.count("SELECT COUNT(*) FROM orders", ()).await, 0);
}

#[tokio::test]
async fn wrong_routes_and_methods_are_json_too() {
    let db = TestDb::with_shelves(&[]).await;
    let api = sales(&db);
    let reply = send_sales(&api, call("GET", "/orders", "", b"", "")).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = send_sales(&api, call("DELETE", "/products/x", "", b"", "")).await;
    assert_eq!(reply.status, 405);
    let reply = send_sales(&api, call("GET", "/nope", "", b"", "")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "route_not_found");
}

#[tokio::test]
async fn an_unreachable_database_is_503_with_a_json_body() {
    let config = DbConfig::from_url("mysql://donut:donut@127.0.0.1:1/donut")
        .unwrap()
        .with_acquire_timeout(Duration::from_millis(300));
    let api = SalesApi::new(MySqlWarehouse::new(&config), Limits::default());
    let reply = order(&api, &json!({"product_id": "glazed", "quantity": 1})).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"]["code"], "warehouse_unavailable");
    assert_eq!(reply.header("retry-after"), Some("1"));
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        !text.contains("127.0.0.1") && !text.contains("I/O"),
        "no internals: {text}"
    );
}

fn signer() -> CallbackSigner {
    CallbackSigner::new(
        CallbackSecret::new("s".repeat(32)).unwrap(),
        "http://127.0.0.1:8080",
    )
}

fn notice(quantity: u32) -> Vec<u8> {
    json!({"MessageGroupId": "stock-arrival-group", "MessageAttributeProductId": "f-jelly",
           "MessageAttributeProductCnt": "0", "OrderStockCnt": quantity, "CallbackUrl": "x"})
    .to_string()
    .into_bytes()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The callback URL's query the factory got for `id` and `quantity`.
fn query(id: FactoryOrderId, quantity: u32) -> String {
    signer().query_at(id, quantity, now())
}

/// The requester has begun sending the order to the factory (it claims it before the call).
async fn sent(db: &TestDb, id: FactoryOrderId) {
    use donut_domain::FactoryOrders;
    assert!(
        db.warehouse
            .claim_factory_request(id, std::time::Duration::from_secs(30))
            .await
            .unwrap()
    );
}

async fn send_restock(
    api: &RestockApi<MySqlWarehouse>,
    id: &str,
    query: &str,
    body: &[u8],
) -> HttpReply {
    let path = format!("/factory/callback/{id}");
    api.handle(to_lambda_request(&call("POST", &path, query, body, "application/json")).unwrap())
        .await
        .into()
}

/// A stock-out that opened a factory order; returns its id.
async fn stock_out(db: &TestDb) -> FactoryOrderId {
    let api = sales(db);
    let reply = order(&api, &json!({"product_id": "jelly", "quantity": 1})).await;
    FactoryOrderId::parse(
        reply.json()["restock"]["factory_order_id"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_signed_callback_restocks_the_ordered_quantity_once() {
    let db = TestDb::with_shelves(&[Shelf::new("jelly", 0).reorder(0, 12)]).await;
    let id = stock_out(&db).await;
    let api = RestockApi::new(db.warehouse.clone(), signer(), 4096);
    let token = query(id, 12);
    let early = send_restock(&api, &id.to_string(), &token, &notice(12)).await;
    assert_eq!(early.status, 403, "still in the queue: {:?}", early.json());
    assert_eq!(early.json()["error"]["code"], "forbidden");
    sent(&db, id).await;
    let other_body = send_restock(&api, &id.to_string(), &token, &notice(7)).await;
    assert_eq!(other_body.status, 403, "the body's 7 is not the URL's 12");
    let other_url = send_restock(&api, &id.to_string(), &query(id, 7), &notice(7)).await;
    assert_eq!(other_url.status, 403, "a URL for 7 when 12 were ordered");
    assert_eq!(db.stock("jelly").await, 0);

    let reply = send_restock(&api, &id.to_string(), &token, &notice(12)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(reply.json()["added"], 12);
    assert_eq!(reply.json()["already_fulfilled"], false);
    for _ in 0..2 {
        let again = send_restock(&api, &id.to_string(), &token, &notice(12)).await;
        assert_eq!(again.status, 200);
        assert_eq!(again.json()["already_fulfilled"], true);
    }
    assert_eq!(db.stock("jelly").await, 12);
    let order = db.warehouse.factory_order(id).await.unwrap().unwrap();
    assert_eq!(order.status, donut_domain::FactoryOrderStatus::Fulfilled);
}

/// The callback key rotated while callbacks are in flight: URLs issued under the old key keep
/// working while it is the previous key, new URLs carry the new key, and once the old key is
/// dropped its URLs are refused (401) and change nothing.
#[tokio::test]
async fn a_key_rotation_keeps_the_urls_in_flight_working() {
    let db = TestDb::with_shelves(&[
        Shelf::new("jelly", 0).reorder(0, 12),
        Shelf::new("cruller", 0).reorder(0, 6),
    ])
    .await;
    let old_key = || CallbackSecret::new("o".repeat(32)).unwrap();
    let new_key = || CallbackSecret::new("n".repeat(32)).unwrap();
    let old = CallbackSigner::new(old_key(), "http://x");
    // Two orders sent to the factory under the old key.
    let jelly = stock_out(&db).await;
    let sales = sales(&db);
    let reply = order(&sales, &json!({"product_id": "cruller", "quantity": 1})).await;
    let cruller = FactoryOrderId::parse(
        reply.json()["restock"]["factory_order_id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    sent(&db, jelly).await;
    sent(&db, cruller).await;
    let jelly_url = old.query_at(jelly, 12, now());
    let cruller_url = old.query_at(cruller, 6, now());
    // Rotation: the new key signs, the old one still verifies.
    let rotating = CallbackSigner::with_keys(vec![new_key(), old_key()], "http://x");
    let api = RestockApi::new(db.warehouse.clone(), rotating.clone(), 4096);
    let reply = send_restock(&api, &jelly.to_string(), &jelly_url, &notice(12)).await;
    assert_eq!(
        reply.status,
        200,
        "in flight before the rotation: {:?}",
        reply.json()
    );
    assert!(
        rotating
            .query_at(cruller, 6, now())
            .contains(&format!("kid={}", new_key().id()))
    );
    // The old key dropped: what it signed is refused.
    let rotated = RestockApi::new(
        db.warehouse.clone(),
        CallbackSigner::with_keys(vec![new_key()], "http://x"),
        4096,
    );
    let late = send_restock(&rotated, &cruller.to_string(), &cruller_url, &notice(6)).await;
    assert_eq!(late.status, 401);
    assert_eq!(db.stock("cruller").await, 0);
    let renewed = rotating.query_at(cruller, 6, now());
    let reply = send_restock(&rotated, &cruller.to_string(), &renewed, &notice(6)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(
        (db.stock("jelly").await, db.stock("cruller").await),
        (12, 6)
    );
}

/// The keys are read on the first callback; while they cannot be read the factory is told to
/// try again (503 + Retry-After) and nothing changes; the next callback reads them.
#[tokio::test]
async fn unreadable_keys_are_503_and_read_again_on_the_next_callback() {
    let db = TestDb::with_shelves(&[Shelf::new("jelly", 0).reorder(0, 12)]).await;
    let id = stock_out(&db).await;
    sent(&db, id).await;
    let reads = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let keys = {
        let reads = reads.clone();
        donut_factory::CallbackKeys::deferred(move || {
            let first = reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
            async move {
                if first {
                    Err("Secrets Manager unreachable".to_owned())
                } else {
                    Ok(signer())
                }
            }
        })
    };
    let api = RestockApi::new(db.warehouse.clone(), keys, 4096);
    let url = query(id, 12);
    let reply = send_restock(&api, &id.to_string(), &url, &notice(12)).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.json()["error"]["code"], "callback_keys_unavailable");
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(db.stock("jelly").await, 0);
    let reply = send_restock(&api, &id.to_string(), &url, &notice(12)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(db.stock("jelly").await, 12);
}

#[tokio::test]
async fn forged_missing_and_cross_order_tokens_are_401_and_change_nothing() {
    let db = TestDb::with_shelves(&[Shelf::new("jelly", 0).reorder(0, 12)]).await;
    let id = stock_out(&db).await;
    sent(&db, id).await;
    let api = RestockApi::new(db.warehouse.clone(), signer(), 4096);
    let other = query(FactoryOrderId::new(), 12);
    let foreign = CallbackSigner::new(CallbackSecret::new("t".repeat(32)).unwrap(), "http://x")
        .query_at(id, 12, now());
    let expired = signer()
        .with_ttl(std::time::Duration::from_secs(60))
        .query_at(id, 12, now() - 3600);
    let good = query(id, 12);
    let sig = good.rsplit_once("sig=").unwrap().1;
    for bad in [
        String::new(),
        "token=".into(),
        other,
        foreign,
        expired,
        good.replace(sig, &"0".repeat(64)),
        good.replace(sig, &"g".repeat(64)),
        good.replace("q=12", "q=120"),
    ] {
        let reply = send_restock(&api, &id.to_string(), &bad, &notice(12)).await;
        assert_eq!(reply.status, 401, "{bad}");
        assert_eq!(
            reply.json(),
            json!({"error": {"code": "unauthorized", "message": donut_api::CALLBACK_REFUSED}}),
            "one answer whatever failed: {bad}"
        );
    }
    let reply = send_restock(&api, "not-a-uuid", &good, &notice(12)).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.json()["error"]["message"],
        donut_api::CALLBACK_REFUSED
    );
    assert_eq!(db.stock("jelly").await, 0);
}

#[tokio::test]
async fn a_signed_callback_with_a_bad_body_is_400_and_an_unknown_order_404() {
    let db = TestDb::with_shelves(&[Shelf::new("jelly", 0).reorder(0, 12)]).await;
    let id = stock_out(&db).await;
    sent(&db, id).await;
    let api = RestockApi::new(db.warehouse.clone(), signer(), 4096);
    let token = query(id, 12);
    for body in [&b"{"[..], b"{}", b"[1]", br#"{"OrderStockCnt":"many"}"#] {
        let reply = send_restock(&api, &id.to_string(), &token, body).await;
        assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(db.stock("jelly").await, 0);
    let unknown = FactoryOrderId::new();
    let reply = send_restock(&api, &unknown.to_string(), &query(unknown, 12), &notice(12)).await;
    assert_eq!(reply.status, 404);
}

/// An event in AWS's own shape (`tests/fixtures/aws`), its `{{NAME}}` placeholders filled.
fn aws_event(text: &str, fill: &[(&str, &str)]) -> lambda_http::Request {
    let mut text = text.to_owned();
    for (name, value) in fill {
        text = text.replace(&format!("{{{{{name}}}}}"), value);
    }
    lambda_http::request::from_str(&text).expect("an API Gateway v2 event")
}

const POST_ORDERS: &str = include_str!("../../../tests/fixtures/aws/apigw-v2-post-orders.json");
const GET_PRODUCT: &str = include_str!("../../../tests/fixtures/aws/apigw-v2-get-product.json");
const CALLBACK: &str = include_str!("../../../tests/fixtures/aws/apigw-v2-factory-callback.json");

/// The events API Gateway sends for the infra's routes (route keys, path parameters, the
/// factory's signed callback) reach the handlers as they do in AWS.
#[tokio::test]
async fn events_in_awss_own_shape_are_served() {
    let db = TestDb::with_shelves(&[
        Shelf::new("glazed", 5).reorder(0, 10),
        Shelf::new("jelly", 0).reorder(0, 12),
    ])
    .await;
    let api = sales(&db);

    let sold: HttpReply = api.handle(aws_event(POST_ORDERS, &[])).await.into();
    assert_eq!(sold.status, 200, "{:?}", sold.json());
    assert_eq!(sold.json()["remaining"], 4);
    assert_ne!(
        sold.header("x-correlation-id"),
        Some("fixture-purchase-1"),
        "the caller's correlation id is not taken as ours"
    );

    let product: HttpReply = api.handle(aws_event(GET_PRODUCT, &[])).await.into();
    assert_eq!(product.status, 200, "{:?}", product.json());
    assert_eq!(product.json()["stock"], 4);

    let id = stock_out(&db).await;
    sent(&db, id).await;
    let restock = RestockApi::new(db.warehouse.clone(), signer(), 4096);
    let token = query(id, 12);
    let field = |key: &str| {
        token
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{key}=")))
            .unwrap()
            .to_owned()
    };
    let (exp, kid, sig) = (field("exp"), field("kid"), field("sig"));
    let id = id.to_string();
    let fill = [
        ("FACTORY_ORDER_ID", id.as_str()),
        ("EXP", exp.as_str()),
        ("KID", kid.as_str()),
        ("SIG", sig.as_str()),
    ];
    let restocked: HttpReply = restock.handle(aws_event(CALLBACK, &fill)).await.into();
    assert_eq!(restocked.status, 200, "{:?}", restocked.json());
    assert_eq!(restocked.json()["added"], 12);
    assert_eq!(db.stock("jelly").await, 12);
}

/// The local gateway's event has every key AWS's has, at every level the handlers read.
#[test]
fn the_local_gateway_frames_requests_with_awss_keys() {
    fn keys(v: &Value) -> std::collections::BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }
    let aws: Value = serde_json::from_str(POST_ORDERS).unwrap();
    let body = br#"{"product_id":"glazed","quantity":1}"#;
    let ours = donut_apigw::event_json(&call("POST", "/orders", "", body, "application/json"));
    // Present only when the route has them.
    let optional = ["pathParameters", "queryStringParameters", "cookies"];
    let missing: Vec<_> = keys(&aws)
        .difference(&keys(&ours))
        .filter(|k| !optional.contains(&k.as_str()))
        .cloned()
        .collect();
    assert!(missing.is_empty(), "the stand-in's event lacks {missing:?}");
    for path in ["/requestContext", "/requestContext/http"] {
        let missing: Vec<_> = keys(aws.pointer(path).unwrap())
            .difference(&keys(ours.pointer(path).unwrap()))
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "the stand-in's {path} lacks {missing:?}"
        );
    }
}

/// What a metric sink saw in one scope (`donut_metrics::scoped`).
#[derive(Default)]
struct ServerErrors(std::sync::Mutex<f64>);

impl donut_metrics::Sink for ServerErrors {
    fn record(&self, metric: donut_metrics::Metric, value: f64) {
        if metric == donut_metrics::Metric::ServerErrors {
            *self.0.lock().unwrap() += value;
        }
    }
}

/// Every 5xx answer counts one `ServerErrors` (the canary alarms' metric), a 4xx none: the
/// sales API (an unreachable warehouse) and the restock callback (unreadable keys).
#[tokio::test]
async fn every_5xx_answer_counts_one_server_error_and_a_4xx_none() {
    let seen = std::sync::Arc::new(ServerErrors::default());
    let config = DbConfig::from_url("mysql://donut:donut@127.0.0.1:1/donut")
        .unwrap()
        .with_acquire_timeout(Duration::from_millis(300));
    let broken = SalesApi::new(MySqlWarehouse::new(&config), Limits::default());
    let statuses = donut_metrics::scoped(seen.clone(), async {
        let a = order(&broken, &json!({"product_id": "glazed", "quantity": 1})).await;
        let b = order(&broken, &json!({"product_id": "glazed", "quantity": 1})).await;
        let c = send_sales(&broken, call("GET", "/nope", "", b"", "")).await;
        let d = order(&broken, &json!({"product_id": "glazed"})).await;
        [a.status, b.status, c.status, d.status]
    })
    .await;
    assert_eq!(statuses, [503, 503, 404, 400]);
    assert_eq!(*seen.0.lock().unwrap(), 2.0);

    let db = TestDb::with_shelves(&[Shelf::new("jelly", 0).reorder(0, 12)]).await;
    let id = stock_out(&db).await;
    sent(&db, id).await;
    let keys = donut_factory::CallbackKeys::deferred(|| async {
        Err::<CallbackSigner, _>("Secrets Manager unreachable".to_owned())
    });
    let api = RestockApi::new(db.warehouse.clone(), keys, 4096);
    let seen = std::sync::Arc::new(ServerErrors::default());
    let reply = donut_metrics::scoped(
        seen.clone(),
        send_restock(&api, &id.to_string(), &query(id, 12), &notice(12)),
    )
    .await;
    assert_eq!(reply.status, 503);
    assert_eq!(*seen.0.lock().unwrap(), 1.0);
}
