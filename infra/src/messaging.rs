//! The stock-out path: SNS topic → (raw delivery) → SQS factory-orders queue, which redrives
//! to a dead-letter queue after `maxReceiveCount` receives. Only the topic may send to the
//! queue. Both topics (stock-outs, ops) are encrypted at rest with a key of the stack's own:
//! CloudWatch alarms cannot publish to a topic under the AWS-managed `aws/sns` key.

use pulumi_gestalt_rust::Output;

use crate::Stack;
use donut_infra_aws::kms::key;
use donut_infra_aws::sns::{topic, topic_subscription};
use donut_infra_aws::sqs::{queue, queue_policy};

pub struct Messaging {
    /// The topics' KMS key: whoever publishes needs `kms:GenerateDataKey` and `kms:Decrypt`.
    pub topic_key_arn: Output<String>,
    pub topic_arn: Output<String>,
    /// Where alarms and the watchdog's alerts go (e-mailed to ops, see `alarms`).
    pub ops_topic_arn: Output<String>,
    pub queue_arn: Output<String>,
    pub queue_url: Output<String>,
    pub queue_name: Output<String>,
    pub dlq_arn: Output<String>,
    pub dlq_url: Output<String>,
    pub dlq_name: Output<String>,
}

/// The topics' key: the account administers it (IAM decides who may use it, as for the
/// default key policy); CloudWatch may use it for this stack's alarms only (alarm actions
/// publishing to the ops topic): the service acts on behalf of an alarm of this account
/// (`aws:SourceAccount`) whose ARN is one of the stack's (`aws:SourceArn`, its alarms' names
/// start with the stack's prefix) — the confused-deputy guard for AWS services that use an
/// encrypted topic's key (SNS developer guide, "Enable compatibility between event sources from
/// AWS services and encrypted topics"; AWS's own MDAA constructs grant CloudWatch alarms a
/// topic's key with both keys). Functions get their use of it through their roles.
pub fn topic_key_policy(account_id: &str, region: &str, prefix: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "account-administers",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{account_id}:root") },
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "cloudwatch-alarms-publish",
                "Effect": "Allow",
                "Principal": { "Service": "cloudwatch.amazonaws.com" },
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": { "aws:SourceAccount": account_id },
                    "ArnLike": {
                        "aws:SourceArn": format!("arn:aws:cloudwatch:{region}:{account_id}:alarm:{prefix}-*")
                    }
                }
            }
        ]
    })
    .to_string()
}

pub fn declare(stack: &Stack, account_id: &Output<String>) -> Messaging {
    let ctx = stack.ctx;
    let q = &stack.config.queue;
    let topic_key = key::create(
        ctx,
        &stack.name("topics-key"),
        key::KeyArgs::builder()
            .tags(stack.tags())
            .description(format!("{}: SNS topics at rest", stack.config.prefix()))
            .enable_key_rotation(true)
            // The shortest wait KMS allows: a destroyed stack can be deployed again at once
            // (a new key; the old one is deleted after this window).
            .deletion_window_in_days(7)
            .policy({
                let (region, prefix) = (stack.config.region.clone(), stack.config.prefix());
                account_id.map(move |account| topic_key_policy(&account, &region, &prefix))
            })
            .build_struct(),
    );
    let topic = topic::create(
        ctx,
        &stack.name("stock-out"),
        topic::TopicArgs::builder()
            .tags(stack.tags())
            .kms_master_key_id(topic_key.arn.clone())
            .build_struct(),
    );
    let dlq = queue::create(
        ctx,
        &stack.name("factory-orders-dlq"),
        queue::QueueArgs::builder()
            .tags(stack.tags())
            .message_retention_seconds((q.dlq_retention_days * 86_400) as i32)
            .sqs_managed_sse_enabled(true)
            .build_struct(),
    );
    let max_receive_count = q.max_receive_count;
    let queue = queue::create(
        ctx,
        &stack.name("factory-orders"),
        queue::QueueArgs::builder()
            .tags(stack.tags())
            .visibility_timeout_seconds(q.visibility_timeout_seconds as i32)
            .sqs_managed_sse_enabled(true)
            .redrive_policy(
                dlq.arn
                    .map(move |arn| donut_config::aws::redrive_policy(&arn, max_receive_count)),
            )
            .build_struct(),
    );
    let policy = pulumi_gestalt_rust::pulumi_combine!(queue.arn.clone(), topic.arn.clone()).map(
        |(queue_arn, topic_arn)| donut_config::aws::stock_out_queue_policy(&queue_arn, &topic_arn),
    );
    let allowed = queue_policy::create(
        ctx,
        &stack.name("factory-orders-policy"),
        queue_policy::QueuePolicyArgs::builder()
            .queue_url(queue.url.clone())
            .policy(policy)
            .build_struct(),
    );
    topic_subscription::create(
        ctx,
        &stack.name("stock-out-to-factory-orders"),
        topic_subscription::TopicSubscriptionArgs::builder()
            .topic(topic.arn.clone())
            .protocol("sqs")
            // Subscribe once the queue policy lets the topic in.
            .endpoint(crate::out::after(&queue.arn, &allowed.id))
            .raw_message_delivery(true)
            .build_struct(),
    );
    let ops = topic::create(
        ctx,
        &stack.name("ops"),
        topic::TopicArgs::builder()
            .tags(stack.tags())
            .kms_master_key_id(topic_key.arn.clone())
            .build_struct(),
    );
    Messaging {
        topic_key_arn: topic_key.arn,
        topic_arn: topic.arn,
        ops_topic_arn: ops.arn,
        queue_arn: queue.arn,
        queue_url: queue.url,
        dlq_arn: dlq.arn,
        dlq_url: dlq.url,
        dlq_name: dlq.name,
        queue_name: queue.name,
    }
}
