//! The simulator as deployed: function URL events in, its delay queue (LocalStack's SQS) between
//! the order and the callback, the callback made when the queue's message comes due. The events
//! are shaped as Lambda gives them (function URL payload 2.0, SQS records).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use base64::Engine as _;
use donut_contract::settings::{FactorySimulator, FactorySimulatorKnobs};
use factory_sim::deployed;
use serde_json::{Value, json};

fn endpoint() -> String {
    std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4576".into())
}

async fn sqs() -> aws_sdk_sqs::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// The stack's callback route, recording what arrives.
async fn callback_receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = axum::Router::new()
        .route(
            "/factory/callback/{id}",
            axum::routing::post(
                |State(r): State<Received>, Path(id): Path<String>, body: axum::Json<Value>| async move {
                    r.lock().unwrap().push((id, body.0));
                    "ok"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

/// A function URL request, as Lambda passes it (payload format 2.0).
fn url_event(
    method: &str,
    path: &str,
    correlation_id: Option<&str>,
    body: Option<&Value>,
) -> Value {
    let mut headers =
        json!({ "content-type": "application/json", "host": "abc.lambda-url.eu-west-1.on.aws" });
    if let Some(id) = correlation_id {
        headers["x-correlation-id"] = json!(id);
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc",
            "domainName": "abc.lambda-url.eu-west-1.on.aws",
            "domainPrefix": "abc",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "test" },
            "requestId": "r1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "04/Dec/2026:17:00:00 +0000",
            "timeEpoch": 1796403600000u64
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    })
}

fn order(callback_url: &str) -> Value {
    json!({
        "MessageGroupId": "stock-arrival-group",
        "MessageAttributeProductId": "glazed",
        "MessageAttributeProductCnt": "0",
        "OrderStockCnt": 12,
        "CallbackUrl": callback_url,
    })
}

async fn answer(sim: &factory_sim::Simulator, event: Value) -> (i64, Value) {
    let reply = deployed::handle(sim, event).await.unwrap();
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    (reply["statusCode"].as_i64().unwrap(), body)
}

#[tokio::test]
async fn orders_come_back_through_the_delay_queue_and_only_to_the_stack() {
    let sqs = sqs().await;
    let name = format!("factory-sim-delay-{}", uuid::Uuid::new_v4().simple());
    let queue_url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let (api, received) = callback_receiver().await;
    let settings = FactorySimulator {
        knobs: FactorySimulatorKnobs {
            delay_seconds: 2,
            fail_percent: 0,
            hang_percent: 0,
            duplicate_percent: 0,
            drop_percent: 0,
        },
        delay_queue_url: queue_url.clone(),
        callback_base_url: api.clone(),
    };
    let sim = deployed::simulator(&settings, sqs.clone()).unwrap();
    let callback = format!("{api}/factory/callback/fo-1?token=t");

    // Accepted: the legacy answer, and a message the queue holds back for the delay.
    let sent = Instant::now();
    let (status, body) = answer(
        &sim,
        url_event(
            "POST",
            "/api/manufactures",
            Some("c-1"),
            Some(&order(&callback)),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["data"], order(&callback));
    let mut messages = Vec::new();
    while messages.is_empty() && sent.elapsed() < Duration::from_secs(10) {
        messages = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
    }
    let due = sent.elapsed();
    assert_eq!(messages.len(), 1, "the callback's message never came due");
    assert!(
        due >= Duration::from_millis(1500),
        "the message came due after {due:?}, not after the 2 s delay"
    );
    assert!(
        received.lock().unwrap().is_empty(),
        "called back before the message was due"
    );

    // The message due: Lambda hands it over as an SQS event, and the callback is made.
    let record = &messages[0];
    let event = json!({ "Records": [{
        "messageId": record.message_id(),
        "receiptHandle": record.receipt_handle(),
        "body": record.body(),
        "attributes": { "ApproximateReceiveCount": "1", "SentTimestamp": "1796403600000",
                        "SenderId": "AIDA", "ApproximateFirstReceiveTimestamp": "1796403600000" },
        "messageAttributes": {},
        "md5OfBody": record.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:eu-west-1:000000000000:{name}"),
        "awsRegion": "eu-west-1"
    }]});
    assert_eq!(deployed::handle(&sim, event).await.unwrap(), Value::Null);
    assert_eq!(
        *received.lock().unwrap(),
        vec![("fo-1".to_owned(), order(&callback))],
        "the callback carries the order, to its URL"
    );

    // A callback anywhere but the stack's callback route is refused: nothing queued.
    for elsewhere in [
        "https://attacker.example/factory/callback/x".to_owned(),
        format!("{api}/orders"),
        format!("{api}.attacker.example/factory/callback/x"),
        format!("{api}/factory/callback/../../orders"),
        format!("{api}/factory/callback/%2e%2e/%2e%2e/orders"),
        format!("{api}/factory/callback/x/more"),
        format!("{api}/factory/callback/"),
        format!(
            "{}/factory/callback/x",
            api.replace("http://", "http://user@")
        ),
        "not a url".to_owned(),
    ] {
        let (status, body) = answer(
            &sim,
            url_event("POST", "/api/manufactures", None, Some(&order(&elsewhere))),
        )
        .await;
        assert_eq!(status, 400, "{elsewhere}: {body}");
    }

    // A product whose factory id says refuse until a time to come: 500; once it has passed,
    // or when it is further ahead than the simulator honours, accepted. What a buyer sends (a
    // correlation id) asks for nothing.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let refused = |product: &str| {
        let mut order = order(&callback);
        order["MessageAttributeProductId"] = product.into();
        order
    };
    let cases = [
        (factory_sim::refuse_until(now + 600, "smoke"), 500),
        (factory_sim::refuse_until(now - 1, "smoke"), 200),
        (
            factory_sim::refuse_until(now + factory_sim::MAX_REFUSAL.as_secs() + 60, "far"),
            200,
        ),
    ];
    for (product, expected) in cases {
        let (status, _) = answer(
            &sim,
            url_event("POST", "/api/manufactures", None, Some(&refused(&product))),
        )
        .await;
        assert_eq!(status, expected, "{product}");
    }
    let buyer_says = factory_sim::refuse_until(now + 600, "stranger");
    let (status, _) = answer(
        &sim,
        url_event(
            "POST",
            "/api/manufactures",
            Some(&buyer_says),
            Some(&order(&callback)),
        ),
    )
    .await;
    assert_eq!(status, 200, "a correlation id asks for nothing");

    // The knobs are the stage's: readable, not writable.
    let (status, knobs) = answer(&sim, url_event("GET", "/knobs", None, None)).await;
    assert_eq!((status, knobs["delay_ms"].as_u64()), (200, Some(2000)));
    let (status, body) = answer(
        &sim,
        url_event("PUT", "/knobs", None, Some(&json!({ "fail_rate": 1.0 }))),
    )
    .await;
    assert_eq!(status, 405, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("factorySim"),
        "{body}"
    );

    // A body the function URL passed base64-encoded reads the same.
    let mut event = url_event("POST", "/api/manufactures", None, None);
    event["body"] =
        json!(base64::engine::general_purpose::STANDARD.encode(order(&callback).to_string()));
    event["isBase64Encoded"] = json!(true);
    let (status, body) = answer(&sim, event).await;
    assert_eq!(status, 200, "{body}");
    let (status, stats) = answer(&sim, url_event("GET", "/stats", None, None)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            stats["received"].as_u64(),
            stats["failed"].as_u64(),
            stats["callbacks_sent"].as_u64()
        ),
        // The first order, the three refusal cases, the buyer's, the base64 one.
        (Some(6), Some(1), Some(1)),
        "{stats}"
    );

    sqs.delete_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .unwrap();
}
