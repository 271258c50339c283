//! What a function builds from its settings (`donut_contract::settings`, the typed contract the
//! infra program writes into its environment): the warehouse, the callback keys, the factory
//! client; and the secrets they need from Secrets Manager.

use std::sync::Arc;
use std::time::Duration;

use crate::aws::Aws;
use donut_contract::settings::{Database, EnvError};
use donut_domain::StoreError;
use donut_warehouse::{Credentials, DbConfig, Login, MySqlWarehouse};

// The callback keys and the factory's client: only the functions that sign or check the
// factory's callback link donut-factory, only those that call the factory its HTTP client.
#[cfg(feature = "callback")]
mod factory;
#[cfg(feature = "callback")]
pub use factory::*;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error("setting {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("secret {arn} could not be read: {problem}")]
    Secret { arn: String, problem: String },
}

pub async fn secret_string(aws: &Aws, arn: &str) -> Result<String, SettingsError> {
    let out = aws
        .secrets_manager()
        .await
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SettingsError::Secret {
            arn: arn.to_owned(),
            problem: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
        })?;
    out.secret_string.ok_or_else(|| SettingsError::Secret {
        arn: arn.to_owned(),
        problem: "no string value".into(),
    })
}

/// The RDS-managed secret (`{"username", "password"}`): read at start, and again whenever the
/// database refuses the login — RDS rotates the password every 7 days.
pub struct RdsSecret {
    aws: Aws,
    arn: String,
}

impl RdsSecret {
    pub fn new(aws: impl Into<Aws>, arn: impl Into<String>) -> Self {
        Self {
            aws: aws.into(),
            arn: arn.into(),
        }
    }

    async fn client(&self) -> aws_sdk_secretsmanager::Client {
        self.aws.secrets_manager().await
    }

    fn problem(&self, problem: String) -> SettingsError {
        SettingsError::Secret {
            arn: self.arn.clone(),
            problem,
        }
    }

    /// The current `(user, password)`.
    pub async fn read(&self) -> Result<(String, String), SettingsError> {
        self.stored()
            .await?
            .ok_or_else(|| self.problem("the secret has no value yet".into()))
    }

    /// The stored login; `None` while the secret has no value (a new secret).
    async fn stored(&self) -> Result<Option<(String, String)>, SettingsError> {
        #[derive(serde::Deserialize)]
        struct Stored {
            username: String,
            password: String,
        }
        let out = match self
            .client()
            .await
            .get_secret_value()
            .secret_id(&self.arn)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(
                    self.problem(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
                );
            }
        };
        let text = out
            .secret_string
            .ok_or_else(|| self.problem("no string value".into()))?;
        let login: Stored = serde_json::from_str(&text)
            .map_err(|e| self.problem(format!("not an RDS secret: {e}")))?;
        Ok(Some((login.username, login.password)))
    }

    /// A database login (the functions', the operators'), made on first use: `user` with a
    /// random password from Secrets Manager, stored in this secret, which the functions read.
    /// Later calls return it as stored; any other failure to read it stops here (a password is
    /// never replaced by accident).
    pub async fn login_made_once(&self, user: &str) -> Result<(String, String), SettingsError> {
        if let Some(login) = self.stored().await? {
            return Ok(login);
        }
        let aws_error = |e: String| self.problem(e);
        let client = self.client().await;
        let password = client
            .get_random_password()
            .password_length(40)
            .exclude_punctuation(true)
            .send()
            .await
            .map_err(|e| {
                aws_error(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
            })?
            .random_password
            .ok_or_else(|| self.problem("no random password".into()))?;
        let login = serde_json::json!({ "username": user, "password": password });
        client
            .put_secret_value()
            .secret_id(&self.arn)
            .secret_string(login.to_string())
            .send()
            .await
            .map_err(|e| {
                aws_error(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
            })?;
        Ok((user.to_owned(), password))
    }
}

impl Credentials for RdsSecret {
    fn current(&self) -> Login<'_> {
        Box::pin(async move {
            self.read()
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))
        })
    }
}

/// The warehouse: the RDS endpoint with the login from its secret — read when the first
/// request needs a connection, re-read when the database refuses it — TLS against the packaged
/// CA bundle, and the function's share of the connection budget (donut-config's capacity
/// module, written by the infra). The local stack takes the same path against MariaDB, its
/// logins in LocalStack's Secrets Manager (no TLS there).
pub fn warehouse(aws: &Aws, database: &Database<String>) -> Result<MySqlWarehouse, SettingsError> {
    let secret = RdsSecret::new(aws, &database.secret_arn);
    let config = DbConfig::from_parts(&database.host, database.port, "", "", &database.name)
        .with_max_connections(database.pool_size as usize)
        .with_idle_timeout(Duration::from_secs(database.idle_seconds));
    let config = match &database.tls_ca {
        Some(ca) => {
            let ca = std::path::PathBuf::from(ca);
            if !ca.is_file() {
                return Err(SettingsError::Invalid {
                    name: "DB_TLS_CA",
                    problem: format!(
                        "{} is not a file (the RDS CA bundle belongs in the zip)",
                        ca.display()
                    ),
                });
            }
            config.with_tls(&ca)
        }
        None => config,
    };
    Ok(MySqlWarehouse::with_deferred_login(
        &config,
        Arc::new(secret),
    ))
}
