//! Publishing stock-out events to the SNS topic.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aws_sdk_sns::types::MessageAttributeValue;
use donut_domain::{EventPublisher, PublishError, StockOutEvent};
use tokio::sync::OnceCell;

/// Message attributes every stock-out carries, so subscribers can filter and trace without
/// parsing the body.
pub const ATTR_PRODUCT_ID: &str = "product_id";
pub const ATTR_FACTORY_PRODUCT_ID: &str = "factory_product_id";
pub const ATTR_FACTORY_ORDER_ID: &str = "factory_order_id";
pub const ATTR_CORRELATION_ID: &str = "correlation_id";
pub const ATTR_EVENT_TYPE: &str = "event_type";

/// How long one publish may take, the SDK's own retries included.
const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

type MakeClient =
    dyn Fn() -> Pin<Box<dyn Future<Output = aws_sdk_sns::Client> + Send>> + Send + Sync;

/// An SNS client, made on its first use when it is deferred: making one loads the AWS
/// configuration and its TLS roots, milliseconds a cold start need not pay before its first
/// event (`make bench`, cold-init table). The stock-out publisher and the ops alerts hold one.
#[derive(Clone)]
pub struct SnsClient {
    client: Arc<OnceCell<aws_sdk_sns::Client>>,
    make: Arc<MakeClient>,
}

impl SnsClient {
    /// A client `make` makes when it is first needed.
    pub fn deferred<F, Fut>(make: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = aws_sdk_sns::Client> + Send + 'static,
    {
        Self {
            client: Arc::default(),
            make: Arc::new(move || Box::pin(make())),
        }
    }

    pub(crate) async fn get(&self) -> &aws_sdk_sns::Client {
        self.client.get_or_init(|| (self.make)()).await
    }
}

impl From<aws_sdk_sns::Client> for SnsClient {
    fn from(client: aws_sdk_sns::Client) -> Self {
        Self::deferred(move || std::future::ready(client.clone()))
    }
}

#[derive(Clone)]
pub struct SnsPublisher {
    client: SnsClient,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: impl Into<SnsClient>, topic_arn: impl Into<String>) -> Self {
        Self {
            client: client.into(),
            topic_arn: topic_arn.into(),
        }
    }
}

fn attr(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .expect("data_type is set")
}

impl EventPublisher for SnsPublisher {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        let send = self
            .client
            .get()
            .await
            .publish()
            .topic_arn(&self.topic_arn)
            .message(event.to_json())
            .message_attributes(ATTR_EVENT_TYPE, attr(StockOutEvent::KIND))
            .message_attributes(ATTR_PRODUCT_ID, attr(event.product_id.as_str()))
            .message_attributes(ATTR_FACTORY_PRODUCT_ID, attr(&event.factory_product_id))
            .message_attributes(
                ATTR_FACTORY_ORDER_ID,
                attr(&event.factory_order_id.to_string()),
            )
            .message_attributes(ATTR_CORRELATION_ID, attr(event.correlation_id.as_str()))
            .send();
        // The outbox row stays locked while this runs: bound it, retries included.
        match tokio::time::timeout(PUBLISH_TIMEOUT, send).await {
            Err(_) => Err(PublishError(format!(
                "SNS did not answer within {} ms",
                PUBLISH_TIMEOUT.as_millis()
            ))),
            Ok(sent) => sent
                .map(|_| ())
                .map_err(|e| PublishError(aws_sdk_sns::error::DisplayErrorContext(e).to_string())),
        }
    }
}
