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

/// The factory's HTTP client (reqwest): only the functions that call the factory link it.
#[cfg(feature = "factory-client")]
pub fn factory_client(
    factory: &donut_contract::settings::Factory<String>,
    keys: CallbackKeys,
) -> donut_factory::FactoryClient {
    let mut config = donut_factory::FactoryClientConfig::new(&factory.url);
    config.request_timeout = Duration::from_millis(factory.timeout_ms);
    donut_factory::FactoryClient::new(&config, keys)
}
