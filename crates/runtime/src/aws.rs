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

/// An SNS adapter (`T`) whose client is made on its first use.
pub struct LazySns<T> {
    aws: Aws,
    topic_arn: String,
    make: fn(aws_sdk_sns::Client, String) -> T,
    made: OnceCell<T>,
}

impl<T> LazySns<T> {
    fn with(aws: &Aws, topic_arn: &str, make: fn(aws_sdk_sns::Client, String) -> T) -> Self {
        Self {
            aws: aws.clone(),
            topic_arn: topic_arn.to_owned(),
            make,
            made: OnceCell::new(),
        }
    }

    async fn get(&self) -> &T {
        self.made
            .get_or_init(|| async {
                (self.make)(
                    aws_sdk_sns::Client::new(self.aws.config().await),
                    self.topic_arn.clone(),
                )
            })
            .await
    }
}

/// The stock-out publisher; its SNS client is made on the first publish.
pub type LazyPublisher = LazySns<SnsPublisher>;

/// Ops alerts; their SNS client is made on the first alert.
pub type LazyAlerts = LazySns<SnsAlerts>;

impl LazyPublisher {
    pub fn new(aws: &Aws, topic_arn: &str) -> Self {
        Self::with(aws, topic_arn, SnsPublisher::new)
    }
}

impl LazyAlerts {
    pub fn new(aws: &Aws, topic_arn: &str) -> Self {
        Self::with(aws, topic_arn, SnsAlerts::new)
    }
}

impl EventPublisher for LazyPublisher {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        self.get().await.publish(event).await
    }
}

impl Alerts for LazyAlerts {
    async fn factory_order_overdue(&self, order: &FactoryOrder) -> Result<(), PublishError> {
        self.get().await.factory_order_overdue(order).await
    }
}
