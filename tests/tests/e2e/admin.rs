//! The operators' door through the local gateway, signed as `donut-cli` signs (SigV4, the
//! local operator's key): refused unsigned, wrongly signed or by a stranger before any function
//! runs; signed, a product is created, repriced, adjusted into a reorder and retired, each
//! change audited with the caller's ARN.

use donut_cli::signed::AdminClient;
use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;
use donut_local::gateway::LOCAL_OPERATOR_ARN;
use reqwest::Method;
use serde_json::{Value, json};

async fn client(t: &TestStack, key: (&str, &str)) -> AdminClient {
    use aws_credential_types::Credentials;
    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(t.stage.region.clone()))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                key.0, key.1, None, None, "test",
            )),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    AdminClient::new(&config, &t.url("")).unwrap()
}

async fn call(c: &AdminClient, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, body, _) = keyed(c, method, path, body, None).await;
    (status, body)
}

/// A call under an `Idempotency-Key`: its status, body and whether it was a replay.
async fn keyed(
    c: &AdminClient,
    method: Method,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let r = c.send(method, path, body.as_ref(), key).await.unwrap();
    let status = r.status().as_u16();
    let replayed = r.headers().get("idempotent-replayed").is_some();
    (status, r.json().await.unwrap_or(Value::Null), replayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_run_the_shop_signed_and_audited() {
    let t = spawn_stack(&[Shelf::new("admin-glazed", 3)], Knobs::default()).await;
    let audit = || async { t.db.count("SELECT COUNT(*) FROM catalogue_audit", ()).await };

    // Refused by the gateway, before any function runs.
    let unsigned = t.http.get(t.url("/admin/products")).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        unsigned.json::<Value>().await.unwrap(),
        json!({"message": "Forbidden"})
    );
    let wrong = client(&t, ("test", "not-the-secret")).await;
    let (status, body) = call(&wrong, Method::GET, "/admin/products", None).await;
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("The request signature we calculated does not match"),
        "{body}"
    );
    let stranger = client(&t, ("AKIASTRANGER", "x")).await;
    let (status, body) = call(&stranger, Method::GET, "/admin/products", None).await;
    assert_eq!(
        (status, body),
        (
            403,
            json!({"message": "The security token included in the request is invalid."})
        )
    );
    let public = t
        .http
        .post(t.url("/admin/products/admin-glazed/stock"))
        .json(&json!({"delta": 100, "reason": "free donuts"}))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 403);
    assert_eq!(
        public.json::<Value>().await.unwrap(),
        json!({"message": "Forbidden"}),
        "API Gateway's refusal, not the function's"
    );
    assert_eq!(audit().await, 0, "nothing reached the operators' function");

    // Signed: the shop changes, each change audited.
    let ops = client(&t, ("test", "test")).await;
    let cruller = json!({
        "product_id": "admin-cruller", "name": "French Cruller", "price_cents": 195,
        "stock": 6, "reorder_point": 2, "reorder_quantity": 12, "factory_product_id": "7"
    });
    let (status, created) =
        call(&ops, Method::POST, "/admin/products", Some(cruller.clone())).await;
    assert_eq!(
        (status, &created["changed"]),
        (201, &json!(true)),
        "{created}"
    );
    let (status, body) = call(&ops, Method::POST, "/admin/products", Some(cruller)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("product_exists"))
    );
    assert_eq!(t.stock("admin-cruller").await, 6, "on sale at once");

    let (status, repriced) = call(
        &ops,
        Method::PATCH,
        "/admin/products/admin-cruller",
        Some(json!({"price_cents": 210})),
    )
    .await;
    assert_eq!(
        (status, &repriced["product"]["price_cents"]),
        (200, &json!(210))
    );

    // Under a key, as donut-cli sends it: the retry of a change whose answer was lost answers
    // the same and changes nothing; the key for another change is refused.
    let tray = json!({"delta": -4, "reason": "a tray dropped"});
    let stock = "/admin/products/admin-cruller/stock";
    let (status, adjusted, replayed) = keyed(
        &ops,
        Method::POST,
        stock,
        Some(tray.clone()),
        Some("tray-1"),
    )
    .await;
    assert_eq!((status, replayed), (200, false), "{adjusted}");
    let (status, again, replayed) =
        keyed(&ops, Method::POST, stock, Some(tray), Some("tray-1")).await;
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again, adjusted, "the first answer again");
    let (status, body, _) = keyed(
        &ops,
        Method::POST,
        stock,
        Some(json!({"delta": -1, "reason": "a tray dropped"})),
        Some("tray-1"),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("idempotency_key_reused"))
    );
    assert_eq!(adjusted["product"]["stock"], 2);
    let restock = &adjusted["restock"];
    assert_eq!(
        restock["opened_now"], true,
        "at its reorder point: {adjusted}"
    );
    let factory_order = restock["factory_order_id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &ops,
        Method::POST,
        "/admin/products/admin-cruller/stock",
        Some(json!({"delta": -3, "reason": "more than there is"})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("adjustment_refused"))
    );

    let (status, listed) = call(&ops, Method::GET, "/admin/factory-orders", None).await;
    assert_eq!(status, 200);
    assert!(
        listed["factory_orders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["factory_order_id"] == factory_order.as_str()),
        "{listed}"
    );
    // The adjustment's factory order goes through the pipeline like a sale's.
    eventually(
        std::time::Duration::from_secs(30),
        "the factory restocks",
        || async { t.stock("admin-cruller").await == 14 },
    )
    .await;

    let (status, _) = call(
        &ops,
        Method::PATCH,
        "/admin/products/admin-cruller",
        Some(json!({"retired": true})),
    )
    .await;
    assert_eq!(status, 200);
    let gone = t
        .http
        .get(t.url("/products/admin-cruller"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "a retired product is not listed");
    assert_eq!(
        t.buy("admin-cruller", 1, "retired").await.status,
        404,
        "nor sold"
    );

    let (status, trail) = call(
        &ops,
        Method::GET,
        "/admin/audit?product_id=admin-cruller",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let entries = trail["entries"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["retire", "adjust", "update", "create"]);
    assert!(entries.iter().all(|e| e["actor"] == LOCAL_OPERATOR_ARN));
    assert_eq!(entries[1]["reason"], "a tray dropped");
    assert_eq!(entries[1]["before"]["stock"], 6);
    assert_eq!(entries[1]["after"]["stock"], 2);
    println!("the audit trail of admin-cruller, newest first:");
    for e in entries {
        println!(
            "  {} {} {} by {} ({}){}",
            e["at"].as_str().unwrap(),
            e["action"].as_str().unwrap(),
            e["product_id"].as_str().unwrap(),
            e["actor"].as_str().unwrap(),
            e["correlation_id"].as_str().unwrap(),
            e["reason"]
                .as_str()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    t.stop().await;
}
