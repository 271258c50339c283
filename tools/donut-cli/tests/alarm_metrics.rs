//! `make smoke`'s last step against LocalStack's CloudWatch: a stack's alarms, found by their
//! names' prefix, each asked for by ListMetrics. An alarm on a metric that exists passes (the
//! local stack's DLQ-depth alarm, on the queue metric LocalStack reports every few seconds; an
//! alarm on a metric the code emitted), one on a metric that never exists fails by name (a
//! misspelt name, a metric-math alarm one of whose metrics lacks a dimension), a metric listed
//! as "may not exist yet" passes with its reason, and another stage's alarm under the same
//! prefix is left out.

use std::time::Duration;

use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit,
    Statistic, Tag,
};
use donut_cli::alarm_metrics::{Naming, StackAlarms, check, verdict};

fn endpoint() -> String {
    std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4576".into())
}

fn dimension(name: &str, value: &str) -> Dimension {
    Dimension::builder().name(name).value(value).build()
}

/// An alarm as the program declares one: threshold, missing data not breaching.
fn alarm(
    cw: &aws_sdk_cloudwatch::Client,
    name: &str,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    cw.put_metric_alarm()
        .alarm_name(name)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
}

fn single(
    builder: aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder,
    namespace: &str,
    metric: &str,
) -> aws_sdk_cloudwatch::operation::put_metric_alarm::builders::PutMetricAlarmFluentBuilder {
    builder
        .namespace(namespace)
        .metric_name(metric)
        .statistic(Statistic::Maximum)
        .period(60)
}

fn query(id: &str, namespace: &str, metric: &str, dimensions: &[Dimension]) -> MetricDataQuery {
    MetricDataQuery::builder()
        .id(id)
        .return_data(false)
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace(namespace)
                        .metric_name(metric)
                        .set_dimensions(Some(dimensions.to_vec()))
                        .build(),
                )
                .period(60)
                .stat("Sum")
                .build(),
        )
        .build()
}

#[tokio::test]
async fn every_alarm_of_the_stack_must_watch_a_metric_that_exists() {
    let run = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let stage = format!("t{run}");
    let prefix = format!("donut-states-{stage}");
    let ours = format!("DonutStates/{stage}");
    let aws = donut_local::localstack_config(&endpoint(), "eu-west-1").await;
    let cw = aws_sdk_cloudwatch::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let suffix = "-3f2a9c1";

    // The local stack's DLQ-depth alarm (local/src/provision.rs): LocalStack reports the queue's
    // ApproximateNumberOfMessagesVisible every few seconds.
    let dlq = donut_local::provision::dlq_name(&prefix);
    sqs.create_queue().queue_name(&dlq).send().await.unwrap();
    let dlq_alarm = donut_local::provision::dlq_alarm_name(&prefix);
    single(
        alarm(&cw, &dlq_alarm),
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    .dimensions(dimension("QueueName", &dlq))
    .send()
    .await
    .unwrap();

    // The functions' own metrics: one they emitted (as EMF does: no dimensions), one misspelt,
    // one only a refused callback emits.
    cw.put_metric_data()
        .namespace(&ours)
        .metric_data(
            MetricDatum::builder()
                .metric_name("RestockLatency")
                .value(1200.0)
                .unit(StandardUnit::Milliseconds)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let restock = format!("{prefix}-restock-latency{suffix}");
    alarm(&cw, &restock)
        .namespace(&ours)
        .metric_name("RestockLatency")
        .extended_statistic("p90")
        .period(60)
        .send()
        .await
        .unwrap();
    let misspelt = format!("{prefix}-outbox-age{suffix}");
    single(alarm(&cw, &misspelt), &ours, "OutboxOldestAgeMs")
        .send()
        .await
        .unwrap();
    let refused = format!("{prefix}-callbacks-refused{suffix}");
    single(alarm(&cw, &refused), &ours, "CallbacksRefused")
        .send()
        .await
        .unwrap();

    // A metric-math alarm (the API's 5xx rate): requests carry both dimensions, the errors
    // metric only one of them.
    let api = format!("Test/{stage}/ApiGateway");
    let both = [dimension("ApiId", "a1b2c3"), dimension("Stage", "$default")];
    for (metric, dimensions) in [("Count", &both[..]), ("5xx", &both[..1])] {
        cw.put_metric_data()
            .namespace(&api)
            .metric_data(
                MetricDatum::builder()
                    .metric_name(metric)
                    .set_dimensions(Some(dimensions.to_vec()))
                    .value(1.0)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    let rate = format!("{prefix}-api-5xx{suffix}");
    alarm(&cw, &rate)
        .metrics(query("errors", &api, "5xx", &both))
        .metrics(query("requests", &api, "Count", &both))
        .metrics(
            MetricDataQuery::builder()
                .id("rate")
                .expression("IF(requests > 0, 100 * errors / requests, 0)")
                .return_data(true)
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Stage `<stage>-2`'s alarm starts with this stage's prefix too: its tag tells them apart.
    single(
        alarm(&cw, &format!("{prefix}-2-queue-age{suffix}")),
        &ours,
        "NeverEmitted",
    )
    .tags(
        Tag::builder()
            .key("stage")
            .value(format!("{stage}-2"))
            .build(),
    )
    .send()
    .await
    .unwrap();

    let stack = StackAlarms {
        prefix: prefix.clone(),
        stage: stage.clone(),
    };
    let naming = Naming {
        ours: ours.clone(),
        functions: Default::default(),
    };
    let (alarms, findings) = check(
        &cw,
        &stack,
        &naming,
        Duration::from_secs(15),
        Duration::from_secs(1),
    )
    .await
    .expect("LocalStack answers DescribeAlarms and ListMetrics");
    let mut names: Vec<&str> = alarms.iter().map(|a| a.name.as_str()).collect();
    names.sort();
    let mut expected = [
        dlq_alarm.as_str(),
        restock.as_str(),
        misspelt.as_str(),
        refused.as_str(),
        rate.as_str(),
    ];
    expected.sort();
    assert_eq!(names, expected, "the stack's alarms, not stage {stage}-2's");
    let failed = verdict(&alarms, &findings).unwrap_err();
    println!("{failed}");
    assert!(
        failed.starts_with("5 alarm(s) watch 6 metric(s): 3 exist; 2 problem(s):"),
        "{failed}"
    );
    assert!(
        failed.contains(&format!(
            "{misspelt} watches {ours} OutboxOldestAgeMs {{}}, which does not exist"
        )),
        "{failed}"
    );
    assert!(
        failed.contains(&format!(
            "{rate} watches {api} 5xx {{ApiId=a1b2c3, Stage=$default}}, which does not exist"
        )),
        "{failed}"
    );
    for fine in [&dlq_alarm, &restock, &refused] {
        assert!(!failed.contains(&format!("{fine} watches")), "{failed}");
    }

    // Mended (the misspelt alarm gone, the errors metric emitted with both dimensions): the
    // step passes, saying which metric may not exist yet and why.
    cw.delete_alarms()
        .alarm_names(&misspelt)
        .send()
        .await
        .unwrap();
    cw.put_metric_data()
        .namespace(&api)
        .metric_data(
            MetricDatum::builder()
                .metric_name("5xx")
                .set_dimensions(Some(both.to_vec()))
                .value(0.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut report = donut_cli::smoke::Report::default();
    let passed = donut_cli::smoke::alarm_metrics(
        &donut_cli::smoke::AlarmMetrics {
            cloudwatch: cw.clone(),
            stack,
            naming,
            grace: Duration::from_secs(15),
        },
        &mut report,
    )
    .await;
    print!("{}", report.render());
    assert!(passed, "{}", report.render());
    let detail = &report.steps[0].detail;
    assert!(
        detail.starts_with("4 alarm(s) watch 5 metric(s): 4 exist"),
        "{detail}"
    );
    assert!(
        detail.contains(&format!(
            "not yet, allowed: {refused} (CallbacksRefused): counted only when a factory \
             callback is refused"
        )),
        "{detail}"
    );
}
