//! The functions and the database's connection budget.
//!
//! On Lambda every instance serves one event at a time and keeps its own connections, so the
//! most connections a stage can open is, per function, its reserved concurrency × the
//! connections one instance holds — plus the migration and an operator's headroom. The stage
//! is refused when that exceeds what its instance class allows ([`max_connections`]), so the
//! database is never the first thing to fall over (docs/deploy.md, "Connection budget").

use crate::{ConfigError, Function, PROJECT, StageConfig};

/// `max_connections` of RDS MySQL's default parameter group, `{DBInstanceClassMemory/12582880}`,
/// for the classes a stage may use (DBInstanceClassMemory is the class's memory less what RDS
/// keeps for itself; these are the values RDS reports). `None`: a class we do not size for.
pub fn max_connections(instance_class: &str) -> Option<u32> {
    Some(match instance_class {
        "db.t4g.micro" => 66,
        "db.t4g.small" => 150,
        "db.t4g.medium" => 312,
        "db.t4g.large" => 648,
        "db.m7g.large" => 648,
        "db.m7g.xlarge" => 1320,
        _ => return None,
    })
}

/// The stage's worst case against its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    /// Per function: (instances at once, connections per instance).
    pub functions: Vec<(Function, u32, u32)>,
    pub headroom: u32,
    /// Σ concurrency × connections + headroom.
    pub worst_case: u32,
    pub max_connections: u32,
}

/// The most callbacks the simulator's delay queue invokes it for at once (the event source
/// mapping's `maximumConcurrency`, whose least is 2).
pub const SIMULATOR_CALLBACK_CONCURRENCY: u32 = 2;

/// The deployed simulator's timeout: a callback batch (its POSTs made at once, each bounded to
/// 10 s; a duplicate's two one after the other) fits with room to spare. The local stack's
/// function URL holds an instance at most this long, as Lambda does.
pub const SIMULATOR_TIMEOUT_SECONDS: u32 = 60;

/// The operators' function's instances: operators are few and their tools call one request
/// at a time (`donut-cli catalogue apply` too); a second instance serves a second operator.
pub const ADMIN_API_CONCURRENCY: u32 = 2;

/// What Lambda keeps unreserved in an account: 100, or the whole quota when it is lower
/// ("as long as you leave at least 100 simultaneous executions unreserved",
/// PutFunctionConcurrency; accounts with a lower quota are refused any reservation).
pub fn unreserved_minimum(quota: u32) -> u32 {
    quota.min(100)
}

impl StageConfig {
    /// Instances of `function` that may run at once (its reserved concurrency). The scheduled
    /// functions and the migration are single. The requester reserves one more than its event
    /// source's maximum concurrency: with no more than the maximum, Lambda throttles deliveries
    /// the event source already took, and throttled messages count toward `maxReceiveCount`
    /// (Lambda developer guide, "Configuring scaling behavior for SQS event source mappings").
    pub fn reserved_concurrency(&self, function: Function) -> u32 {
        let c = &self.capacity;
        match function {
            Function::SalesApi => c.sales_api_concurrency,
            Function::WarehouseRestock => c.restock_concurrency,
            Function::FactoryRequester => self.queue.max_concurrency + 1,
            Function::OutboxRelay | Function::Migrate | Function::FactoryWatchdog => 1,
            Function::AdminApi => ADMIN_API_CONCURRENCY,
        }
    }

    /// Instances of `function` that can hold connections at once: its reservation, except the
    /// requester, whose event source invokes at most `maxConcurrency` instances (its extra
    /// reserved instance only absorbs the scaling overlap).
    pub fn max_instances(&self, function: Function) -> u32 {
        match function {
            Function::FactoryRequester => self.queue.max_concurrency,
            other => self.reserved_concurrency(other),
        }
    }

    /// The factory simulator's reservation, in a stage that deploys it: the requester's and the
    /// watchdog's calls at once, and the callbacks its delay queue's mapping brings
    /// ([`SIMULATOR_CALLBACK_CONCURRENCY`]). Bounded, nothing that reaches it can take the
    /// account's concurrency from the functions that sell; and its function URL is
    /// IAM-authorized, so a stranger's requests are refused before they take an instance.
    pub fn simulator_reservation(&self) -> Option<u32> {
        matches!(self.factory, crate::LegacyFactory::Simulator(_))
            .then(|| self.queue.max_concurrency + 1 + SIMULATOR_CALLBACK_CONCURRENCY)
    }

    /// Every reservation the stage wants, by the function's name: each function's, and the
    /// simulator's where the stage deploys it.
    pub fn reservations(&self) -> Vec<(&'static str, u32)> {
        Function::ALL
            .iter()
            .map(|f| (f.name(), self.reserved_concurrency(*f)))
            .chain(
                self.simulator_reservation()
                    .map(|n| (crate::functions::FACTORY_SIMULATOR, n)),
            )
            .collect()
    }

    /// Every reservation together.
    pub fn reserved_total(&self) -> u32 {
        self.reservations().iter().map(|(_, n)| n).sum()
    }

    /// Whether the account can hold the reservations: Lambda refuses any that leaves less than
    /// [`unreserved_minimum`] unreserved. When it cannot (a new account's quota of 10), the
    /// functions reserve nothing; then the quota itself bounds how many instances run, and the
    /// budget counts it.
    pub fn reserves_concurrency(&self) -> bool {
        let quota = self.capacity.lambda_concurrency_quota;
        self.reserved_total() + unreserved_minimum(quota) <= quota
    }

    /// The reservation the infra declares for `function` (`None`: unreserved).
    pub fn declared_reservation(&self, function: Function) -> Option<u32> {
        self.reserves_concurrency()
            .then(|| self.reserved_concurrency(function))
    }

    /// The reservation the infra declares for the simulator (`None`: unreserved, or none
    /// deployed).
    pub fn declared_simulator_reservation(&self) -> Option<u32> {
        self.reserves_concurrency()
            .then(|| self.simulator_reservation())
            .flatten()
    }

    /// Connections one instance of `function` may hold: one per event it serves at once — the
    /// requester handles a batch's messages together.
    pub fn db_connections_per_instance(&self, function: Function) -> u32 {
        match function {
            Function::FactoryRequester => self.queue.batch_size,
            _ => 1,
        }
    }

    pub fn connection_budget(&self) -> Result<Budget, ConfigError> {
        let class = &self.database.instance_class;
        let max_connections = max_connections(class).ok_or_else(|| ConfigError::Rule {
            key: format!("{PROJECT}:dbInstanceClass"),
            problem: format!(
                "{class} has no connection limit on record; use one of db.t4g.micro/small/medium/large, db.m7g.large/xlarge"
            ),
        })?;
        let functions: Vec<_> = Function::ALL
            .iter()
            .map(|f| {
                (
                    *f,
                    self.max_instances(*f),
                    self.db_connections_per_instance(*f),
                )
            })
            .collect();
        let headroom = self.capacity.db_connection_headroom;
        let worst_case = if !self.reserves_concurrency() && !self.database.proxy {
            // Nothing reserved: at most the quota's instances run, each holding what the
            // hungriest function holds — except the requester, which its event source keeps
            // to its maximum concurrency.
            let quota = self.capacity.lambda_concurrency_quota;
            let requester = self.queue.max_concurrency.min(quota)
                * self.db_connections_per_instance(Function::FactoryRequester);
            requester + quota + headroom
        } else if self.database.proxy {
            // The functions connect to the proxy; the database sees at most the proxy's share,
            // plus the migration (which connects directly).
            (max_connections * self.database.proxy_max_connections_percent).div_ceil(100)
                + self.reserved_concurrency(Function::Migrate)
                + headroom
        } else {
            functions.iter().map(|(_, n, c)| n * c).sum::<u32>() + headroom
        };
        Ok(Budget {
            functions,
            headroom,
            worst_case,
            max_connections,
        })
    }

    /// Refuses a stage whose worst case exceeds its instance class's connections.
    pub(crate) fn check_connection_budget(&self) -> Result<(), ConfigError> {
        let budget = self.connection_budget()?;
        if budget.worst_case > budget.max_connections && !self.reserves_concurrency() {
            let quota = self.capacity.lambda_concurrency_quota;
            return Err(ConfigError::Rule {
                key: format!("{PROJECT}:lambdaConcurrencyQuota"),
                problem: format!(
                    "the account's Lambda concurrency quota ({quota}) cannot hold the functions' \
                     reservations ({} + {} that Lambda keeps unreserved), so nothing is reserved and \
                     up to {quota} instances may connect: {} connections, but {} allows {}. Request \
                     a quota of at least {} (Service Quotas, AWS Lambda, \"Concurrent executions\"), \
                     or put {PROJECT}:dbProxy in front",
                    self.reserved_total(),
                    unreserved_minimum(quota),
                    budget.worst_case,
                    self.database.instance_class,
                    budget.max_connections,
                    self.reserved_total() + 100
                ),
            });
        }
        if budget.worst_case > budget.max_connections {
            let terms: Vec<String> = budget
                .functions
                .iter()
                .filter(|(_, n, c)| n * c > 1)
                .map(|(f, n, c)| format!("{} {n}×{c}", f.name()))
                .collect();
            return Err(ConfigError::Rule {
                key: format!("{PROJECT}:salesApiConcurrency"),
                problem: format!(
                    "the worst case is {} connections ({} + headroom {}) but {} allows {}: lower \
                     {PROJECT}:salesApiConcurrency, restockConcurrency, maxConcurrency, batchSize or \
                     dbConnectionHeadroom (or dbProxyMaxConnectionsPercent with dbProxy), or choose \
                     a larger {PROJECT}:dbInstanceClass or put {PROJECT}:dbProxy in front",
                    budget.worst_case,
                    terms.join(" + "),
                    budget.headroom,
                    self.database.instance_class,
                    budget.max_connections
                ),
            });
        }
        Ok(())
    }
}
