//! What wakes ops, each alarm → the ops topic → the e-mail in `opsEmail`, with an OK message
//! when it clears. Every failure of the pipeline ends in one of these, and every description
//! names its runbook by an absolute address, a section of docs/operate.md under the stage's
//! `repositoryUrl` (`StageConfig::runbook_url`; a test checks the links).

use donut_config::Function;
use donut_config::release::{self, ALIAS};
use donut_metrics::Metric;
use std::collections::{BTreeMap, HashMap};

use pulumi_gestalt_rust::Output;

use crate::Stack;
use crate::api::Api;
use crate::compute::Compute;
use crate::data::Data;
use crate::messaging::Messaging;
use crate::out::known;
use donut_infra_aws::cloudwatch::metric_alarm;
use donut_infra_aws::sns::topic_subscription;
use donut_infra_aws::types::cloudwatch::{MetricAlarmMetricQuery, MetricAlarmMetricQueryMetric};

/// Where a metric comes from.
#[derive(Clone, Copy)]
pub enum Namespace {
    /// The metrics our functions emit (EMF), `DonutStates/<stage>`.
    Ours,
    /// An AWS service's, e.g. `AWS/SQS`.
    Aws(&'static str),
}

/// What an alarm watches.
pub enum Watched {
    /// One metric, one statistic (`p90` and the like are extended statistics).
    Metric {
        namespace: Namespace,
        name: &'static str,
        statistic: &'static str,
        dimensions: Output<HashMap<String, String>>,
    },
    /// The API's 5xx answers in percent of its requests (metric math).
    ApiErrorRate {
        dimensions: Output<HashMap<String, String>>,
    },
}

pub struct Alarm {
    /// The alarm's name, after the stack prefix.
    pub key: String,
    /// The section of docs/operate.md (its anchor) saying what it means and what to do.
    pub runbook: &'static str,
    pub description: String,
    pub watched: Watched,
    pub threshold: f64,
    /// At or above the threshold (`false`: at or below).
    pub above: bool,
    /// M of N: in `datapoints` of the last `periods` periods.
    pub datapoints: u32,
    pub periods: u32,
    /// The period's length in seconds (`None`: the stage's `alarmPeriodSeconds`).
    pub period_seconds: Option<u32>,
    /// The aliased function whose release this alarm stops (a canary alarm: scoped to the
    /// version the deployment published), if it is one.
    pub canary_of: Option<Function>,
}

impl Alarm {
    fn at_or_above(
        key: impl Into<String>,
        runbook: &'static str,
        description: String,
        watched: Watched,
        threshold: f64,
    ) -> Alarm {
        Alarm {
            key: key.into(),
            runbook,
            description,
            watched,
            threshold,
            above: true,
            datapoints: 1,
            periods: 1,
            period_seconds: None,
            canary_of: None,
        }
    }

    /// The same alarm, but only when breaching in each of `periods` periods running, each
    /// `period_seconds` long.
    fn sustained(self, periods: u32, period_seconds: u32) -> Alarm {
        Alarm {
            datapoints: periods,
            periods,
            period_seconds: Some(period_seconds),
            ..self
        }
    }
}

/// How long an idempotency key may stay stored past its window before ops are told: the
/// outbox-relay sweeps expired keys every run, so an hour means many runs failed in a row.
pub const EXPIRED_KEY_ALARM_MINUTES: u32 = 60;

/// Sweep periods in a row a scheduled function's alarm needs before it pages: one bad period
/// is a run that was late, not a sweep that stopped.
pub const SUSTAINED_SWEEP_PERIODS: u32 = 3;

/// The period of an alarm on what the sweep schedule's runs report (one datapoint a run): the
/// schedule's period, or the stage's alarm period if longer, so every period has a run in it.
pub fn sweep_period_seconds(config: &donut_config::StageConfig) -> u32 {
    (config.relay_schedule_minutes * 60).max(config.alarm_period_seconds)
}

fn dimension(name: &'static str, value: &Output<String>) -> Output<HashMap<String, String>> {
    value.map(move |v| HashMap::from([(name.to_owned(), v)]))
}

/// Every alarm of the stack, in the order a stock-out travels.
pub fn alarms(
    stack: &Stack,
    messaging: &Messaging,
    compute: &Compute,
    api: &Api,
    data: &Data,
) -> Vec<Alarm> {
    let c = &stack.config;
    let a = &c.alarms;
    let api_dimensions = pulumi_gestalt_rust::pulumi_combine!(api.id.clone(), api.stage.clone())
        .map(|(id, stage)| HashMap::from([("ApiId".to_owned(), id), ("Stage".to_owned(), stage)]));
    let mut api_rate = Alarm::at_or_above(
        "api-5xx",
        "api-5xx-rate",
        format!(
            "The API answered 5xx to {}% or more of its requests in {} of {} periods: the warehouse or a function is failing.",
            a.api_5xx_percent, a.api_5xx_datapoints, a.api_5xx_periods
        ),
        Watched::ApiErrorRate {
            dimensions: api_dimensions,
        },
        f64::from(a.api_5xx_percent),
    );
    api_rate.datapoints = a.api_5xx_datapoints;
    api_rate.periods = a.api_5xx_periods;

    let mut alarms = vec![
        api_rate,
        Alarm::at_or_above(
            "outbox-age",
            "outbox-age",
            format!(
                "A stock-out has waited {} minutes or more in the outbox without reaching SNS: factory orders are not being requested.",
                a.outbox_age_minutes
            ),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: Metric::OutboxOldestAge.name(),
                statistic: "Maximum",
                dimensions: known(HashMap::new()),
            },
            f64::from(a.outbox_age_minutes) * 60_000.0,
        ),
        Alarm::at_or_above(
            "expired-keys-age",
            "expired-idempotency-keys",
            format!(
                "Idempotency keys {EXPIRED_KEY_ALARM_MINUTES} minutes or more past their window are still stored, in {SUSTAINED_SWEEP_PERIODS} sweep periods running: the outbox-relay's sweep of expired keys keeps failing, or the relay is not running."
            ),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: Metric::ExpiredKeyOldestAge.name(),
                statistic: "Maximum",
                dimensions: known(HashMap::new()),
            },
            f64::from(EXPIRED_KEY_ALARM_MINUTES) * 60_000.0,
        )
        .sustained(SUSTAINED_SWEEP_PERIODS, sweep_period_seconds(c)),
        Alarm::at_or_above(
            "queue-age",
            "queue-age",
            format!(
                "The oldest factory order in the queue is {} minutes old or more: the factory-requester is not keeping up or keeps failing.",
                a.queue_age_minutes
            ),
            Watched::Metric {
                namespace: Namespace::Aws("AWS/SQS"),
                name: "ApproximateAgeOfOldestMessage",
                statistic: "Maximum",
                dimensions: dimension("QueueName", &messaging.queue_name),
            },
            f64::from(a.queue_age_minutes) * 60.0,
        ),
        Alarm::at_or_above(
            DLQ_DEPTH,
            donut_config::aws::DLQ_DEPTH_RUNBOOK,
            donut_config::aws::DLQ_DEPTH_ALARM.into(),
            Watched::Metric {
                namespace: Namespace::Aws("AWS/SQS"),
                name: "ApproximateNumberOfMessagesVisible",
                statistic: "Maximum",
                dimensions: dimension("QueueName", &messaging.dlq_name),
            },
            f64::from(c.dlq_alarm_threshold),
        ),
        Alarm::at_or_above(
            "factory-failures",
            "factory-failures",
            "Calls to the legacy factory are failing (5xx, timeouts, connection errors); messages are being retried and may reach the DLQ.".into(),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: Metric::FactoryCallFailures.name(),
                statistic: "Sum",
                dimensions: known(HashMap::new()),
            },
            f64::from(c.factory_failure_alarm_threshold),
        ),
        Alarm::at_or_above(
            "factory-orders-overdue",
            donut_config::aws::FACTORY_ORDERS_OVERDUE_RUNBOOK,
            format!(
                "The legacy factory accepted orders and never called back, even when asked {} times; the watchdog e-mailed the details.",
                c.factory_max_attempts
            ),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: Metric::FactoryOrdersOverdue.name(),
                statistic: "Maximum",
                dimensions: known(HashMap::new()),
            },
            1.0,
        ),
        Alarm::at_or_above(
            "unfinished-order-age",
            "unfinished-order-age",
            format!(
                "A factory order has been unfinished for {} minutes or more: the watchdog has chased it and e-mailed ops, or the watchdog is not running. Re-request or cancel it (donut-cli orders).",
                a.unfinished_order_minutes
            ),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: Metric::UnfinishedOrderOldestAge.name(),
                statistic: "Maximum",
                dimensions: known(HashMap::new()),
            },
            f64::from(a.unfinished_order_minutes) * 60_000.0,
        ),
        Alarm::at_or_above(
            "callbacks-refused",
            "callbacks-refused",
            format!(
                "{} or more factory callbacks were refused (bad or missing token, or a valid URL for an order not sent or another quantity) in one period, on the factory's lane, whose address only the factory is given: the address is in someone else's hands, or the factory holds URLs signed with a key no longer accepted.",
                a.callbacks_refused
            ),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: Metric::CallbacksRefused.name(),
                statistic: "Sum",
                dimensions: known(HashMap::new()),
            },
            f64::from(a.callbacks_refused),
        ),
        Alarm::at_or_above(
            "restock-latency",
            "restock-latency",
            format!(
                "Stock-outs take more than {} minutes (p90) to be restocked: the factory is slow or callbacks are lost.",
                c.restock_latency_alarm_minutes
            ),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: Metric::RestockLatency.name(),
                statistic: "p90",
                dimensions: known(HashMap::new()),
            },
            f64::from(c.restock_latency_alarm_minutes) * 60_000.0,
        ),
    ];
    for (kind, deployed) in &compute.functions {
        let (key, function) = (kind.name(), &deployed.name);
        alarms.push(Alarm::at_or_above(
            format!("{key}-errors"),
            "function-errors",
            format!("The {key} function reported errors."),
            Watched::Metric {
                namespace: Namespace::Aws("AWS/Lambda"),
                name: "Errors",
                statistic: "Sum",
                dimensions: dimension("FunctionName", function),
            },
            1.0,
        ));
        let throttles = |description: String| {
            Alarm::at_or_above(
                format!("{key}-throttles"),
                "function-throttles",
                description,
                Watched::Metric {
                    namespace: Namespace::Aws("AWS/Lambda"),
                    name: "Throttles",
                    statistic: "Sum",
                    dimensions: dimension("FunctionName", function),
                },
                1.0,
            )
        };
        // A scheduled sweep is invoked asynchronously: a throttled run waits in Lambda's event
        // queue and is tried again, and the next run does the same work, so one throttled run
        // loses nothing. Ops hear when its runs keep being refused.
        alarms.push(if crate::compute::SCHEDULED.contains(kind) {
            throttles(format!(
                "Runs of the {key} function (the sweep schedule's) were throttled in each of the last {SUSTAINED_SWEEP_PERIODS} sweep periods: the sweep is not getting through (a single throttled run does not page; the next run does its work)."
            ))
            .sustained(SUSTAINED_SWEEP_PERIODS, sweep_period_seconds(c))
        } else {
            throttles(format!(
                "Invocations of the {key} function were throttled: it hit its concurrency limit."
            ))
        });
    }
    alarms.extend(canary_alarms(compute));
    let db = || dimension("DBInstanceIdentifier", &data.db_identifier);
    alarms.push(Alarm::at_or_above(
        "db-connections",
        "database-connections",
        format!(
            "The database has {} or more connections open: near its limit.",
            a.db_connections
        ),
        Watched::Metric {
            namespace: Namespace::Aws("AWS/RDS"),
            name: "DatabaseConnections",
            statistic: "Maximum",
            dimensions: db(),
        },
        f64::from(a.db_connections),
    ));
    alarms.push(Alarm {
        above: false,
        ..Alarm::at_or_above(
            "db-free-storage",
            "database-free-storage",
            format!(
                "The database has {} GB or less of free storage.",
                a.db_free_storage_gb
            ),
            Watched::Metric {
                namespace: Namespace::Aws("AWS/RDS"),
                name: "FreeStorageSpace",
                statistic: "Minimum",
                dimensions: db(),
            },
            f64::from(a.db_free_storage_gb) * 1024.0 * 1024.0 * 1024.0,
        )
    });
    // Only burstable classes (db.t*) spend CPU credits.
    if c.database.instance_class.starts_with("db.t") {
        alarms.push(Alarm {
            above: false,
            ..Alarm::at_or_above(
                "db-cpu-credits",
                "database-cpu-credits",
                format!(
                    "The database's CPU credit balance is {} or less: it will soon be throttled to its baseline.",
                    a.db_cpu_credits
                ),
                Watched::Metric {
                    namespace: Namespace::Aws("AWS/RDS"),
                    name: "CPUCreditBalance",
                    statistic: "Minimum",
                    dimensions: db(),
                },
                f64::from(a.db_cpu_credits),
            )
        });
    }
    alarms
}

/// The canary alarms of each aliased function, scoped to the version this deployment published
/// (`donut_config::release`): the rollout tool stops and rolls back the release while any is in
/// ALARM. Its own failures, by our metric with the dimensions `Function` and `Version` (the
/// functions' EMF records carry them, from `AWS_LAMBDA_FUNCTION_NAME` and
/// `AWS_LAMBDA_FUNCTION_VERSION`) — the 5xx answers of an HTTP function, the failed messages
/// of the queue's consumer — and Lambda's `Errors` of the version when invoked through the
/// alias (dimensions `FunctionName`, `Resource` = `<function>:live`, `ExecutedVersion`).
///
/// Each breaches on one bad datapoint in one short period, and a canary with no traffic has no
/// data, which is not a breach (`notBreaching`, as every alarm here): too little traffic is the
/// rollout tool's to judge, not the alarm's.
pub fn canary_alarms(compute: &Compute) -> Vec<Alarm> {
    let mut out = Vec::new();
    for kind in release::ALIASED {
        let (key, function) = (kind.name(), &compute.functions[&kind]);
        let ours =
            pulumi_gestalt_rust::pulumi_combine!(function.name.clone(), function.version.clone())
                .map(|(name, version)| {
                    HashMap::from([
                        ("Function".to_owned(), name),
                        ("Version".to_owned(), version),
                    ])
                });
        // `Resource` from the alias's own name, once the alias exists: the alarm never watches
        // an alias that is not there yet, and depends on it in the engine's state.
        let alias = &compute.aliases[&kind];
        let resource = crate::out::after(
            &pulumi_gestalt_rust::pulumi_combine!(function.name.clone(), alias.name.clone())
                .map(|(name, alias)| format!("{name}:{alias}")),
            &alias.arn,
        );
        let lambdas = pulumi_gestalt_rust::pulumi_combine!(
            function.name.clone(),
            resource,
            function.version.clone()
        )
        .map(|(name, resource, version)| {
            HashMap::from([
                ("Resource".to_owned(), resource),
                ("FunctionName".to_owned(), name),
                ("ExecutedVersion".to_owned(), version),
            ])
        });
        let (metric, what) = if kind == Function::FactoryRequester {
            (
                Metric::BatchItemFailures,
                "failed factory-order messages (batch item failures)",
            )
        } else {
            (Metric::ServerErrors, "5xx answers")
        };
        let canary = |alarm: Alarm| Alarm {
            datapoints: release::CANARY_ALARM_PERIODS,
            periods: release::CANARY_ALARM_PERIODS,
            period_seconds: Some(release::CANARY_ALARM_PERIOD_SECONDS),
            canary_of: Some(kind),
            ..alarm
        };
        out.push(canary(Alarm::at_or_above(
            format!("{key}-canary-{}", if metric == Metric::ServerErrors { "5xx" } else { "failures" }),
            "canary-alarms",
            format!(
                "The version of {key} being released gave {what}: the rollout stops and returns all traffic to the previous version."
            ),
            Watched::Metric {
                namespace: Namespace::Ours,
                name: metric.name(),
                statistic: "Sum",
                dimensions: ours,
            },
            1.0,
        )));
        out.push(canary(Alarm::at_or_above(
            format!("{key}-canary-errors"),
            "canary-alarms",
            format!(
                "The version of {key} being released failed invocations through its {ALIAS} alias (Lambda errors): the rollout stops and returns all traffic to the previous version."
            ),
            Watched::Metric {
                namespace: Namespace::Aws("AWS/Lambda"),
                name: "Errors",
                statistic: "Sum",
                dimensions: lambdas,
            },
            1.0,
        )));
    }
    out
}

pub struct Alarms {
    /// Each aliased function's canary alarms' names ([`canary_alarms`]).
    pub canary: BTreeMap<Function, Vec<Output<String>>>,
    pub ops_topic_arn: Output<String>,
    /// The DLQ-depth alarm's name.
    pub dlq_alarm_name: Output<String>,
}

/// The DLQ-depth alarm's key.
const DLQ_DEPTH: &str = "dlq-depth";

/// The ops e-mail subscription and every alarm.
pub fn declare(
    stack: &Stack,
    messaging: &Messaging,
    compute: &Compute,
    api: &Api,
    data: &Data,
) -> anyhow::Result<Alarms> {
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
    let mut dlq_alarm_name = None;
    let mut canary: BTreeMap<Function, Vec<Output<String>>> = BTreeMap::new();
    for alarm in alarms(stack, messaging, compute, api, data) {
        let period = alarm.period_seconds.unwrap_or(c.alarm_period_seconds) as i32;
        let logical = stack.name(&alarm.key);
        let description =
            donut_config::aws::alarm_description(&alarm.description, &c.runbook_url(alarm.runbook));
        let args = metric_alarm::MetricAlarmArgs::builder()
            .tags(stack.tags())
            .alarm_description(description)
            .threshold(alarm.threshold)
            .comparison_operator(if alarm.above {
                "GreaterThanOrEqualToThreshold"
            } else {
                "LessThanOrEqualToThreshold"
            })
            .datapoints_to_alarm(alarm.datapoints as i32)
            .evaluation_periods(alarm.periods as i32)
            .treat_missing_data("notBreaching")
            .alarm_actions(ops_arn.map(|arn| vec![arn]))
            .ok_actions(ops_arn.map(|arn| vec![arn]));
        let args = match alarm.watched {
            Watched::Metric {
                namespace,
                name: metric,
                statistic,
                dimensions,
            } => {
                let extended = statistic.starts_with('p');
                args.namespace(match namespace {
                    Namespace::Ours => stack.metrics_namespace(),
                    Namespace::Aws(aws) => aws.to_owned(),
                })
                .metric_name(metric)
                .maybe_statistic((!extended).then(|| statistic.to_owned()))
                .maybe_extended_statistic(extended.then(|| statistic.to_owned()))
                .dimensions(dimensions)
                .period(period)
                .build_struct()
            }
            Watched::ApiErrorRate { dimensions } => args
                .metric_queries(dimensions.map(move |dimensions| {
                    let api_metric = |id: &str, metric: &str| {
                        MetricAlarmMetricQuery::builder()
                            .id(id.to_owned())
                            .metric(
                                MetricAlarmMetricQueryMetric::builder()
                                    .namespace("AWS/ApiGateway".to_owned())
                                    .metric_name(metric.to_owned())
                                    .dimensions(dimensions.clone())
                                    .period(period)
                                    .stat("Sum".to_owned())
                                    .build_struct(),
                            )
                            .return_data(false)
                            .build_struct()
                    };
                    vec![
                        api_metric("errors", "5xx"),
                        api_metric("requests", "Count"),
                        MetricAlarmMetricQuery::builder()
                            .id("rate".to_owned())
                            .expression("IF(requests > 0, 100 * errors / requests, 0)".to_owned())
                            .label("5xx, % of requests".to_owned())
                            .return_data(true)
                            .build_struct(),
                    ]
                }))
                .build_struct(),
        };
        let created = metric_alarm::create(ctx, &logical, args);
        if let Some(function) = alarm.canary_of {
            canary
                .entry(function)
                .or_default()
                .push(created.name.clone());
        }
        if alarm.key == DLQ_DEPTH {
            dlq_alarm_name = Some(created.name);
        }
    }
    Ok(Alarms {
        canary,
        ops_topic_arn: ops_arn,
        dlq_alarm_name: dlq_alarm_name
            .ok_or_else(|| anyhow::anyhow!("no {DLQ_DEPTH} alarm was declared"))?,
    })
}
