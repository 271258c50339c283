//! Property tests of the HTTP edge: whatever arrives, the handlers answer with a status the
//! contract lists and a JSON error body, and never panic. Bounded (256 cases each). The
//! warehouse is empty (in memory): whatever passes validation meets an unknown product or order.

use donut_api::{Limits, RestockApi, SalesApi};
use donut_apigw::{HttpCall, HttpReply, to_lambda_request};
use donut_factory::{CallbackSecret, CallbackSigner};
use donut_testkit::MemWarehouse;
use proptest::prelude::*;

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn call<'a>(method: &'a str, path: &'a str, query: &'a str, body: &'a [u8]) -> HttpCall<'a> {
    HttpCall {
        method,
        path,
        raw_query: query,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
        source_ip: "127.0.0.1",
    }
}

fn assert_json_error(reply: &HttpReply, allowed: &[u16]) -> Result<(), TestCaseError> {
    prop_assert!(allowed.contains(&reply.status), "status {}", reply.status);
    let body = reply.json();
    prop_assert!(body["error"]["code"].is_string(), "no error code: {body}");
    prop_assert!(body["error"]["message"].is_string());
    Ok(())
}

/// JSON-ish bodies: real orders with odd values, and random objects.
fn order_bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (any::<String>(), any::<i64>()).prop_map(|(p, q)| {
            serde_json::json!({ "product_id": p, "quantity": q })
                .to_string()
                .into_bytes()
        }),
        (any::<String>(), any::<f64>()).prop_map(|(p, q)| {
            serde_json::json!({ "product_id": p, "quantity": q })
                .to_string()
                .into_bytes()
        }),
        proptest::collection::vec(any::<u8>(), 0..300),
        "\\PC{0,200}".prop_map(String::into_bytes),
        proptest::collection::btree_map("[a-z_]{1,12}", any::<i32>(), 0..4)
            .prop_map(|m| serde_json::to_vec(&m).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_body_gets_a_listed_answer(body in order_bodies()) {
        let api = SalesApi::new(MemWarehouse::default(), Limits { max_quantity: 10, max_body_bytes: 1024 });
        let reply: HttpReply = run(api.handle(to_lambda_request(&call("POST", "/orders", "", &body)).unwrap())).into();
        // 404 is the empty warehouse's answer to a well-formed order.
        assert_json_error(&reply, &[400, 404])?;
    }

    #[test]
    fn any_product_path_gets_a_listed_answer(id in "\\PC{1,80}") {
        let api = SalesApi::new(MemWarehouse::default(), Limits::default());
        // `/`, `?` and `#` end the segment; `.` and `..` are dot-segments every URL parser
        // resolves (`/products/.` is `/products/`, the list).
        let id = id.replace(['/', '?', '#'], "_");
        let id = if id == "." || id == ".." { "_".to_owned() } else { id };
        let path = format!("/products/{id}");
        let Ok(request) = to_lambda_request(&call("GET", &path, "", b"")) else { return Ok(()) };
        let reply: HttpReply = run(api.handle(request)).into();
        assert_json_error(&reply, &[400, 404])?;
    }

    #[test]
    fn any_callback_gets_a_listed_answer(id in "[a-zA-Z0-9-]{0,40}", token in "[0-9a-f]{0,70}", body in order_bodies()) {
        let signer = CallbackSigner::new(CallbackSecret::new("p".repeat(32)).unwrap(), "http://x");
        let api = RestockApi::new(MemWarehouse::default(), signer, 1024);
        let path = format!("/factory/callback/{id}");
        let query = format!("token={token}");
        let reply: HttpReply = run(api.handle(to_lambda_request(&call("POST", &path, &query, &body)).unwrap())).into();
        assert_json_error(&reply, &[401, 404])?;
    }
}

/// What proptest once found: `/products/\` (a URL parser makes it `/products//`) listed the
/// products; an empty id is a 400, like any other id that is not one.
#[test]
fn an_empty_product_id_is_400_not_the_list() {
    for path in ["/products/\\", "/products//"] {
        let api = SalesApi::new(MemWarehouse::default(), Limits::default());
        let reply: HttpReply =
            run(api.handle(to_lambda_request(&call("GET", path, "", b"")).unwrap())).into();
        assert_eq!(reply.status, 400, "{path}");
    }
}
