//! What wakes ops: the DLQ holding anything, a function failing, the API answering 5xx —
//! each to the ops topic, which e-mails the address in the stack config.

use std::collections::HashMap;

use pulumi_gestalt_rust::Output;

use crate::Stack;
use crate::api::Api;
use crate::compute::{Compute, FUNCTIONS};
use crate::messaging::Messaging;
use donut_infra_aws::cloudwatch::metric_alarm;
use donut_infra_aws::sns::topic_subscription;

pub struct Alarm<'a> {
    pub key: &'a str,
    pub description: String,
    pub namespace: &'static str,
    pub metric: &'static str,
    pub statistic: &'static str,
    pub threshold: f64,
    pub dimensions: Output<HashMap<String, String>>,
}

pub fn declare(
    stack: &Stack,
    messaging: &Messaging,
    compute: &Compute,
    api: &Api,
) -> Output<String> {
    let ctx = stack.ctx;
    let c = &stack.config;
    let ops_arn = messaging.ops_topic_arn.clone();
    topic_subscription::create(
        ctx,
        &stack.name("ops-email"),
        topic_subscription::TopicSubscriptionArgs::builder()
            .topic(ops_arn.clone())
            .protocol("email")
            .endpoint(c.ops_email.clone())
            .build_struct(),
    );

    let mut alarms = vec![Alarm {
        key: "dlq-depth",
        description: "Factory orders are failing: messages reached the dead-letter queue. \
                      See `donut-cli dlq list`, fix the cause, then `donut-cli dlq replay`."
            .into(),
        namespace: "AWS/SQS",
        metric: "ApproximateNumberOfMessagesVisible",
        statistic: "Maximum",
        threshold: f64::from(c.dlq_alarm_threshold),
        dimensions: messaging
            .dlq_name
            .map(|q| HashMap::from([("QueueName".to_owned(), q)])),
    }];
    for key in FUNCTIONS {
        alarms.push(Alarm {
            key,
            description: format!("The {key} function reported errors."),
            namespace: "AWS/Lambda",
            metric: "Errors",
            statistic: "Sum",
            threshold: 1.0,
            dimensions: compute.functions[key]
                .name
                .map(|f| HashMap::from([("FunctionName".to_owned(), f)])),
        });
    }
    alarms.push(Alarm {
        key: "factory-orders-overdue",
        description:
            "The legacy factory accepted orders and never called back, even when asked again. \
                      The watchdog e-mailed the details; see the README's \"Operate it\"."
                .into(),
        namespace: "",
        metric: "FactoryOrdersOverdue",
        statistic: "Maximum",
        threshold: 1.0,
        dimensions: crate::out::known(HashMap::new()),
    });
    alarms.push(Alarm {
        key: "factory-failures",
        description: "Calls to the legacy factory are failing (5xx, timeouts, connection errors); \
                      messages are being retried and may reach the DLQ."
            .into(),
        namespace: "",
        metric: "FactoryCallFailures",
        statistic: "Sum",
        threshold: f64::from(c.factory_failure_alarm_threshold),
        dimensions: crate::out::known(HashMap::new()),
    });
    alarms.push(Alarm {
        key: "restock-latency",
        description: format!(
            "Stock-outs take more than {} minutes (p90) to be restocked: the factory is slow or callbacks are lost.",
            c.restock_latency_alarm_minutes
        ),
        namespace: "",
        metric: "RestockLatency",
        statistic: "p90",
        threshold: f64::from(c.restock_latency_alarm_minutes) * 60_000.0,
        dimensions: crate::out::known(HashMap::new()),
    });
    alarms.push(Alarm {
        key: "api-5xx",
        description: "The API answered 5xx: the warehouse or a function is failing.".into(),
        namespace: "AWS/ApiGateway",
        metric: "5xx",
        statistic: "Sum",
        threshold: 1.0,
        dimensions: pulumi_gestalt_rust::pulumi_combine!(api.id.clone(), api.stage.clone()).map(
            |(id, stage)| HashMap::from([("ApiId".to_owned(), id), ("Stage".to_owned(), stage)]),
        ),
    });

    for alarm in alarms {
        let name = match alarm.namespace {
            "AWS/Lambda" => stack.name(&format!("{}-errors", alarm.key)),
            _ => stack.name(alarm.key),
        };
        metric_alarm::create(
            ctx,
            &name,
            metric_alarm::MetricAlarmArgs::builder()
                .name(name.clone())
                .alarm_description(alarm.description)
                .namespace(if alarm.namespace.is_empty() {
                    stack.metrics_namespace()
                } else {
                    alarm.namespace.to_owned()
                })
                .metric_name(alarm.metric)
                // "p90" and the like are extended statistics.
                .maybe_statistic(
                    (!alarm.statistic.starts_with('p')).then(|| alarm.statistic.to_owned()),
                )
                .maybe_extended_statistic(
                    alarm
                        .statistic
                        .starts_with('p')
                        .then(|| alarm.statistic.to_owned()),
                )
                .dimensions(alarm.dimensions)
                .period(c.alarm_period_seconds as i32)
                .evaluation_periods(1)
                .threshold(alarm.threshold)
                .comparison_operator("GreaterThanOrEqualToThreshold")
                .treat_missing_data("notBreaching")
                .alarm_actions(ops_arn.map(|arn| vec![arn]))
                .build_struct(),
        );
    }
    ops_arn
}
