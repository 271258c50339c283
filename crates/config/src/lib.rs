//! Per-stage settings of Donut-States.
//!
//! One source of truth: `Pulumi.<stage>.yaml`. The Pulumi program reads them from the engine
//! (`PULUMI_CONFIG`, the same keys), the local stack from the file; both go through
//! [`StageConfig::from_values`], so a bad or missing key fails the same way, naming the key.

pub mod routes;

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageConfig {
    pub stage: String,
    pub region: String,
    pub ops_email: String,
    pub max_quantity: u32,
    pub max_body_bytes: u32,
    pub queue: QueueConfig,
    pub factory_url: String,
    pub factory_timeout_ms: u32,
    /// A factory order accepted this long ago without a callback is asked again.
    pub factory_deadline_minutes: u32,
    /// Requests per factory order before ops are alerted instead.
    pub factory_max_attempts: u32,
    pub relay_schedule_minutes: u32,
    pub dlq_alarm_threshold: u32,
    /// Factory calls failing per alarm period before ops are told.
    pub factory_failure_alarm_threshold: u32,
    /// p90 of stock-out → restock, in minutes, above which ops are told.
    pub restock_latency_alarm_minutes: u32,
    pub alarm_period_seconds: u32,
    pub database: DatabaseConfig,
    pub lambda_memory_mb: u32,
    pub seed_products: bool,
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
            max_quantity: v.number("maxQuantity", 1..=1000)?,
            max_body_bytes: v.number("maxBodyBytes", 256..=1_048_576)?,
            queue: QueueConfig {
                visibility_timeout_seconds: v.number("visibilityTimeoutSeconds", 1..=43_200)?,
                max_receive_count: v.number("maxReceiveCount", 1..=1000)?,
                dlq_retention_days: v.number("dlqRetentionDays", 1..=14)?,
                batch_size: v.number("batchSize", 1..=10)?,
                max_concurrency: v.number("maxConcurrency", 2..=1000)?,
                requester_timeout_seconds: v.number("requesterTimeoutSeconds", 1..=900)?,
            },
            factory_url: v.string("factoryUrl")?,
            factory_timeout_ms: v.number("factoryTimeoutMs", 100..=60_000)?,
            factory_deadline_minutes: v.number("factoryDeadlineMinutes", 1..=10_080)?,
            factory_max_attempts: v.number("factoryMaxAttempts", 1..=20)?,
            relay_schedule_minutes: v.number("relayScheduleMinutes", 1..=60)?,
            dlq_alarm_threshold: v.number("dlqAlarmThreshold", 1..=1000)?,
            factory_failure_alarm_threshold: v
                .number("factoryFailureAlarmThreshold", 1..=10_000)?,
            restock_latency_alarm_minutes: v.number("restockLatencyAlarmMinutes", 1..=10_080)?,
            alarm_period_seconds: v.number("alarmPeriodSeconds", 10..=86_400)?,
            database: DatabaseConfig {
                instance_class: v.string("dbInstanceClass")?,
                allocated_storage_gb: v.number("dbAllocatedStorageGb", 20..=65_536)?,
                multi_az: v.flag("dbMultiAz")?,
                deletion_protection: v.flag("dbDeletionProtection")?,
                backup_retention_days: v.number("dbBackupRetentionDays", 0..=35)?,
            },
            lambda_memory_mb: v.number("lambdaMemoryMb", 128..=10_240)?,
            seed_products: v.flag("seedProducts")?,
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
        if q.visibility_timeout_seconds < 6 * q.requester_timeout_seconds {
            return Err(rule(
                "visibilityTimeoutSeconds",
                format!(
                    "must be at least 6 × requesterTimeoutSeconds ({} s), is {} s",
                    6 * q.requester_timeout_seconds,
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
        if !(self.factory_url.starts_with("https://") || self.factory_url.starts_with("http://")) {
            return Err(rule("factoryUrl", "must be an http(s) URL".into()));
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

    /// Resource names are `<project>-<stage>-<what>`.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix())
    }

    /// The namespace of the metrics the functions emit (EMF): `DonutStates/<stage>`.
    pub fn metrics_namespace(&self) -> String {
        format!("DonutStates/{}", self.stage)
    }

    /// `<project>-<stage>`.
    pub fn prefix(&self) -> String {
        format!("{PROJECT}-{}", self.stage)
    }
}

/// AWS documents that both the Pulumi program and the local stack's provisioning declare,
/// written once so the two cannot drift.
pub mod aws {
    use serde_json::{Value, json};

    /// The factory-orders queue's redrive policy.
    pub fn redrive_policy(dlq_arn: &str, max_receive_count: u32) -> String {
        json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count }).to_string()
    }

    /// The factory-orders queue's policy: only the stock-out topic may send to it.
    pub fn stock_out_queue_policy(queue_arn: &str, topic_arn: &str) -> String {
        let statement: Value = json!({
            "Sid": "stock-out-topic-only",
            "Effect": "Allow",
            "Principal": { "Service": "sns.amazonaws.com" },
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": { "ArnEquals": { "aws:SourceArn": topic_arn } }
        });
        json!({ "Version": "2012-10-17", "Statement": [statement] }).to_string()
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

fn scalar(v: &serde_norway::Value) -> Option<String> {
    match v {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
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
        let err = StageConfig::from_values("prod", &values)
            .unwrap_err()
            .to_string();
        assert!(err.contains("seedProducts"), "{err}");
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
