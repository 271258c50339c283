//! The deploy preflight (`donut-cli --aws --stage <stage> preflight`, which `make deploy` runs
//! before anything is built or created): the account as it is, against what the stage will
//! reserve.
//!
//! Lambda refuses a reservation that would leave fewer than [`UNRESERVED_MINIMUM`] executions
//! unreserved, counting every function in the Region: other stages, other applications. So the
//! preflight reads `GetAccountSettings` (the quota and what is unreserved now) and what this
//! stage's own functions reserve today (a redeploy replaces their reservations, so those come
//! back to it), and decides with [`fit`], a pure function of those numbers. A refusal names the
//! quota to request, counting what other functions hold.

use std::fmt;

use donut_config::StageConfig;

/// Lambda keeps this many executions unreserved: "You can reserve up to the Unreserved account
/// concurrency value that is shown, minus 100 for functions that don't have reserved
/// concurrency" (Lambda developer guide, "Configuring reserved concurrency for a function",
/// <https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html>);
/// PutFunctionConcurrency answers "Specified ReservedConcurrentExecutions for function decreases
/// account's UnreservedConcurrentExecution below its minimum value of [100]."
pub const UNRESERVED_MINIMUM: u32 = 100;

/// The Service Quotas code of AWS Lambda's "Concurrent executions".
pub const QUOTA_CODE: &str = "L-B99A9384";

/// The account's Lambda concurrency in one Region, as `GetAccountSettings` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LambdaQuota {
    /// `AccountLimit.ConcurrentExecutions`: the Region's quota (1,000 by default; new accounts
    /// 10, sometimes 50).
    pub concurrent_executions: u32,
    /// `AccountLimit.UnreservedConcurrentExecutions`: what no function has reserved.
    pub unreserved: u32,
}

/// This stage's functions as they stand in the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnFunctions {
    /// Each deployed function (its kind, e.g. `sales-api`) and what it reserves now (0: none).
    /// Empty: nothing deployed yet.
    Deployed(Vec<(String, u32)>),
    /// Not known (the stack's outputs could not be read): counted as reserving nothing, which
    /// can only refuse more, never less.
    Unknown(String),
}

/// The account as it is, in the Region the stage deploys to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub region: String,
    pub quota: LambdaQuota,
    pub own: OwnFunctions,
}

impl Account {
    /// What this stage's functions reserve now.
    pub fn own_reserved(&self) -> u32 {
        match &self.own {
            OwnFunctions::Deployed(functions) => functions.iter().map(|(_, n)| n).sum(),
            OwnFunctions::Unknown(_) => 0,
        }
    }

    pub fn concurrency(&self) -> Concurrency {
        Concurrency {
            quota: self.quota.concurrent_executions,
            unreserved: self.quota.unreserved,
            own_reserved: self.own_reserved(),
        }
    }
}

/// The numbers the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// `AccountLimit.ConcurrentExecutions`.
    pub quota: u32,
    /// `AccountLimit.UnreservedConcurrentExecutions`.
    pub unreserved: u32,
    /// What this stage's own functions reserve today: the deploy replaces it, so it is the
    /// stage's to reserve again.
    pub own_reserved: u32,
}

impl Concurrency {
    /// What other functions reserve (another stage, other applications): out of reach.
    pub fn others_reserved(self) -> u32 {
        self.quota
            .saturating_sub(self.unreserved)
            .saturating_sub(self.own_reserved)
    }

    /// What the stage may reserve from: the unreserved executions and its own reservations.
    pub fn available(self) -> u32 {
        self.unreserved.saturating_add(self.own_reserved)
    }

    /// The quota that holds `planned` beside what others reserve, leaving the minimum.
    pub fn quota_needed(self, planned: u32) -> u32 {
        self.others_reserved()
            .saturating_add(planned)
            .saturating_add(UNRESERVED_MINIMUM)
    }
}

/// Whether the planned reservations fit the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Nothing is reserved: nothing to check.
    NothingReserved,
    /// They fit, leaving `left` (at least [`UNRESERVED_MINIMUM`]) unreserved.
    Fits { left: u32 },
    /// They do not: `left` would stay unreserved (fewer than the minimum, maybe below zero);
    /// a quota of `quota_needed` would hold them.
    Short { left: i64, quota_needed: u32 },
}

/// The decision: `planned` reservations in an account with `c`.
pub fn fit(c: Concurrency, planned: u32) -> Fit {
    if planned == 0 {
        return Fit::NothingReserved;
    }
    let left = i64::from(c.available()) - i64::from(planned);
    match u32::try_from(left) {
        Ok(left) if left >= UNRESERVED_MINIMUM => Fit::Fits { left },
        _ => Fit::Short {
            left,
            quota_needed: c.quota_needed(planned),
        },
    }
}

/// The stage cleared for this account: as it will deploy, and the report's lines.
#[derive(Debug, Clone)]
pub struct Cleared {
    pub stage: StageConfig,
    pub lines: Vec<String>,
}

/// Why the stage cannot deploy into this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The reservations would leave `left` unreserved, fewer than Lambda keeps.
    Reservations { left: i64 },
    /// The quota holds no reservation, and without reservations the stage config refuses the
    /// stage (its connection budget counts the whole quota): its words.
    Unreserved { problem: String },
    /// The stage config refuses the stage with this quota for another reason: its words.
    Config { problem: String },
}

/// A refused stage, with what would let it deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub stage: String,
    pub account: Account,
    /// What the stage reserves where the account can hold it.
    pub reservations: Vec<(&'static str, u32)>,
    pub reason: Reason,
    /// The quota to request (Service Quotas, [`QUOTA_CODE`]), when a quota is the answer.
    pub quota_needed: Option<u32>,
}

impl std::error::Error for Refusal {}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.account.concurrency();
        let stage = &self.stage;
        let planned: u32 = self.reservations.iter().map(|(_, n)| n).sum();
        writeln!(f, "{}", account_line(stage, &self.account))?;
        match &self.reason {
            Reason::Reservations { left } if *left >= 0 => writeln!(
                f,
                "{stage} reserves {}, which would leave {left} unreserved: Lambda refuses any \
                 reservation that leaves fewer than {UNRESERVED_MINIMUM}, so `pulumi up` would \
                 fail half way.",
                listed(&self.reservations)
            )?,
            Reason::Reservations { .. } => writeln!(
                f,
                "{stage} reserves {}, more than the {} it can reserve from, and Lambda keeps \
                 {UNRESERVED_MINIMUM} of those unreserved: `pulumi up` would fail half way.",
                listed(&self.reservations),
                c.available()
            )?,
            Reason::Unreserved { problem } => writeln!(
                f,
                "{stage} reserves {} where the account can hold it, and Lambda refuses any \
                 reservation that leaves fewer than {UNRESERVED_MINIMUM} unreserved: a quota of \
                 {} holds none. Without reservations the stage config refuses {stage}: {problem}",
                listed(&self.reservations),
                c.quota
            )?,
            Reason::Config { problem } => writeln!(f, "{problem}")?,
        }
        if let Some(needed) = self.quota_needed {
            writeln!(
                f,
                "Request a quota of at least {needed} ({} reserved by other functions + {planned} \
                 + {UNRESERVED_MINIMUM} unreserved): Service Quotas → AWS Lambda → \"Concurrent \
                 executions\" ({QUOTA_CODE}),\n  {}",
                c.others_reserved(),
                request_command(&self.account.region, needed)
            )?;
            if let Reason::Reservations { left } = self.reason {
                let others = c.others_reserved();
                let short = i64::from(UNRESERVED_MINIMUM) - left;
                if others > 0 && i64::from(others) >= short {
                    writeln!(
                        f,
                        "or have the other functions release {short} of the {others} they reserve."
                    )?;
                }
            }
        }
        if let OwnFunctions::Unknown(why) = &self.account.own {
            writeln!(
                f,
                "({stage}'s own functions were not counted: {why}. If the stack is deployed, pass \
                 --outputs with `pulumi stack output --json`: their reservations come back to it.)"
            )?;
        }
        Ok(())
    }
}

/// The preflight: `stage` checked in `account`. `Ok` holds the stage as it will deploy (the
/// stage config decides from the quota whether the functions reserve, and its connection
/// budget) and the report's lines; `Err` says why not and what to request.
pub fn preflight(stage: &StageConfig, account: &Account) -> Result<Cleared, Box<Refusal>> {
    let c = account.concurrency();
    let reservations = stage.reservations();
    let wanted: u32 = reservations.iter().map(|(_, n)| n).sum();
    let refusal = |reason, quota_needed| {
        Box::new(Refusal {
            stage: stage.stage.clone(),
            account: account.clone(),
            reservations: reservations.clone(),
            reason,
            quota_needed,
        })
    };
    let checked = match stage.clone().with_lambda_concurrency_quota(c.quota) {
        Ok(checked) => checked,
        Err(e) => {
            // A quota that cannot hold the reservations deploys without them, unless the stage
            // config refuses that (the connection budget counts the whole quota then).
            let holds_reservations =
                wanted + donut_config::capacity::unreserved_minimum(c.quota) <= c.quota;
            return Err(if holds_reservations {
                refusal(
                    Reason::Config {
                        problem: e.to_string(),
                    },
                    None,
                )
            } else {
                refusal(
                    Reason::Unreserved {
                        problem: e.to_string(),
                    },
                    Some(c.quota_needed(wanted)),
                )
            });
        }
    };
    let planned = if checked.reserves_concurrency() {
        checked.reserved_total()
    } else {
        0
    };
    let mut lines = vec![account_line(&stage.stage, account)];
    match fit(c, planned) {
        Fit::Short { left, quota_needed } => {
            return Err(refusal(Reason::Reservations { left }, Some(quota_needed)));
        }
        Fit::Fits { left } => lines.push(format!(
            "reserved concurrency: {}, leaving {left} unreserved (Lambda keeps at least \
             {UNRESERVED_MINIMUM})",
            listed(&reservations)
        )),
        Fit::NothingReserved => {
            let needed = c.quota_needed(wanted);
            lines.push(format!(
                "reserved concurrency: none. {} would reserve {}, and Lambda refuses any \
                 reservation that leaves fewer than {UNRESERVED_MINIMUM} unreserved: that takes \
                 a quota of at least {needed}. With {}, the functions share the account's \
                 unreserved executions with every other function, and the quota bounds how many \
                 instances run.",
                stage.stage,
                listed(&reservations),
                c.quota
            ));
            lines.push(format!(
                "to reserve, request a quota of at least {needed}: Service Quotas → AWS Lambda → \
                 \"Concurrent executions\" ({QUOTA_CODE}): {}",
                request_command(&account.region, needed)
            ));
        }
    }
    let budget = checked.connection_budget().map_err(|e| {
        refusal(
            Reason::Config {
                problem: e.to_string(),
            },
            None,
        )
    })?;
    lines.push(format!(
        "database connections, worst case: {} of {} ({})",
        budget.worst_case, budget.max_connections, stage.database.instance_class
    ));
    if let OwnFunctions::Unknown(why) = &account.own {
        lines.push(format!(
            "{}'s own functions were not counted ({why}): none assumed",
            stage.stage
        ));
    }
    Ok(Cleared {
        stage: checked,
        lines,
    })
}

/// The account in one line: quota, unreserved, who reserves the rest.
fn account_line(stage: &str, account: &Account) -> String {
    let c = account.concurrency();
    let own = match &account.own {
        OwnFunctions::Deployed(functions) if functions.is_empty() => "none deployed yet".to_owned(),
        OwnFunctions::Deployed(functions) => {
            let reserving: Vec<String> = functions
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(kind, n)| format!("{kind} {n}"))
                .collect();
            if reserving.is_empty() {
                format!("{} deployed, none reserving", functions.len())
            } else {
                format!(
                    "{} now ({}), which the deploy replaces",
                    c.own_reserved,
                    reserving.join(", ")
                )
            }
        }
        OwnFunctions::Unknown(_) => "not known".to_owned(),
    };
    format!(
        "Lambda in {}: a quota of {} concurrent executions, {} unreserved; other functions \
         reserve {}, {stage}'s own: {own}",
        account.region,
        c.quota,
        c.unreserved,
        c.others_reserved()
    )
}

/// `36 (sales-api 20, …)`.
fn listed(reservations: &[(&'static str, u32)]) -> String {
    let total: u32 = reservations.iter().map(|(_, n)| n).sum();
    let each: Vec<String> = reservations
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    format!("{total} ({})", each.join(", "))
}

/// The AWS CLI command that asks for `quota`.
pub fn request_command(region: &str, quota: u32) -> String {
    format!(
        "aws service-quotas request-service-quota-increase --region {region} --service-code \
         lambda --quota-code {QUOTA_CODE} --desired-value {quota}"
    )
}

/// Reading the account failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// `GetAccountSettings` failed: credentials, permission, Region.
    AccountSettings(String),
    /// It answered without a number the decision needs, or a negative one.
    Missing(&'static str),
    /// `GetFunctionConcurrency` failed for one of the stage's functions.
    FunctionConcurrency { function: String, problem: String },
}

impl std::error::Error for ReadError {}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::AccountSettings(problem) => write!(
                f,
                "lambda:GetAccountSettings failed (can these credentials read the account's \
                 quotas?): {problem}"
            ),
            ReadError::Missing(field) => {
                write!(f, "GetAccountSettings answered no usable {field}")
            }
            ReadError::FunctionConcurrency { function, problem } => write!(
                f,
                "lambda:GetFunctionConcurrency of {function} failed (can these credentials read \
                 it?): {problem}"
            ),
        }
    }
}

/// Reads the account's Lambda quota (one `GetAccountSettings` call; nothing is created).
pub async fn lambda_quota(lambda: &aws_sdk_lambda::Client) -> Result<LambdaQuota, ReadError> {
    let settings = lambda.get_account_settings().send().await.map_err(|e| {
        ReadError::AccountSettings(aws_sdk_lambda::error::DisplayErrorContext(&e).to_string())
    })?;
    let limit = settings
        .account_limit
        .ok_or(ReadError::Missing("AccountLimit"))?;
    Ok(LambdaQuota {
        concurrent_executions: u32::try_from(limit.concurrent_executions)
            .map_err(|_| ReadError::Missing("AccountLimit.ConcurrentExecutions"))?,
        unreserved: limit
            .unreserved_concurrent_executions
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(ReadError::Missing(
                "AccountLimit.UnreservedConcurrentExecutions",
            ))?,
    })
}

/// What each of `functions` (kind, function name) reserves now; a function that no longer
/// exists is left out.
pub async fn own_reservations(
    lambda: &aws_sdk_lambda::Client,
    functions: &[(String, String)],
) -> Result<Vec<(String, u32)>, ReadError> {
    let mut out = Vec::new();
    for (kind, name) in functions {
        match lambda
            .get_function_concurrency()
            .function_name(name)
            .send()
            .await
        {
            Ok(reply) => out.push((
                kind.clone(),
                reply
                    .reserved_concurrent_executions()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => {
                return Err(ReadError::FunctionConcurrency {
                    function: name.clone(),
                    problem: aws_sdk_lambda::error::DisplayErrorContext(&e).to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// The account as it is: the quota, and what the stage's deployed functions reserve.
/// `functions`: the stage's functions by the stack's outputs (kind, name), or why they are not
/// known.
pub async fn read_account(
    lambda: &aws_sdk_lambda::Client,
    region: &str,
    functions: Result<Vec<(String, String)>, String>,
) -> Result<Account, ReadError> {
    let quota = lambda_quota(lambda).await?;
    let own = match functions {
        Ok(functions) => OwnFunctions::Deployed(own_reservations(lambda, &functions).await?),
        Err(why) => OwnFunctions::Unknown(why),
    };
    Ok(Account {
        region: region.to_owned(),
        quota,
        own,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(quota: u32, unreserved: u32, own_reserved: u32) -> Concurrency {
        Concurrency {
            quota,
            unreserved,
            own_reserved,
        }
    }

    #[test]
    fn reservations_fit_when_the_minimum_stays_unreserved() {
        // A standard account, nothing reserved yet: 36 leave 964.
        assert_eq!(fit(c(1000, 1000, 0), 36), Fit::Fits { left: 964 });
        // Exactly the minimum left is allowed; one more is not.
        assert_eq!(fit(c(136, 136, 0), 36), Fit::Fits { left: 100 });
        assert_eq!(
            fit(c(135, 135, 0), 36),
            Fit::Short {
                left: 99,
                quota_needed: 136
            }
        );
        // Nothing to reserve: nothing to check, whatever the account.
        assert_eq!(fit(c(10, 10, 0), 0), Fit::NothingReserved);
        assert_eq!(fit(c(1000, 0, 0), 0), Fit::NothingReserved);
    }

    #[test]
    fn other_functions_reservations_count_and_the_quota_to_request_adds_them() {
        // Another function reserves 880 of 1000: 120 unreserved, 36 would leave 84.
        let account = c(1000, 120, 0);
        assert_eq!(account.others_reserved(), 880);
        assert_eq!(
            fit(account, 36),
            Fit::Short {
                left: 84,
                quota_needed: 1016
            }
        );
        // 900 of 1000 reserved elsewhere: 100 unreserved, nothing can be reserved.
        assert_eq!(
            fit(c(1000, 100, 0), 36),
            Fit::Short {
                left: 64,
                quota_needed: 1036
            }
        );
        // More than is unreserved at all: a negative remainder, the same rule.
        assert_eq!(
            fit(c(1000, 20, 0), 36),
            Fit::Short {
                left: -16,
                quota_needed: 1116
            }
        );
        // The other stage (prod's 89) in the same account: dev still fits.
        assert_eq!(fit(c(1000, 911, 0), 36), Fit::Fits { left: 875 });
    }

    #[test]
    fn a_redeploy_gets_its_own_reservations_back() {
        // dev already reserves its 36: 964 unreserved, and the same 36 again leave 964.
        let redeploy = c(1000, 964, 36);
        assert_eq!(redeploy.others_reserved(), 0);
        assert_eq!(fit(redeploy, 36), Fit::Fits { left: 964 });
        // 880 elsewhere and dev's 36: 84 unreserved now, still 84 after (replaced, not added).
        let crowded = c(1000, 84, 36);
        assert_eq!(crowded.others_reserved(), 880);
        assert_eq!(
            fit(crowded, 36),
            Fit::Short {
                left: 84,
                quota_needed: 1016
            }
        );
        // Growing from 36 to 60 with 880 elsewhere: 1040 needed.
        assert_eq!(
            fit(crowded, 60),
            Fit::Short {
                left: 60,
                quota_needed: 1040
            }
        );
        // A read that does not add up (own reservations above what is reserved at all) never
        // makes others negative.
        assert_eq!(c(1000, 1000, 36).others_reserved(), 0);
    }

    #[test]
    fn new_accounts_quota_holds_no_reservation() {
        for quota in [10, 50] {
            assert_eq!(
                fit(c(quota, quota, 0), 36),
                Fit::Short {
                    left: i64::from(quota) - 36,
                    quota_needed: 136
                },
                "{quota}"
            );
        }
    }
}
