//! `make smoke` against the local stack: the same program (`donut_cli::smoke`) a deployed
//! stack is checked with, here on the local endpoints, so it cannot rot.

use donut_e2e::*;
use donut_testkit::Shelf;
use factory_sim::Knobs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_test_passes_on_a_healthy_stack_and_says_what_failed_on_a_broken_one() {
    let t = spawn_stack(
        &[
            Shelf::new("smoke-glazed", 12).reorder(4, 20),
            Shelf::new("smoke-big", 900).reorder(4, 20),
        ],
        Knobs {
            delay_ms: 300,
            ..Knobs::default()
        },
    )
    .await;
    let queues = donut_cli::Queues {
        sqs: t.sqs(),
        source: t.stack.resources.queue_url.clone(),
        dlq: t.stack.resources.dlq_url.clone(),
    };
    let target = donut_cli::smoke::Target {
        api_url: t.url(""),
        product: None,
        max_quantity: t.stage.max_quantity,
        restock_timeout: std::time::Duration::from_secs(60),
        max_units: 500,
    };
    let ops = donut_cli::smoke::Ops {
        alarm_name: t.stack.resources.dlq_alarm_name.clone(),
        // LocalStack's key: the local gateway's operator.
        aws: t.stack.aws.clone(),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&t.stack.aws),
        timeout: std::time::Duration::from_secs(120),
    };
    let started = std::time::Instant::now();
    let report = donut_cli::smoke::run(&target, Some(&queues), Some(&ops)).await;
    eprintln!(
        "{}(run time {:.1} s)",
        report.render(),
        started.elapsed().as_secs_f64()
    );
    assert!(report.passed(), "{}", report.render());
    let names: Vec<_> = report.steps.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        [
            "catalogue",
            "sell out, 409",
            "order lookup",
            "restock",
            "dead-letter queue",
            "DLQ → ALARM → OK"
        ]
    );
    assert!(
        report.steps[0].detail.starts_with("smoke-glazed"),
        "the least stock"
    );
    // Sold out twice; restocked twice, the second time by the replayed message.
    eventually(
        std::time::Duration::from_secs(30),
        "the second restock",
        || async { t.stock("smoke-glazed").await == 20 },
    )
    .await;
    let knobs: serde_json::Value = t
        .factory(reqwest::Method::GET, "/knobs", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        knobs["fail_rate"], 0.0,
        "the refusals were asked per order: the knobs never changed"
    );
    let stats = t.factory_stats().await;
    assert!(
        stats.failed >= u64::from(t.stage.queue.max_receive_count),
        "the simulator refused the ops path's order on every receive: {stats:?}"
    );

    // A shelf too big to sell out is refused, not emptied; the report says why and fails.
    let refused = donut_cli::smoke::run(
        &donut_cli::smoke::Target {
            product: Some("smoke-big".into()),
            ..target
        },
        Some(&queues),
        None,
    )
    .await;
    assert!(!refused.passed());
    assert!(
        refused.steps[0].detail.contains("more than the 500"),
        "{}",
        refused.render()
    );
    assert_eq!(t.stock("smoke-big").await, 900);
    t.stop().await;
}
