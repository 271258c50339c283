//! Alerts to ops through the ops SNS topic (which e-mails them).

use donut_domain::{Alerts, FactoryOrder, PublishError};

#[derive(Debug, Clone)]
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

impl Alerts for SnsAlerts {
    async fn factory_order_overdue(&self, order: &FactoryOrder) -> Result<(), PublishError> {
        let message = format!(
            "The legacy factory never confirmed factory order {id} ({quantity} × {product}, factory product {factory_product}), \
             asked {attempts} time(s). Stock for {product} will not come back by itself.\n\n\
             What to do: ask the factory about request {request}; when the goods arrive, replay the callback or \
             restock by hand. Follow it in the logs with correlation id {correlation}.",
            id = order.id,
            quantity = order.quantity,
            product = order.product_id,
            factory_product = order.factory_product_id,
            attempts = order.request_attempts,
            request = order.factory_request_id.as_deref().unwrap_or("(none)"),
            correlation = order.correlation_id,
        );
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject("Donut-States: factory order overdue")
            .message(message)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| PublishError(aws_sdk_sns::error::DisplayErrorContext(e).to_string()))
    }
}
