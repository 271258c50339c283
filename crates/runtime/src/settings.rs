//! Settings from the environment, as the infra program sets them on each function.
//!
//! | variable | used by | meaning |
//! |---|---|---|
//! | `DATABASE_URL` | all | `mysql://user:pass@host:port/db` (local runs) |
//! | `DB_SECRET_ARN`, `DB_HOST`, `DB_PORT`, `DB_NAME` | all | in AWS: the RDS credentials secret and the endpoint |
//! | `DB_TLS_CA` | all, in AWS | the RDS CA bundle (PEM) the server's certificate must chain to |
//! | `DB_POOL_SIZE`, `DB_IDLE_SECONDS` | all, in AWS | connections one instance may hold (its share of the stage's connection budget), and how long an idle one is kept |
//! | `MAX_QUANTITY`, `MAX_BODY_BYTES` | sales-api, restock | request limits |
//! | `STOCK_OUT_TOPIC_ARN` | sales-api, outbox-relay | where stock-out events go |
//! | `FACTORY_URL`, `FACTORY_TIMEOUT_MS` | factory-requester | the legacy factory |
//! | `CALLBACK_BASE_URL` | factory-requester | the public API URL the factory calls back |
//! | `CALLBACK_SECRET_ARN` (AWS) or `CALLBACK_SECRET` (local) | requester, restock | callback token key |

use std::time::Duration;

use donut_factory::{CallbackSecret, CallbackSigner, FactoryClient, FactoryClientConfig};
use donut_messaging::SnsPublisher;
use std::sync::Arc;

use donut_domain::StoreError;
use donut_warehouse::{Credentials, DbConfig, Login, MySqlWarehouse};

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("secret {arn} could not be read: {problem}")]
    Secret { arn: String, problem: String },
}

pub fn var(name: &'static str) -> Result<String, SettingsError> {
    std::env::var(name).map_err(|_| SettingsError::Missing(name))
}

pub fn parse_var<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, SettingsError> {
    match std::env::var(name) {
        Ok(raw) => raw.trim().parse().map_err(|_| SettingsError::Invalid {
            name,
            problem: format!("{raw:?}"),
        }),
        Err(_) => Ok(default),
    }
}

/// A variable that must be set, parsed.
fn required_parse<T: std::str::FromStr>(name: &'static str) -> Result<T, SettingsError> {
    let raw = var(name)?;
    raw.trim().parse().map_err(|_| SettingsError::Invalid {
        name,
        problem: format!("{raw:?}"),
    })
}

pub async fn secret_string(
    aws: &aws_config::SdkConfig,
    arn: &str,
) -> Result<String, SettingsError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let out = client
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
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

impl RdsSecret {
    pub fn new(aws: &aws_config::SdkConfig, arn: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(aws),
            arn: arn.into(),
        }
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
            .client
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

    /// The functions' login, made on first use: a random password from Secrets Manager,
    /// stored in this secret, which the other functions read. Later calls return it as stored;
    /// any other failure to read it stops here (a password is never replaced by accident).
    pub async fn app_login(&self) -> Result<(String, String), SettingsError> {
        if let Some(login) = self.stored().await? {
            return Ok(login);
        }
        let aws_error = |e: String| self.problem(e);
        let password = self
            .client
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
        let login = serde_json::json!({ "username": APP_DB_USER, "password": password });
        self.client
            .put_secret_value()
            .secret_id(&self.arn)
            .secret_string(login.to_string())
            .send()
            .await
            .map_err(|e| {
                aws_error(aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())
            })?;
        Ok((APP_DB_USER.to_owned(), password))
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

/// The functions' database user (the migrate function creates it; `APP_PRIVILEGES`).
pub const APP_DB_USER: &str = "donut_app";

/// The warehouse: `DATABASE_URL` (local runs), or in AWS the RDS endpoint with the login from
/// `DB_SECRET_ARN`, re-read when the database refuses it, and the function's share of the
/// connection budget (`DB_POOL_SIZE`, `DB_IDLE_SECONDS`, set by the infra program from
/// donut_config::capacity).
pub async fn warehouse(aws: &aws_config::SdkConfig) -> Result<MySqlWarehouse, SettingsError> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        let config = DbConfig::from_url(&url).map_err(|e| SettingsError::Invalid {
            name: "DATABASE_URL",
            problem: e.to_string(),
        })?;
        return Ok(MySqlWarehouse::new(&config));
    }
    let secret = RdsSecret::new(aws, var("DB_SECRET_ARN")?);
    let (user, password) = secret.read().await?;
    let pool_size: usize = required_parse("DB_POOL_SIZE")?;
    let idle_seconds: u64 = required_parse("DB_IDLE_SECONDS")?;
    let config = DbConfig::from_parts(
        &var("DB_HOST")?,
        parse_var("DB_PORT", 3306)?,
        &user,
        &password,
        &var("DB_NAME")?,
    )
    .with_max_connections(pool_size)
    .with_idle_timeout(Duration::from_secs(idle_seconds));
    // TLS with the server's certificate verified against the RDS CA bundle the deploy put in
    // the package (`DB_TLS_CA`, see README "Deploy to AWS").
    let config = match std::env::var("DB_TLS_CA") {
        Ok(ca) => {
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
        Err(_) => config,
    };
    Ok(MySqlWarehouse::with_credentials(&config, Arc::new(secret)))
}

/// The callback signer: key from `CALLBACK_SECRET_ARN` (Secrets Manager) or `CALLBACK_SECRET`.
pub async fn callback_signer(
    aws: &aws_config::SdkConfig,
    base_url: &str,
) -> Result<CallbackSigner, SettingsError> {
    let raw = match std::env::var("CALLBACK_SECRET_ARN") {
        Ok(arn) => secret_string(aws, &arn).await?,
        Err(_) => var("CALLBACK_SECRET")?,
    };
    let secret = CallbackSecret::new(raw.into_bytes()).map_err(|e| SettingsError::Invalid {
        name: "CALLBACK_SECRET",
        problem: e.to_string(),
    })?;
    Ok(CallbackSigner::new(secret, base_url))
}

pub fn factory_client(signer: CallbackSigner) -> Result<FactoryClient, SettingsError> {
    let mut config = FactoryClientConfig::new(var("FACTORY_URL")?);
    config.request_timeout = Duration::from_millis(parse_var("FACTORY_TIMEOUT_MS", 5000)?);
    Ok(FactoryClient::new(&config, signer))
}

pub fn sns_publisher(aws: &aws_config::SdkConfig) -> Result<SnsPublisher, SettingsError> {
    Ok(SnsPublisher::new(
        aws_sdk_sns::Client::new(aws),
        var("STOCK_OUT_TOPIC_ARN")?,
    ))
}
