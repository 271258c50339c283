//! Every alarm watches a metric that exists.
//!
//! The stack's alarms treat missing data as not breaching, so an alarm on a metric that never
//! exists (a misspelt name, a dimension the metric does not carry, the wrong namespace) shows
//! `OK` for ever. This check finds the stack's alarms (`DescribeAlarms`) and asks
//! `ListMetrics` for each metric they watch (each metric of a metric-math alarm), with exactly
//! the alarm's namespace, name and dimensions. A metric that does not exist fails the check,
//! naming the alarm — except the few that only an event the smoke does not cause emits, listed
//! with their reason in [`MAY_NOT_EXIST_YET`].
//!
//! CloudWatch lists a new metric up to 15 minutes after its first data point, and forgets one
//! two weeks after its last ("After you create a metric, allow up to 15 minutes for the metric
//! to appear", ListMetrics, CloudWatch API reference): the check asks again until a grace
//! period is over.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::types::{AlarmType, DimensionFilter, MetricAlarm};

/// One metric, as CloudWatch identifies it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricId {
    pub namespace: String,
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
}

impl MetricId {
    /// The metric of the same namespace and dimensions called `name`.
    fn sibling(&self, name: &str) -> MetricId {
        MetricId {
            name: name.to_owned(),
            ..self.clone()
        }
    }
}

impl fmt::Display for MetricId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dimensions: Vec<String> = self
            .dimensions
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(
            f,
            "{} {} {{{}}}",
            self.namespace,
            self.name,
            dimensions.join(", ")
        )
    }
}

/// An alarm and the metrics it watches: its one metric, or each metric of its metric-math
/// query (expressions watch no metric of their own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchingAlarm {
    pub name: String,
    pub metrics: Vec<MetricId>,
}

impl WatchingAlarm {
    pub fn of(alarm: &MetricAlarm) -> Self {
        let metric = |namespace: Option<&str>, name: Option<&str>, dimensions: &[_]| {
            Some(MetricId {
                namespace: namespace?.to_owned(),
                name: name?.to_owned(),
                dimensions: dimensions
                    .iter()
                    .filter_map(|d: &aws_sdk_cloudwatch::types::Dimension| {
                        Some((d.name()?.to_owned(), d.value()?.to_owned()))
                    })
                    .collect(),
            })
        };
        let single = metric(alarm.namespace(), alarm.metric_name(), alarm.dimensions());
        let queried = alarm
            .metrics()
            .iter()
            .filter_map(|q| q.metric_stat()?.metric())
            .filter_map(|m| metric(m.namespace(), m.metric_name(), m.dimensions()));
        WatchingAlarm {
            name: alarm.alarm_name().unwrap_or_default().to_owned(),
            metrics: single.into_iter().chain(queried).collect(),
        }
    }
}

/// How the stack names what its alarms watch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    /// The namespace of the metrics the functions emit (`DonutStates/<stage>`).
    pub ours: String,
    /// The stage's Lambda functions: name → kind (`sales-api`, …), from the stack's outputs.
    pub functions: BTreeMap<String, String>,
}

/// What an entry of [`MAY_NOT_EXIST_YET`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covered {
    /// One of the functions' own metrics (the stage's namespace), by name.
    Ours(&'static str),
    /// A Lambda metric (`AWS/Lambda`, `FunctionName`) of the stage's functions: of one kind or
    /// any, one metric or any.
    Lambda {
        function: Option<&'static str>,
        metric: Option<&'static str>,
    },
}

/// A metric an alarm may watch before it first exists, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Absence {
    pub covered: Covered,
    pub why: &'static str,
    /// A metric with the same namespace and dimensions that must exist meanwhile: the alarm
    /// names something that reports, even if not this metric yet.
    pub witness: Option<&'static str>,
}

/// The metrics the smoke's traffic does not make. Its purchases, stock-out, factory order,
/// callback and restock make the API's, the queues', the functions' (`Errors`) and the
/// restock's; the scheduled relay and watchdog make theirs every run; RDS reports always. These
/// are emitted only by the event they count, which a healthy stage may never see.
pub const MAY_NOT_EXIST_YET: &[Absence] = &[
    Absence {
        covered: Covered::Ours("FactoryOrdersOverdue"),
        why: "counted only when the watchdog gives up on a factory order (and e-mails ops); a \
              healthy stage never emits it",
        witness: None,
    },
    Absence {
        covered: Covered::Ours("FactoryCallFailures"),
        why: "counted only when a call to the factory fails: the ops path makes some where the \
              stage runs the factory simulator; a healthy factory never does",
        witness: None,
    },
    Absence {
        covered: Covered::Ours("CallbacksRefused"),
        why: "counted only when a factory callback is refused (bad or expired token); the smoke \
              sends none",
        witness: None,
    },
    Absence {
        covered: Covered::Lambda {
            function: Some(donut_config::Function::Migrate.name()),
            metric: None,
        },
        why: "the migration runs on deploys that change it, not on the smoke's traffic, and \
              ListMetrics forgets a metric two weeks after its last data point",
        witness: None,
    },
    Absence {
        covered: Covered::Lambda {
            function: None,
            metric: Some("Throttles"),
        },
        why: "Lambda documents Throttles for throttled requests only; a function never throttled \
              may have none (its Invocations exist: the alarm names a function that runs)",
        witness: Some("Invocations"),
    },
];

/// The entry of [`MAY_NOT_EXIST_YET`] that covers `metric`, if any.
pub fn absence(metric: &MetricId, naming: &Naming) -> Option<&'static Absence> {
    MAY_NOT_EXIST_YET.iter().find(|a| match a.covered {
        Covered::Ours(name) => metric.namespace == naming.ours && metric.name == name,
        Covered::Lambda {
            function,
            metric: name,
        } => {
            let kind = metric
                .dimensions
                .get("FunctionName")
                .and_then(|f| naming.functions.get(f));
            metric.namespace == "AWS/Lambda"
                && kind.is_some()
                && function.is_none_or(|f| kind.is_some_and(|k| k == f))
                && name.is_none_or(|n| metric.name == n)
        }
    })
}

/// What became of one watched metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Found,
    /// Not there, and allowed not to be yet.
    NotYet {
        why: &'static str,
    },
    /// Not there: the alarm watches nothing.
    Missing {
        /// What else is missing that would have vouched for it.
        witness: Option<MetricId>,
    },
}

/// One alarm's metric and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub alarm: String,
    pub metric: MetricId,
    pub status: Status,
}

/// Every metric the check asks for: each alarm's, and the witnesses of those that may be absent.
pub fn to_ask(alarms: &[WatchingAlarm], naming: &Naming) -> BTreeSet<MetricId> {
    let mut out = BTreeSet::new();
    for m in alarms.iter().flat_map(|a| &a.metrics) {
        if let Some(witness) = absence(m, naming).and_then(|a| a.witness) {
            out.insert(m.sibling(witness));
        }
        out.insert(m.clone());
    }
    out
}

/// Each alarm's metrics, judged against the metrics `found`.
pub fn judge(
    alarms: &[WatchingAlarm],
    naming: &Naming,
    found: &BTreeSet<MetricId>,
) -> Vec<Finding> {
    alarms
        .iter()
        .flat_map(|alarm| alarm.metrics.iter().map(move |m| (alarm, m)))
        .map(|(alarm, m)| {
            let status = if found.contains(m) {
                Status::Found
            } else {
                match absence(m, naming) {
                    Some(a) => match a.witness.map(|w| m.sibling(w)) {
                        Some(witness) if !found.contains(&witness) => Status::Missing {
                            witness: Some(witness),
                        },
                        _ => Status::NotYet { why: a.why },
                    },
                    None => Status::Missing { witness: None },
                }
            };
            Finding {
                alarm: alarm.name.clone(),
                metric: m.clone(),
                status,
            }
        })
        .collect()
}

/// The verdict over every alarm: `Ok` with a summary (the metrics not there yet, and why), or
/// `Err` naming each alarm whose metric does not exist.
pub fn verdict(alarms: &[WatchingAlarm], findings: &[Finding]) -> Result<String, String> {
    let mut problems: Vec<String> = alarms
        .iter()
        .filter(|a| a.metrics.is_empty())
        .map(|a| format!("{} watches no metric", a.name))
        .collect();
    if alarms.is_empty() {
        problems.push("no alarm found: is the stack deployed?".to_owned());
    }
    let mut not_yet = Vec::new();
    for f in findings {
        match &f.status {
            Status::Found => {}
            Status::NotYet { why } => {
                not_yet.push(format!("{} ({}): {why}", f.alarm, f.metric.name))
            }
            Status::Missing { witness: None } => problems.push(format!(
                "{} watches {}, which does not exist",
                f.alarm, f.metric
            )),
            Status::Missing {
                witness: Some(witness),
            } => problems.push(format!(
                "{} watches {}, which does not exist, and neither does {} (does the alarm name \
                 the right {}?)",
                f.alarm,
                f.metric,
                witness.name,
                witness
                    .dimensions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    let metrics: BTreeSet<&MetricId> = findings.iter().map(|f| &f.metric).collect();
    let found = findings
        .iter()
        .filter(|f| f.status == Status::Found)
        .map(|f| &f.metric)
        .collect::<BTreeSet<_>>()
        .len();
    let summary = format!(
        "{} alarm(s) watch {} metric(s): {found} exist",
        alarms.len(),
        metrics.len()
    );
    let mut detail = summary;
    if !problems.is_empty() {
        detail.push_str(&format!("; {} problem(s):", problems.len()));
        for p in &problems {
            detail.push_str(&format!("\n       {p}"));
        }
        detail.push_str(
            "\n       an alarm on a metric that never exists stays OK for ever: fix its namespace, \
             name or dimensions (infra/src/alarms.rs), or the code that emits it",
        );
        return Err(detail);
    }
    for n in &not_yet {
        detail.push_str(&format!("\n       not yet, allowed: {n}"));
    }
    Ok(detail)
}

/// The CloudWatch calls failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmError {
    Describe(String),
    Tags { alarm: String, problem: String },
    ListMetrics { metric: MetricId, problem: String },
}

impl std::error::Error for AlarmError {}

impl fmt::Display for AlarmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlarmError::Describe(problem) => write!(f, "cloudwatch:DescribeAlarms: {problem}"),
            AlarmError::Tags { alarm, problem } => {
                write!(f, "cloudwatch:ListTagsForResource of {alarm}: {problem}")
            }
            AlarmError::ListMetrics { metric, problem } => {
                write!(f, "cloudwatch:ListMetrics for {metric}: {problem}")
            }
        }
    }
}

/// Where a stack's alarms are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackAlarms {
    /// The stack's name prefix (`donut-states-dev`): its alarms are `<prefix>-<alarm>[-suffix]`.
    pub prefix: String,
    /// Its stage: an alarm under the prefix tagged with another stage (`dev-2`'s under `dev`'s
    /// prefix) is not this stack's.
    pub stage: String,
}

/// The stack's metric alarms: named under its prefix, not tagged as another stage's.
pub async fn find_alarms(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    stack: &StackAlarms,
) -> Result<Vec<WatchingAlarm>, AlarmError> {
    let pages = cloudwatch
        .describe_alarms()
        .alarm_name_prefix(format!("{}-", stack.prefix))
        .alarm_types(AlarmType::MetricAlarm)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| {
            AlarmError::Describe(aws_sdk_cloudwatch::error::DisplayErrorContext(&e).to_string())
        })?;
    let mut out = Vec::new();
    for alarm in pages.iter().flat_map(|p| p.metric_alarms()) {
        let name = alarm.alarm_name().unwrap_or_default();
        if let Some(arn) = alarm.alarm_arn() {
            let tags = cloudwatch
                .list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .map_err(|e| AlarmError::Tags {
                    alarm: name.to_owned(),
                    problem: aws_sdk_cloudwatch::error::DisplayErrorContext(&e).to_string(),
                })?;
            let other_stage = tags
                .tags()
                .iter()
                .any(|t| t.key() == Some("stage") && t.value() != Some(stack.stage.as_str()));
            if other_stage {
                continue;
            }
        }
        out.push(WatchingAlarm::of(alarm));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Whether `metric` exists, exactly: ListMetrics with its namespace, name and dimensions
/// (which also answers metrics carrying more dimensions), then the one with exactly these.
pub async fn metric_exists(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    metric: &MetricId,
) -> Result<bool, AlarmError> {
    let filters = metric
        .dimensions
        .iter()
        .map(|(name, value)| DimensionFilter::builder().name(name).value(value).build());
    let pages = cloudwatch
        .list_metrics()
        .namespace(&metric.namespace)
        .metric_name(&metric.name)
        .set_dimensions(Some(filters.collect()))
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| AlarmError::ListMetrics {
            metric: metric.clone(),
            problem: aws_sdk_cloudwatch::error::DisplayErrorContext(&e).to_string(),
        })?;
    Ok(pages.iter().flat_map(|p| p.metrics()).any(|m| {
        let dimensions: BTreeMap<String, String> = m
            .dimensions()
            .iter()
            .filter_map(|d| Some((d.name()?.to_owned(), d.value()?.to_owned())))
            .collect();
        m.namespace() == Some(metric.namespace.as_str())
            && m.metric_name() == Some(metric.name.as_str())
            && dimensions == metric.dimensions
    }))
}

/// The check: the stack's alarms, each metric asked for until every one that must exist does,
/// or `grace` is over (asking every `poll`).
pub async fn check(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    stack: &StackAlarms,
    naming: &Naming,
    grace: Duration,
    poll: Duration,
) -> Result<(Vec<WatchingAlarm>, Vec<Finding>), AlarmError> {
    let started = Instant::now();
    let alarms = find_alarms(cloudwatch, stack).await?;
    let ask = to_ask(&alarms, naming);
    let mut found = BTreeSet::new();
    loop {
        let pending: Vec<&MetricId> = ask.difference(&found).collect();
        let mut now_found = Vec::new();
        for metric in pending {
            if metric_exists(cloudwatch, metric).await? {
                now_found.push(metric.clone());
            }
        }
        found.extend(now_found);
        let findings = judge(&alarms, naming, &found);
        let missing = findings
            .iter()
            .any(|f| matches!(f.status, Status::Missing { .. }));
        if !missing || started.elapsed() >= grace {
            return Ok((alarms, findings));
        }
        tokio::time::sleep(poll.min(grace.saturating_sub(started.elapsed()))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(namespace: &str, name: &str, dimensions: &[(&str, &str)]) -> MetricId {
        MetricId {
            namespace: namespace.into(),
            name: name.into(),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn naming() -> Naming {
        Naming {
            ours: "DonutStates/dev".into(),
            functions: [
                ("donut-states-dev-sales-api-1a2b3c4", "sales-api"),
                ("donut-states-dev-migrate-5d6e7f8", "migrate"),
            ]
            .into_iter()
            .map(|(n, k)| (n.to_owned(), k.to_owned()))
            .collect(),
        }
    }

    fn alarm(name: &str, metrics: Vec<MetricId>) -> WatchingAlarm {
        WatchingAlarm {
            name: name.into(),
            metrics,
        }
    }

    #[test]
    fn an_alarm_on_a_metric_that_does_not_exist_fails_by_name() {
        let dlq = metric(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            &[("QueueName", "q-dlq")],
        );
        let typo = metric("DonutStates/dev", "OutboxOldestAgeMs", &[]);
        let alarms = vec![
            alarm("donut-states-dev-dlq-depth-1", vec![dlq.clone()]),
            alarm("donut-states-dev-outbox-age-2", vec![typo.clone()]),
        ];
        let found = BTreeSet::from([dlq]);
        let findings = judge(&alarms, &naming(), &found);
        let err = verdict(&alarms, &findings).unwrap_err();
        assert!(
            err.starts_with("2 alarm(s) watch 2 metric(s): 1 exist; 1 problem(s):"),
            "{err}"
        );
        assert!(
            err.contains(
                "donut-states-dev-outbox-age-2 watches DonutStates/dev OutboxOldestAgeMs {}, \
                 which does not exist"
            ),
            "{err}"
        );
        assert!(!err.contains("dlq-depth"), "{err}");
    }

    #[test]
    fn dimensions_must_match_exactly_and_every_metric_of_a_query_counts() {
        let count = metric(
            "AWS/ApiGateway",
            "Count",
            &[("ApiId", "a1"), ("Stage", "$default")],
        );
        let errors = metric(
            "AWS/ApiGateway",
            "5xx",
            &[("ApiId", "a1"), ("Stage", "$default")],
        );
        let alarms = vec![alarm(
            "donut-states-dev-api-5xx-3",
            vec![errors, count.clone()],
        )];
        // The 5xx metric exists only without the Stage dimension: not the alarm's.
        let found = BTreeSet::from([count, metric("AWS/ApiGateway", "5xx", &[("ApiId", "a1")])]);
        let err = verdict(&alarms, &judge(&alarms, &naming(), &found)).unwrap_err();
        assert!(
            err.contains(
                "watches AWS/ApiGateway 5xx {ApiId=a1, Stage=$default}, which does not exist"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_listed_metrics_may_be_absent_and_say_why() {
        let refused = metric("DonutStates/dev", "CallbacksRefused", &[]);
        let migrate = metric(
            "AWS/Lambda",
            "Errors",
            &[("FunctionName", "donut-states-dev-migrate-5d6e7f8")],
        );
        let alarms = vec![
            alarm("donut-states-dev-callbacks-refused-4", vec![refused]),
            alarm("donut-states-dev-migrate-errors-5", vec![migrate]),
        ];
        let detail = verdict(&alarms, &judge(&alarms, &naming(), &BTreeSet::new())).unwrap();
        assert!(
            detail.starts_with("2 alarm(s) watch 2 metric(s): 0 exist"),
            "{detail}"
        );
        assert!(
            detail.contains("not yet, allowed: donut-states-dev-callbacks-refused-4 (CallbacksRefused): counted only when a factory callback is refused"),
            "{detail}"
        );
        assert!(
            detail.contains("migrate-errors-5 (Errors): the migration"),
            "{detail}"
        );
        // Another stage's namespace is not covered: its metric must exist.
        let prod = metric("DonutStates/prod", "CallbacksRefused", &[]);
        assert_eq!(absence(&prod, &naming()), None);
        // A function not of this stack is not covered either.
        let stranger = metric(
            "AWS/Lambda",
            "Throttles",
            &[("FunctionName", "someone-else")],
        );
        assert_eq!(absence(&stranger, &naming()), None);
    }

    #[test]
    fn throttles_may_be_absent_only_beside_the_functions_invocations() {
        let dims = [("FunctionName", "donut-states-dev-sales-api-1a2b3c4")];
        let throttles = metric("AWS/Lambda", "Throttles", &dims);
        let invocations = metric("AWS/Lambda", "Invocations", &dims);
        let alarms = vec![alarm(
            "donut-states-dev-sales-api-throttles-6",
            vec![throttles.clone()],
        )];
        assert_eq!(
            to_ask(&alarms, &naming()),
            BTreeSet::from([throttles.clone(), invocations.clone()])
        );
        let ok = verdict(
            &alarms,
            &judge(&alarms, &naming(), &BTreeSet::from([invocations])),
        );
        assert!(ok.is_ok_and(|d| d.contains("not yet, allowed")));
        let err = verdict(&alarms, &judge(&alarms, &naming(), &BTreeSet::new())).unwrap_err();
        assert!(
            err.contains("which does not exist, and neither does Invocations (does the alarm name the right FunctionName?)"),
            "{err}"
        );
        let found = verdict(
            &alarms,
            &judge(&alarms, &naming(), &BTreeSet::from([throttles])),
        );
        assert_eq!(found.unwrap(), "1 alarm(s) watch 1 metric(s): 1 exist");
    }

    #[test]
    fn no_alarm_or_an_alarm_watching_nothing_fails() {
        assert!(verdict(&[], &[]).unwrap_err().contains("no alarm found"));
        let empty = vec![alarm("donut-states-dev-odd", vec![])];
        assert!(
            verdict(&empty, &[])
                .unwrap_err()
                .contains("donut-states-dev-odd watches no metric")
        );
    }
}
