//! Faults injected into the running local stack; after each, the invariants: stock never
//! negative, every sold unit has an order row, one factory order per stock-out episode, and
//! every factory order fulfilled or surfaced to ops.

use std::time::Duration;

use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;

async fn assert_invariants(t: &TestStack) {
    assert!(
        t.db.count("SELECT COALESCE(MIN(qty), 0) FROM products", ())
            .await
            >= 0
    );
    // At most one factory order open per product: the unique key holds it; check it anyway.
    let open_twice = t
        .db
        .count("SELECT COUNT(*) FROM (SELECT product_id FROM factory_orders WHERE status <> 'fulfilled' GROUP BY product_id HAVING COUNT(*) > 1) x", ())
        .await;
    assert_eq!(open_twice, 0);
}

/// The factory accepts orders and never calls back: the watchdog asks again with the same
/// factory order id, then tells ops by e-mail. A late callback still restocks, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_callbacks_are_asked_again_then_surfaced_to_ops() {
    let t = spawn_stack(
        &[Shelf::new("fault-drop", 1).reorder(0, 6)],
        Knobs {
            drop_rate: 1.0,
            ..Knobs::default()
        },
    )
    .await;
    let sold = t.buy("fault-drop", 1, "drop-1").await;
    let id = sold.body["restock"]["factory_order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(
        Duration::from_secs(40),
        "ops told about the overdue order",
        || async {
            captured_emails()
                .await
                .iter()
                .any(|m| m.to_string().contains(&id))
        },
    )
    .await;
    let stats = t.factory_stats().await;
    assert_eq!(
        stats.received,
        u64::from(WATCHDOG.max_attempts),
        "asked {} times",
        WATCHDOG.max_attempts
    );
    assert_eq!(stats.callbacks_dropped, u64::from(WATCHDOG.max_attempts));
    assert_eq!(
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders WHERE surfaced_at IS NOT NULL",
            ()
        )
        .await,
        1
    );
    assert_eq!(t.stock("fault-drop").await, 0);
    assert_invariants(&t).await;
    t.stop().await;
}

/// A factory that fails, hangs, drops and duplicates at random (seeded): every order ends
/// fulfilled, or surfaced to ops by the watchdog, or in the DLQ (which alarms) — none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreliable_factory_loses_no_order() {
    let shelves: Vec<Shelf> = [
        "lossy-a", "lossy-b", "lossy-c", "lossy-d", "lossy-e", "lossy-f",
    ]
    .iter()
    .map(|p| Shelf::new(p, 1).reorder(0, 4))
    .collect();
    let t = spawn_stack(
        &shelves,
        Knobs {
            fail_rate: 0.2,
            hang_rate: 0.15,
            drop_rate: 0.4,
            duplicate_rate: 0.3,
            delay_ms: 100,
            ..Knobs::default()
        },
    )
    .await;
    for s in &shelves {
        assert_eq!(
            t.buy(s.product_id, 1, &format!("lossy-{}", s.product_id))
                .await
                .status,
            200
        );
    }
    let dlq = t.stack.resources.dlq_url.clone();
    let settled = || async {
        let fulfilled_or_surfaced = t
            .db
            .count("SELECT COUNT(*) FROM factory_orders WHERE status = 'fulfilled' OR surfaced_at IS NOT NULL", ())
            .await;
        fulfilled_or_surfaced + t.queue_depth(&dlq).await == 6
    };
    eventually(
        Duration::from_secs(55),
        "every order fulfilled, surfaced or dead-lettered",
        settled,
    )
    .await;
    let fulfilled =
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders WHERE status = 'fulfilled'",
            (),
        )
        .await;
    let surfaced = t.db.count("SELECT COUNT(*) FROM factory_orders WHERE surfaced_at IS NOT NULL AND status <> 'fulfilled'", ()).await;
    println!(
        "unreliable factory: {fulfilled} fulfilled, {surfaced} surfaced, {} dead-lettered, {:?}",
        t.queue_depth(&dlq).await,
        t.factory_stats().await
    );
    let stats = t.factory_stats().await;
    assert!(
        stats.failed >= 1
            && stats.hung >= 1
            && stats.callbacks_dropped >= 1
            && stats.duplicates_sent >= 1,
        "the faults happened: {stats:?}"
    );
    assert_eq!(fulfilled + surfaced + t.queue_depth(&dlq).await, 6);
    // Stock moved exactly once per fulfilled order, whatever the duplicates.
    let stock: i64 =
        t.db.count("SELECT COALESCE(SUM(qty), 0) FROM products", ())
            .await;
    assert_eq!(stock, fulfilled * 4);
    assert_invariants(&t).await;
    t.stop().await;
}

/// LocalStack (SNS, SQS) cut off for a while: sales go on, stock-outs pile up in the outbox,
/// and once it is back every one is published and restocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_outs_wait_in_the_outbox_while_sns_is_unreachable() {
    let endpoint: std::net::SocketAddr = aws_endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(endpoint).await;
    let products = ["cut-a", "cut-b", "cut-c"];
    let db = TestDb::with_shelves(&products.map(|p| Shelf::new(p, 1).reorder(0, 5))).await;
    let t = spawn_stack_with(
        db,
        proxy.url(),
        Knobs {
            delay_ms: 100,
            ..Knobs::default()
        },
    )
    .await;
    // The sales function is warm (as Lambda instances in traffic are): its database login,
    // which it reads from Secrets Manager behind the same proxy, was read before the cut. A
    // cold instance cannot log in while AWS is unreachable, on AWS too.
    assert_eq!(t.stock(products[0]).await, 1);

    proxy.cut();
    for p in products {
        let sold = t.buy(p, 1, &format!("cut-{p}")).await;
        assert_eq!(sold.status, 200, "sales go on without SNS: {}", sold.body);
        let refused = t.buy(p, 1, "cut-late").await;
        assert_eq!(refused.status, 409);
    }
    eventually(
        Duration::from_secs(20),
        "publishing tried and failed",
        || async {
            t.db.count(
                "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND attempts > 0",
                (),
            )
            .await
                == 3
        },
    )
    .await;
    let pending =
        t.db.count("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL", ())
            .await;
    assert_eq!(pending, 3, "every stock-out waits in the outbox");
    // The relay still returns Ok; what makes the stuck outbox visible (and alarms in AWS) is
    // the age of its oldest row, reported by every sweep.
    let seen = eventually(
        Duration::from_secs(20),
        "the outbox age metric grows past 3 s",
        || async {
            log_lines_with("OutboxOldestAge")
                .iter()
                .any(|line| line["value"].as_f64().unwrap_or_default() >= 3000.0)
        },
    )
    .await;
    println!(
        "OutboxOldestAge ≥ 3 s reported (waited {} ms more)",
        seen.as_millis()
    );

    proxy.restore();
    let took = eventually(
        Duration::from_secs(45),
        "every product restocked",
        || async {
            t.db.count("SELECT COUNT(*) FROM products WHERE qty = 5", ())
                .await
                == 3
        },
    )
    .await;
    println!(
        "outbox drained and restocked {} ms after SNS came back",
        took.as_millis()
    );
    assert_eq!(
        t.db.count("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL", ())
            .await,
        0
    );
    assert_eq!(
        t.db.count("SELECT COUNT(*) FROM factory_orders", ()).await,
        3
    );
    assert_invariants(&t).await;
    t.stop().await;
}

/// The database killed under load and started again: meanwhile the API answers 503 with a
/// JSON body; afterwards it serves again without a restart, and every sale it confirmed has
/// its order row.
/// The key sweep refused by the database (as on a deploy whose functions' user had no DELETE):
/// the relay goes on, and the age of the oldest expired key — what the expired-keys alarm
/// watches — grows; given the grant back, the next sweep removes the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_sweep_is_seen_in_its_metric() {
    let t = spawn_stack(&[Shelf::new("sweep-glazed", 5)], Knobs::default()).await;
    let key = format!("sweep-{}", uuid::Uuid::new_v4().simple());
    let sold = t
        .http
        .post(t.url("/orders"))
        .header("idempotency-key", &key)
        .json(&serde_json::json!({"product_id": "sweep-glazed", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(sold.status(), 200);
    let account = format!("'{}'@'127.0.0.0/255.0.0.0'", t.app_user);
    let table = format!("`{}`.`idempotency_keys`", t.db.name);
    t.db.exec(&format!("REVOKE DELETE ON {table} FROM {account}"), ())
        .await;
    // Its window ended two hours ago.
    t.db.exec(
        "UPDATE idempotency_keys SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 2 HOUR \
         WHERE idem_key = ?",
        (key.as_str(),),
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "ExpiredKeyOldestAge reports the key two hours past its window",
        || async {
            log_lines_with("ExpiredKeyOldestAge")
                .iter()
                .any(|line| line["value"].as_f64().unwrap_or_default() >= 7_200_000.0)
        },
    )
    .await;
    let kept = || async {
        t.db.count(
            "SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = ?",
            (key.as_str(),),
        )
        .await
    };
    // Sweeps go on every 250 ms: a second's worth of them, all refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(kept().await, 1, "the sweep was refused");
    t.db.exec(&format!("GRANT DELETE ON {table} TO {account}"), ())
        .await;
    eventually(Duration::from_secs(20), "the key swept", || async {
        kept().await == 0
    })
    .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_dies_under_load_and_nothing_confirmed_is_lost() {
    let mut server = donut_testkit::PrivateMariaDb::start().await;
    let db = TestDb::new_on(&format!("mysql://donut:donut@127.0.0.1:{}", server.port)).await;
    db.add_shelves(&[Shelf::new("kill-glazed", 100_000)]).await;
    let t = std::sync::Arc::new(spawn_stack_with(db, aws_endpoint(), Knobs::default()).await);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let buyers: Vec<_> = (0..4)
        .map(|w| {
            let (t, stop) = (t.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let r = t.buy("kill-glazed", 1, &format!("kill-{w}-{n}")).await;
                    answers.push((r.status, r.body));
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                answers
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    server.resume().await;
    let resumed = eventually(Duration::from_secs(30), "the API serves again", || async {
        t.buy("kill-glazed", 1, "kill-probe").await.status == 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);

    let answers: Vec<(u16, serde_json::Value)> = futures_flatten(
        futures::future::join_all(buyers)
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .collect(),
    );
    let sold: Vec<&serde_json::Value> = answers
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    let unavailable = answers.iter().filter(|(s, _)| *s == 503).count();
    println!(
        "db killed under load: {} answers, {} sold, {unavailable} × 503, served again {} ms after restart",
        answers.len(),
        sold.len(),
        resumed.as_millis()
    );
    assert!(unavailable > 0, "the outage was seen");
    for (status, body) in &answers {
        assert!([200, 503].contains(status), "{status}: {body}");
        if *status == 503 {
            assert_eq!(body["error"]["code"], "warehouse_unavailable");
        }
    }
    for body in sold {
        let id = body["order_id"].as_str().unwrap();
        assert_eq!(
            t.db.count("SELECT COUNT(*) FROM orders WHERE order_id = ?", (id,))
                .await,
            1,
            "order {id} lost"
        );
    }
    let recorded =
        t.db.count("SELECT COALESCE(SUM(quantity), 0) FROM orders", ())
            .await;
    assert_eq!(
        t.db.stock("kill-glazed").await,
        100_000 - recorded,
        "stock moved by recorded orders only"
    );
}

fn futures_flatten<T>(v: Vec<Vec<T>>) -> Vec<T> {
    v.into_iter().flatten().collect()
}
