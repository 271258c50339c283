//! Gradual deploys: which functions are released through a `live` alias, how a stage releases
//! them (`canaryPercent`, `canaryMinutes`, `keepVersions`), and the stack output the rollout
//! tool reads ([`Release`], under `donut_config::outputs::RELEASES`).
//!
//! The infra program publishes a version of each aliased function on every code or
//! configuration change and creates its alias at the first version; from then on only the
//! rollout tool moves the alias (its `functionVersion` and `routingConfig` are the provider's
//! `ignoreChanges`), so every trigger — the API integrations and their permissions, the
//! factory-requester's event source mapping — reaches whatever version the alias names.

use serde::{Deserialize, Serialize};

use crate::Function;

/// The alias every trigger of an aliased function invokes.
pub const ALIAS: &str = "live";

/// The functions released through [`ALIAS`]: what buyers and the factory reach (the API's and
/// the lane's functions, the queue's consumer). The others stay all at once, on `$LATEST`:
/// - `outbox-relay` and `factory-watchdog` run on a schedule, one run per period: a share of
///   runs on a new version would sweep the same outbox and orders as the old one, so a canary
///   splits nothing that one bad run would not already show, and the next period retries;
/// - `admin-api` serves a few operators, who see a failing release at once and can redeploy,
///   and its failures harm no buyer;
/// - `migrate` runs once per deploy, before both versions serve (it must leave the previous
///   release's procedures and columns callable); there is nothing to split.
pub const ALIASED: [Function; 3] = [
    Function::SalesApi,
    Function::WarehouseRestock,
    Function::FactoryRequester,
];

/// Whether `function` is released through [`ALIAS`].
pub fn is_aliased(function: Function) -> bool {
    ALIASED.contains(&function)
}

/// The canary alarms' period: CloudWatch's shortest for standard-resolution metrics (Lambda's
/// own metrics are published once a minute).
pub const CANARY_ALARM_PERIOD_SECONDS: u32 = 60;

/// Periods a canary alarm evaluates (and must breach in): one, so a single bad minute of the
/// new version stops the rollout.
pub const CANARY_ALARM_PERIODS: u32 = 1;

/// Minutes a metric datapoint may take to reach CloudWatch and an alarm to evaluate it after
/// its period ends: Lambda sends its metrics and the functions' EMF lines arrive through
/// CloudWatch Logs, each a minute or more late, and alarms evaluate once a minute.
pub const CANARY_ALARM_LAG_MINUTES: u32 = 2;

/// The shortest `canaryMinutes`: the canary alarms' evaluation window plus the lag, so an alarm
/// has seen every minute of the canary's share before it is promoted.
pub const fn min_canary_minutes() -> u32 {
    (CANARY_ALARM_PERIOD_SECONDS * CANARY_ALARM_PERIODS).div_ceil(60) + CANARY_ALARM_LAG_MINUTES
}

/// How a stage releases its aliased functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseConfig {
    /// The share (percent) of the alias's invocations the new version takes first; 0: all at
    /// once. Otherwise 1..=50.
    pub canary_percent: u32,
    /// How long the canary share is held before the new version takes all of it; at least
    /// [`min_canary_minutes`].
    pub canary_minutes: u32,
    /// Published versions kept per function (the rollout tool deletes older ones); at least 2:
    /// the version serving and the one a rollback returns to.
    pub keep_versions: u32,
}

impl ReleaseConfig {
    /// Whether a release goes out all at once.
    pub fn all_at_once(&self) -> bool {
        self.canary_percent == 0
    }

    /// The canary's share as the alias's `routingConfig` weight (0.0..=1.0).
    pub fn canary_weight(&self) -> f64 {
        f64::from(self.canary_percent) / 100.0
    }
}

/// One function's entry in the `releases` stack output: what the rollout tool moves the alias
/// of, to which version, watching which alarms, at which pace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Release {
    /// The function's AWS name.
    pub function_name: String,
    /// Always [`ALIAS`].
    pub alias: String,
    /// The version this deployment published: the one to release.
    pub version: String,
    /// The alarms scoped to that version: any in ALARM stops and rolls back the release.
    pub canary_alarms: Vec<String>,
    pub canary_percent: u32,
    pub canary_minutes: u32,
    pub keep_versions: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_aliased_functions_are_those_buyers_and_the_factory_reach() {
        for function in Function::ALL {
            assert_eq!(
                is_aliased(function),
                matches!(
                    function,
                    Function::SalesApi | Function::WarehouseRestock | Function::FactoryRequester
                ),
                "{function:?}"
            );
        }
        assert_eq!(min_canary_minutes(), 3);
    }

    #[test]
    fn a_release_reads_as_the_output_names_it() {
        let json = serde_json::json!({
            "functionName": "donut-states-prod-sales-api-1a2b3c4",
            "alias": "live",
            "version": "7",
            "canaryAlarms": ["a", "b"],
            "canaryPercent": 10,
            "canaryMinutes": 10,
            "keepVersions": 3
        });
        let release: Release = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(release.version, "7");
        assert_eq!(serde_json::to_value(&release).unwrap(), json);
        let mut misspelt = json;
        misspelt["canaryPercnt"] = 5.into();
        assert!(serde_json::from_value::<Release>(misspelt).is_err());
    }
}
