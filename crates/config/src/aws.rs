//! AWS documents that both the Pulumi program and the local stack's provisioning declare,
//! written once so the two cannot drift.
//! (Queue-side documents: a resource policy and a redrive policy; the functions' IAM
//! policies are the infra program's, `infra/src/iam.rs`.)

use serde_json::{Value, json};

/// What the DLQ-depth alarm says (before its runbook link).
pub const DLQ_DEPTH_ALARM: &str =
    "Factory orders are failing: messages reached the dead-letter queue.";

/// The DLQ-depth alarm's runbook: its section of docs/operate.md.
pub const DLQ_DEPTH_RUNBOOK: &str = "dlq-depth";

/// The watchdog's e-mail about an overdue factory order (and the alarm on their count): their
/// runbook's section of docs/operate.md.
pub const FACTORY_ORDERS_OVERDUE_RUNBOOK: &str = "factory-orders-overdue";

/// An alarm's description as its e-mail shows it: what it means, then its runbook's address
/// ([`crate::StageConfig::runbook_url`]).
pub fn alarm_description(what: &str, runbook_url: &str) -> String {
    format!("{what} Runbook: {runbook_url}")
}

/// The factory-orders queue's redrive policy.
pub fn redrive_policy(dlq_arn: &str, max_receive_count: u32) -> String {
    json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count }).to_string()
}

/// The factory-orders queue's policy: only the stock-out topic may send to it.
pub fn stock_out_queue_policy(queue_arn: &str, topic_arn: &str) -> String {
    let statement: Value = json!({
        "Sid": "stock-out-topic-only",
        "Effect": "Allow",
        "Principal": { "Service": "sns.amazonaws.com" },
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
    });
    json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
}
