//! A corpus of malformed requests for every route, sent over HTTP through the local gateway:
//! each one is a 4xx with a JSON error body, and none changes anything.

use donut_domain::FactoryOrderId;
use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;
use serde_json::{Value, json};

const OK_ORDER: &str = r#"{"product_id":"bad-glazed","quantity":1}"#;

/// Malformed `POST /orders` bodies (with a JSON content type unless said otherwise).
fn order_corpus() -> Vec<(Vec<u8>, &'static str)> {
    let json_ct = "application/json";
    let mut corpus: Vec<(Vec<u8>, &'static str)> = Vec::new();
    let raw = [
        "",
        "{",
        "}",
        "[",
        "nul",
        "null",
        "true",
        "1",
        "\"order\"",
        "[]",
        "{}",
        "{\"product_id\":}",
        "{\"product_id\":\"bad-glazed\",}",
        "{'product_id':'bad-glazed','quantity':1}",
        "{\"product_id\":\"bad-glazed\",\"quantity\":NaN}",
        "{\"product_id\":\"bad-glazed\",\"quantity\":Infinity}",
        "{\"product_id\":\"bad-glazed\" /* c */,\"quantity\":1}",
        "\u{feff}{\"product_id\":\"bad-glazed\",\"quantity\":1}",
        "{\"product_id\":\"\\ud800\",\"quantity\":1}",
    ];
    for r in raw {
        corpus.push((r.as_bytes().to_vec(), json_ct));
    }
    corpus.push(("[".repeat(300).into_bytes(), json_ct));
    corpus.push((
        format!(
            r#"{{"product_id":"bad-glazed","quantity":1,"pad":"{}"}}"#,
            "x".repeat(1 << 20)
        )
        .into_bytes(),
        json_ct,
    ));
    let product_values = [
        json!(7),
        json!(true),
        json!(null),
        json!(["bad-glazed"]),
        json!({"id": "bad-glazed"}),
        json!(1.5),
    ];
    for p in product_values {
        corpus.push((
            json!({ "product_id": p, "quantity": 1 })
                .to_string()
                .into_bytes(),
            json_ct,
        ));
    }
    let quantity_values = [
        json!("1"),
        json!(1.5),
        json!(true),
        json!(null),
        json!([1]),
        json!({"n": 1}),
        json!(0),
        json!(-1),
        json!(-0.0),
        json!(11),
        json!(2147483648_i64),
        json!(9223372036854775807_i64),
        json!(1e3),
        json!(f64::MAX),
    ];
    for q in quantity_values {
        corpus.push((
            json!({ "product_id": "bad-glazed", "quantity": q })
                .to_string()
                .into_bytes(),
            json_ct,
        ));
    }
    corpus.push((
        br#"{"product_id":"bad-glazed","quantity":99999999999999999999999}"#.to_vec(),
        json_ct,
    ));
    let ids = [
        "",
        " ",
        "bad glazed",
        "bad-glazed\u{0}",
        "ｂad-glazed",
        "bad-glazed\u{200b}",
        "\u{202e}dezalg-dab",
        "🍩",
        "bad-glazed\u{301}",
        "' OR '1'='1",
        "bad-glazed'; DROP TABLE products; --",
        "../../etc/passwd",
        "%00",
        "bad-glazed\n",
    ];
    for id in ids {
        corpus.push((
            json!({ "product_id": id, "quantity": 1 })
                .to_string()
                .into_bytes(),
            json_ct,
        ));
    }
    corpus.push((
        json!({ "product_id": "x".repeat(65), "quantity": 1 })
            .to_string()
            .into_bytes(),
        json_ct,
    ));
    corpus.push((json!({ "quantity": 1 }).to_string().into_bytes(), json_ct));
    corpus.push((
        json!({ "product_id": "bad-glazed" })
            .to_string()
            .into_bytes(),
        json_ct,
    ));
    corpus.push((
        json!({ "product_id": "bad-glazed", "quantity": 1, "price": 0 })
            .to_string()
            .into_bytes(),
        json_ct,
    ));
    corpus.push((
        json!({ "Product_Id": "bad-glazed", "quantity": 1 })
            .to_string()
            .into_bytes(),
        json_ct,
    ));
    for ct in [
        "text/plain",
        "",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        corpus.push((OK_ORDER.as_bytes().to_vec(), ct));
    }
    corpus
}

async fn assert_untouched(t: &TestStack) {
    assert_eq!(t.db.stock("bad-glazed").await, 5);
    assert_eq!(t.db.count("SELECT COUNT(*) FROM orders", ()).await, 0);
    assert_eq!(
        t.db.count("SELECT COUNT(*) FROM factory_orders", ()).await,
        0
    );
    assert_eq!(t.db.count("SELECT COUNT(*) FROM outbox", ()).await, 0);
}

fn assert_error(status: u16, body: &[u8], what: &str) {
    assert!((400..500).contains(&status), "{what}: status {status}");
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|_| panic!("{what}: not JSON"));
    // Ours, or API Gateway's own (a path no route matches: `%2e%2e` is `..` to a client,
    // and `/products/..` is `/`).
    assert!(
        (v["error"]["code"].is_string() && v["error"]["message"].is_string())
            || v == serde_json::json!({"message": "Not Found"}),
        "{what}: {v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_to_every_route_are_refused_and_change_nothing() {
    let t = spawn_stack(
        &[Shelf::new("bad-glazed", 5).reorder(0, 10)],
        Knobs::default(),
    )
    .await;
    let mut tried = 0;

    let orders = order_corpus();
    assert!(orders.len() >= 50, "{} order bodies", orders.len());
    for (body, content_type) in &orders {
        let mut r = t.http.post(t.url("/orders")).body(body.clone());
        if !content_type.is_empty() {
            r = r.header("content-type", *content_type);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let what = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_error(status, &r.bytes().await.unwrap(), &what);
        tried += 1;
    }
    assert_untouched(&t).await;

    // GET /products/{id}: ids no product has, or can have.
    let mut product_paths: Vec<String> = [
        "%27%20OR%201%3D1",
        "..%2F..%2Fetc%2Fpasswd",
        "%00",
        "%F0%9F%8D%A9",
        "a%20b",
        "%E2%80%AE",
        "bad-glazed%0A",
        "%25",
        "%2e%2e",
        "unknown",
        "BAD-GLAZED",
        "bad_glazed",
        "bad-glazed-",
        "-",
        "_",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    product_paths.push("x".repeat(65));
    product_paths.push("x".repeat(4000));
    for n in 0..35 {
        product_paths.push(format!("missing-{n}"));
    }
    for id in &product_paths {
        let r = t
            .http
            .get(t.url(&format!("/products/{id}")))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_error(status, &r.bytes().await.unwrap(), id);
        tried += 1;
    }
    assert!(product_paths.len() >= 50);

    // POST /factory/callback/{id}: a real order's id, with every kind of wrong token, and
    // with a valid token but a malformed body.
    let refused = t.buy("bad-glazed", 9, "bad-1").await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    let id = refused.body["restock"]["factory_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = callback_secret(&t).await;
    let quantity =
        t.db.count(
            "SELECT quantity FROM factory_orders WHERE factory_order_id = ?",
            (id.as_str(),),
        )
        .await as u32;
    // A valid query (`q=…&exp=…&kid=…&sig=…`) for this order, and what it is made of.
    let token = sign(&secret, FactoryOrderId::parse(&id).unwrap(), quantity);
    let other = sign(&secret, FactoryOrderId::new(), quantity);
    let sig = token.rsplit_once("sig=").unwrap().1.to_owned();
    let without = |key: &str| {
        token
            .split('&')
            .filter(|p| !p.starts_with(&format!("{key}=")))
            .collect::<Vec<_>>()
            .join("&")
    };
    let notice = json!({"MessageGroupId": "stock-arrival-group", "MessageAttributeProductId": "f-bad-glazed",
        "MessageAttributeProductCnt": "0", "OrderStockCnt": quantity, "CallbackUrl": "x"});
    let mut bad_tokens: Vec<String> = vec![
        String::new(),
        "token".into(),
        format!("token={sig}"),
        without("q"),
        without("exp"),
        without("kid"),
        without("sig"),
        other.clone(),
        token.replace(&sig, &sig.to_uppercase()),
        format!("{token}0"),
        token.replace(&sig, &sig[1..]),
        token.replace(&format!("q={quantity}&"), &format!("q={}&", quantity + 1)),
        token.replace("q=", "q=-"),
        token.replace("exp=", "exp=9"),
        token.replace("kid=", "kid=0"),
        token.replace("sig=", "Sig="),
        token.replace(&sig, &"0".repeat(64)),
        format!("{token}%00"),
    ];
    for _ in 0..20 {
        bad_tokens.push(sign(&secret, FactoryOrderId::new(), quantity));
    }
    for query in &bad_tokens {
        let r = t
            .http
            .post(t.lane_url(&format!("/factory/callback/{id}?{query}")))
            .json(&notice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{query}");
        assert_error(401, &r.bytes().await.unwrap(), query);
        tried += 1;
    }
    let bodies: Vec<Vec<u8>> = order_corpus()
        .into_iter()
        .take(18)
        .map(|(b, _)| b)
        .collect();
    for body in &bodies {
        let r = t
            .http
            .post(t.lane_url(&format!("/factory/callback/{id}?{token}")))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert_error(status, &r.bytes().await.unwrap(), "callback body");
        tried += 1;
    }
    assert!(bad_tokens.len() + bodies.len() >= 50);
    let order =
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders WHERE status = 'fulfilled'",
            (),
        )
        .await;
    assert_eq!(order, 0, "no malformed callback restocked");
    assert_eq!(t.db.stock("bad-glazed").await, 5);
    println!("malformed requests tried: {tried}");
    t.stop().await;
}

async fn callback_secret(t: &TestStack) -> String {
    let aws = donut_runtime::Aws::ready(t.stack.aws.clone());
    donut_runtime::adapters::secret_string(&aws, &t.stack.resources.callback_secret_arn)
        .await
        .unwrap()
}

/// The callback URL's query for `id` and `quantity`, signed with the stack's key.
fn sign(secret: &str, id: FactoryOrderId, quantity: u32) -> String {
    let keys = donut_factory::keys_from_secret_string(secret).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    donut_factory::CallbackSigner::with_keys(keys, "").query_at(id, quantity, now)
}
