//! The load tool, briefly, against the local stack: a smoke test with loose thresholds (the
//! figures come from `make bench`, not from here).

use std::time::Duration;

use donut_e2e::*;
use donut_load::{Scenario, Settings, Threshold};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_rush_holds_loose_thresholds_and_every_invariant() {
    let t = spawn_stack(
        &[Shelf::new("load-rush", 60).reorder(10, 40)],
        factory_sim::Knobs {
            delay_ms: 200,
            ..Default::default()
        },
    )
    .await;
    let settings = Settings {
        target: t.stack.api_url.clone(),
        scenario: Scenario::Rush,
        rate: 50.0,
        duration: Duration::from_secs(3),
        max_requests: 150,
        max_in_flight: 32,
        product: "load-rush".into(),
        quantity: 1,
        database_url: Some(t.db.url.clone()),
        progress: false,
    };
    let report = donut_load::run(&settings).await.unwrap();
    println!("{}", report.summary);
    assert!(
        report.summary.requests() >= 100,
        "{} requests",
        report.summary.requests()
    );
    for threshold in ["errors<1%", "p99<2s"] {
        let t: Threshold = threshold.parse().unwrap();
        let (held, measured) = t.check(&report.summary);
        assert!(held, "{threshold}: {measured}");
    }
    for check in &report.checks {
        assert_eq!(check.held, Some(true), "{}: {}", check.name, check.detail);
    }
    // 60 on the shelf, reorder at 10: the rush crosses the reorder point, so one factory order.
    assert!(t.db.count("SELECT COUNT(*) FROM factory_orders", ()).await >= 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stockout_scenario_measures_the_restock() {
    let t = spawn_stack(
        &[Shelf::new("load-stockout", 12).reorder(0, 30)],
        factory_sim::Knobs {
            delay_ms: 300,
            ..Default::default()
        },
    )
    .await;
    let settings = Settings {
        target: t.stack.api_url.clone(),
        scenario: Scenario::Stockout,
        rate: 1.0,
        duration: Duration::from_secs(20),
        max_requests: 100,
        max_in_flight: 1,
        product: "load-stockout".into(),
        quantity: 10,
        database_url: Some(t.db.url.clone()),
        progress: false,
    };
    let report = donut_load::run(&settings).await.unwrap();
    let latency = report.restock_latency.expect("restocked");
    assert!(
        latency >= Duration::from_millis(300),
        "not before the factory's delay: {latency:?}"
    );
    assert_eq!(report.summary.sold_units, 12);
    for check in &report.checks {
        assert_eq!(check.held, Some(true), "{}: {}", check.name, check.detail);
    }
    t.stop().await;
}
