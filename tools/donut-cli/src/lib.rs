//! The ops toolbox behind `donut-cli`: the operators' API, signed ([`signed`], [`operators`]:
//! products, stock adjustments, the audit trail, factory orders; [`catalogue`]: a committed
//! catalogue file applied), the dead-letter queue (list, replay, purge), the local ops inbox,
//! the deploy preflight ([`preflight`]) and `make smoke` ([`smoke`], [`alarm_metrics`]). The
//! binary prints what these return.

use anyhow::Context;
use aws_sdk_sqs::types::MessageSystemAttributeName;

pub mod alarm_metrics;
pub mod catalogue;
pub mod operators;
pub mod preflight;
pub mod region;
pub mod release;
pub mod signed;
pub mod smoke;

pub use preflight::{LambdaQuota, lambda_quota, preflight};

/// The factory-orders queue and its dead-letter queue.
pub struct Queues {
    pub sqs: aws_sdk_sqs::Client,
    pub source: String,
    pub dlq: String,
}

impl Queues {
    /// The queues a stack's outputs name (`pulumi stack output --json`): on AWS the provider
    /// suffixes every name, so a deployed stack's queues are found this way.
    pub fn from_outputs(
        sqs: aws_sdk_sqs::Client,
        outputs: &serde_json::Value,
    ) -> anyhow::Result<Self> {
        let url = |key: &str| {
            outputs
                .get(key)
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "the stack outputs name no {key} (are they `pulumi stack output --json` \
                         of a Donut-States stack?)"
                    )
                })
        };
        Ok(Self {
            sqs,
            source: url(donut_config::outputs::FACTORY_ORDERS_QUEUE_URL)?,
            dlq: url(donut_config::outputs::DEAD_LETTER_QUEUE_URL)?,
        })
    }

    /// Finds the local stack's queues by the names it gives them
    /// (`donut_local::provision::{queue_name, dlq_name}`).
    pub async fn find(sqs: aws_sdk_sqs::Client, prefix: &str) -> anyhow::Result<Self> {
        let url = |name: String| {
            let sqs = sqs.clone();
            async move {
                sqs.get_queue_url()
                    .queue_name(&name)
                    .send()
                    .await
                    .with_context(|| format!("queue {name} not found (is the stack up?)"))?
                    .queue_url
                    .context("queue URL")
            }
        };
        let source = url(donut_local::provision::queue_name(prefix)).await?;
        let dlq = url(donut_local::provision::dlq_name(prefix)).await?;
        Ok(Self { sqs, source, dlq })
    }
}

/// One message in the DLQ.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub message_id: String,
    pub age_seconds: Option<i64>,
    pub receive_count: String,
    pub summary: String,
    /// The stock-out it carries, when it is one.
    pub event: Option<donut_domain::StockOutEvent>,
}

/// How the watchdog treats a factory order whose message is gone (the stage's settings).
#[derive(Debug, Clone, Copy)]
pub struct Chasing {
    pub open_deadline_minutes: u64,
    pub max_attempts: u32,
}

/// What becomes of a dead letter's factory order once the message is deleted.
pub fn after_purge(letter: &DeadLetter, chasing: Chasing) -> String {
    match &letter.event {
        Some(e) => format!(
            "factory order {id} stays as the warehouse has it; while it is open, the watchdog \
             publishes its stock-out again {m} min after it was last sent (up to {n} times, then \
             ops are e-mailed). Now: `donut-cli orders re-request {id}`; give up: `donut-cli \
             orders cancel {id}`",
            id = e.factory_order_id,
            m = chasing.open_deadline_minutes,
            n = chasing.max_attempts,
        ),
        None => "no factory order: nothing else changes".into(),
    }
}

/// What a message is, in one line.
pub fn summary(body: &str) -> String {
    match donut_domain::StockOutEvent::from_json(body) {
        Ok(e) => format!(
            "stock-out {} → factory order {} ({} units, correlation {})",
            e.product_id, e.factory_order_id, e.quantity, e.correlation_id
        ),
        Err(_) => {
            let clipped: String = body.chars().take(80).collect();
            format!("unreadable: {clipped:?}")
        }
    }
}

/// The source queue's visibility timeout and its redrive's `maxReceiveCount`, as the queue
/// itself says (the stage config's on AWS, the local stack's shorter timeout locally): a
/// failing message is dead-lettered after about their product.
pub async fn redrive(q: &Queues) -> anyhow::Result<(std::time::Duration, u32)> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let reply = q
        .sqs
        .get_queue_attributes()
        .queue_url(&q.source)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("reading {}: {}", q.source, e.into_service_error()))?;
    let attributes = reply.attributes().cloned().unwrap_or_default();
    let visibility: u64 = attributes
        .get(&QueueAttributeName::VisibilityTimeout)
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{} has no visibility timeout", q.source))?;
    let policy: serde_json::Value = attributes
        .get(&QueueAttributeName::RedrivePolicy)
        .and_then(|p| serde_json::from_str(p).ok())
        .with_context(|| format!("{} has no redrive policy", q.source))?;
    // SQS writes maxReceiveCount as a number; LocalStack as a string.
    let receives = policy["maxReceiveCount"]
        .as_u64()
        .or_else(|| policy["maxReceiveCount"].as_str()?.parse().ok())
        .with_context(|| format!("{} redrives without a maxReceiveCount", q.source))?;
    Ok((
        std::time::Duration::from_secs(visibility),
        u32::try_from(receives)?,
    ))
}

/// Peeks at up to `max` messages: a zero visibility timeout leaves each where it is.
pub async fn list(q: &Queues, max: usize) -> anyhow::Result<Vec<DeadLetter>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for _ in 0..10 {
        let received = q
            .sqs
            .receive_message()
            .queue_url(&q.dlq)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let mut fresh = 0;
        for m in received.messages.unwrap_or_default() {
            let id = m.message_id.clone().unwrap_or_default();
            if out.len() >= max || !seen.insert(id.clone()) {
                continue;
            }
            fresh += 1;
            let attrs = m.attributes.unwrap_or_default();
            out.push(DeadLetter {
                message_id: id,
                age_seconds: attrs
                    .get(&MessageSystemAttributeName::SentTimestamp)
                    .and_then(|t| t.parse::<i64>().ok())
                    .map(|ms| now - ms / 1000),
                receive_count: attrs
                    .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                    .cloned()
                    .unwrap_or_default(),
                summary: summary(m.body.as_deref().unwrap_or("")),
                event: donut_domain::StockOutEvent::from_json(m.body.as_deref().unwrap_or("")).ok(),
            });
        }
        if fresh == 0 {
            break;
        }
    }
    Ok(out)
}

/// Moves up to `max` messages back to the source queue: send first, then delete, so an
/// interruption may duplicate a message (consumers are idempotent) but never loses one.
/// With `dry_run`, only says what would move. Calls `each` with every message's summary.
pub async fn replay(
    q: &Queues,
    max: usize,
    dry_run: bool,
    mut each: impl FnMut(&str),
) -> anyhow::Result<usize> {
    let mut moved = 0;
    while moved < max {
        let messages =
            receive_dead_letters(q, 10.min(max - moved), if dry_run { 0 } else { 60 }).await?;
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body.clone().unwrap_or_default();
            each(&summary(&body));
            if !dry_run {
                q.sqs
                    .send_message()
                    .queue_url(&q.source)
                    .message_body(&body)
                    .set_message_attributes(m.message_attributes.clone())
                    .send()
                    .await
                    .context("send back to the source queue (the message stays in the DLQ)")?;
                q.sqs
                    .delete_message()
                    .queue_url(&q.dlq)
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .context(
                        "delete from the DLQ (the message was replayed; it may be replayed twice)",
                    )?;
            }
            moved += 1;
        }
        if dry_run {
            break;
        }
    }
    Ok(moved)
}

/// Up to `max` (≤ 10) DLQ messages with their attributes, hidden from others for
/// `visibility` seconds (0: a peek).
async fn receive_dead_letters(
    q: &Queues,
    max: usize,
    visibility: i32,
) -> anyhow::Result<Vec<aws_sdk_sqs::types::Message>> {
    let received = q
        .sqs
        .receive_message()
        .queue_url(&q.dlq)
        .max_number_of_messages(max as i32)
        .visibility_timeout(visibility)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .send()
        .await?;
    Ok(received.messages.unwrap_or_default())
}

/// Deletes exactly the DLQ messages named in `ids` (those the operator was shown), not what
/// arrived since; returns how many it deleted.
pub async fn purge(q: &Queues, ids: &std::collections::HashSet<String>) -> anyhow::Result<usize> {
    let mut deleted = std::collections::HashSet::new();
    for _ in 0..10 {
        let messages = receive_dead_letters(q, 10, 30).await?;
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let id = m.message_id.unwrap_or_default();
            let handle = m.receipt_handle.unwrap_or_default();
            if ids.contains(&id) {
                q.sqs
                    .delete_message()
                    .queue_url(&q.dlq)
                    .receipt_handle(handle)
                    .send()
                    .await?;
                deleted.insert(id);
            } else {
                // Not shown to the operator: back in sight at once.
                q.sqs
                    .change_message_visibility()
                    .queue_url(&q.dlq)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await?;
            }
        }
        if deleted.len() == ids.len() {
            break;
        }
    }
    Ok(deleted.len())
}

/// The e-mails LocalStack captured (SNS e-mail subscriptions, SES).
pub async fn inbox(endpoint: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let url = format!("{}/_aws/ses", endpoint.trim_end_matches('/'));
    let body: serde_json::Value = reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?
        .json()
        .await?;
    Ok(body["messages"].as_array().cloned().unwrap_or_default())
}

/// One metric over a log: its unit, how many data points, their sum, and percentiles.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSummary {
    pub name: String,
    pub unit: String,
    pub points: usize,
    pub sum: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// Sums up the metric lines (`donut_metrics` events) of a JSON-lines log.
pub fn metrics_summary(log: &str) -> Vec<MetricSummary> {
    let mut by_name: std::collections::BTreeMap<String, (String, Vec<f64>)> =
        std::collections::BTreeMap::new();
    for line in log.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(name), Some(value)) = (v["metric"].as_str(), v["value"].as_f64()) else {
            continue;
        };
        let unit = v["unit"].as_str().unwrap_or("Count").to_owned();
        by_name
            .entry(name.to_owned())
            .or_insert_with(|| (unit, Vec::new()))
            .1
            .push(value);
    }
    by_name
        .into_iter()
        .map(|(name, (unit, mut values))| {
            values.sort_by(f64::total_cmp);
            let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
            MetricSummary {
                name,
                unit,
                points: values.len(),
                sum: values.iter().sum(),
                p50: at(0.5),
                p99: at(0.99),
                max: *values.last().expect("at least one value"),
            }
        })
        .collect()
}

/// A stack's outputs: the JSON file `path` (`pulumi stack output --json > outputs.json`), or
/// `pulumi stack output --json --stack <stage>` run with the Pulumi CLI on the PATH.
pub fn stack_outputs(
    path: Option<&std::path::Path>,
    stage: &str,
) -> anyhow::Result<serde_json::Value> {
    let text = match path {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the stack outputs {}", path.display()))?,
        None => {
            let out = std::process::Command::new("pulumi")
                .args(["stack", "output", "--json", "--stack", stage])
                .output()
                .context("running `pulumi stack output` (is the Pulumi CLI on the PATH? or pass --outputs FILE)")?;
            anyhow::ensure!(
                out.status.success(),
                "`pulumi stack output --json --stack {stage}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            String::from_utf8(out.stdout).context("pulumi's output is not UTF-8")?
        }
    };
    serde_json::from_str(&text).context("the stack outputs are not JSON")
}

/// The stage's functions a stack's outputs name (`functionNames`: kind → function name, the
/// factory simulator among them where the stage deploys it); none when the stack has no such
/// output (not deployed yet).
pub fn function_names(outputs: &serde_json::Value) -> Vec<(String, String)> {
    outputs
        .get(donut_config::outputs::FUNCTION_NAMES)
        .and_then(serde_json::Value::as_object)
        .map(|names| {
            names
                .iter()
                .filter_map(|(kind, name)| Some((kind.clone(), name.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_counts_and_takes_percentiles_of_timings() {
        let log = [
            r#"{"metric":"OrdersSold","value":2.0,"unit":"Count"}"#,
            r#"{"message":"not a metric"}"#,
            "not json",
            r#"{"metric":"OrdersSold","value":3.0,"unit":"Count"}"#,
            r#"{"metric":"RestockLatency","value":100.0,"unit":"Milliseconds"}"#,
            r#"{"metric":"RestockLatency","value":300.0,"unit":"Milliseconds"}"#,
        ]
        .join("\n");
        let s = metrics_summary(&log);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name.as_str(), s[0].points, s[0].sum),
            ("OrdersSold", 2, 5.0)
        );
        assert_eq!((s[1].name.as_str(), s[1].max), ("RestockLatency", 300.0));
        assert_eq!(s[1].unit, "Milliseconds");
    }
}
