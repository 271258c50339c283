//! The SQS event-source mapping stand-in: long-polls the queue, hands batches to the same
//! consumer handler the Lambda runs, and deletes only the messages the handler did not list
//! in `batchItemFailures` (ReportBatchItemFailures). Failures stay on the queue, reappear
//! after the visibility timeout, and LocalStack's own redrive moves them to the DLQ after
//! `maxReceiveCount` receives.

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
pub struct EventSource {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub region: String,
    pub batch_size: i32,
    /// Long-poll wait; short keeps shutdown quick.
    pub wait_seconds: i32,
}

impl EventSource {
    /// Polls until `shutdown` resolves.
    pub async fn run<F, Fut>(self, handler: F, shutdown: impl std::future::Future<Output = ()>)
    where
        F: Fn(SqsEvent) -> Fut,
        Fut: std::future::Future<Output = SqsBatchResponse>,
    {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let received = tokio::select! {
                _ = &mut shutdown => return,
                r = self.receive() => r,
            };
            let messages = match received {
                Ok(m) if m.is_empty() => continue,
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "SQS receive failed; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let response = handler(self.event(&messages)).await;
            if let Err(e) = self.settle(&messages, &response).await {
                tracing::warn!(error = %e, "SQS delete failed; the messages will be delivered again");
            }
        }
    }

    async fn receive(&self) -> anyhow::Result<Vec<Message>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size)
            .wait_time_seconds(self.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(out.messages.unwrap_or_default())
    }

    /// The event Lambda's SQS integration sends, record for record.
    pub fn event(&self, messages: &[Message]) -> SqsEvent {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: Map<String, Value> = m
                    .attributes
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                    .collect();
                let message_attributes: Map<String, Value> = m
                    .message_attributes
                    .iter()
                    .flatten()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            json!({
                                "stringValue": v.string_value,
                                "stringListValues": [],
                                "binaryListValues": [],
                                "dataType": v.data_type,
                            }),
                        )
                    })
                    .collect();
                json!({
                    "messageId": m.message_id,
                    "receiptHandle": m.receipt_handle,
                    "body": m.body,
                    "attributes": attributes,
                    "messageAttributes": message_attributes,
                    "md5OfBody": m.md5_of_body,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).expect("the SQS event shape")
    }

    /// Deletes the successes. As Lambda does, a response naming an id that was not in the
    /// batch counts as a failure of the whole batch: nothing is deleted.
    async fn settle(
        &self,
        messages: &[Message],
        response: &SqsBatchResponse,
    ) -> anyhow::Result<()> {
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let ids: HashSet<&str> = messages
            .iter()
            .filter_map(|m| m.message_id.as_deref())
            .collect();
        if !failed.is_subset(&ids) {
            tracing::error!(
                "batch response names unknown message ids; the whole batch will be retried"
            );
            return Ok(());
        }
        let entries: Vec<_> = messages
            .iter()
            .enumerate()
            .filter(|(_, m)| !failed.contains(m.message_id.as_deref().unwrap_or("")))
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone()?)
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        if !out.failed.is_empty() {
            tracing::warn!(
                failed = out.failed.len(),
                "some deletes failed; those messages will be delivered again"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};
    use serde_json::Value;

    use super::EventSource;

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    /// The stand-in's records carry every key of AWS's (`tests/fixtures/aws`).
    #[test]
    fn records_have_awss_keys() {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("eu-west-1"))
            .build();
        let source = EventSource {
            sqs: aws_sdk_sqs::Client::from_conf(config),
            queue_url: "http://127.0.0.1/q".into(),
            queue_arn: "arn:aws:sqs:eu-west-1:000000000000:q".into(),
            region: "eu-west-1".into(),
            batch_size: 10,
            wait_seconds: 1,
        };
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh")
            .body("{}")
            .md5_of_body("99914b932bd37a50b76c8a2d7b3c1f35")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .message_attributes(
                "correlation_id",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("c-1")
                    .build()
                    .unwrap(),
            )
            .build();
        let ours = serde_json::to_value(source.event(&[message])).unwrap();
        let aws: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/aws/sqs-stock-out.json"))
                .unwrap();
        let (ours, aws) = (&ours["Records"][0], &aws["Records"][0]);
        // The typed event also writes its optional fields (as null): AWS's keys ⊆ ours.
        assert!(keys(aws).is_subset(&keys(ours)), "{:?}", keys(ours));
        let attribute = "correlation_id";
        assert!(
            keys(&aws["messageAttributes"][attribute])
                .is_subset(&keys(&ours["messageAttributes"][attribute]))
        );
        assert_eq!(ours["messageAttributes"][attribute]["stringValue"], "c-1");
    }
}
