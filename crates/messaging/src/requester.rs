//! The factory-requester: an SQS batch of stock-out events in, factory requests out, and a
//! `SqsBatchResponse` naming exactly the messages that failed — those come back after the
//! visibility timeout and, after `maxReceiveCount` receives, land in the dead-letter queue.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use donut_domain::events::EventError;
use donut_domain::usecases::{RequestError, RequestOutcome, request_from_factory};
use donut_domain::{FactoryApi, FactoryOrders, StockOutEvent};
use tracing::Instrument;

use crate::sns::ATTR_CORRELATION_ID;

pub struct FactoryRequester<W, F> {
    warehouse: W,
    factory: F,
    /// How long one consumer holds a factory order while calling the factory.
    lease: Duration,
}

impl<W: FactoryOrders, F: FactoryApi> FactoryRequester<W, F> {
    pub fn new(warehouse: W, factory: F, lease: Duration) -> Self {
        Self {
            warehouse,
            factory,
            lease,
        }
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let outcomes = futures::future::join_all(event.records.iter().map(|m| self.one(m))).await;
        let mut response = SqsBatchResponse::default();
        for (message, ok) in event.records.iter().zip(outcomes) {
            if !ok {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = message.message_id.clone().unwrap_or_default();
                response.batch_item_failures.push(failure);
            }
        }
        if !response.batch_item_failures.is_empty() {
            donut_metrics::count(
                donut_metrics::Metric::BatchItemFailures,
                response.batch_item_failures.len() as u64,
            );
            tracing::warn!(
                failed = response.batch_item_failures.len(),
                batch = event.records.len(),
                "batch had failures; they will be retried"
            );
        }
        response
    }

    /// True when the message is done with (and may be deleted).
    async fn one(&self, message: &SqsMessage) -> bool {
        let message_id = message.message_id.as_deref().unwrap_or("");
        let receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .map(String::as_str)
            .unwrap_or("?");
        let correlation_id = message
            .message_attributes
            .get(ATTR_CORRELATION_ID)
            .and_then(|a| a.string_value.clone())
            .unwrap_or_default();
        let span = tracing::info_span!("factory_requester", correlation_id = %correlation_id, message_id, receive_count);
        async {
            let event = match parse_body(message.body.as_deref().unwrap_or("")) {
                Ok(event) => event,
                Err(error) => {
                    tracing::error!(%error, "unreadable message; it will reach the DLQ");
                    return false;
                }
            };
            if correlation_id.is_empty() {
                tracing::Span::current().record("correlation_id", event.correlation_id.as_str());
            }
            match request_from_factory(&self.warehouse, &self.factory, &event, self.lease).await {
                Ok(RequestOutcome::Requested(receipt)) => {
                    tracing::info!(
                        factory_order_id = %event.factory_order_id,
                        factory_request_id = %receipt.factory_request_id,
                        "factory order requested"
                    );
                    donut_metrics::count(donut_metrics::Metric::FactoryOrdersRequested, 1);
                    true
                }
                Ok(RequestOutcome::AlreadyDone(status)) => {
                    tracing::info!(factory_order_id = %event.factory_order_id, %status, "duplicate delivery; factory not called");
                    true
                }
                Err(error @ (RequestError::Factory(_) | RequestError::Store(_) | RequestError::Busy(_))) => {
                    tracing::warn!(factory_order_id = %event.factory_order_id, %error, "factory request failed; will retry");
                    if matches!(error, RequestError::Factory(_)) {
                        donut_metrics::count(donut_metrics::Metric::FactoryCallFailures, 1);
                    }
                    false
                }
                Err(error @ RequestError::UnknownOrder(_)) => {
                    tracing::error!(%error, "event for an unknown factory order; it will reach the DLQ");
                    false
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// The body is the event itself (raw delivery); an SNS envelope is unwrapped too, so a
/// subscription without raw delivery does not turn every message into poison.
pub fn parse_body(body: &str) -> Result<StockOutEvent, EventError> {
    if let Ok(serde_json::Value::Object(envelope)) = serde_json::from_str::<serde_json::Value>(body)
        && envelope.get("Type").and_then(|t| t.as_str()) == Some("Notification")
    {
        let inner = envelope
            .get("Message")
            .and_then(|m| m.as_str())
            .unwrap_or("");
        return StockOutEvent::from_json(inner);
    }
    StockOutEvent::from_json(body)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::parse_body;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever sits in a queue message, reading it is an answer, never a panic.
        #[test]
        fn any_body_parses_or_is_refused(body in "\\PC{0,400}") {
            let _ = parse_body(&body);
        }

        #[test]
        fn any_json_object_is_refused_unless_it_is_an_event(
            fields in proptest::collection::btree_map("[a-zA-Z_]{1,20}", "\\PC{0,20}", 0..8)
        ) {
            let body = serde_json::to_string(&fields).unwrap();
            prop_assert!(parse_body(&body).is_err());
            let envelope = serde_json::json!({ "Type": "Notification", "Message": body }).to_string();
            prop_assert!(parse_body(&envelope).is_err());
        }
    }
}
