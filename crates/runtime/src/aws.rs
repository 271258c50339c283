//! The AWS SDK's configuration, loaded on first use. Loading it builds the HTTPS client and
//! its TLS roots — several milliseconds of a cold start (`make bench`, cold-init table) that a
//! function which contacts nothing before its first event need not pay. The clients built
//! from it (SNS, Secrets Manager) wait the same way.

use std::sync::Arc;

use aws_config::SdkConfig;
use donut_domain::{Alerts, EventPublisher, FactoryOrder, PublishError, StockOutEvent};
use donut_messaging::{SnsAlerts, SnsPublisher};
use tokio::sync::OnceCell;

/// The configuration `aws_config::load_from_env` gives, once something asks for it.
#[derive(Clone, Default)]
pub struct Aws(Arc<OnceCell<SdkConfig>>);

impl Aws {
    /// Nothing is read until [`Aws::config`] is first awaited.
    pub fn from_env() -> Self {
        Self::default()
    }

    /// An already loaded configuration (tests, the local stack).
    pub fn ready(config: SdkConfig) -> Self {
        Self(Arc::new(OnceCell::new_with(Some(config))))
    }

    pub async fn config(&self) -> &SdkConfig {
        self.0.get_or_init(aws_config::load_from_env).await
    }
}

impl From<&SdkConfig> for Aws {
    fn from(config: &SdkConfig) -> Self {
        Self::ready(config.clone())
    }
}

impl From<&Aws> for Aws {
    fn from(aws: &Aws) -> Self {
        aws.clone()
    }
}

/// A stock-out publisher whose SNS client is made on the first publish.
pub struct LazyPublisher {
    aws: Aws,
    topic_arn: String,
    publisher: OnceCell<SnsPublisher>,
}

impl LazyPublisher {
    pub fn new(aws: &Aws, topic_arn: &str) -> Self {
        Self {
            aws: aws.clone(),
            topic_arn: topic_arn.to_owned(),
            publisher: OnceCell::new(),
        }
    }
}

impl EventPublisher for LazyPublisher {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        let publisher = self
            .publisher
            .get_or_init(|| async {
                SnsPublisher::new(
                    aws_sdk_sns::Client::new(self.aws.config().await),
                    &self.topic_arn,
                )
            })
            .await;
        publisher.publish(event).await
    }
}

/// Ops alerts whose SNS client is made on the first alert.
pub struct LazyAlerts {
    aws: Aws,
    topic_arn: String,
    alerts: OnceCell<SnsAlerts>,
}

impl LazyAlerts {
    pub fn new(aws: &Aws, topic_arn: &str) -> Self {
        Self {
            aws: aws.clone(),
            topic_arn: topic_arn.to_owned(),
            alerts: OnceCell::new(),
        }
    }
}

impl Alerts for LazyAlerts {
    async fn factory_order_overdue(&self, order: &FactoryOrder) -> Result<(), PublishError> {
        let alerts = self
            .alerts
            .get_or_init(|| async {
                SnsAlerts::new(
                    aws_sdk_sns::Client::new(self.aws.config().await),
                    &self.topic_arn,
                )
            })
            .await;
        alerts.factory_order_overdue(order).await
    }
}
