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

/// Callbacks lost half of the time: the watchdog's re-requests get every order fulfilled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_factory_still_restocks_every_product() {
    let shelves: Vec<Shelf> = [
        "lossy-a", "lossy-b", "lossy-c", "lossy-d", "lossy-e", "lossy-f",
    ]
    .iter()
    .map(|p| Shelf::new(p, 1).reorder(0, 4))
    .collect();
    let t = spawn_stack(
        &shelves,
        Knobs {
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
    eventually(Duration::from_secs(45), "every order fulfilled or surfaced", || async {
        t.db.count("SELECT COUNT(*) FROM factory_orders WHERE status <> 'fulfilled' AND surfaced_at IS NULL", ()).await == 0
    })
    .await;
    let fulfilled =
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders WHERE status = 'fulfilled'",
            (),
        )
        .await;
    let surfaced = t.db.count("SELECT COUNT(*) FROM factory_orders WHERE surfaced_at IS NOT NULL AND status <> 'fulfilled'", ()).await;
    println!(
        "lossy factory: {fulfilled} fulfilled, {surfaced} surfaced, {:?}",
        t.factory_stats().await
    );
    let stats = t.factory_stats().await;
    assert!(
        stats.callbacks_dropped >= 1 && stats.duplicates_sent >= 1,
        "the faults happened: {stats:?}"
    );
    assert_eq!(fulfilled + surfaced, 6);
    // Stock moved exactly once per fulfilled order, whatever the duplicates.
    let stock: i64 =
        t.db.count("SELECT COALESCE(SUM(qty), 0) FROM products", ())
            .await;
    assert_eq!(stock, fulfilled * 4);
    assert_invariants(&t).await;
    t.stop().await;
}
