//! The factory's lane under a strangers' flood, the gateways throttling as API Gateway does.
//!
//! Before (the callback route where strangers can reach it: here the lane's own address, as
//! when the route sat on the public API), a flood far above the route's throttle takes its
//! tokens, the factory's one callback is throttled (429) — the legacy factory never retries —
//! and the shelf stays empty until the watchdog's deadline. After (the design: the callback has
//! an API of its own whose address only the factory is given), the same flood on the public API
//! meets API Gateway's 404, takes nothing from the lane, and the callback restocks.

use std::time::{Duration, Instant};

use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;

use crate::flood::Flood;

/// Strangers' requests a second: 40 × dev's callback throttle (5 a second, bursts of 10).
const FLOOD_PER_SECOND: u64 = 200;

/// A stranger posting junk callbacks to `url` at [`FLOOD_PER_SECOND`] until stopped.
fn flood(http: &reqwest::Client, url: String) -> Flood {
    let build = http.clone();
    Flood::start(http.clone(), FLOOD_PER_SECOND, move || {
        let request = build.post(&url).body("{}").build().unwrap();
        async move { request }
    })
}

/// Stops `flood`: (requests sent, of which throttled).
async fn stop(flood: Flood) -> (u64, u64) {
    let flooded = flood.stop(Duration::from_millis(200)).await;
    (flooded.sent, flooded.answered(429))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_flooding_the_callback_cannot_jam_the_factorys_lane() {
    let t = spawn_stack_set_up(
        &[
            Shelf::new("lane-before", 1).reorder(0, 6),
            Shelf::new("lane-after", 1).reorder(0, 6),
        ],
        Knobs {
            delay_ms: 1500,
            ..Knobs::default()
        },
        Setup {
            throttled: true,
            // Nobody rescues the order within the test: what restocks is the callback.
            watchdog: donut_domain::usecases::WatchdogPolicy {
                deadline: Duration::from_secs(3600),
                open_deadline: Duration::from_secs(3600),
                max_attempts: 3,
            },
            ..Setup::default()
        },
    )
    .await;
    let junk = |base: &str| format!("{base}/factory/callback/{}?sig=0", uuid::Uuid::new_v4());

    // Before: the flood where the callback goes.
    let strangers = flood(&t.http, junk(&t.stack.factory_lane_url));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.buy("lane-before", 1, "lane").await.status, 200);
    let before = Instant::now();
    let window = Duration::from_secs(6);
    let lost = tokio::time::timeout(window, async {
        while t.db.stock("lane-before").await == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .is_err();
    let (sent, throttled) = stop(strangers).await;
    let stats = t.factory_stats().await;
    println!(
        "before: {sent} junk callbacks at {FLOOD_PER_SECOND}/s to the callback's address, \
         {throttled} throttled; the factory sent {} callback(s), {} refused; restocked within \
         {:.0} s: {}",
        stats.callbacks_sent,
        stats.callbacks_failed,
        window.as_secs_f64(),
        if lost {
            "no (it waits for the watchdog's deadline)".to_owned()
        } else {
            format!("yes, after {:.1} s", before.elapsed().as_secs_f64())
        }
    );
    assert!(
        throttled > sent / 2,
        "the flood was throttled: {throttled} of {sent}"
    );

    // After: the same flood on the public API, the only address strangers know.
    let strangers = flood(&t.http, junk(&t.stack.api_url));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(t.buy("lane-after", 1, "lane").await.status, 200);
    let took = eventually(Duration::from_secs(20), "the restock", || async {
        t.db.stock("lane-after").await == 6
    })
    .await;
    let (sent, throttled) = stop(strangers).await;
    let after = t.factory_stats().await;
    println!(
        "after: {sent} junk callbacks at {FLOOD_PER_SECOND}/s to the public API (API Gateway's \
         404), {throttled} throttled; the factory sent {} callback(s), {} refused; restocked \
         {:.1} s after the stock-out (the factory's delay: 1.5 s)",
        after.callbacks_sent - stats.callbacks_sent,
        after.callbacks_failed - stats.callbacks_failed,
        took.as_secs_f64()
    );
    assert_eq!(
        after.callbacks_failed, stats.callbacks_failed,
        "no callback refused"
    );
    let junk_status = t
        .http
        .post(junk(&t.stack.api_url))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        junk_status.status(),
        404,
        "no callback route on the public API"
    );
    // The lane carried the after phase's callback (the before phase's fate depends on whether
    // a token was free the instant it came: printed above, not asserted).
    assert_eq!(
        t.db.count(
            "SELECT COUNT(*) FROM factory_orders \
             WHERE product_id = 'lane-after' AND status = 'fulfilled'",
            ()
        )
        .await,
        1
    );
    t.stop().await;
}
