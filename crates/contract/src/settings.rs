//! One typed contract per function: the infra program writes a function's settings into its
//! environment ([`Contract::to_env`]), the function reads them back ([`Contract::from_env`]).
//! The variable names live here and nowhere else, and nothing has a default: every value comes
//! from the stage config (through the infra program) or from the deployment (ARNs, endpoints).
//!
//! A settings type is generic over how a deploy-time value is held: `String` in the function;
//! in the infra program, the engine's output of the resource it names.

/// Metrics go to CloudWatch in this namespace (EMF lines); read by the telemetry set-up,
/// before anything else, so it is a name of its own.
pub const METRICS_NAMESPACE: &str = "METRICS_NAMESPACE";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {problem}")]
    Invalid { name: &'static str, problem: String },
}

/// Reads variables by name: the process environment, or a map in tests.
pub struct EnvReader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> EnvReader<'a> {
    pub fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { get }
    }

    fn optional(&self, name: &'static str) -> Option<String> {
        (self.get)(name).filter(|v| !v.is_empty())
    }

    fn text(&self, name: &'static str) -> Result<String, EnvError> {
        self.optional(name).ok_or(EnvError::Missing(name))
    }

    fn number<T: std::str::FromStr>(&self, name: &'static str) -> Result<T, EnvError> {
        let raw = self.text(name)?;
        raw.trim().parse().map_err(|_| EnvError::Invalid {
            name,
            problem: format!("{raw:?} is not a number"),
        })
    }
}

/// A function's environment as the infra program sets it.
pub struct EnvWriter<'p, V> {
    plain: &'p dyn Fn(String) -> V,
    pub vars: Vec<(&'static str, V)>,
}

impl<'p, V: Clone> EnvWriter<'p, V> {
    fn plain(&mut self, name: &'static str, value: impl ToString) {
        let value = (self.plain)(value.to_string());
        self.vars.push((name, value));
    }

    fn value(&mut self, name: &'static str, value: &V) {
        self.vars.push((name, value.clone()));
    }
}

/// One function's settings.
pub trait Contract: Sized {
    type Of<V: Clone>;
    fn write<V: Clone>(settings: &Self::Of<V>, env: &mut EnvWriter<'_, V>);
    fn read(env: &EnvReader<'_>) -> Result<Self::Of<String>, EnvError>;

    /// The variables for `settings`; `plain` turns a value the contract formats into a `V`.
    fn to_env<V: Clone>(
        settings: &Self::Of<V>,
        plain: &dyn Fn(String) -> V,
    ) -> Vec<(&'static str, V)> {
        let mut env = EnvWriter {
            plain,
            vars: Vec::new(),
        };
        Self::write(settings, &mut env);
        env.vars
    }

    /// The settings from the process environment.
    fn from_env() -> Result<Self::Of<String>, EnvError> {
        Self::read(&EnvReader::new(&|name| std::env::var(name).ok()))
    }
}

/// How a function reaches the warehouse: the RDS endpoint (or RDS Proxy), the login in
/// Secrets Manager (re-read when refused), TLS against the CA bundle in the package, and the
/// function's share of the connection budget. There is no other way: a function never takes a
/// connection URL with a password in it, and a deployed one never runs without TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database<V> {
    pub secret_arn: V,
    pub host: V,
    pub port: u16,
    pub name: String,
    /// The RDS CA bundle's path in the package. `None` (no TLS) is for the local stack, which
    /// builds its functions in-process: [`Contract::from_env`] refuses an environment without
    /// `DB_TLS_CA`.
    pub tls_ca: Option<String>,
    pub pool_size: u32,
    pub idle_seconds: u64,
}

/// Read by no function: an earlier release's local-runs variable, refused if set, so that a
/// function configured by hand with a password in a URL stops at start instead of using it.
const REFUSED_DATABASE_URL: &str = "DATABASE_URL";

impl<V: Clone> Database<V> {
    fn write(&self, env: &mut EnvWriter<'_, V>) {
        env.value("DB_SECRET_ARN", &self.secret_arn);
        env.value("DB_HOST", &self.host);
        env.plain("DB_PORT", self.port);
        env.plain("DB_NAME", &self.name);
        if let Some(ca) = &self.tls_ca {
            env.plain("DB_TLS_CA", ca);
        }
        env.plain("DB_POOL_SIZE", self.pool_size);
        env.plain("DB_IDLE_SECONDS", self.idle_seconds);
    }
}

impl Database<String> {
    fn read(env: &EnvReader<'_>) -> Result<Self, EnvError> {
        if env.optional(REFUSED_DATABASE_URL).is_some() {
            return Err(EnvError::Invalid {
                name: REFUSED_DATABASE_URL,
                problem: "a function reaches the database through DB_HOST, the login in \
                          DB_SECRET_ARN and TLS (DB_TLS_CA), never through a URL: unset it"
                    .into(),
            });
        }
        Ok(Self {
            secret_arn: env.text("DB_SECRET_ARN")?,
            host: env.text("DB_HOST")?,
            port: env.number("DB_PORT")?,
            name: env.text("DB_NAME")?,
            tls_ca: Some(env.text("DB_TLS_CA")?),
            pool_size: env.number("DB_POOL_SIZE")?,
            idle_seconds: env.number("DB_IDLE_SECONDS")?,
        })
    }
}

/// Where the factory calls back, and how the URL is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback<V> {
    /// The public API's URL (`CALLBACK_BASE_URL`).
    pub base_url: V,
    /// The Secrets Manager secret holding the keys (`CALLBACK_SECRET_ARN`): one key, or
    /// `{"current", "previous"}` during a rotation. Read on first use, never at start.
    pub secret_arn: V,
    /// The version of the secret's value (`CALLBACK_KEY_VERSION`): a new key changes the
    /// environment, so running instances, which keep the keys they read, are replaced.
    pub key_version: V,
    /// How long a callback URL is good for (`CALLBACK_TOKEN_TTL_SECONDS`).
    pub token_ttl_seconds: u64,
}

impl<V: Clone> Callback<V> {
    fn write(&self, env: &mut EnvWriter<'_, V>) {
        env.value("CALLBACK_BASE_URL", &self.base_url);
        env.plain("CALLBACK_TOKEN_TTL_SECONDS", self.token_ttl_seconds);
        env.value("CALLBACK_SECRET_ARN", &self.secret_arn);
        env.value("CALLBACK_KEY_VERSION", &self.key_version);
    }
}

impl Callback<String> {
    fn read(env: &EnvReader<'_>) -> Result<Self, EnvError> {
        Ok(Self {
            base_url: env.text("CALLBACK_BASE_URL")?,
            secret_arn: env.text("CALLBACK_SECRET_ARN")?,
            key_version: env.text("CALLBACK_KEY_VERSION")?,
            token_ttl_seconds: env.number("CALLBACK_TOKEN_TTL_SECONDS")?,
        })
    }
}

/// The legacy factory: the stage's `factoryUrl`, or its simulator's function URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factory<V> {
    pub url: V,
    /// One whole request, connect included.
    pub timeout_ms: u64,
    /// How a call proves who makes it (`FACTORY_AUTH`, and `FACTORY_SIGNING_REGION` for
    /// [`FactoryAuth::AwsIam`]).
    pub auth: FactoryAuth,
}

/// How the functions that call the factory authenticate their calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactoryAuth {
    /// Nothing (`none`): the real legacy factory knows nothing of AWS signatures.
    None,
    /// Signed with SigV4 for service `lambda` in `region` (`aws_iam`) with the function's own
    /// role credentials: the simulator's function URL takes `AWS_IAM` authorization.
    AwsIam { region: String },
}

impl<V: Clone> Factory<V> {
    fn write(&self, env: &mut EnvWriter<'_, V>) {
        env.value("FACTORY_URL", &self.url);
        env.plain("FACTORY_TIMEOUT_MS", self.timeout_ms);
        match &self.auth {
            FactoryAuth::None => env.plain("FACTORY_AUTH", "none"),
            FactoryAuth::AwsIam { region } => {
                env.plain("FACTORY_AUTH", "aws_iam");
                env.plain("FACTORY_SIGNING_REGION", region);
            }
        }
    }
}

impl Factory<String> {
    fn read(env: &EnvReader<'_>) -> Result<Self, EnvError> {
        let auth = match env.text("FACTORY_AUTH")?.as_str() {
            "none" => FactoryAuth::None,
            "aws_iam" => FactoryAuth::AwsIam {
                region: env.text("FACTORY_SIGNING_REGION")?,
            },
            other => {
                return Err(EnvError::Invalid {
                    name: "FACTORY_AUTH",
                    problem: format!("{other:?} is neither \"none\" nor \"aws_iam\""),
                });
            }
        };
        Ok(Self {
            url: env.text("FACTORY_URL")?,
            timeout_ms: env.number("FACTORY_TIMEOUT_MS")?,
            auth,
        })
    }
}

/// What every function reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base<V> {
    pub metrics_namespace: String,
    pub database: Database<V>,
}

impl<V: Clone> Base<V> {
    fn write(&self, env: &mut EnvWriter<'_, V>) {
        env.plain(METRICS_NAMESPACE, &self.metrics_namespace);
        self.database.write(env);
    }
}

impl Base<String> {
    fn read(env: &EnvReader<'_>) -> Result<Self, EnvError> {
        Ok(Self {
            metrics_namespace: env.text(METRICS_NAMESPACE)?,
            database: Database::read(env)?,
        })
    }
}

/// λ sales-api.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesApi<V> {
    pub base: Base<V>,
    pub max_quantity: u32,
    pub max_body_bytes: u32,
    pub stock_out_topic_arn: V,
    /// How long an `Idempotency-Key` is kept (`IDEMPOTENCY_KEY_HOURS`).
    pub idempotency_key_hours: u32,
}

impl Contract for SalesApi<String> {
    type Of<V: Clone> = SalesApi<V>;
    fn write<V: Clone>(s: &SalesApi<V>, env: &mut EnvWriter<'_, V>) {
        s.base.write(env);
        env.plain("MAX_QUANTITY", s.max_quantity);
        env.plain("MAX_BODY_BYTES", s.max_body_bytes);
        env.value("STOCK_OUT_TOPIC_ARN", &s.stock_out_topic_arn);
        env.plain("IDEMPOTENCY_KEY_HOURS", s.idempotency_key_hours);
    }
    fn read(env: &EnvReader<'_>) -> Result<SalesApi<String>, EnvError> {
        Ok(SalesApi {
            base: Base::read(env)?,
            max_quantity: env.number("MAX_QUANTITY")?,
            max_body_bytes: env.number("MAX_BODY_BYTES")?,
            stock_out_topic_arn: env.text("STOCK_OUT_TOPIC_ARN")?,
            idempotency_key_hours: env.number("IDEMPOTENCY_KEY_HOURS")?,
        })
    }
}

/// λ warehouse-restock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseRestock<V> {
    pub base: Base<V>,
    pub max_body_bytes: u32,
    pub callback: Callback<V>,
}

impl Contract for WarehouseRestock<String> {
    type Of<V: Clone> = WarehouseRestock<V>;
    fn write<V: Clone>(s: &WarehouseRestock<V>, env: &mut EnvWriter<'_, V>) {
        s.base.write(env);
        env.plain("MAX_BODY_BYTES", s.max_body_bytes);
        s.callback.write(env);
    }
    fn read(env: &EnvReader<'_>) -> Result<WarehouseRestock<String>, EnvError> {
        Ok(WarehouseRestock {
            base: Base::read(env)?,
            max_body_bytes: env.number("MAX_BODY_BYTES")?,
            callback: Callback::read(env)?,
        })
    }
}

/// λ factory-requester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryRequester<V> {
    pub base: Base<V>,
    pub factory: Factory<V>,
    pub callback: Callback<V>,
}

impl Contract for FactoryRequester<String> {
    type Of<V: Clone> = FactoryRequester<V>;
    fn write<V: Clone>(s: &FactoryRequester<V>, env: &mut EnvWriter<'_, V>) {
        s.base.write(env);
        s.factory.write(env);
        s.callback.write(env);
    }
    fn read(env: &EnvReader<'_>) -> Result<FactoryRequester<String>, EnvError> {
        Ok(FactoryRequester {
            base: Base::read(env)?,
            factory: Factory::read(env)?,
            callback: Callback::read(env)?,
        })
    }
}

/// λ outbox-relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRelay<V> {
    pub base: Base<V>,
    pub stock_out_topic_arn: V,
}

impl Contract for OutboxRelay<String> {
    type Of<V: Clone> = OutboxRelay<V>;
    fn write<V: Clone>(s: &OutboxRelay<V>, env: &mut EnvWriter<'_, V>) {
        s.base.write(env);
        env.value("STOCK_OUT_TOPIC_ARN", &s.stock_out_topic_arn);
    }
    fn read(env: &EnvReader<'_>) -> Result<OutboxRelay<String>, EnvError> {
        Ok(OutboxRelay {
            base: Base::read(env)?,
            stock_out_topic_arn: env.text("STOCK_OUT_TOPIC_ARN")?,
        })
    }
}

/// λ admin-api: the operators' door. Its database login is its own (the operators' user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminApi<V> {
    pub base: Base<V>,
    pub max_body_bytes: u32,
    /// An adjustment's or a re-request's stock-out is published at once, as a sale's is.
    pub stock_out_topic_arn: V,
    /// A factory order asked for less than this long ago is not re-requested (it is on its
    /// way: the queue's visibility timeout).
    pub re_request_not_within_seconds: u64,
    /// How long an operator's `Idempotency-Key` is kept (`IDEMPOTENCY_KEY_HOURS`, as buyers').
    pub idempotency_key_hours: u32,
}

impl Contract for AdminApi<String> {
    type Of<V: Clone> = AdminApi<V>;
    fn write<V: Clone>(s: &AdminApi<V>, env: &mut EnvWriter<'_, V>) {
        s.base.write(env);
        env.plain("MAX_BODY_BYTES", s.max_body_bytes);
        env.value("STOCK_OUT_TOPIC_ARN", &s.stock_out_topic_arn);
        env.plain(
            "RE_REQUEST_NOT_WITHIN_SECONDS",
            s.re_request_not_within_seconds,
        );
        env.plain("IDEMPOTENCY_KEY_HOURS", s.idempotency_key_hours);
    }
    fn read(env: &EnvReader<'_>) -> Result<AdminApi<String>, EnvError> {
        Ok(AdminApi {
            base: Base::read(env)?,
            max_body_bytes: env.number("MAX_BODY_BYTES")?,
            stock_out_topic_arn: env.text("STOCK_OUT_TOPIC_ARN")?,
            re_request_not_within_seconds: env.number("RE_REQUEST_NOT_WITHIN_SECONDS")?,
            idempotency_key_hours: env.number("IDEMPOTENCY_KEY_HOURS")?,
        })
    }
}

/// λ factory-watchdog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactoryWatchdog<V> {
    pub base: Base<V>,
    pub factory: Factory<V>,
    pub callback: Callback<V>,
    /// An accepted order without a callback is asked again after this long.
    pub deadline_minutes: u64,
    /// An open order's stock-out is published again after this long
    /// (`StageConfig::open_order_deadline_minutes`).
    pub open_deadline_minutes: u64,
    /// Requests before ops are alerted.
    pub max_attempts: u32,
    pub ops_topic_arn: V,
    /// The overdue e-mail's runbook: the absolute address of its section
    /// (`StageConfig::runbook_url`), which a mail reader can open.
    pub overdue_runbook_url: String,
}

impl Contract for FactoryWatchdog<String> {
    type Of<V: Clone> = FactoryWatchdog<V>;
    fn write<V: Clone>(s: &FactoryWatchdog<V>, env: &mut EnvWriter<'_, V>) {
        s.base.write(env);
        s.factory.write(env);
        s.callback.write(env);
        env.plain("FACTORY_DEADLINE_MINUTES", s.deadline_minutes);
        env.plain("OPEN_ORDER_DEADLINE_MINUTES", s.open_deadline_minutes);
        env.plain("FACTORY_MAX_ATTEMPTS", s.max_attempts);
        env.value("OPS_TOPIC_ARN", &s.ops_topic_arn);
        env.plain("OVERDUE_RUNBOOK_URL", &s.overdue_runbook_url);
    }
    fn read(env: &EnvReader<'_>) -> Result<FactoryWatchdog<String>, EnvError> {
        Ok(FactoryWatchdog {
            base: Base::read(env)?,
            factory: Factory::read(env)?,
            callback: Callback::read(env)?,
            deadline_minutes: env.number("FACTORY_DEADLINE_MINUTES")?,
            open_deadline_minutes: env.number("OPEN_ORDER_DEADLINE_MINUTES")?,
            max_attempts: env.number("FACTORY_MAX_ATTEMPTS")?,
            ops_topic_arn: env.text("OPS_TOPIC_ARN")?,
            overdue_runbook_url: env.text("OVERDUE_RUNBOOK_URL")?,
        })
    }
}

/// λ migrate: the database as the master user, and the secret of the functions' own login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrate<V> {
    pub base: Base<V>,
    pub app_db_secret_arn: V,
    /// The functions' database user, which migrate creates the first time (`APP_DB_USER`);
    /// once the secret holds a login, its user is the one kept.
    pub app_user: String,
    /// The operators' function's login (its own user, its own grants), kept the same way.
    pub operator_db_secret_arn: V,
    pub operator_user: String,
    /// Where the functions' user may connect from (a MySQL host pattern: the VPC's range).
    pub app_user_hosts: String,
}

/// The functions' database user on a deployed stack.
pub const APP_DB_USER: &str = "donut_app";

/// The operators' function's database user on a deployed stack.
pub const OPERATOR_DB_USER: &str = "donut_operator";

impl Contract for Migrate<String> {
    type Of<V: Clone> = Migrate<V>;
    fn write<V: Clone>(s: &Migrate<V>, env: &mut EnvWriter<'_, V>) {
        s.base.write(env);
        env.value("APP_DB_SECRET_ARN", &s.app_db_secret_arn);
        env.plain("APP_DB_USER", &s.app_user);
        env.value("OPERATOR_DB_SECRET_ARN", &s.operator_db_secret_arn);
        env.plain("OPERATOR_DB_USER", &s.operator_user);
        env.plain("APP_USER_HOSTS", &s.app_user_hosts);
    }
    fn read(env: &EnvReader<'_>) -> Result<Migrate<String>, EnvError> {
        Ok(Migrate {
            base: Base::read(env)?,
            app_db_secret_arn: env.text("APP_DB_SECRET_ARN")?,
            app_user: env.text("APP_DB_USER")?,
            operator_db_secret_arn: env.text("OPERATOR_DB_SECRET_ARN")?,
            operator_user: env.text("OPERATOR_DB_USER")?,
            app_user_hosts: env.text("APP_USER_HOSTS")?,
        })
    }
}

/// The factory simulator, deployed (a stage option; `tools/factory-sim`): its knobs, the
/// queue that delays its callbacks, and the only URLs it calls back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorySimulator<V> {
    pub knobs: FactorySimulatorKnobs,
    pub delay_queue_url: V,
    /// The stack's API: callbacks go to `<it>/factory/callback/…` and nowhere else.
    pub callback_base_url: V,
}

/// How the deployed simulator misbehaves (the stage's `factorySim*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorySimulatorKnobs {
    /// Before the callback (a delay queue's: at most 900).
    pub delay_seconds: u32,
    /// Orders answered 500, in percent.
    pub fail_percent: u32,
    /// Orders never answered (the requester times out), in percent.
    pub hang_percent: u32,
    /// Accepted orders called back twice, in percent.
    pub duplicate_percent: u32,
    /// Accepted orders never called back, in percent.
    pub drop_percent: u32,
}

impl Contract for FactorySimulator<String> {
    type Of<V: Clone> = FactorySimulator<V>;
    fn write<V: Clone>(s: &FactorySimulator<V>, env: &mut EnvWriter<'_, V>) {
        let k = &s.knobs;
        env.plain("SIM_DELAY_SECONDS", k.delay_seconds);
        env.plain("SIM_FAIL_PERCENT", k.fail_percent);
        env.plain("SIM_HANG_PERCENT", k.hang_percent);
        env.plain("SIM_DUPLICATE_PERCENT", k.duplicate_percent);
        env.plain("SIM_DROP_PERCENT", k.drop_percent);
        env.value("SIM_DELAY_QUEUE_URL", &s.delay_queue_url);
        env.value("CALLBACK_BASE_URL", &s.callback_base_url);
    }
    fn read(env: &EnvReader<'_>) -> Result<FactorySimulator<String>, EnvError> {
        Ok(FactorySimulator {
            knobs: FactorySimulatorKnobs {
                delay_seconds: env.number("SIM_DELAY_SECONDS")?,
                fail_percent: env.number("SIM_FAIL_PERCENT")?,
                hang_percent: env.number("SIM_HANG_PERCENT")?,
                duplicate_percent: env.number("SIM_DUPLICATE_PERCENT")?,
                drop_percent: env.number("SIM_DROP_PERCENT")?,
            },
            delay_queue_url: env.text("SIM_DELAY_QUEUE_URL")?,
            callback_base_url: env.text("CALLBACK_BASE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> Base<String> {
        Base {
            metrics_namespace: "DonutStates/dev".into(),
            database: Database {
                secret_arn: "arn:secret".into(),
                host: "db.internal".into(),
                port: 3306,
                name: "donut".into(),
                tls_ca: Some("/var/task/rds-ca.pem".into()),
                pool_size: 1,
                idle_seconds: 60,
            },
        }
    }

    fn round_trip<C: Contract>(settings: &C::Of<String>) -> C::Of<String> {
        let vars: HashMap<&str, String> = C::to_env(settings, &|s| s).into_iter().collect();
        C::read(&EnvReader::new(&|name| vars.get(name).cloned())).unwrap()
    }

    #[test]
    fn what_the_infra_writes_the_function_reads_back() {
        let watchdog = FactoryWatchdog {
            base: base(),
            factory: Factory {
                url: "https://factory.example".into(),
                timeout_ms: 5000,
                auth: FactoryAuth::AwsIam {
                    region: "eu-west-1".into(),
                },
            },
            callback: Callback {
                base_url: "https://api.example".into(),
                secret_arn: "arn:callback".into(),
                key_version: "v1".into(),
                token_ttl_seconds: 86_400,
            },
            deadline_minutes: 30,
            open_deadline_minutes: 40,
            max_attempts: 3,
            ops_topic_arn: "arn:ops".into(),
            overdue_runbook_url:
                "https://git.example/shop/blob/main/docs/operate.md#factory-orders-overdue".into(),
        };
        assert_eq!(round_trip::<FactoryWatchdog<String>>(&watchdog), watchdog);
        let sales = SalesApi {
            base: base(),
            max_quantity: 10,
            max_body_bytes: 16384,
            stock_out_topic_arn: "arn:topic".into(),
            idempotency_key_hours: 24,
        };
        assert_eq!(round_trip::<SalesApi<String>>(&sales), sales);
        let restock = WarehouseRestock {
            base: base(),
            max_body_bytes: 100,
            callback: Callback {
                base_url: "http://127.0.0.1:8080".into(),
                secret_arn: "arn:aws:secretsmanager:eu-west-1:1:secret:cb".into(),
                key_version: "v1".into(),
                token_ttl_seconds: 3600,
            },
        };
        assert_eq!(round_trip::<WarehouseRestock<String>>(&restock), restock);
        let simulator = FactorySimulator {
            knobs: FactorySimulatorKnobs {
                delay_seconds: 5,
                fail_percent: 10,
                hang_percent: 0,
                duplicate_percent: 5,
                drop_percent: 1,
            },
            delay_queue_url: "https://sqs.eu-west-1.amazonaws.com/1/delay".into(),
            callback_base_url: "https://api.example".into(),
        };
        assert_eq!(
            round_trip::<FactorySimulator<String>>(&simulator),
            simulator
        );
    }

    /// A deployed function's environment: `base()`'s variables, then `extra`.
    fn env_with(extra: &[(&'static str, &str)]) -> HashMap<&'static str, String> {
        let mut vars: HashMap<&'static str, String> = OutboxRelay::to_env(
            &OutboxRelay {
                base: base(),
                stock_out_topic_arn: "arn:t".to_owned(),
            },
            &|s| s,
        )
        .into_iter()
        .filter(|(name, _)| *name != "STOCK_OUT_TOPIC_ARN")
        .collect();
        for (name, value) in extra {
            vars.insert(name, (*value).to_owned());
        }
        vars
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let vars = env_with(&[]);
        let get = |name: &str| vars.get(name).cloned();
        assert_eq!(
            OutboxRelay::<String>::read(&EnvReader::new(&get)).unwrap_err(),
            EnvError::Missing("STOCK_OUT_TOPIC_ARN")
        );
        let vars = env_with(&[("MAX_QUANTITY", "ten")]);
        let get = |name: &str| vars.get(name).cloned();
        assert!(matches!(
            SalesApi::<String>::read(&EnvReader::new(&get)).unwrap_err(),
            EnvError::Invalid {
                name: "MAX_QUANTITY",
                ..
            }
        ));
    }

    /// The factory's auth: `none` for the legacy factory, `aws_iam` with its Region for the
    /// simulator's function URL; anything else, or `aws_iam` without a Region, is named.
    #[test]
    fn the_factory_auth_is_none_or_aws_iam_with_a_region() {
        let factory = |auth| Factory {
            url: "https://f".to_owned(),
            timeout_ms: 1,
            auth,
        };
        for auth in [
            FactoryAuth::None,
            FactoryAuth::AwsIam {
                region: "eu-west-1".into(),
            },
        ] {
            let mut env = EnvWriter {
                plain: &|s| s,
                vars: Vec::new(),
            };
            factory(auth.clone()).write(&mut env);
            let vars: HashMap<&str, String> = env.vars.into_iter().collect();
            let read = Factory::read(&EnvReader::new(&|n| vars.get(n).cloned())).unwrap();
            assert_eq!(read.auth, auth);
        }
        let vars: HashMap<&str, &str> = [
            ("FACTORY_URL", "https://f"),
            ("FACTORY_TIMEOUT_MS", "1"),
            ("FACTORY_AUTH", "sigv4"),
        ]
        .into();
        let get = |n: &str| vars.get(n).map(|v| (*v).to_owned());
        assert!(matches!(
            Factory::read(&EnvReader::new(&get)).unwrap_err(),
            EnvError::Invalid {
                name: "FACTORY_AUTH",
                ..
            }
        ));
        let vars: HashMap<&str, &str> = [
            ("FACTORY_URL", "https://f"),
            ("FACTORY_TIMEOUT_MS", "1"),
            ("FACTORY_AUTH", "aws_iam"),
        ]
        .into();
        let get = |n: &str| vars.get(n).map(|v| (*v).to_owned());
        assert_eq!(
            Factory::read(&EnvReader::new(&get)).unwrap_err(),
            EnvError::Missing("FACTORY_SIGNING_REGION")
        );
    }

    /// What a deployed function must not run with: a password in a URL, or no TLS.
    #[test]
    fn a_url_or_a_missing_ca_is_refused() {
        let vars = env_with(&[
            ("STOCK_OUT_TOPIC_ARN", "arn:t"),
            ("DATABASE_URL", "mysql://root:secret@db:3306/donut"),
        ]);
        let get = |name: &str| vars.get(name).cloned();
        let refused = OutboxRelay::<String>::read(&EnvReader::new(&get)).unwrap_err();
        assert!(
            matches!(&refused, EnvError::Invalid { name: "DATABASE_URL", problem } if problem.contains("never through a URL")),
            "{refused}"
        );
        let mut vars = env_with(&[("STOCK_OUT_TOPIC_ARN", "arn:t")]);
        vars.remove("DB_TLS_CA");
        let get = |name: &str| vars.get(name).cloned();
        assert_eq!(
            OutboxRelay::<String>::read(&EnvReader::new(&get)).unwrap_err(),
            EnvError::Missing("DB_TLS_CA")
        );
        let migrate = Migrate {
            base: base(),
            app_db_secret_arn: "arn:app".to_owned(),
            app_user: APP_DB_USER.to_owned(),
            operator_db_secret_arn: "arn:operator".to_owned(),
            operator_user: OPERATOR_DB_USER.to_owned(),
            app_user_hosts: "10.40.0.0/255.255.0.0".to_owned(),
        };
        assert_eq!(round_trip::<Migrate<String>>(&migrate), migrate);
        let admin = AdminApi {
            base: base(),
            max_body_bytes: 16384,
            stock_out_topic_arn: "arn:t".to_owned(),
            re_request_not_within_seconds: 300,
            idempotency_key_hours: 24,
        };
        assert_eq!(round_trip::<AdminApi<String>>(&admin), admin);
        assert_eq!(round_trip::<Migrate<String>>(&migrate), migrate);
    }
}
