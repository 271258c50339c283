//! The restock pipeline end to end, over HTTP, on real MariaDB + LocalStack:
//! purchase → outbox → SNS → SQS → factory-requester → legacy factory → signed callback →
//! restock; and its failure paths: retries, duplicates, the DLQ, the alarm e-mail.

use std::time::{Duration, Instant};

use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;
use serde_json::Value;

fn quick(delay_ms: u64) -> Knobs {
    Knobs {
        delay_ms,
        ..Knobs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_until_stock_out_then_restock_then_buy_again() {
    // The factory is asked exactly once: with the tests' 1 s factory timeout, a machine stalled
    // past it would have the requester ask again (as it should), so this stack waits for the
    // factory as long as dev's stage does (`factoryTimeoutMs`).
    let t = spawn_stack_set_up(
        &[Shelf::new("e2e-glazed", 3).reorder(0, 6)],
        quick(1000),
        Setup {
            stage: |stage| stage.factory_timeout_ms = 5_000,
            ..Setup::default()
        },
    )
    .await;
    // The buyer's own correlation id is a reference kept beside ours, never ours.
    let reference = format!("e2e-{}", uuid::Uuid::new_v4());
    let sold = t.buy("e2e-glazed", 3, &format!("{reference}\"<b> ;")).await;
    assert_eq!(sold.status, 200, "{}", sold.body);
    let cid = sold.correlation_id.clone();
    assert!(uuid::Uuid::parse_str(&cid).is_ok(), "the server's: {cid}");
    let kept = log_lines_with(&reference);
    assert!(
        kept.iter()
            .any(|l| l["span"]["client_reference"] == format!("{reference}b").as_str()),
        "the buyer's reference, cleaned, beside the correlation id: {kept:?}"
    );
    assert!(
        kept.iter()
            .all(|l| l["span"]["correlation_id"] == cid.as_str()),
        "{kept:?}"
    );
    assert_eq!(sold.body["remaining"], 0);
    assert_eq!(sold.body["restock"]["opened_now"], true);
    let factory_order_id = sold.body["restock"]["factory_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stock_out_at = Instant::now();

    let refused = t.buy("e2e-glazed", 1, "someone-else").await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.body["error"]["code"], "out_of_stock");
    assert_eq!(
        refused.body["restock"]["factory_order_id"],
        factory_order_id.as_str()
    );

    eventually(Duration::from_secs(20), "restock", || async {
        t.stock("e2e-glazed").await == 6
    })
    .await;
    let restock_latency = stock_out_at.elapsed();
    println!(
        "stock-out → restock with FACTORY_DELAY_MS=1000: {} ms",
        restock_latency.as_millis()
    );

    let again = t.buy("e2e-glazed", 2, &reference).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["remaining"], 4);
    assert_eq!(
        t.db.count("SELECT COUNT(*) FROM factory_orders", ()).await,
        1
    );
    assert_eq!(
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders WHERE status = 'fulfilled'",
            ()
        )
        .await,
        1
    );
    assert_eq!(t.factory_stats().await.received, 1);

    // One correlation id through the chain: every log line that names the factory order
    // carries it, and each stage of the chain wrote at least one.
    let lines = log_lines_with(&factory_order_id);
    assert!(!lines.is_empty());
    for line in &lines {
        let carried = line["span"]["correlation_id"]
            .as_str()
            .or(line["correlation_id"].as_str());
        assert_eq!(carried, Some(cid.as_str()), "{line}");
    }
    let mine = log_lines_with(&cid);
    let stages = |name: &str| {
        mine.iter()
            .any(|l| l["span"]["name"] == name || l["message"] == name)
    };
    for stage in [
        "sales_api",
        "stock-out event published",
        "factory_requester",
        "warehouse_restock",
    ] {
        assert!(stages(stage), "no log line of {stage} carries {cid}");
    }
    // The chain's metrics are log lines too, carrying the same correlation id.
    let metrics: Vec<&str> = mine.iter().filter_map(|l| l["metric"].as_str()).collect();
    for metric in [
        "OrdersSold",
        "StockOuts",
        "FactoryOrdersRequested",
        "FactoryOrdersFulfilled",
        "RestockLatency",
    ] {
        assert!(
            metrics.contains(&metric),
            "{metric} not logged for {cid}: {metrics:?}"
        );
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factory_failing_at_first_is_retried_through_the_visibility_timeout() {
    let t = spawn_stack(
        &[Shelf::new("e2e-retry", 1).reorder(0, 5)],
        Knobs {
            fail_first: 2,
            ..quick(100)
        },
    )
    .await;
    assert_eq!(t.buy("e2e-retry", 1, "retry-1").await.status, 200);
    let took = eventually(Duration::from_secs(30), "restock after retries", || async {
        t.stock("e2e-retry").await == 5
    })
    .await;
    println!("restocked after two factory 5xx in {} ms", took.as_millis());
    assert_eq!(t.factory_stats().await.failed, 2);
    assert_eq!(
        t.db.count("SELECT request_attempts FROM factory_orders", ())
            .await,
        3
    );
    assert_eq!(
        t.queue_depth(&t.stack.resources.dlq_url).await,
        0,
        "nothing dead-lettered"
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_callbacks_and_redeliveries_move_stock_once() {
    let t = spawn_stack(
        &[Shelf::new("e2e-dup", 1).reorder(0, 8)],
        Knobs {
            duplicate_rate: 1.0,
            ..quick(200)
        },
    )
    .await;
    assert_eq!(t.buy("e2e-dup", 1, "dup-1").await.status, 200);
    eventually(Duration::from_secs(20), "two callbacks", || async {
        t.factory_stats().await.callbacks_sent == 2
    })
    .await;
    assert_eq!(
        t.stock("e2e-dup").await,
        8,
        "stock up once for two callbacks"
    );

    // Deliver the same stock-out event twice more, straight into the queue.
    assert_eq!(t.db.count("SELECT COUNT(*) FROM outbox", ()).await, 1);
    let payload = mysql_first(&mut t.db.conn().await, "SELECT payload FROM outbox").await;
    for _ in 0..2 {
        t.sqs()
            .send_message()
            .queue_url(&t.stack.resources.queue_url)
            .message_body(&payload)
            .send()
            .await
            .unwrap();
    }
    eventually(Duration::from_secs(20), "redeliveries consumed", || async {
        t.queue_depth(&t.stack.resources.queue_url).await == 0
    })
    .await;
    assert_eq!(
        t.factory_stats().await.received,
        1,
        "the factory was called once"
    );
    assert_eq!(t.stock("e2e-dup").await, 8);
    assert_eq!(t.queue_depth(&t.stack.resources.dlq_url).await, 0);
    t.stop().await;
}

async fn mysql_first(conn: &mut mysql_async::Conn, sql: &str) -> String {
    use mysql_async::prelude::Queryable;
    conn.query_first(sql).await.unwrap().unwrap()
}

/// FACTORY_FAIL_RATE=1: the message is retried `maxReceiveCount` times, moves to the DLQ,
/// the DLQ-depth alarm fires and ops get the e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_factory_that_always_fails_dead_letters_the_order_and_emails_ops() {
    let t = spawn_stack(
        &[Shelf::new("e2e-dead", 1).reorder(0, 5)],
        Knobs {
            fail_rate: 1.0,
            ..quick(100)
        },
    )
    .await;
    let started = Instant::now();
    assert_eq!(t.buy("e2e-dead", 1, "dead-1").await.status, 200);
    let dlq = t.stack.resources.dlq_url.clone();
    eventually(
        Duration::from_secs(60),
        "the message in the DLQ",
        || async { t.queue_depth(&dlq).await == 1 },
    )
    .await;
    let to_dlq = started.elapsed();
    let received = t.factory_stats().await.received;
    assert_eq!(
        received,
        u64::from(t.stage.queue.max_receive_count),
        "one factory call per receive"
    );

    let alarm = t.stack.resources.dlq_alarm_name.clone();
    // The alarm's state changes as SNS mailed them to ops: (old state, new state, whole mail).
    let changes = || async {
        captured_emails()
            .await
            .into_iter()
            .filter_map(|m| {
                let notice: serde_json::Value =
                    serde_json::from_str(m["Body"]["text_part"].as_str()?).ok()?;
                (notice["AlarmName"] == alarm.as_str()).then(|| {
                    (
                        notice["OldStateValue"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        notice["NewStateValue"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        m.clone(),
                    )
                })
            })
            .collect::<Vec<_>>()
    };
    eventually(Duration::from_secs(90), "the ops e-mail", || async {
        changes().await.iter().any(|(_, new, _)| new == "ALARM")
    })
    .await;
    println!(
        "to DLQ in {} ms, ops e-mail after {} ms",
        to_dlq.as_millis(),
        started.elapsed().as_millis()
    );
    let (_, _, mail) = changes()
        .await
        .into_iter()
        .find(|(_, new, _)| new == "ALARM")
        .unwrap();
    assert!(mail.to_string().contains(&t.stage.ops_email), "{mail}");
    // The e-mail links its runbook by an absolute address (the stage's `repositoryUrl`), as the
    // deployed alarms do: a mail reader can open it.
    let notice: serde_json::Value =
        serde_json::from_str(mail["Body"]["text_part"].as_str().unwrap()).unwrap();
    let runbook = t.stage.runbook_url(donut_config::aws::DLQ_DEPTH_RUNBOOK);
    assert!(runbook.starts_with("https://"), "{runbook}");
    assert!(
        notice["AlarmDescription"]
            .as_str()
            .is_some_and(|d| d.ends_with(&format!("Runbook: {runbook}"))),
        "{notice}"
    );
    // Ops hear when it clears too: the DLQ emptied (as `donut-cli dlq purge` does), the alarm
    // returns to OK and says so.
    t.sqs().purge_queue().queue_url(&dlq).send().await.unwrap();
    let cleared = Instant::now();
    eventually(Duration::from_secs(90), "the OK e-mail", || async {
        changes()
            .await
            .iter()
            .any(|(old, new, _)| old == "ALARM" && new == "OK")
    })
    .await;
    println!(
        "OK e-mail {} ms after the DLQ was emptied",
        cleared.elapsed().as_millis()
    );
    assert_eq!(t.stock("e2e-dead").await, 0, "nothing restocked");
    assert_eq!(
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders WHERE status = 'open'",
            ()
        )
        .await,
        1
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_reaches_the_dlq_without_calling_the_factory() {
    let t = spawn_stack(&[], quick(100)).await;
    t.sqs()
        .send_message()
        .queue_url(&t.stack.resources.queue_url)
        .message_body("{\"not\": \"a stock-out\"}")
        .send()
        .await
        .unwrap();
    let dlq = t.stack.resources.dlq_url.clone();
    eventually(
        Duration::from_secs(60),
        "the poison message in the DLQ",
        || async { t.queue_depth(&dlq).await == 1 },
    )
    .await;
    assert_eq!(t.factory_stats().await.received, 0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_callbacks_are_refused_at_the_gateway_and_change_nothing() {
    let t = spawn_stack(
        &[Shelf::new("e2e-sec", 0).reorder(0, 5)],
        Knobs {
            drop_rate: 1.0,
            ..quick(100)
        },
    )
    .await;
    let refused = t.buy("e2e-sec", 1, "sec-1").await;
    let id = refused.body["restock"]["factory_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let notice = serde_json::json!({"MessageGroupId": "stock-arrival-group", "MessageAttributeProductId": "x",
        "MessageAttributeProductCnt": "0", "OrderStockCnt": 500, "CallbackUrl": "x"});
    for query in [
        "",
        "?token=",
        "?token=deadbeef",
        &format!("?token={}", "0".repeat(64)),
    ] {
        let r = t
            .http
            .post(t.lane_url(&format!("/factory/callback/{id}{query}")))
            .json(&notice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(t.stock("e2e-sec").await, 0);
    assert!(
        log_lines_with("CallbacksRefused").len() >= 4,
        "each refusal counted (the callbacks-refused alarm's metric)"
    );
    t.stop().await;
}

/// Ops' way back from the DLQ: list it, fix the factory, replay — the order is restocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_lettered_order_is_replayed_by_the_ops_toolbox_and_restocked() {
    let t = spawn_stack(
        &[Shelf::new("e2e-replay", 1).reorder(0, 7)],
        Knobs {
            fail_rate: 1.0,
            ..quick(100)
        },
    )
    .await;
    let (queues, letters) = t.dead_lettered("e2e-replay", "replay-1").await;
    let dlq = t.stack.resources.dlq_url.clone();
    assert!(
        letters[0].summary.contains("e2e-replay"),
        "{}",
        letters[0].summary
    );
    assert_eq!(
        donut_cli::replay(&queues, 10, true, |_| {}).await.unwrap(),
        1,
        "dry run"
    );
    assert_eq!(t.queue_depth(&dlq).await, 1, "a dry run moves nothing");

    // The factory is fixed; replay.
    let fixed = serde_json::json!({ "delay_ms": 100, "fail_rate": 0.0 });
    t.factory(reqwest::Method::PUT, "/knobs", Some(&fixed))
        .await;
    assert_eq!(
        donut_cli::replay(&queues, 10, false, |_| {}).await.unwrap(),
        1
    );
    eventually(Duration::from_secs(20), "restock after replay", || async {
        t.stock("e2e-replay").await == 7
    })
    .await;
    assert_eq!(t.queue_depth(&dlq).await, 0);
    t.stop().await;
}

/// A dead-lettered stock-out purged for good (`donut-cli dlq purge --yes`): its factory order
/// stays `open`, the watchdog publishes its stock-out again once the queue has had its chance,
/// and the product is restocked anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_dead_letter_is_chased_and_the_product_restocked_anyway() {
    let policy = donut_domain::usecases::WatchdogPolicy {
        open_deadline: Duration::from_secs(20),
        ..WATCHDOG
    };
    let t = spawn_stack_watched(
        &[Shelf::new("e2e-purged", 1).reorder(0, 9)],
        Knobs {
            fail_rate: 1.0,
            ..quick(100)
        },
        policy,
    )
    .await;
    // The rule the stage follows, with the test stack's queue: the open deadline above is
    // longer than the time a message takes to reach the DLQ.
    assert!(
        policy.open_deadline
            >= donut_config::open_order_deadline(
                policy.deadline,
                t.stage.queue.max_receive_count,
                Duration::from_secs(2),
                Duration::from_millis(250)
            )
    );
    let started = Instant::now();
    let (queues, letters) = t.dead_lettered("e2e-purged", "purged-1").await;
    let dlq = t.stack.resources.dlq_url.clone();
    let order_id = letters[0].event.as_ref().unwrap().factory_order_id;
    let plan = donut_cli::after_purge(
        &letters[0],
        donut_cli::Chasing {
            open_deadline_minutes: 1,
            max_attempts: 3,
        },
    );
    assert!(plan.contains(&order_id.to_string()), "{plan}");
    let ids = letters.iter().map(|l| l.message_id.clone()).collect();
    assert_eq!(donut_cli::purge(&queues, &ids).await.unwrap(), 1);
    assert_eq!(t.queue_depth(&dlq).await, 0, "purged");
    let purged_after = started.elapsed();

    // The factory is fixed; nobody replays anything.
    t.factory(
        reqwest::Method::PUT,
        "/knobs",
        Some(&serde_json::json!({ "delay_ms": 100, "fail_rate": 0.0 })),
    )
    .await;
    eventually(
        Duration::from_secs(60),
        "restocked after the chase",
        || async { t.stock("e2e-purged").await == 9 },
    )
    .await;
    println!(
        "purged {} ms after the purchase; restocked {} ms after the purchase",
        purged_after.as_millis(),
        started.elapsed().as_millis()
    );
    let chased: Vec<(String, u32)> = {
        use mysql_async::prelude::Queryable;
        t.db.conn()
            .await
            .exec(
                "SELECT status, chases FROM factory_orders WHERE factory_order_id = ?",
                (order_id.to_string(),),
            )
            .await
            .unwrap()
    };
    assert_eq!(chased.len(), 1);
    assert_eq!(chased[0].0, "fulfilled");
    assert!(chased[0].1 >= 1, "chased: {chased:?}");
    assert!(
        !log_lines_with("its stock-out is published again").is_empty(),
        "the chase is logged"
    );
    t.stop().await;
}

/// Neither the callback secret nor the database password reaches a log line, whatever the
/// chain logged (this binary's whole log is scanned after a full purchase → restock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line() {
    let t = spawn_stack(&[Shelf::new("e2e-secret", 1).reorder(0, 3)], quick(100)).await;
    assert_eq!(t.buy("e2e-secret", 1, "secret-1").await.status, 200);
    eventually(Duration::from_secs(20), "restock", || async {
        t.stock("e2e-secret").await == 3
    })
    .await;
    let secret = donut_runtime::adapters::secret_string(
        &donut_runtime::Aws::ready(t.stack.aws.clone()),
        &t.stack.resources.callback_secret_arn,
    )
    .await
    .unwrap();
    let logs = std::fs::read_to_string(log_file()).unwrap();
    assert!(logs.lines().count() > 10, "the chain logged");
    assert!(
        !logs.contains(&secret),
        "the callback secret is in a log line"
    );
    let password_in_url = t.db.url.split('@').next().unwrap().to_owned(); // mysql://user:password
    assert!(
        !logs.contains(&password_in_url),
        "database credentials are in a log line"
    );
    t.stop().await;
}

/// The functions' SNS adapters make their client on first use (cold start); the first alert
/// still reaches ops by e-mail through the ops topic.
#[tokio::test]
async fn a_lazily_made_alert_reaches_ops_by_e_mail() {
    use donut_domain::{
        Alerts, CorrelationId, FactoryOrder, FactoryOrderId, FactoryOrderStatus, ProductId,
    };
    let t = spawn_stack(&[], quick(100)).await;
    let aws = donut_runtime::Aws::ready(t.stack.aws.clone());
    let runbook = t
        .stage
        .runbook_url(donut_config::aws::FACTORY_ORDERS_OVERDUE_RUNBOOK);
    let alerts = donut_messaging::SnsAlerts::new(
        aws.sns_client(),
        &t.stack.resources.ops_topic_arn,
        &runbook,
    );
    let order = FactoryOrder {
        id: FactoryOrderId::new(),
        product_id: ProductId::parse("lazy-glazed").unwrap(),
        factory_product_id: "9".into(),
        quantity: 6,
        status: FactoryOrderStatus::Requested,
        factory_request_id: Some("f-1".into()),
        correlation_id: CorrelationId::new(),
        request_attempts: 3,
        chases: 0,
    };
    alerts.factory_order_overdue(&order).await.unwrap();
    let id = order.id.to_string();
    eventually(Duration::from_secs(30), "the alert e-mail", || async {
        captured_emails().await.iter().any(|m| {
            m["Body"]["text_part"]
                .as_str()
                .is_some_and(|text| text.contains(&id))
        })
    })
    .await;
    // Its runbook link is absolute: a mail reader opens it.
    let emails = captured_emails().await;
    let text = emails
        .iter()
        .filter_map(|m| m["Body"]["text_part"].as_str())
        .find(|text| text.contains(&id))
        .unwrap();
    assert!(text.ends_with(&format!("Runbook: {runbook}")), "{text}");
    assert!(runbook.starts_with("https://"), "{runbook}");
    t.stop().await;
}
