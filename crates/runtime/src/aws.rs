//! The AWS SDK's configuration, loaded on first use. Loading it builds the HTTPS client and
//! its TLS roots — several milliseconds of a cold start (`make bench`, cold-init table) that a
//! function which contacts nothing before its first event need not pay. The clients made from
//! it wait the same way: the SNS client (`donut_messaging::SnsClient`) until the first
//! publish, Secrets Manager's until the first secret is read.

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::config::SharedInterceptor;
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

    pub async fn secrets_manager(&self) -> aws_sdk_secretsmanager::Client {
        let mut config = aws_sdk_secretsmanager::config::Builder::from(self.config().await);
        if let Some(i) = &self.interceptor {
            config.push_interceptor(i.clone());
        }
        aws_sdk_secretsmanager::Client::from_conf(config.build())
    }
}

/// SNS: only the functions that publish (stock-outs, ops alerts) link its client.
#[cfg(feature = "sns")]
impl Aws {
    /// An SNS client made from this configuration on its first use.
    pub fn sns_client(&self) -> donut_messaging::SnsClient {
        let aws = self.clone();
        donut_messaging::SnsClient::deferred(move || {
            let aws = aws.clone();
            async move { aws.sns().await }
        })
    }

    pub async fn sns(&self) -> aws_sdk_sns::Client {
        let mut config = aws_sdk_sns::config::Builder::from(self.config().await);
        if let Some(i) = &self.interceptor {
            config.push_interceptor(i.clone());
        }
        aws_sdk_sns::Client::from_conf(config.build())
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
