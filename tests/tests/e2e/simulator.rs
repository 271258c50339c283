//! Dev's factory simulator behind its function URL with `AWS_IAM` authorization, as the local
//! stack serves it (`donut_local::function_url`): strangers' unsigned requests are refused
//! before any simulator code runs and take none of its reserved instances, so a flood on its
//! URL — at and above what those instances serve (10 × the reservation a second) — cannot make
//! the requester's signed calls fail and dead-letter the stage's real orders.
//!
//! Before (the URL open, authorization `NONE`: every request reaches the function's reserved
//! instances — here, the flood signed with the key the URL lets through), the same flood takes
//! the function's request rate, and the requester's calls are throttled (429) whenever a
//! second's share is used up before they come: measured and printed, the throttling asserted.

use std::sync::atomic::Ordering;
use std::time::Duration;

use donut_domain::{CorrelationId, FactoryApi, FactoryError, FactoryOrderId, FactoryRequest};
use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;
use donut_factory::contract::MANUFACTURES_PATH;
use donut_factory::{CallAuth, CallbackSecret, CallbackSigner, FactoryClient, FactoryClientConfig};
use serde_json::json;

use crate::flood::Flood;

/// A stranger's order, as the legacy contract has it (what an open URL would have served).
fn strangers_order(lane: &str) -> serde_json::Value {
    json!({
        "MessageGroupId": "stock-arrival-group",
        "MessageAttributeProductId": "flood",
        "MessageAttributeProductCnt": "0",
        "OrderStockCnt": 1,
        "CallbackUrl": format!("{lane}/factory/callback/{}?sig=0", uuid::Uuid::new_v4()),
    })
}

/// Strangers posting `body` to the simulator's URL at `per_second` until stopped: unsigned, or
/// (`open`) signed with the key the URL lets through, as an open URL lets anyone through.
fn flood(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    per_second: u64,
    open: Option<String>,
) -> Flood {
    let (build, url, body) = (http.clone(), url.to_owned(), body.clone());
    Flood::start(http.clone(), per_second, move || {
        let mut request = build.post(&url).json(&body).build().unwrap();
        let open = open.clone();
        async move {
            if let Some(region) = &open {
                donut_local::function_url::sign_local(&mut request, region)
                    .await
                    .unwrap();
            }
            request
        }
    })
}

/// How long a stopped flood's last answers are waited for.
const SETTLE: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_the_simulators_url_cannot_dead_letter_the_real_orders() {
    let t = spawn_stack_set_up(
        &[
            Shelf::new("sim-open", 1).reorder(0, 6),
            Shelf::new("sim-at", 1).reorder(0, 6),
            Shelf::new("sim-above", 1).reorder(0, 6),
        ],
        Knobs {
            delay_ms: 500,
            ..Knobs::default()
        },
        Setup {
            // The simulator takes at most its reserved instances, as Lambda does.
            throttled: true,
            // Nobody rescues the order within the test: what restocks is the requester's call.
            watchdog: donut_domain::usecases::WatchdogPolicy {
                deadline: Duration::from_secs(3600),
                open_deadline: Duration::from_secs(3600),
                max_attempts: 3,
            },
            ..Setup::default()
        },
    )
    .await;
    let reserved = t
        .stage
        .simulator_reservation()
        .expect("dev deploys the simulator");
    // What the reserved instances serve a second (a function URL's limit: 10 × reserved).
    let served = u64::from(10 * reserved);
    let url = format!("{}{MANUFACTURES_PATH}", t.stack.factory_url);
    let body = strangers_order(&t.stack.factory_lane_url);
    let dlq = t.stack.resources.dlq_url.clone();

    // Before: the URL open (the flood let through, as with authorization NONE), 4 × what the
    // instances serve, for 8 s after the stock-out; then the order's fate once it is over.
    let open = flood(
        &t.http,
        &url,
        &body,
        4 * served,
        Some(t.stage.region.clone()),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.buy("sim-open", 1, "sim-flood").await.status, 200);
    let stock_out = std::time::Instant::now();
    let window = Duration::from_secs(8);
    let in_window = tokio::time::timeout(window, async {
        while t.db.stock("sim-open").await != 6 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .is_ok();
    let in_window_at = stock_out.elapsed();
    let flooded = open.stop(SETTLE).await;
    let (sent, throttled) = (flooded.sent, flooded.answered(429));
    // Whatever happened, its message settles (the factory accepted the order at last, or it
    // was dead-lettered) before the next phases, which count the DLQ.
    let accepted = || async {
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders \
             WHERE product_id = 'sim-open' AND status IN ('requested', 'fulfilled')",
            (),
        )
        .await
            == 1
    };
    eventually(
        Duration::from_secs(60),
        "the open phase's order to settle",
        || async { accepted().await || t.queue_depth(&dlq).await == 1 },
    )
    .await;
    let settled_after = stock_out.elapsed();
    let dead_lettered_before = t.queue_depth(&dlq).await;
    println!(
        "open URL (before): {sent} orders at {}/s (the reserved instances serve {served}/s), \
         {throttled} throttled (429); the real order {}; in the end {}",
        4 * served,
        if in_window {
            format!(
                "restocked {:.1} s after the stock-out",
                in_window_at.as_secs_f64()
            )
        } else {
            format!("not restocked within {:.0} s", window.as_secs_f64())
        },
        if dead_lettered_before == 1 {
            format!(
                "dead-lettered, {:.1} s after the stock-out",
                settled_after.as_secs_f64()
            )
        } else if t.db.stock("sim-open").await == 6 {
            "restocked".to_owned()
        } else {
            format!(
                "the factory took it by {:.1} s after the stock-out, once the flood stopped; its \
                 callback shares the factory's lane with the strangers' orders' callbacks",
                settled_after.as_secs_f64()
            )
        }
    );
    // What it does to the real order depends on where its calls fall in each second: printed,
    // not asserted. That the flood went past the function's request rate is.
    assert!(
        throttled > 0,
        "an open URL's flood takes the function's request rate: {throttled} of {sent} throttled"
    );

    // After: the URL IAM-authorized, the flood unsigned.

    for (product, per_second) in [("sim-at", served), ("sim-above", 4 * served)] {
        let counts = &t.stack.factory_url_counts;
        let let_through = counts.let_through.load(Ordering::SeqCst);
        let received = t.factory_stats().await.received;
        let throttled_before = counts.throttled.load(Ordering::SeqCst);
        let strangers = flood(&t.http, &url, &body, per_second, None);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(t.buy(product, 1, "sim-flood").await.status, 200);
        let took = eventually(Duration::from_secs(30), "the restock", || async {
            t.db.stock(product).await == 6
        })
        .await;
        let flooded = strangers.stop(SETTLE).await;
        let (sent, refused) = (flooded.sent, flooded.answered(403));
        let stats = t.factory_stats().await;
        // The stats call itself is signed and let through: one more.
        let reached = counts.let_through.load(Ordering::SeqCst) - let_through;
        println!(
            "{product}: {sent} unsigned orders at {per_second}/s (the reserved instances serve \
             {served}/s), {refused} refused (403) before the simulator; the real order's calls \
             reached it ({} received, {reached} let through the URL), {} throttled; restocked \
             {:.1} s after the stock-out (the factory's delay: 0.5 s); DLQ: {}",
            stats.received - received,
            counts.throttled.load(Ordering::SeqCst) - throttled_before,
            took.as_secs_f64(),
            t.queue_depth(&dlq).await - dead_lettered_before
        );
        assert!(
            sent >= per_second / 2,
            "the flood ran at its rate: {sent} in about a second or more"
        );
        assert_eq!(refused, sent, "every stranger's order refused");
        // The real order's call (a retry, were one timed out); a stranger's would be hundreds.
        assert!(
            (1..=u64::from(t.stage.queue.max_receive_count)).contains(&(stats.received - received)),
            "the simulator saw the real order's calls alone: {}",
            stats.received - received
        );
        assert_eq!(
            counts.throttled.load(Ordering::SeqCst),
            throttled_before,
            "nothing throttled"
        );
        assert_eq!(
            t.queue_depth(&dlq).await,
            dead_lettered_before,
            "nothing dead-lettered"
        );
    }
    assert_eq!(
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders \
             WHERE product_id IN ('sim-at', 'sim-above') AND status = 'fulfilled'",
            ()
        )
        .await,
        2,
        "both real orders restocked through the requester's signed calls"
    );
    t.stop().await;
}

/// What the simulator's URL answers: unsigned → Lambda's 403 `Forbidden` (no simulator code
/// runs); signed by a key IAM does not know → 403; the factory client as the requester builds
/// it (signed with the local functions' key) → accepted, the same client unsigned → 403.
#[tokio::test]
async fn only_the_requesters_signed_calls_reach_the_simulator() {
    let t = spawn_stack(&[], Knobs::default()).await;
    let url = format!("{}{MANUFACTURES_PATH}", t.stack.factory_url);
    let body = strangers_order(&t.stack.factory_lane_url);
    let received = t.factory_stats().await.received;

    let unsigned = t.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        unsigned.headers()["x-amzn-errortype"],
        "AccessDeniedException"
    );
    assert_eq!(
        unsigned.json::<serde_json::Value>().await.unwrap(),
        json!({ "Message": donut_local::function_url::FORBIDDEN_MESSAGE })
    );

    let stranger = donut_factory::SigV4Signer::new(
        &t.stage.region,
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("AKIDSTRANGER", "guessed", None, None, "x"),
        ),
    );
    let mut forged = t.http.post(&url).json(&body).build().unwrap();
    stranger
        .sign(&mut forged, std::time::SystemTime::now())
        .await
        .unwrap();
    let forged = t.http.execute(forged).await.unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(
        forged.json::<serde_json::Value>().await.unwrap()["message"],
        "The security token included in the request is invalid."
    );

    // The requester's client: its settings' auth (aws_iam, the stage's Region), signing with
    // the local functions' credentials (LocalStack's key), as `apps::factory_requester` builds it.
    let settings = t.stage.factory_requester(&donut_config::Deployment {
        // Only the factory's part of the settings is used here.
        database: &|_| donut_config::settings::Database {
            secret_arn: String::new(),
            host: String::new(),
            port: 0,
            name: String::new(),
            tls_ca: None,
            pool_size: 0,
            idle_seconds: 0,
        },
        stock_out_topic_arn: String::new(),
        ops_topic_arn: String::new(),
        callback_base_url: t.stack.factory_lane_url.clone(),
        callback_secret_arn: String::new(),
        callback_key_version: String::new(),
        factory_url: t.stack.factory_url.clone(),
    });
    let donut_config::settings::FactoryAuth::AwsIam { region } = &settings.factory.auth else {
        panic!("dev's requester signs: {:?}", settings.factory.auth);
    };
    let keys = CallbackSigner::new(
        CallbackSecret::new("k".repeat(32)).unwrap(),
        &t.stack.factory_lane_url,
    );
    let config = FactoryClientConfig::new(&t.stack.factory_url);
    let signer = donut_factory::SigV4Signer::new(
        region,
        aws_credential_types::provider::SharedCredentialsProvider::new(
            aws_credential_types::Credentials::new("test", "test", None, None, "localstack"),
        ),
    );
    let request = FactoryRequest {
        factory_order_id: FactoryOrderId::new(),
        factory_product_id: "sim-signed".into(),
        quantity: 1,
        stock_left: 0,
        correlation_id: CorrelationId::new(),
    };
    let signed = FactoryClient::new(&config, keys.clone()).with_auth(CallAuth::SigV4(signer));
    assert!(
        signed.request(&request).await.is_ok(),
        "the signed call is accepted"
    );
    assert_eq!(
        FactoryClient::new(&config, keys).request(&request).await,
        Err(FactoryError::Status(403)),
        "the same call unsigned is refused"
    );
    // Of the five requests, the simulator saw the signed order alone (and the stats calls).
    assert_eq!(t.factory_stats().await.received - received, 1);
    assert_eq!(t.stack.factory_url_counts.refused.load(Ordering::SeqCst), 3);
    t.stop().await;
}
