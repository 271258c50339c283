//! Per-stage settings of Donut-States.
//!
//! One source of truth: `Pulumi.<stage>.yaml`. The Pulumi program reads them from the engine
//! (`PULUMI_CONFIG`, the same keys), the local stack from the file; both go through
//! [`StageConfig::from_values`], so a bad or missing key fails the same way, naming the key.

pub mod aws;
pub mod capacity;
pub mod contracts;
pub mod release;

pub use capacity::Budget;
pub use contracts::Deployment;
pub use donut_contract::{Function, functions, outputs, routes, settings};
pub use release::ReleaseConfig;

use std::collections::BTreeMap;
use std::path::Path;

/// The Pulumi project name, the namespace of every key.
pub const PROJECT: &str = "donut-states";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing config key `{0}` (set it in Pulumi.<stage>.yaml or with `pulumi config set`)")]
    Missing(String),
    #[error("config key `{key}`: {problem} (got {value:?})")]
    Invalid {
        key: String,
        value: String,
        problem: String,
    },
    #[error("config key `{key}`: {problem}")]
    Rule { key: String, problem: String },
    #[error("cannot read {path}: {problem}")]
    File { path: String, problem: String },
}

/// The dead-letter path: queue, redrive, consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    pub visibility_timeout_seconds: u32,
    pub max_receive_count: u32,
    pub dlq_retention_days: u32,
    pub batch_size: u32,
    pub max_concurrency: u32,
    /// The factory-requester Lambda's timeout.
    pub requester_timeout_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseConfig {
    pub instance_class: String,
    pub allocated_storage_gb: u32,
    pub multi_az: bool,
    pub deletion_protection: bool,
    pub backup_retention_days: u32,
    /// A snapshot when the instance is deleted (`pulumi destroy`).
    pub final_snapshot: bool,
    /// The server refuses connections without TLS (`require_secure_transport`); the functions
    /// use TLS in every stage.
    pub require_tls: bool,
    /// An RDS Proxy between the functions and the database: they connect to it, and it keeps at
    /// most `proxy_max_connections_percent` % of the database's connections.
    pub proxy: bool,
    pub proxy_max_connections_percent: u32,
    /// Seconds between the OS metrics of RDS Enhanced Monitoring (0: off), one of
    /// [`MONITORING_INTERVALS`]; on, the instance gets a monitoring role.
    pub monitoring_interval_seconds: u32,
    /// The database logs exported to CloudWatch Logs, some of [`DB_LOG_EXPORTS`] (`dbLogExports`,
    /// comma-separated; empty: none). `slowquery` turns the slow query log on in the parameter
    /// group.
    pub log_exports: Vec<String>,
}

/// The intervals RDS Enhanced Monitoring takes (`MonitoringInterval`, CreateDBInstance: 0, 1, 5,
/// 10, 15, 30, 60 seconds; 0 turns it off).
pub const MONITORING_INTERVALS: [u32; 7] = [0, 1, 5, 10, 15, 30, 60];

/// The MySQL logs a stage may export (`EnableCloudwatchLogsExports`): the error log (always
/// written) and the slow query log (the program turns it on). RDS for MySQL also has `general`,
/// `audit` (an option group) and `iam-db-auth-error` (IAM database authentication), which the
/// program does not set up.
pub const DB_LOG_EXPORTS: [&str; 2] = ["error", "slowquery"];

/// How much runs at once, and what each instance may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityConfig {
    /// Reserved concurrency of the Sales API function.
    pub sales_api_concurrency: u32,
    /// Reserved concurrency of the restock callback function.
    pub restock_concurrency: u32,
    /// Connections kept free of the functions' worst case (an operator, a migration by hand).
    pub db_connection_headroom: u32,
    /// The API's steady request rate (per second) and burst, beyond which it answers 429.
    pub api_throttle_rate: u32,
    pub api_throttle_burst: u32,
    /// The factory's callback route's own throttle (its own lane: buyers cannot use it up).
    pub callback_throttle_rate: u32,
    pub callback_throttle_burst: u32,
    /// The operators' routes' own throttle (`/admin/…`): a few operators, one request at a
    /// time each; a leaked key cannot flood the database through them.
    pub admin_throttle_rate: u32,
    pub admin_throttle_burst: u32,
    /// The server closes a connection idle this long (`wait_timeout`): a frozen Lambda's
    /// connections do not linger for hours.
    pub db_wait_timeout_seconds: u32,
    /// A function closes a pooled connection idle this long.
    pub db_idle_seconds: u32,
    /// The account's Lambda concurrency quota in the stage's Region (concurrent executions):
    /// 1,000 by default, lower on new accounts. `make deploy` reads it (GetAccountSettings) and
    /// sets it; it decides whether the functions can reserve their concurrency.
    pub lambda_concurrency_quota: u32,
}

/// When ops are told, beyond the DLQ and the factory: each value is the threshold of one alarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmConfig {
    /// The oldest message of the factory-orders queue is older than this.
    pub queue_age_minutes: u32,
    /// A stock-out has waited this long in the outbox without reaching SNS.
    pub outbox_age_minutes: u32,
    /// The oldest unfinished (open or requested) factory order is older than this.
    pub unfinished_order_minutes: u32,
    /// Callbacks refused (bad or missing token) in one alarm period, at or above which ops are
    /// told: someone other than the factory is calling, or the factory holds stale URLs.
    pub callbacks_refused: u32,
    /// The API's 5xx rate, in percent of requests, …
    pub api_5xx_percent: u32,
    /// … in this many periods (M) …
    pub api_5xx_datapoints: u32,
    /// … out of this many (N).
    pub api_5xx_periods: u32,
    /// Open database connections at or above this.
    pub db_connections: u32,
    /// Free database storage below this many GB.
    pub db_free_storage_gb: u32,
    /// CPU credit balance (burstable classes) below this.
    pub db_cpu_credits: u32,
}

/// The legacy factory a stage calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyFactory {
    /// The real one (`factoryUrl`).
    At(String),
    /// Its simulator, deployed with the stack (`factorySimulator: "true"`, its knobs the
    /// `factorySim*` keys); the stack's `factoryUrl` output says where it answers.
    Simulator(settings::FactorySimulatorKnobs),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    pub stage: String,
    pub region: String,
    pub ops_email: String,
    /// Where the repository's files are read in a browser, up to the branch (`repositoryUrl`,
    /// e.g. `https://github.com/<owner>/<repo>/blob/main`): the alarms' e-mails link their
    /// runbook as [`StageConfig::runbook_url`], an address a mail reader can open.
    pub repository_url: String,
    /// Who answers for the stack's resources (their `owner` tag): a team or a person.
    pub owner: String,
    pub max_quantity: u32,
    pub max_body_bytes: u32,
    /// How long a purchase's `Idempotency-Key` is kept (its retries answer the sale).
    pub idempotency_key_hours: u32,
    pub queue: QueueConfig,
    pub factory: LegacyFactory,
    pub factory_timeout_ms: u32,
    /// A factory order accepted this long ago without a callback is asked again.
    pub factory_deadline_minutes: u32,
    /// Requests per factory order before ops are alerted instead.
    pub factory_max_attempts: u32,
    /// How long a callback URL given to the factory stays good (its token's expiry).
    pub callback_token_hours: u32,
    pub relay_schedule_minutes: u32,
    pub dlq_alarm_threshold: u32,
    /// Factory calls failing per alarm period before ops are told.
    pub factory_failure_alarm_threshold: u32,
    /// p90 of stock-out → restock, in minutes, above which ops are told.
    pub restock_latency_alarm_minutes: u32,
    pub alarm_period_seconds: u32,
    pub alarms: AlarmConfig,
    pub capacity: CapacityConfig,
    pub database: DatabaseConfig,
    /// Interface endpoints for SNS, SQS and Secrets Manager; without them that traffic takes
    /// the NAT (cheaper for a small stage, one less thing that can be misconfigured).
    pub interface_endpoints: bool,
    /// Days Secrets Manager keeps the stack's deleted secrets (callback key, functions' database
    /// login) recoverable (0: deleted at once).
    pub secret_recovery_days: u32,
    /// The memory of every function but sales-api and warehouse-restock, MB
    /// (`lambdaMemoryMb`); Lambda gives a function CPU in proportion (one vCPU at 1 769 MB).
    pub lambda_memory_mb: u32,
    /// sales-api's and warehouse-restock's memory (`salesApiMemoryMb`,
    /// `warehouseRestockMemoryMb`): chosen from `make bench`'s memory table
    /// (docs/performance.md, "Memory size").
    pub sales_api_memory_mb: u32,
    pub warehouse_restock_memory_mb: u32,
    /// Days the functions' logs are kept.
    pub log_retention_days: u32,
    /// Days the records of who reached what are kept: the API's access log and, where the stage
    /// has them, the VPC's flow logs (an investigation asks for them long after the fact).
    pub access_log_retention_days: u32,
    /// VPC flow logs (all traffic of the stack's VPC) to a log group of their own.
    pub vpc_flow_logs: bool,
    /// API Gateway's JWT authorizer for the buyers' routes (`buyerAuth`), when the stage has
    /// one: the routes [`routes::takes_buyer_authorizer`] names then answer 401 without a valid
    /// token of the issuer for one of the audiences. Absent: those routes are open (the shop's
    /// checkout, not this service, knows the buyer).
    pub buyer_auth: Option<BuyerAuth>,
    /// The IAM principals that deploy the stack (`deployerArns`: a role's or a user's ARN, as
    /// `aws:PrincipalArn` names them — a role, never its session). Each secret of the stack
    /// denies every principal but the functions that read it, the break-glass role and these,
    /// so whoever runs `pulumi up` must be here. Not in the committed stack files: an account's,
    /// not a stage's; a deployment refuses without it ([`StageConfig::deployment_placeholders`]).
    pub deployers: Vec<String>,
    pub seed_products: bool,
    /// How the aliased functions' new versions go out (`canaryPercent`, `canaryMinutes`,
    /// `keepVersions`; [`release`]).
    pub release: ReleaseConfig,
}

/// Reads typed values out of a flat key → string map, naming the key on every failure.
struct Values<'a>(&'a BTreeMap<String, String>);

impl Values<'_> {
    fn raw(&self, key: &str) -> Result<&str, ConfigError> {
        let full = format!("{PROJECT}:{key}");
        self.0
            .get(&full)
            .or_else(|| self.0.get(key))
            .map(String::as_str)
            .ok_or(ConfigError::Missing(full))
    }

    fn string(&self, key: &str) -> Result<String, ConfigError> {
        let v = self.raw(key)?.trim();
        if v.is_empty() {
            return Err(invalid(key, v, "must not be empty"));
        }
        Ok(v.to_owned())
    }

    fn number(&self, key: &str, range: std::ops::RangeInclusive<u32>) -> Result<u32, ConfigError> {
        let raw = self.raw(key)?;
        let n: u32 = raw
            .trim()
            .parse()
            .map_err(|_| invalid(key, raw, "must be a whole number"))?;
        if !range.contains(&n) {
            return Err(invalid(
                key,
                raw,
                &format!("must be within {}..={}", range.start(), range.end()),
            ));
        }
        Ok(n)
    }

    /// A comma-separated list (`"error,slowquery"`); empty or blank: none.
    fn list(&self, key: &str) -> Result<Vec<String>, ConfigError> {
        let raw = self.raw(key)?;
        let items: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        if let Some(twice) = items.iter().find(|item| !seen.insert(item.as_str())) {
            return Err(invalid(key, raw, &format!("names {twice:?} twice")));
        }
        Ok(items)
    }

    fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        let raw = self.raw(key)?;
        match raw.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(invalid(key, raw, "must be true or false")),
        }
    }
}

fn invalid(key: &str, value: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        key: format!("{PROJECT}:{key}"),
        value: value.to_owned(),
        problem: problem.to_owned(),
    }
}

/// Whether a domain is reserved for examples and tests (RFC 2606, RFC 6761): `*.example`,
/// `*.test`, `*.invalid`, `localhost`, and `example.{com,net,org}` with their subdomains.
fn reserved_domain(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let top = labels.last().copied().unwrap_or_default();
    let second = labels.len().checked_sub(2).map(|i| labels[i]);
    matches!(top, "example" | "test" | "invalid" | "localhost") || second == Some("example")
}

/// How long an `open` factory order waits before the watchdog publishes its stock-out again:
/// long enough for its message to have been retried into the DLQ (`max_receive_count` ×
/// `visibility_timeout`) and for one more relay pass, and never less than the factory's
/// `deadline`. The infra (per stage) and the local stack (its short timeouts) both use it.
pub fn open_order_deadline(
    deadline: std::time::Duration,
    max_receive_count: u32,
    visibility_timeout: std::time::Duration,
    relay_every: std::time::Duration,
) -> std::time::Duration {
    (visibility_timeout * max_receive_count + relay_every).max(deadline)
}

/// A JWT authorizer's settings (`donut-states:buyerAuth`, an object):
///
/// ```yaml
/// donut-states:buyerAuth:
///   issuer: https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123
///   audience:
///     - 1example23456789
/// ```
///
/// or `pulumi config set --path 'donut-states:buyerAuth.issuer' https://…` and
/// `pulumi config set --path 'donut-states:buyerAuth.audience[0]' <client id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuyerAuth {
    /// The identity provider that issues the buyers' tokens: API Gateway fetches
    /// `{issuer}/.well-known/openid-configuration` and its keys, and a token's `iss` must be
    /// exactly this. An https URL (OpenID Connect Discovery 1.0, §3: "a case-sensitive URL using
    /// the https scheme that contains scheme, host, and optionally, port number and path
    /// components and no query or fragment components"), at most 2048 characters (API Gateway's
    /// `UriWithLengthBetween1And2048`).
    pub issuer: String,
    /// The token's `aud` (or, without one, `client_id`) must be one of these: at least one,
    /// none empty.
    pub audience: Vec<String>,
}

/// `buyerAuth`: absent, or `{issuer, audience}` (other members refused, so a misspelt one is
/// not silently ignored).
fn buyer_auth(v: &Values<'_>) -> Result<Option<BuyerAuth>, ConfigError> {
    const KEY: &str = "buyerAuth";
    let Ok(raw) = v.raw(KEY) else {
        return Ok(None);
    };
    let shape = "must be an object {issuer: https://…, audience: [<audience>, …]} (`pulumi \
                 config set --path 'donut-states:buyerAuth.issuer' https://…`, \
                 `pulumi config set --path 'donut-states:buyerAuth.audience[0]' <audience>`)";
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| invalid(KEY, raw, shape))?;
    let object = value.as_object().ok_or_else(|| invalid(KEY, raw, shape))?;
    if let Some(other) = object
        .keys()
        .find(|member| !["issuer", "audience"].contains(&member.as_str()))
    {
        return Err(invalid(
            KEY,
            raw,
            &format!("has a member {other:?}: it takes issuer and audience only"),
        ));
    }
    let issuer = object
        .get("issuer")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| invalid(KEY, raw, "has no issuer (an https URL)"))?;
    issuer_url(issuer).map_err(|problem| invalid(KEY, raw, &format!("issuer {problem}")))?;
    let audience: Vec<String> = match object.get("audience") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid(KEY, raw, "audience must be a list of strings"))?,
        _ => return Err(invalid(KEY, raw, "has no audience (a list of strings)")),
    };
    if audience.is_empty() || audience.iter().any(|a| a.trim().is_empty()) {
        return Err(invalid(
            KEY,
            raw,
            "audience must name at least one audience, none empty: a token's aud must match one",
        ));
    }
    Ok(Some(BuyerAuth {
        issuer: issuer.to_owned(),
        audience,
    }))
}

/// Whether `issuer` is an OpenID Connect issuer URL API Gateway can take: https, a host, no
/// query or fragment, at most 2048 characters.
fn issuer_url(issuer: &str) -> Result<(), String> {
    let Some(rest) = issuer.strip_prefix("https://") else {
        return Err(format!("{issuer:?} is not an https URL"));
    };
    if issuer.len() > 2048 {
        return Err("is longer than 2048 characters".into());
    }
    if issuer.contains(['?', '#']) {
        return Err(format!("{issuer:?} has a query or fragment"));
    }
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    if host.is_empty() || issuer.chars().any(char::is_whitespace) {
        return Err(format!("{issuer:?} names no host"));
    }
    Ok(())
}

/// The page of the repository that holds the alarms' runbooks, one section per alarm.
pub const RUNBOOK_PAGE: &str = "docs/operate.md";

/// Whether `url` can stand before `/docs/operate.md#…` in a link: https, a host, no query,
/// fragment or trailing slash.
fn repository_url(url: &str) -> Result<(), String> {
    issuer_url(url)?;
    if url.ends_with('/') {
        return Err(format!(
            "{url:?} ends with a slash (the link adds /{RUNBOOK_PAGE})"
        ));
    }
    Ok(())
}

/// `deployerArns`: a list of IAM principal ARNs (absent: none yet). A stack file holds it as a
/// YAML list (`pulumi config set --path 'donut-states:deployerArns[0]' <ARN>`), the engine hands
/// it over as its JSON text.
fn deployers(v: &Values<'_>) -> Result<Vec<String>, ConfigError> {
    const KEY: &str = "deployerArns";
    let Ok(raw) = v.raw(KEY) else {
        return Ok(Vec::new());
    };
    let arns: Vec<String> = serde_json::from_str(raw).map_err(|_| {
        invalid(
            KEY,
            raw,
            "must be a list of IAM principal ARNs (`pulumi config set --path \
             'donut-states:deployerArns[0]' arn:aws:iam::<account>:role/<name>`)",
        )
    })?;
    for arn in &arns {
        principal_arn(arn).map_err(|problem| invalid(KEY, arn, &problem))?;
    }
    Ok(arns)
}

/// Whether `arn` is what `aws:PrincipalArn` holds for an IAM principal of an account: a role
/// (`arn:aws:iam::<12 digits>:role/<path/>name`), a user (`…:user/…`) or the account's root
/// user (`…:root`). A role session's ARN (`arn:aws:sts::…:assumed-role/<role>/<session>`) is
/// not: the key holds the role's ARN for a session.
pub fn principal_arn(arn: &str) -> Result<(), String> {
    if let Some(rest) = arn.strip_prefix("arn:aws:sts::") {
        let role = rest
            .split_once(":assumed-role/")
            .and_then(|(_, r)| r.split('/').next())
            .unwrap_or("<role>");
        return Err(format!(
            "a role session's ARN: aws:PrincipalArn holds the role's, \
             arn:aws:iam::<account>:role/{role} (with the role's path, if it has one)"
        ));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_, partition, service, region, account, resource] = parts.as_slice() else {
        return Err("is not an ARN (arn:aws:iam::<account>:role/<name>)".into());
    };
    let iam =
        *arn_ == "arn" && partition.starts_with("aws") && *service == "iam" && region.is_empty();
    if !iam {
        return Err("is not an IAM ARN (arn:aws:iam::<account>:role/<name>)".into());
    }
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{account:?} is not an account id (12 digits)"));
    }
    let named = |kind: &str| {
        resource
            .strip_prefix(kind)
            .and_then(|r| r.rsplit('/').next())
            .is_some_and(|name| !name.is_empty())
    };
    if *resource == "root" || named("role/") || named("user/") {
        Ok(())
    } else {
        Err("names no role, user or root (…:role/<name>, …:user/<name>, …:root)".into())
    }
}

/// `factoryUrl`, or `factorySimulator: "true"` with the simulator's knobs: one or the other.
fn legacy_factory(v: &Values<'_>) -> Result<LegacyFactory, ConfigError> {
    if !v.flag("factorySimulator")? {
        return Ok(LegacyFactory::At(v.string("factoryUrl")?));
    }
    if let Ok(url) = v.raw("factoryUrl") {
        return Err(invalid(
            "factoryUrl",
            url,
            "a stage calls the real factory or its simulator, not both: remove factoryUrl or \
             set factorySimulator to false",
        ));
    }
    Ok(LegacyFactory::Simulator(settings::FactorySimulatorKnobs {
        delay_seconds: v.number("factorySimDelaySeconds", 0..=900)?,
        fail_percent: v.number("factorySimFailPercent", 0..=100)?,
        hang_percent: v.number("factorySimHangPercent", 0..=100)?,
        duplicate_percent: v.number("factorySimDuplicatePercent", 0..=100)?,
        drop_percent: v.number("factorySimDropPercent", 0..=100)?,
    }))
}

/// A queue an event source mapping consumes keeps a message invisible this many times its
/// function's timeout (AWS's advice for SQS event sources: retries of a throttled batch fit).
pub const VISIBILITY_PER_CONSUMER_TIMEOUT: u32 = 6;

/// The longest name prefix (`<project>-<stage>`): the longest name AWS allows for a function
/// or a role is 64 characters, and ours add `-<function>-role` (up to 23) and the provider's
/// `-<7 hex>` suffix (8) to the prefix.
pub const MAX_PREFIX: usize = 33;

impl StageConfig {
    /// Builds and validates the settings of `stage` from `project:key` → value pairs.
    pub fn from_values(
        stage: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let v = Values(values);
        let region = values
            .get("aws:region")
            .cloned()
            .ok_or_else(|| ConfigError::Missing("aws:region".into()))?;
        let config = Self {
            stage: stage.to_owned(),
            region,
            ops_email: v.string("opsEmail")?,
            repository_url: v.string("repositoryUrl")?,
            owner: v.string("owner")?,
            max_quantity: v.number("maxQuantity", 1..=1000)?,
            max_body_bytes: v.number("maxBodyBytes", 256..=1_048_576)?,
            idempotency_key_hours: v.number("idempotencyKeyHours", 1..=720)?,
            queue: QueueConfig {
                visibility_timeout_seconds: v.number("visibilityTimeoutSeconds", 1..=43_200)?,
                max_receive_count: v.number("maxReceiveCount", 1..=1000)?,
                dlq_retention_days: v.number("dlqRetentionDays", 1..=14)?,
                batch_size: v.number("batchSize", 1..=10)?,
                max_concurrency: v.number("maxConcurrency", 2..=1000)?,
                requester_timeout_seconds: v.number("requesterTimeoutSeconds", 1..=900)?,
            },
            factory: legacy_factory(&v)?,
            factory_timeout_ms: v.number("factoryTimeoutMs", 100..=60_000)?,
            factory_deadline_minutes: v.number("factoryDeadlineMinutes", 1..=10_080)?,
            factory_max_attempts: v.number("factoryMaxAttempts", 1..=20)?,
            callback_token_hours: v.number("callbackTokenHours", 1..=720)?,
            relay_schedule_minutes: v.number("relayScheduleMinutes", 1..=60)?,
            dlq_alarm_threshold: v.number("dlqAlarmThreshold", 1..=1000)?,
            factory_failure_alarm_threshold: v
                .number("factoryFailureAlarmThreshold", 1..=10_000)?,
            restock_latency_alarm_minutes: v.number("restockLatencyAlarmMinutes", 1..=10_080)?,
            alarm_period_seconds: v.number("alarmPeriodSeconds", 10..=86_400)?,
            alarms: AlarmConfig {
                queue_age_minutes: v.number("queueAgeAlarmMinutes", 1..=20_160)?,
                outbox_age_minutes: v.number("outboxAgeAlarmMinutes", 1..=1_440)?,
                unfinished_order_minutes: v.number("unfinishedOrderAlarmMinutes", 1..=20_160)?,
                callbacks_refused: v.number("callbacksRefusedAlarm", 1..=100_000)?,
                api_5xx_percent: v.number("api5xxAlarmPercent", 1..=100)?,
                api_5xx_datapoints: v.number("api5xxAlarmDatapoints", 1..=100)?,
                api_5xx_periods: v.number("api5xxAlarmPeriods", 1..=100)?,
                db_connections: v.number("dbConnectionsAlarm", 1..=100_000)?,
                db_free_storage_gb: v.number("dbFreeStorageAlarmGb", 1..=65_536)?,
                db_cpu_credits: v.number("dbCpuCreditsAlarm", 0..=10_000)?,
            },
            capacity: CapacityConfig {
                sales_api_concurrency: v.number("salesApiConcurrency", 1..=1000)?,
                restock_concurrency: v.number("restockConcurrency", 1..=1000)?,
                db_connection_headroom: v.number("dbConnectionHeadroom", 0..=1000)?,
                api_throttle_rate: v.number("apiThrottleRate", 1..=10_000)?,
                api_throttle_burst: v.number("apiThrottleBurst", 1..=5_000)?,
                callback_throttle_rate: v.number("callbackThrottleRate", 1..=10_000)?,
                callback_throttle_burst: v.number("callbackThrottleBurst", 1..=5_000)?,
                admin_throttle_rate: v.number("adminThrottleRate", 1..=10_000)?,
                admin_throttle_burst: v.number("adminThrottleBurst", 1..=5_000)?,
                db_wait_timeout_seconds: v.number("dbWaitTimeoutSeconds", 60..=28_800)?,
                db_idle_seconds: v.number("dbIdleSeconds", 1..=900)?,
                lambda_concurrency_quota: v.number("lambdaConcurrencyQuota", 1..=1_000_000)?,
            },
            database: DatabaseConfig {
                instance_class: v.string("dbInstanceClass")?,
                allocated_storage_gb: v.number("dbAllocatedStorageGb", 20..=65_536)?,
                multi_az: v.flag("dbMultiAz")?,
                deletion_protection: v.flag("dbDeletionProtection")?,
                backup_retention_days: v.number("dbBackupRetentionDays", 0..=35)?,
                final_snapshot: v.flag("dbFinalSnapshot")?,
                require_tls: v.flag("dbRequireTls")?,
                proxy: v.flag("dbProxy")?,
                proxy_max_connections_percent: v.number("dbProxyMaxConnectionsPercent", 1..=100)?,
                monitoring_interval_seconds: v.number("dbMonitoringIntervalSeconds", 0..=60)?,
                log_exports: v.list("dbLogExports")?,
            },
            interface_endpoints: v.flag("interfaceEndpoints")?,
            secret_recovery_days: v.number("secretRecoveryDays", 0..=30)?,
            lambda_memory_mb: v.number("lambdaMemoryMb", 128..=10_240)?,
            sales_api_memory_mb: v.number("salesApiMemoryMb", 128..=10_240)?,
            warehouse_restock_memory_mb: v.number("warehouseRestockMemoryMb", 128..=10_240)?,
            log_retention_days: v.number("logRetentionDays", 1..=3_653)?,
            access_log_retention_days: v.number("accessLogRetentionDays", 1..=3_653)?,
            vpc_flow_logs: v.flag("vpcFlowLogs")?,
            deployers: deployers(&v)?,
            buyer_auth: buyer_auth(&v)?,
            seed_products: v.flag("seedProducts")?,
            release: ReleaseConfig {
                canary_percent: v.number("canaryPercent", 0..=50)?,
                canary_minutes: v.number("canaryMinutes", 1..=1_440)?,
                keep_versions: v.number("keepVersions", 2..=100)?,
            },
        };
        config.check_rules()?;
        Ok(config)
    }

    fn check_rules(&self) -> Result<(), ConfigError> {
        let rule = |key: &str, problem: String| ConfigError::Rule {
            key: format!("{PROJECT}:{key}"),
            problem,
        };
        let q = &self.queue;
        if q.visibility_timeout_seconds
            < VISIBILITY_PER_CONSUMER_TIMEOUT * q.requester_timeout_seconds
        {
            return Err(rule(
                "visibilityTimeoutSeconds",
                format!(
                    "must be at least {VISIBILITY_PER_CONSUMER_TIMEOUT} × requesterTimeoutSeconds ({} s), is {} s",
                    VISIBILITY_PER_CONSUMER_TIMEOUT * q.requester_timeout_seconds,
                    q.visibility_timeout_seconds
                ),
            ));
        }
        if q.max_receive_count < 5 {
            return Err(rule(
                "maxReceiveCount",
                format!("must be at least 5, is {}", q.max_receive_count),
            ));
        }
        if u64::from(self.factory_timeout_ms) >= u64::from(q.requester_timeout_seconds) * 1000 {
            return Err(rule(
                "factoryTimeoutMs",
                "must be below requesterTimeoutSeconds".into(),
            ));
        }
        let email = &self.ops_email;
        let well_formed = email.split_once('@').is_some_and(|(user, domain)| {
            !user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
        if !well_formed || email.chars().any(char::is_whitespace) {
            return Err(rule(
                "opsEmail",
                format!("{email:?} is not an e-mail address"),
            ));
        }
        repository_url(&self.repository_url).map_err(|problem| rule("repositoryUrl", problem))?;
        self.factory_endpoint()
            .map_err(|problem| rule("factoryUrl", problem))?;
        match &self.factory {
            LegacyFactory::At(url) if self.stage == "prod" && !url.starts_with("https://") => {
                return Err(rule(
                    "factoryUrl",
                    "prod calls the factory over https only (callbacks carry capability tokens)"
                        .into(),
                ));
            }
            LegacyFactory::Simulator(_) if self.stage == "prod" => {
                return Err(rule(
                    "factorySimulator",
                    "prod calls the real factory: the simulator is for the other stages".into(),
                ));
            }
            _ => {}
        }
        let chasing = self.open_order_deadline_minutes()
            + u64::from(self.factory_deadline_minutes) * u64::from(self.factory_max_attempts);
        if u64::from(self.alarms.unfinished_order_minutes) < chasing {
            return Err(rule(
                "unfinishedOrderAlarmMinutes",
                format!(
                    "must be at least the time the watchdog chases an order before it asks ops \
                     ({chasing} min: the open order's deadline + factoryDeadlineMinutes × \
                     factoryMaxAttempts), is {}",
                    self.alarms.unfinished_order_minutes
                ),
            ));
        }
        // A URL must outlive the factory's work on it: at least until the watchdog asks again
        // (with a fresh URL) after factoryDeadlineMinutes, twice over.
        let deadline_hours = (2 * u64::from(self.factory_deadline_minutes)).div_ceil(60);
        if u64::from(self.callback_token_hours) < deadline_hours {
            return Err(rule(
                "callbackTokenHours",
                format!(
                    "must be at least {deadline_hours} (twice factoryDeadlineMinutes): a callback \
                     URL must outlive the factory's work until the watchdog asks again, is {}",
                    self.callback_token_hours
                ),
            ));
        }
        if (1..7).contains(&self.secret_recovery_days) {
            return Err(rule(
                "secretRecoveryDays",
                "Secrets Manager takes 0 (delete at once) or 7 to 30 days".into(),
            ));
        }
        // CloudWatch Logs keeps logs for one of these many days.
        const RETENTION_DAYS: [u32; 22] = [
            1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
            2922, 3288, 3653,
        ];
        for (key, days) in [
            ("logRetentionDays", self.log_retention_days),
            ("accessLogRetentionDays", self.access_log_retention_days),
        ] {
            if !RETENTION_DAYS.contains(&days) {
                return Err(rule(
                    key,
                    format!("CloudWatch Logs keeps logs for one of {RETENTION_DAYS:?} days"),
                ));
            }
        }
        if !MONITORING_INTERVALS.contains(&self.database.monitoring_interval_seconds) {
            return Err(rule(
                "dbMonitoringIntervalSeconds",
                format!(
                    "RDS Enhanced Monitoring takes one of {MONITORING_INTERVALS:?} seconds (0: off), is {}",
                    self.database.monitoring_interval_seconds
                ),
            ));
        }
        if let Some(other) = self
            .database
            .log_exports
            .iter()
            .find(|log| !DB_LOG_EXPORTS.contains(&log.as_str()))
        {
            return Err(rule(
                "dbLogExports",
                format!(
                    "{other:?} is not one of {DB_LOG_EXPORTS:?} (the MySQL logs the program sets up; \
                     audit needs an option group, general and iam-db-auth-error are not written)"
                ),
            ));
        }
        if self.capacity.db_idle_seconds >= self.capacity.db_wait_timeout_seconds {
            return Err(rule(
                "dbIdleSeconds",
                format!(
                    "must be below dbWaitTimeoutSeconds ({}): the function closes first",
                    self.capacity.db_wait_timeout_seconds
                ),
            ));
        }
        self.check_connection_budget()?;
        let shortest = release::min_canary_minutes();
        if self.release.canary_minutes < shortest {
            return Err(rule(
                "canaryMinutes",
                format!(
                    "must be at least {shortest}: the canary alarms ({}-second periods, {} to \
                     breach) and CloudWatch's lag ({} min) must have seen the new version before \
                     it takes all the traffic, is {}",
                    release::CANARY_ALARM_PERIOD_SECONDS,
                    release::CANARY_ALARM_PERIODS,
                    release::CANARY_ALARM_LAG_MINUTES,
                    self.release.canary_minutes
                ),
            ));
        }
        let a = &self.alarms;
        if a.api_5xx_datapoints > a.api_5xx_periods {
            return Err(rule(
                "api5xxAlarmDatapoints",
                format!(
                    "{} of {} periods cannot happen: must be at most api5xxAlarmPeriods",
                    a.api_5xx_datapoints, a.api_5xx_periods
                ),
            ));
        }
        if a.db_free_storage_gb >= self.database.allocated_storage_gb {
            return Err(rule(
                "dbFreeStorageAlarmGb",
                format!(
                    "must be below dbAllocatedStorageGb ({})",
                    self.database.allocated_storage_gb
                ),
            ));
        }
        if self.stage == "prod" && (!self.database.multi_az || !self.database.deletion_protection) {
            return Err(rule(
                "dbMultiAz",
                "prod needs Multi-AZ and deletion protection".into(),
            ));
        }
        if self.stage == "prod" && self.seed_products {
            return Err(rule(
                "seedProducts",
                "seed data is for dev stacks only".into(),
            ));
        }
        Ok(())
    }

    /// Reads `Pulumi.<stage>.yaml` (its `config:` map). Secure values are left out: they are
    /// encrypted for the Pulumi CLI and none of the keys read here is secret.
    pub fn from_stack_file(stage: &str, path: &Path) -> Result<Self, ConfigError> {
        Self::from_values(stage, &stack_file_values(path)?)
    }

    /// Reads `PULUMI_CONFIG`, the JSON map the Pulumi engine hands a program.
    pub fn from_pulumi_config_json(stage: &str, json: &str) -> Result<Self, ConfigError> {
        let map: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| ConfigError::File {
                path: "PULUMI_CONFIG".into(),
                problem: e.to_string(),
            })?;
        let values = map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        Self::from_values(stage, &values)
    }

    /// This stage in an account whose Lambda concurrency quota is `quota` (what the deploy
    /// preflight reads), checked again: refused when the account cannot hold it.
    pub fn with_lambda_concurrency_quota(mut self, quota: u32) -> Result<Self, ConfigError> {
        self.capacity.lambda_concurrency_quota = quota;
        self.check_rules()?;
        Ok(self)
    }

    /// Whether `opsEmail` is on a domain reserved for examples and tests (RFC 2606, RFC 6761):
    /// mail to it reaches nobody, so it may serve the local stack but not a deployment.
    pub fn ops_email_is_placeholder(&self) -> bool {
        reserved_domain(self.ops_email.rsplit_once('@').map_or("", |(_, d)| d))
    }

    /// The address of the runbook section `anchor` (a heading of docs/operate.md), as the
    /// alarms' e-mails link it.
    pub fn runbook_url(&self, anchor: &str) -> String {
        format!("{}/{RUNBOOK_PAGE}#{anchor}", self.repository_url)
    }

    /// Whether `repositoryUrl` names a host on a domain reserved for examples: every runbook
    /// link of the alarms' e-mails would lead nowhere.
    pub fn repository_url_is_placeholder(&self) -> bool {
        let host = self
            .repository_url
            .trim_start_matches("https://")
            .split(['/', ':'])
            .next()
            .unwrap_or_default();
        reserved_domain(host)
    }

    /// Whether `factoryUrl` names a host on such a domain: every stock-out would end in the
    /// DLQ. The local stack runs its own factory and ignores it.
    pub fn factory_url_is_placeholder(&self) -> bool {
        let LegacyFactory::At(url) = &self.factory else {
            return false;
        };
        let host = url
            .split_once("://")
            .map_or(url.as_str(), |(_, rest)| rest)
            .split(['/', ':', '?'])
            .next()
            .unwrap_or_default();
        reserved_domain(host)
    }

    /// The settings a deployment cannot run with as committed: (key, what goes wrong, how to
    /// set it). A preview warns of each; `up` refuses.
    pub fn deployment_placeholders(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.ops_email_is_placeholder() {
            out.push((
                "opsEmail",
                format!(
                    "donut-states:opsEmail is {:?}, on a domain reserved for examples: every alarm \
                     would e-mail nobody. Set the on-call mailbox with `pulumi config set \
                     donut-states:opsEmail <address>` (then confirm the subscription e-mail AWS \
                     sends it).",
                    self.ops_email
                ),
            ));
        }
        if self.deployers.is_empty() {
            out.push((
                "deployerArns",
                "donut-states:deployerArns is not set: every secret of the stack denies all \
                 principals but its functions' roles, the break-glass role and the deployers, so \
                 the identity that runs `pulumi up` must be named or it cannot update or delete \
                 the secrets after the first update. Set it with `pulumi config set --path \
                 'donut-states:deployerArns[0]' arn:aws:iam::<account>:role/<the role you deploy \
                 with>` (docs/getting-started.md, step 3)."
                    .to_owned(),
            ));
        }
        if self.repository_url_is_placeholder() {
            out.push((
                "repositoryUrl",
                format!(
                    "donut-states:repositoryUrl is {:?}, on a domain reserved for examples: every \
                     alarm e-mail's runbook link would lead nowhere. Set where your copy of this \
                     repository is read, up to the branch, with `pulumi config set \
                     donut-states:repositoryUrl https://github.com/<owner>/<repo>/blob/main`.",
                    self.repository_url
                ),
            ));
        }
        if self.factory_url_is_placeholder() {
            out.push((
                "factoryUrl",
                format!(
                    "donut-states:factoryUrl is {:?}, on a domain reserved for examples: every \
                     stock-out would be retried into the DLQ. Set the legacy factory's address \
                     with `pulumi config set donut-states:factoryUrl https://<factory host>`.",
                    self.factory_url().unwrap_or_default()
                ),
            ));
        }
        out
    }

    /// How long a callback URL stays good.
    pub fn callback_token_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(3600 * u64::from(self.callback_token_hours))
    }

    /// [`open_order_deadline`] for this stage, in whole minutes (rounded up).
    pub fn open_order_deadline_minutes(&self) -> u64 {
        let minutes = |m: u32| std::time::Duration::from_secs(60 * u64::from(m));
        open_order_deadline(
            minutes(self.factory_deadline_minutes),
            self.queue.max_receive_count,
            std::time::Duration::from_secs(u64::from(self.queue.visibility_timeout_seconds)),
            minutes(self.relay_schedule_minutes),
        )
        .as_secs()
        .div_ceil(60)
    }

    /// The real factory's URL (none when the stage deploys the simulator).
    pub fn factory_url(&self) -> Option<&str> {
        match &self.factory {
            LegacyFactory::At(url) => Some(url),
            LegacyFactory::Simulator(_) => None,
        }
    }

    /// Scheme and port of the legacy factory (`https://host` → 443; the simulator's function
    /// URL is https).
    pub fn factory_endpoint(&self) -> Result<(&str, u16), String> {
        let LegacyFactory::At(url) = &self.factory else {
            return Ok(("https", 443));
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} is not a URL"))?;
        let default = match scheme {
            "https" => 443,
            "http" => 80,
            _ => return Err(format!("{scheme}:// is not http(s)")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        if host_port.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let port = match host_port.rsplit_once(':') {
            Some((_, port)) if !host_port.ends_with(']') => port
                .parse::<u16>()
                .map_err(|_| format!("{port:?} is not a port"))?,
            _ => default,
        };
        Ok((scheme, port))
    }

    /// Resource names are `<project>-<stage>-<what>`.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix())
    }

    /// `function`'s memory size, MB.
    pub fn memory_mb(&self, function: Function) -> u32 {
        match function {
            Function::SalesApi => self.sales_api_memory_mb,
            Function::WarehouseRestock => self.warehouse_restock_memory_mb,
            _ => self.lambda_memory_mb,
        }
    }

    /// The namespace of the metrics the functions emit (EMF): `DonutStates/<stage>`.
    pub fn metrics_namespace(&self) -> String {
        format!("DonutStates/{}", self.stage)
    }

    /// `<project>-<stage>`, the start of every AWS name. A stage (stack) name that would push
    /// names past AWS's limits, or that holds characters some names refuse (upper case for RDS,
    /// dots for SQS), is cut to [`MAX_PREFIX`] and made lower-case, with a hash of the whole so
    /// two such stacks stay apart; `dev` and `prod` keep their names.
    pub fn prefix(&self) -> String {
        let full = format!("{PROJECT}-{}", self.stage);
        let plain = self
            .stage
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if plain && full.len() <= MAX_PREFIX {
            return full;
        }
        let slug: String = self
            .stage
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .take(MAX_PREFIX - PROJECT.len() - 9)
            .collect();
        let hash = self.stage.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!(
            "{PROJECT}-{}-{:06x}",
            slug.trim_end_matches('-'),
            hash & 0xff_ffff
        )
    }
}

/// The plain `key → value` pairs of a stack file's `config:` map (secure values left out).
pub fn stack_file_values(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    let file_err = |problem: String| ConfigError::File {
        path: path.display().to_string(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let doc: serde_norway::Value =
        serde_norway::from_str(&text).map_err(|e| file_err(e.to_string()))?;
    let mut values = BTreeMap::new();
    if let Some(map) = doc.get("config").and_then(|c| c.as_mapping()) {
        for (k, v) in map {
            let (Some(k), Some(v)) = (k.as_str(), scalar(v)) else {
                continue;
            };
            values.insert(k.to_owned(), v);
        }
    }
    Ok(values)
}

/// A value as the engine hands it to the program (`PULUMI_CONFIG`): a scalar as its text, a
/// structured value (a list, an object: `pulumi config set --path`) as its JSON text.
fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        // A secure value (`secure: v1:…`) is the CLI's ciphertext: left out.
        serde_norway::Value::Mapping(m) if m.contains_key("secure") => None,
        serde_norway::Value::Sequence(_) | serde_norway::Value::Mapping(_) => {
            serde_json::to_string(v).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn both_stack_files_are_valid() {
        let dev = StageConfig::from_stack_file("dev", &root().join("Pulumi.dev.yaml")).unwrap();
        let prod = StageConfig::from_stack_file("prod", &root().join("Pulumi.prod.yaml")).unwrap();
        assert!(dev.seed_products && !prod.seed_products);
        assert!(prod.database.multi_az && prod.database.deletion_protection);
        assert!(dev.queue.max_receive_count >= 5);
        assert_eq!(dev.name("stock-out"), "donut-states-dev-stock-out");
    }

    #[test]
    fn long_or_odd_stack_names_make_short_lower_case_prefixes() {
        let named = |stage: &str| {
            StageConfig::from_values(stage, &dev_values())
                .unwrap()
                .prefix()
        };
        assert_eq!(named("dev"), "donut-states-dev");
        let long = "feature-checkout-redesign-for-q3-alice-x";
        assert_eq!(long.len(), 40);
        let p = named(long);
        assert!(p.len() <= MAX_PREFIX, "{p}");
        assert!(p.starts_with("donut-states-feature-ch"), "{p}");
        assert_ne!(
            p,
            named("feature-checkout-redesign-for-q3-alice-y"),
            "distinct"
        );
        let odd = named("Alice.Dev");
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{odd}"
        );
    }

    fn dev_values() -> BTreeMap<String, String> {
        stack_file_values(&root().join("Pulumi.dev.yaml")).unwrap()
    }

    #[test]
    fn a_missing_key_is_named() {
        let mut values = dev_values();
        values.remove("donut-states:opsEmail");
        assert_eq!(
            StageConfig::from_values("dev", &values).unwrap_err(),
            ConfigError::Missing("donut-states:opsEmail".into())
        );
    }

    #[test]
    fn bad_values_and_broken_rules_are_named() {
        let cases = [
            (
                "donut-states:maxQuantity",
                "ten",
                "donut-states:maxQuantity",
            ),
            ("donut-states:maxQuantity", "0", "donut-states:maxQuantity"),
            ("donut-states:dbMultiAz", "yes", "donut-states:dbMultiAz"),
            (
                "donut-states:maxReceiveCount",
                "3",
                "donut-states:maxReceiveCount",
            ),
            (
                "donut-states:visibilityTimeoutSeconds",
                "60",
                "donut-states:visibilityTimeoutSeconds",
            ),
            ("donut-states:opsEmail", "nobody", "donut-states:opsEmail"),
            (
                "donut-states:adminThrottleRate",
                "0",
                "donut-states:adminThrottleRate",
            ),
            (
                "donut-states:adminThrottleBurst",
                "5001",
                "donut-states:adminThrottleBurst",
            ),
            (
                "donut-states:factoryTimeoutMs",
                "20000",
                "donut-states:factoryTimeoutMs",
            ),
        ];
        for (key, value, named) in cases {
            let mut values = dev_values();
            values.insert(key.into(), value.into());
            let err = StageConfig::from_values("dev", &values)
                .unwrap_err()
                .to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }

    #[test]
    fn prod_refuses_unprotected_databases_and_seed_data() {
        let mut values = dev_values();
        values.insert("donut-states:dbMultiAz".into(), "true".into());
        values.insert("donut-states:dbDeletionProtection".into(), "true".into());
        values.insert("donut-states:factorySimulator".into(), "false".into());
        values.insert(
            "donut-states:factoryUrl".into(),
            "https://f.example.net".into(),
        );
        let err = StageConfig::from_values("prod", &values)
            .unwrap_err()
            .to_string();
        assert!(err.contains("seedProducts"), "{err}");
    }

    #[test]
    fn placeholder_mailboxes_are_recognised() {
        let mut config = StageConfig::from_values("dev", &dev_values()).unwrap();
        for (email, placeholder) in [
            ("ops-dev@donut-states.example", true),
            ("ops@example.com", true),
            ("ops@mail.example.org", true),
            ("ops@shop.test", true),
            ("ops@shop.invalid", true),
            ("ops@localhost", true),
            ("oncall@donut-states.com", false),
            ("oncall@examples.com", false),
        ] {
            config.ops_email = email.into();
            assert_eq!(config.ops_email_is_placeholder(), placeholder, "{email}");
        }
        for (url, placeholder) in [
            ("https://factory.dev.donut-states.example", true),
            ("https://factory.example.com:8443/api", true),
            ("http://localhost:8090", true),
            ("https://factory.legacy-bakery.net", false),
            ("https://factory.example-bakery.com/api", false),
        ] {
            config.factory = LegacyFactory::At(url.into());
            assert_eq!(config.factory_url_is_placeholder(), placeholder, "{url}");
        }
        config.factory = LegacyFactory::At("https://factory.dev.donut-states.example".into());
        config.deployers = vec!["arn:aws:iam::123456789012:role/deployer".into()];
        let keys = |config: &StageConfig| {
            config
                .deployment_placeholders()
                .iter()
                .map(|(key, _)| *key)
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&config), vec!["repositoryUrl", "factoryUrl"]);
        config.repository_url = "https://github.com/donut-shop/donut-states/blob/main".into();
        assert_eq!(keys(&config), vec!["factoryUrl"]);
    }

    /// `repositoryUrl` is where the runbooks are read: an https address without a query,
    /// fragment or trailing slash, so the alarms' links are `<it>/docs/operate.md#<anchor>`.
    #[test]
    fn the_repository_url_makes_the_runbook_links() {
        let with = |url: &str| {
            let mut values = dev_values();
            values.insert("donut-states:repositoryUrl".into(), url.into());
            StageConfig::from_values("dev", &values)
        };
        let config = with("https://github.com/donut-shop/donut-states/blob/main").unwrap();
        assert_eq!(
            config.runbook_url("dlq-depth"),
            "https://github.com/donut-shop/donut-states/blob/main/docs/operate.md#dlq-depth"
        );
        assert!(!config.repository_url_is_placeholder());
        for bad in [
            "http://github.com/donut-shop/donut-states",
            "github.com/donut-shop/donut-states",
            "https://github.com/donut-shop/donut-states/blob/main/",
            "https://github.com/donut-shop/donut-states?tab=readme",
            "https://github.com/donut-shop/donut-states#readme",
            "https:///blob/main",
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("donut-states:repositoryUrl"), "{bad}: {err}");
        }
        let mut values = dev_values();
        values.remove("donut-states:repositoryUrl");
        let err = StageConfig::from_values("dev", &values)
            .unwrap_err()
            .to_string();
        assert!(err.contains("donut-states:repositoryUrl"), "{err}");
    }

    #[test]
    fn the_factory_port_follows_the_url_and_prod_wants_https() {
        let mut config = StageConfig::from_values("dev", &dev_values()).unwrap();
        for (url, expected) in [
            ("https://factory.example", Ok(("https", 443))),
            ("http://factory.example/api", Ok(("http", 80))),
            ("https://factory.example:8443/x", Ok(("https", 8443))),
            ("ftp://factory.example", Err(())),
            ("https://", Err(())),
        ] {
            config.factory = LegacyFactory::At(url.into());
            assert_eq!(config.factory_endpoint().map_err(|_| ()), expected, "{url}");
        }
        // Dev deploys the simulator: a function URL, https.
        let dev = StageConfig::from_values("dev", &dev_values()).unwrap();
        assert!(matches!(dev.factory, LegacyFactory::Simulator(_)));
        assert_eq!(dev.factory_endpoint(), Ok(("https", 443)));
        assert!(
            dev.deployment_placeholders()
                .iter()
                .all(|(key, _)| *key != "factoryUrl")
        );
        let mut values = stack_file_values(&root().join("Pulumi.prod.yaml")).unwrap();
        values.insert(
            "donut-states:factoryUrl".into(),
            "http://factory.example".into(),
        );
        let err = StageConfig::from_values("prod", &values)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("donut-states:factoryUrl") && err.contains("https"),
            "{err}"
        );
    }

    /// A stage calls the real factory or deploys its simulator (with its knobs), never both,
    /// and prod never deploys it.
    #[test]
    fn the_factory_simulator_is_one_or_the_other_and_never_prod() {
        let mut values = dev_values();
        values.insert(
            "donut-states:factoryUrl".into(),
            "https://f.example.net".into(),
        );
        let err = StageConfig::from_values("dev", &values)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("donut-states:factoryUrl") && err.contains("not both"),
            "{err}"
        );
        let mut values = dev_values();
        values.insert("donut-states:factorySimFailPercent".into(), "101".into());
        let err = StageConfig::from_values("dev", &values)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("factorySimFailPercent") && err.contains("0..=100"),
            "{err}"
        );
        let mut values = dev_values();
        values.insert("donut-states:factorySimDelaySeconds".into(), "901".into());
        let err = StageConfig::from_values("dev", &values)
            .unwrap_err()
            .to_string();
        assert!(err.contains("factorySimDelaySeconds"), "{err}");
        let mut values = dev_values();
        values.remove("donut-states:factorySimHangPercent");
        let err = StageConfig::from_values("dev", &values)
            .unwrap_err()
            .to_string();
        assert!(err.contains("factorySimHangPercent"), "{err}");
        let mut values = stack_file_values(&root().join("Pulumi.prod.yaml")).unwrap();
        values.remove("donut-states:factoryUrl");
        for (key, value) in dev_values() {
            if key.contains("factorySim") {
                values.insert(key, value);
            }
        }
        let err = StageConfig::from_values("prod", &values)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("factorySimulator") && err.contains("prod calls the real factory"),
            "{err}"
        );
    }

    /// The release keys: dev goes all at once, prod takes a 10 % canary for 10 minutes; each
    /// key is range-checked and named, and a canary shorter than its alarms need is refused.
    #[test]
    fn release_settings_are_checked_and_named() {
        let dev = StageConfig::from_values("dev", &dev_values()).unwrap();
        assert!(dev.release.all_at_once());
        let prod = StageConfig::from_stack_file("prod", &root().join("Pulumi.prod.yaml")).unwrap();
        assert_eq!(
            prod.release,
            ReleaseConfig {
                canary_percent: 10,
                canary_minutes: 10,
                keep_versions: 3
            }
        );
        assert!((prod.release.canary_weight() - 0.1).abs() < 1e-9);
        for (key, value, says) in [
            ("canaryPercent", "51", "0..=50"),
            ("canaryPercent", "ten", "whole number"),
            ("canaryMinutes", "2", "at least 3"),
            ("canaryMinutes", "0", "1..=1440"),
            ("keepVersions", "1", "2..=100"),
        ] {
            let mut values = dev_values();
            values.insert(format!("donut-states:{key}"), value.into());
            let err = StageConfig::from_values("dev", &values)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("donut-states:{key}")) && err.contains(says),
                "{key}={value}: {err}"
            );
        }
        for key in ["canaryPercent", "canaryMinutes", "keepVersions"] {
            let mut values = dev_values();
            values.remove(&format!("donut-states:{key}"));
            assert_eq!(
                StageConfig::from_values("dev", &values).unwrap_err(),
                ConfigError::Missing(format!("donut-states:{key}"))
            );
        }
        let mut values = dev_values();
        values.insert("donut-states:canaryMinutes".into(), "3".into());
        values.insert("donut-states:canaryPercent".into(), "50".into());
        assert_eq!(
            StageConfig::from_values("dev", &values)
                .unwrap()
                .release
                .canary_percent,
            50
        );
    }

    #[test]
    fn alarm_and_secret_settings_are_checked() {
        for (key, value) in [
            ("donut-states:api5xxAlarmDatapoints", "6"),
            ("donut-states:dbFreeStorageAlarmGb", "20"),
            ("donut-states:secretRecoveryDays", "3"),
        ] {
            let mut values = dev_values();
            values.insert("donut-states:api5xxAlarmPeriods".into(), "5".into());
            values.insert(key.into(), value.into());
            let err = StageConfig::from_values("dev", &values)
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{key}={value}: {err}");
        }
    }

    /// The account's Lambda quota decides whether the functions reserve concurrency: a new
    /// account's 10 holds no reservation (Lambda keeps the whole quota unreserved), so nothing is
    /// reserved and the budget counts the quota; a quota between refuses the stage and names
    /// the quota to request.
    #[test]
    fn the_lambda_quota_decides_reservations_and_the_budget_still_holds() {
        let with_quota = |stage: &str, quota: &str| {
            let mut values =
                stack_file_values(&root().join(format!("Pulumi.{stage}.yaml"))).unwrap();
            values.insert("donut-states:lambdaConcurrencyQuota".into(), quota.into());
            StageConfig::from_values(stage, &values)
        };
        for stage in ["dev", "prod"] {
            let standard = with_quota(stage, "1000").unwrap();
            assert!(standard.reserves_concurrency(), "{stage}");
            assert_eq!(
                standard.declared_reservation(Function::FactoryRequester),
                Some(standard.queue.max_concurrency + 1),
                "{stage}: the requester reserves above its event source's maximum"
            );
            let new_account = with_quota(stage, "10").unwrap();
            assert!(!new_account.reserves_concurrency(), "{stage}");
            assert_eq!(new_account.declared_reservation(Function::SalesApi), None);
            let budget = new_account.connection_budget().unwrap();
            assert!(
                budget.worst_case <= budget.max_connections,
                "{stage}: {budget:?}"
            );
        }
        let dev = with_quota("dev", "1000").unwrap();
        let needed = dev.reserved_total() + 100;
        let err = with_quota("dev", "120").unwrap_err().to_string();
        assert!(
            err.contains("lambdaConcurrencyQuota")
                && err.contains(&format!("at least {needed}"))
                && err.contains("Concurrent executions"),
            "{err}"
        );
        assert!(
            with_quota("dev", &needed.to_string())
                .unwrap()
                .reserves_concurrency()
        );
    }

    #[test]
    fn the_connection_budget_holds_for_both_stages_and_refuses_more() {
        for stage in ["dev", "prod"] {
            let config =
                StageConfig::from_stack_file(stage, &root().join(format!("Pulumi.{stage}.yaml")))
                    .unwrap();
            let budget = config.connection_budget().unwrap();
            assert!(
                budget.worst_case <= budget.max_connections,
                "{stage}: {budget:?}"
            );
            println!(
                "{stage}: {} of {} connections ({})",
                budget.worst_case,
                budget.max_connections,
                budget
                    .functions
                    .iter()
                    .map(|(f, n, c)| format!("{} {n}×{c}", f.name()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let mut values = dev_values();
        values.insert("donut-states:salesApiConcurrency".into(), "60".into());
        let err = StageConfig::from_values("dev", &values)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("salesApiConcurrency") && err.contains("dbInstanceClass"),
            "{err}"
        );
        assert!(err.contains("allows 66"), "{err}");
        // A proxy bounds what the database sees, however many functions run.
        let mut values = dev_values();
        values.insert("donut-states:salesApiConcurrency".into(), "200".into());
        values.insert("donut-states:dbProxy".into(), "true".into());
        let budget = StageConfig::from_values("dev", &values)
            .unwrap()
            .connection_budget()
            .unwrap();
        assert_eq!(
            budget.worst_case,
            53 + 1 + 5,
            "80 % of 66, the migration, the headroom"
        );
        let mut values = dev_values();
        values.insert("donut-states:dbInstanceClass".into(), "db.x9.huge".into());
        let err = StageConfig::from_values("dev", &values)
            .unwrap_err()
            .to_string();
        assert!(err.contains("dbInstanceClass"), "{err}");
    }

    /// Who deploys (`deployerArns`): absent from the committed files, so a deployment is
    /// refused until it is set; a list of IAM principals as `aws:PrincipalArn` names them, read
    /// from the stack file's YAML list and from the engine's JSON text alike.
    #[test]
    fn deployers_are_iam_principals_and_a_deployment_needs_them() {
        let dev = StageConfig::from_values("dev", &dev_values()).unwrap();
        assert!(dev.deployers.is_empty());
        assert!(
            dev.deployment_placeholders()
                .iter()
                .any(|(key, problem)| *key == "deployerArns"
                    && problem.contains("pulumi config set --path 'donut-states:deployerArns[0]'"))
        );
        let with = |value: &str| {
            let mut values = dev_values();
            values.insert("donut-states:deployerArns".into(), value.into());
            StageConfig::from_values("dev", &values)
        };
        let ok = with(r#"["arn:aws:iam::123456789012:role/ci/deployer","arn:aws:iam::123456789012:user/alice","arn:aws:iam::123456789012:root"]"#)
            .unwrap();
        assert_eq!(ok.deployers.len(), 3);
        assert!(
            ok.deployment_placeholders()
                .iter()
                .all(|(key, _)| *key != "deployerArns")
        );
        for (value, says) in [
            (
                r#"["arn:aws:sts::123456789012:assumed-role/deployer/run-1"]"#,
                "arn:aws:iam::<account>:role/deployer",
            ),
            (r#"["arn:aws:iam::1234:role/x"]"#, "12 digits"),
            (r#"["arn:aws:s3:::bucket"]"#, "not an IAM ARN"),
            (r#"["arn:aws:iam::123456789012:policy/x"]"#, "names no role"),
            ("arn:aws:iam::123456789012:role/x", "must be a list"),
        ] {
            let err = with(value).unwrap_err().to_string();
            assert!(
                err.contains("donut-states:deployerArns") && err.contains(says),
                "{value}: {err}"
            );
        }
        // A YAML list in a stack file is read as the engine hands it over: JSON text.
        let dir = std::env::temp_dir().join(format!("donut-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("Pulumi.dev.yaml");
        let committed = std::fs::read_to_string(root().join("Pulumi.dev.yaml")).unwrap();
        std::fs::write(
            &file,
            format!(
                "{committed}  donut-states:deployerArns:\n    - arn:aws:iam::123456789012:role/deployer\n  donut-states:callbackSecret:\n    secure: v1:abc\n"
            ),
        )
        .unwrap();
        let values = stack_file_values(&file).unwrap();
        assert_eq!(
            values["donut-states:deployerArns"],
            r#"["arn:aws:iam::123456789012:role/deployer"]"#
        );
        assert!(
            !values.contains_key("donut-states:callbackSecret"),
            "secure values stay out"
        );
        let from_file = StageConfig::from_stack_file("dev", &file).unwrap();
        assert_eq!(
            from_file.deployers,
            ["arn:aws:iam::123456789012:role/deployer"]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// `buyerAuth`: absent in both committed stages; an object of an https issuer and at least
    /// one audience, as the stack file's YAML or the engine's JSON text; anything else refused,
    /// naming the key and what is wrong.
    #[test]
    fn a_buyer_authorizer_is_an_https_issuer_and_its_audiences() {
        let dev = StageConfig::from_values("dev", &dev_values()).unwrap();
        let prod = StageConfig::from_stack_file("prod", &root().join("Pulumi.prod.yaml")).unwrap();
        assert_eq!(dev.buyer_auth, None);
        assert_eq!(prod.buyer_auth, None);
        let with = |value: &str| {
            let mut values = dev_values();
            values.insert("donut-states:buyerAuth".into(), value.into());
            StageConfig::from_values("dev", &values)
        };
        let ok = with(
            r#"{"issuer":"https://auth.shop.example/realms/buyers","audience":["checkout","app"]}"#,
        )
        .unwrap();
        assert_eq!(
            ok.buyer_auth,
            Some(BuyerAuth {
                issuer: "https://auth.shop.example/realms/buyers".into(),
                audience: vec!["checkout".into(), "app".into()],
            })
        );
        for (value, says) in [
            (
                r#"{"issuer":"http://auth.shop.example","audience":["a"]}"#,
                "not an https URL",
            ),
            (r#"{"issuer":"https://","audience":["a"]}"#, "names no host"),
            (
                r#"{"issuer":"https://a.example/?x=1","audience":["a"]}"#,
                "query or fragment",
            ),
            (
                r#"{"issuer":"https://a.example","audience":[]}"#,
                "at least one audience",
            ),
            (
                r#"{"issuer":"https://a.example","audience":[""]}"#,
                "none empty",
            ),
            (r#"{"issuer":"https://a.example"}"#, "has no audience"),
            (r#"{"audience":["a"]}"#, "has no issuer"),
            (
                r#"{"issuer":"https://a.example","audiences":["a"]}"#,
                "member \"audiences\"",
            ),
            ("https://a.example", "must be an object"),
        ] {
            let err = with(value).unwrap_err().to_string();
            assert!(
                err.contains("donut-states:buyerAuth") && err.contains(says),
                "{value}: {err}"
            );
        }
    }

    /// The database's monitoring and log exports, the access logs' retention: per stage, from
    /// the stage's keys, checked against what AWS takes.
    #[test]
    fn monitoring_log_exports_and_access_log_retention_are_checked() {
        let dev = StageConfig::from_values("dev", &dev_values()).unwrap();
        let prod = StageConfig::from_stack_file("prod", &root().join("Pulumi.prod.yaml")).unwrap();
        assert_eq!(dev.database.monitoring_interval_seconds, 0);
        assert!(dev.database.log_exports.is_empty());
        assert!(dev.database.require_tls && prod.database.require_tls);
        assert!(!dev.vpc_flow_logs && prod.vpc_flow_logs);
        assert_eq!(prod.database.monitoring_interval_seconds, 60);
        assert_eq!(prod.database.log_exports, ["error", "slowquery"]);
        assert_eq!(prod.access_log_retention_days, 365);
        for (key, value, says) in [
            (
                "dbMonitoringIntervalSeconds",
                "20",
                "one of [0, 1, 5, 10, 15, 30, 60]",
            ),
            ("dbLogExports", "error,audit", "\"audit\" is not one of"),
            ("dbLogExports", "error,error", "twice"),
            (
                "accessLogRetentionDays",
                "100",
                "CloudWatch Logs keeps logs",
            ),
            ("vpcFlowLogs", "yes", "true or false"),
        ] {
            let mut values = dev_values();
            values.insert(format!("donut-states:{key}"), value.into());
            let err = StageConfig::from_values("dev", &values)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(key) && err.contains(says),
                "{key}={value}: {err}"
            );
        }
    }

    #[test]
    fn reads_the_engine_json_too() {
        let json = serde_json::to_string(&dev_values()).unwrap();
        assert_eq!(
            StageConfig::from_pulumi_config_json("dev", &json).unwrap(),
            StageConfig::from_stack_file("dev", &root().join("Pulumi.dev.yaml")).unwrap()
        );
    }
}
