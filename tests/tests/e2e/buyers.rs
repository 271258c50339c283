//! A stage whose buyers sign in (`buyerAuth`): the local gateway is API Gateway's JWT
//! authorizer on `POST /orders` and `GET /orders/{id}` — the stage's issuer and audience, the
//! local issuer's keys — and refuses, before any function runs, what it refuses. A buyer's key
//! and orders are theirs.

use donut_apigw::jwt::local_issuer;
use donut_config::BuyerAuth;
use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;
use serde_json::{Value, json};

const ISSUER: &str = "https://buyers.donut.test";
const AUDIENCE: &str = "donut-shop";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token of `sub`, the stage's unless `claims` say otherwise.
fn token(sub: &str, claims: Value) -> String {
    let mut all = json!({
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now() - 10,
        "exp": now() + 600,
    });
    for (k, v) in claims.as_object().unwrap() {
        all[k] = v.clone();
    }
    local_issuer::mint(&all)
}

async fn buy(t: &TestStack, bearer: Option<&str>, key: &str, quantity: u32) -> (u16, Value) {
    let mut request = t
        .http
        .post(t.url("/orders"))
        .header("idempotency-key", key)
        .json(&json!({"product_id": "jwt-glazed", "quantity": quantity}));
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("Bearer {bearer}"));
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn order(t: &TestStack, bearer: Option<&str>, id: &str) -> (u16, Value) {
    let mut request = t.http.get(t.url(&format!("/orders/{id}")));
    if let Some(bearer) = bearer {
        request = request.header("authorization", format!("Bearer {bearer}"));
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buyers_sign_in_and_their_keys_and_orders_are_their_own() {
    let t = spawn_stack_set_up(
        &[Shelf::new("jwt-glazed", 20).reorder(0, 10)],
        Knobs::default(),
        Setup {
            stage: |stage| {
                stage.buyer_auth = Some(BuyerAuth {
                    issuer: ISSUER.to_owned(),
                    audience: vec![AUDIENCE.to_owned()],
                })
            },
            ..Setup::default()
        },
    )
    .await;

    let good = token("ann", json!({}));
    let tampered = {
        let (rest, sig) = good.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        format!("{rest}.{flipped}{}", &sig[1..])
    };
    let matrix = [
        ("no token", None),
        ("expired", Some(token("ann", json!({"exp": now() - 60})))),
        (
            "other audience",
            Some(token("ann", json!({"aud": "another-app"}))),
        ),
        (
            "other issuer",
            Some(token("ann", json!({"iss": "https://elsewhere.example"}))),
        ),
        ("bad signature", Some(tampered)),
    ];
    println!("the JWT authorizer on POST /orders:");
    for (case, bearer) in &matrix {
        let (status, body) = buy(&t, bearer.as_deref(), "cart-x", 1).await;
        println!("  {case:<15} {status} {body}");
        assert_eq!(
            (status, body),
            (401, json!({"message": "Unauthorized"})),
            "{case}: API Gateway's answer"
        );
    }
    assert_eq!(t.db.stock("jwt-glazed").await, 20, "no function ran");
    let (status, sold) = buy(&t, Some(&good), "cart-1", 2).await;
    println!("  {:<15} {status} {sold}", "good");
    assert_eq!(status, 200, "{sold}");
    let products = t.http.get(t.url("/products")).send().await.unwrap();
    assert_eq!(products.status(), 200, "the shelves stay public");

    // The same key from another buyer is another purchase; a retry is the buyer's own.
    let bob = token("bob", json!({}));
    let (status, bobs) = buy(&t, Some(&bob), "cart-1", 2).await;
    assert_eq!(status, 200);
    assert_ne!(bobs["order_id"], sold["order_id"]);
    let (_, again) = buy(&t, Some(&good), "cart-1", 2).await;
    assert_eq!(again["order_id"], sold["order_id"]);
    assert_eq!(t.db.stock("jwt-glazed").await, 16, "two sales, one retry");

    // An order is its buyer's: nobody else sees it, and only its buyer its key.
    let id = sold["order_id"].as_str().unwrap();
    let (status, mine) = order(&t, Some(&good), id).await;
    assert_eq!((status, &mine["idempotency_key"]), (200, &json!("cart-1")));
    let (status, _) = order(&t, Some(&bob), id).await;
    assert_eq!(status, 404, "bob does not see ann's order");
    let (status, body) = order(&t, None, id).await;
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));
    assert_eq!(
        t.db.count("SELECT COUNT(*) FROM orders WHERE buyer = 'ann'", ())
            .await,
        1
    );
    t.stop().await;
}
