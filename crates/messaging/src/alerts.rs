//! Alerts to ops through the ops SNS topic (which e-mails them).

use donut_domain::{Alerts, FactoryOrder, PublishError};

use crate::sns::SnsClient;

#[derive(Clone)]
pub struct SnsAlerts {
    client: SnsClient,
    topic_arn: String,
    /// The overdue e-mail's runbook, an absolute address a mail reader can open.
    overdue_runbook_url: String,
}

impl SnsAlerts {
    pub fn new(
        client: impl Into<SnsClient>,
        topic_arn: impl Into<String>,
        overdue_runbook_url: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            topic_arn: topic_arn.into(),
            overdue_runbook_url: overdue_runbook_url.into(),
        }
    }
}

impl Alerts for SnsAlerts {
    async fn factory_order_overdue(&self, order: &FactoryOrder) -> Result<(), PublishError> {
        let message = format!(
            "Factory order {id} ({quantity} × {product}, factory product {factory_product}) stopped moving: \
             {status}, requested {attempts} time(s), its stock-out published again {chases} time(s). \
             {product} gets no new factory order until this one ends.\n\n\
             What to do: ask the factory about request {request}. Then either \
             `donut-cli orders re-request {id}` (asks again, same order: restocked once) or \
             `donut-cli orders cancel {id}` (the next stock-out of {product} orders anew). \
             Logs: correlation id {correlation}.\n\nRunbook: {runbook}",
            id = order.id,
            quantity = order.quantity,
            product = order.product_id,
            factory_product = order.factory_product_id,
            status = order.status,
            attempts = order.request_attempts,
            chases = order.chases,
            request = order.factory_request_id.as_deref().unwrap_or("(none)"),
            correlation = order.correlation_id,
            runbook = self.overdue_runbook_url,
        );
        self.client
            .get()
            .await
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
