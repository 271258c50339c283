//! The factory's side of a function: the callback keys (warehouse-restock checks the callback,
//! the factory-requester and the watchdog sign its URL) and the factory's HTTP client.

use std::time::Duration;

use donut_contract::settings::Callback;
use donut_factory::{CallbackKeys, CallbackSigner, keys_from_secret_string};

use super::secret_string;
use crate::aws::Aws;

/// The callback signer: its keys read from Secrets Manager on first use, so a cold start
/// contacts nothing; a failed read is tried again on the next use.
pub fn callback_keys(aws: &Aws, callback: &Callback<String>) -> CallbackKeys {
    let aws = aws.clone();
    let callback = callback.clone();
    CallbackKeys::deferred(move || {
        let (aws, callback) = (aws.clone(), callback.clone());
        async move {
            tracing::info!(callback_key_version = %callback.key_version, "reading the callback keys");
            let raw = secret_string(&aws, &callback.secret_arn)
                .await
                .map_err(|e| e.to_string())?;
            let keys = keys_from_secret_string(&raw)
                .map_err(|e| format!("secret {}: {e}", callback.secret_arn))?;
            Ok(CallbackSigner::with_keys(keys, &callback.base_url)
                .with_ttl(Duration::from_secs(callback.token_ttl_seconds)))
        }
    })
}

/// The factory's HTTP client (reqwest): only the functions that call the factory link it. Its
/// calls are signed where the settings say so (the simulator's function URL takes `AWS_IAM`),
/// with the credentials of `aws`'s provider chain — the function's own role — asked for on the
/// first call, so a cold start contacts nothing.
#[cfg(feature = "factory-client")]
pub fn factory_client(
    aws: &Aws,
    factory: &donut_contract::settings::Factory<String>,
    keys: CallbackKeys,
) -> donut_factory::FactoryClient {
    use donut_contract::settings::FactoryAuth;
    use donut_factory::{CallAuth, SigV4Signer};
    let mut config = donut_factory::FactoryClientConfig::new(&factory.url);
    config.request_timeout = Duration::from_millis(factory.timeout_ms);
    let auth = match &factory.auth {
        FactoryAuth::None => CallAuth::None,
        FactoryAuth::AwsIam { region } => CallAuth::SigV4(SigV4Signer::new(
            region,
            aws_credential_types::provider::SharedCredentialsProvider::new(RoleCredentials(
                aws.clone(),
            )),
        )),
    };
    donut_factory::FactoryClient::new(&config, keys).with_auth(auth)
}

/// The credentials of the function's AWS configuration (the SDK's standard chain: on Lambda,
/// its role's), the configuration loaded on first use.
#[cfg(feature = "factory-client")]
struct RoleCredentials(Aws);

#[cfg(feature = "factory-client")]
impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoleCredentials")
    }
}

#[cfg(feature = "factory-client")]
impl aws_credential_types::provider::ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            let provider = self
                .0
                .config()
                .await
                .credentials_provider()
                .ok_or_else(|| {
                    aws_credential_types::provider::error::CredentialsError::not_loaded(
                        "the AWS configuration has no credentials provider",
                    )
                })?;
            provider.provide_credentials().await
        })
    }
}
