//! The AWS SDK's configuration, loaded on first use. Loading it builds the HTTPS client and
//! its TLS roots — several milliseconds of a cold start (`make bench`, cold-init table) that a
//! function which contacts nothing before its first event need not pay. The clients built
//! from it (SNS, Secrets Manager) wait the same way.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_sns::config::SharedInterceptor;
use donut_domain::{Alerts, EventPublisher, FactoryOrder, PublishError, StockOutEvent};
use donut_messaging::{SnsAlerts, SnsPublisher};
use tokio::sync::OnceCell;

/// The configuration `aws_config::load_from_env` gives, once something asks for it, and the
/// service clients made from it.
#[derive(Clone, Default)]
pub struct Aws {
    config: Arc<OnceCell<SdkConfig>>,
    /// Put on every client made from this configuration (the local stack records each
    /// function's AWS calls with one).
    interceptor: Option<SharedInterceptor>,
}

impl Aws {
    /// Nothing is read until [`Aws::config`] is first awaited.
    pub fn from_env() -> Self {
        Self::default()
    }

    /// An already loaded configuration (tests, the local stack).
    pub fn ready(config: SdkConfig) -> Self {
        Self {
            config: Arc::new(OnceCell::new_with(Some(config))),
            interceptor: None,
        }
    }

    /// The same configuration; every client made from it runs `interceptor`.
    pub fn with_interceptor(&self, interceptor: SharedInterceptor) -> Self {
        Self {
            config: self.config.clone(),
            interceptor: Some(interceptor),
        }
    }

    pub async fn config(&self) -> &SdkConfig {
        self.config.get_or_init(aws_config::load_from_env).await
    }

    pub async fn sns(&self) -> aws_sdk_sns::Client {
        let mut config = aws_sdk_sns::config::Builder::from(self.config().await);
        if let Some(i) = &self.interceptor {
            config.push_interceptor(i.clone());
        }
        aws_sdk_sns::Client::from_conf(config.build())
    }

    pub async fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let mut config = aws_sdk_secretsmanager::config::Builder::from(self.config().await);
        if let Some(i) = &self.interceptor {
            config.push_interceptor(i.clone());
        }
        aws_sdk_secretsmanager::Client::from_conf(config.build())
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
            .get_or_init(|| async { (self.make)(self.aws.sns().await, self.topic_arn.clone()) })
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
