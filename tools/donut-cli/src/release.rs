//! `donut-cli release`: a release's gradual switch-over, by the weights of each function's
//! `live` alias (every trigger of the function points at the alias, so the alias is the one
//! switch).
//!
//! For each function of the stack output `releases` (`pulumi stack output --json releases`):
//! if its alias already serves the release's version, there is nothing to do; else the alias
//! routes `canaryPercent` % of the invocations to the new version (0 %: straight to it), the
//! canary alarms (scoped to the new version: its own errors, never the previous version's) are
//! watched every few seconds for `canaryMinutes`, and then the new version is promoted (the
//! alias's version, routing removed) — or, at the first canary alarm in ALARM, rolled back
//! (routing removed, the alias's version unchanged). Old versions beyond `keepVersions` are then
//! deleted, never one the alias names.
//!
//! The tool keeps no state of its own: the alias is the state. Each switch is one `UpdateAlias`
//! that also writes what the tool did into the alias's description (`donut-release: canary 7
//! since <unix seconds>`, `… rolled back 7: <why>`, `… live 7`). A re-run after a crash reads it
//! back: a canary in progress is watched for what remains of its hold (the start is in the
//! description; when it cannot be read, the hold starts again, never shorter than configured);
//! a version rolled back stays rolled back (exit 3 again) until `--retry`; a rollback is one
//! call, retried until it is through.
//!
//! The decision is [`next`], a pure function of what was read; [`roll_out`] reads, decides and
//! acts through the [`Lambda`] and [`Watch`] ports ([`aws`]: the SDK's Lambda and CloudWatch).

use std::time::Duration;

/// What the stack output `releases` says of one function (keyed by `donut_contract::Function`'s
/// name: `sales-api`, `warehouse-restock`, `factory-requester`): the type the infra program
/// writes it with.
pub use donut_config::release::Release;

/// The stack output `releases`: each function's [`Release`], by name.
pub type Releases = std::collections::BTreeMap<String, Release>;

/// Parses and checks the `releases` output.
pub fn parse_releases(json: &serde_json::Value) -> anyhow::Result<Releases> {
    let releases: Releases = serde_json::from_value(json.clone())
        .map_err(|e| anyhow::anyhow!("the `releases` output is not what this tool reads: {e}"))?;
    for (name, r) in &releases {
        anyhow::ensure!(
            numeric(&r.version).is_some(),
            "{name}: version {:?} is not a published version (a number; never $LATEST)",
            r.version
        );
        anyhow::ensure!(
            r.canary_percent <= 50,
            "{name}: canaryPercent {} is over 50",
            r.canary_percent
        );
        anyhow::ensure!(
            r.keep_versions >= 2,
            "{name}: keepVersions {} is under 2",
            r.keep_versions
        );
        anyhow::ensure!(
            r.canary_percent == 0 || !r.canary_alarms.is_empty(),
            "{name}: a canary without alarms cannot be stopped"
        );
    }
    Ok(releases)
}

/// An alias as `GetAlias` reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    /// The version the alias invokes (the rest of the share).
    pub primary: String,
    /// `RoutingConfig.AdditionalVersionWeights`: at most one version, with its share (0..1).
    pub routing: Option<(String, f64)>,
    pub description: String,
    /// For `UpdateAlias`'s `RevisionId`: a change by someone else meanwhile refuses ours.
    pub revision_id: Option<String>,
}

/// What the tool wrote into the alias's description last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    /// A canary of `version` started at `since` (unix seconds).
    Canary { version: String, since: u64 },
    /// `version` was rolled back, for `why`.
    RolledBack { version: String, why: String },
    /// `version` was promoted (or went all at once).
    Live { version: String },
    /// Anything else (the program's description, a hand-made change).
    Unknown,
}

const MARK: &str = "donut-release: ";
/// Lambda's limit on an alias's description (AWS Lambda API reference, UpdateAlias:
/// "Description … Length Constraints: Minimum length of 0. Maximum length of 256.").
const DESCRIPTION_MAX: usize = 256;

impl Mark {
    pub fn parse(description: &str) -> Mark {
        let Some(rest) = description.strip_prefix(MARK) else {
            return Mark::Unknown;
        };
        let mut words = rest.splitn(3, ' ');
        match (words.next(), words.next(), words.next()) {
            (Some("canary"), Some(version), Some(since)) => {
                match since.strip_prefix("since ").and_then(|s| s.parse().ok()) {
                    Some(since) => Mark::Canary {
                        version: version.to_owned(),
                        since,
                    },
                    None => Mark::Unknown,
                }
            }
            (Some("rolled"), Some("back"), Some(rest)) => match rest.split_once(": ") {
                Some((version, why)) => Mark::RolledBack {
                    version: version.to_owned(),
                    why: why.to_owned(),
                },
                None => Mark::Unknown,
            },
            (Some("live"), Some(version), None) => Mark::Live {
                version: version.to_owned(),
            },
            _ => Mark::Unknown,
        }
    }

    /// The description that says so (cut to Lambda's 256 characters).
    pub fn describe(&self) -> String {
        let mut text = match self {
            Mark::Canary { version, since } => format!("{MARK}canary {version} since {since}"),
            Mark::RolledBack { version, why } => format!("{MARK}rolled back {version}: {why}"),
            Mark::Live { version } => format!("{MARK}live {version}"),
            Mark::Unknown => String::new(),
        };
        if text.len() > DESCRIPTION_MAX {
            let mut end = DESCRIPTION_MAX;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        text
    }
}

/// What the watch saw just now.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The release's canary alarms in state ALARM.
    pub firing: Vec<String>,
    /// The new version's invocations through the alias since the canary started.
    pub canary_invocations: u64,
    /// Unix seconds.
    pub now: u64,
}

/// How the tool decides what the release data leaves open.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// Invocations the canary must have served before it is promoted: a canary nobody called
    /// proved nothing (its alarms, `notBreaching` without data, stay OK).
    pub min_invocations: u64,
    /// Without them by the end of the hold, the hold goes on, up to this many times
    /// `canaryMinutes`; then the canary is rolled back ("too little traffic").
    pub max_hold_factor: u32,
    /// Start the version again although it was rolled back.
    pub retry: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_invocations: 10,
            max_hold_factor: 3,
            retry: false,
        }
    }
}

/// Why the alias changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    StartCanary,
    Promote,
    AllAtOnce,
    RollBack,
    /// A routing left on the version the alias already serves: removed.
    Tidy,
}

/// One `UpdateAlias`.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasUpdate {
    pub why: Why,
    pub primary: String,
    pub routing: Option<(String, f64)>,
    pub mark: Mark,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Update(AliasUpdate),
    /// The canary is being held: look again (in at most `remaining` seconds).
    Hold {
        remaining: u64,
    },
    /// A canary alarm is in ALARM before the canary started: the state a previous version's
    /// data left it in (the deploy pointed it at the new version, which nothing invokes yet;
    /// CloudWatch keeps an alarm's state across `PutMetricAlarm` until its next evaluation).
    /// Look again before starting; the new version is not exposed meanwhile.
    StaleAlarms {
        alarms: Vec<String>,
    },
    /// The alias serves the release's version, nothing routed elsewhere.
    Live,
    /// The release's version was rolled back, for `why`.
    RolledBack {
        why: String,
        too_little_traffic: bool,
    },
}

/// Why a rollback for too little traffic says so (the exit code differs).
const TOO_LITTLE_TRAFFIC: &str = "too little traffic";

/// The decision, from the alias, the release, what the watch saw and the policy.
pub fn next(alias: &Alias, release: &Release, seen: &Seen, policy: &Policy) -> Next {
    let version = &release.version;
    if alias.primary == *version {
        return match &alias.routing {
            None => Next::Live,
            Some(_) => Next::Update(AliasUpdate {
                why: Why::Tidy,
                primary: version.clone(),
                routing: None,
                mark: Mark::Live {
                    version: version.clone(),
                },
            }),
        };
    }
    let mark = Mark::parse(&alias.description);
    if let (Mark::RolledBack { version: v, why }, None) = (&mark, &alias.routing)
        && v == version
        && !policy.retry
    {
        return Next::RolledBack {
            why: why.clone(),
            too_little_traffic: why.starts_with(TOO_LITTLE_TRAFFIC),
        };
    }
    let roll_back = |why: String| {
        Next::Update(AliasUpdate {
            why: Why::RollBack,
            primary: alias.primary.clone(),
            routing: None,
            mark: Mark::RolledBack {
                version: version.clone(),
                why,
            },
        })
    };
    match (&alias.routing, &mark) {
        (Some((routed, _)), Mark::Canary { version: v, since })
            if routed == version && v == version =>
        {
            if !seen.firing.is_empty() {
                return roll_back(format!("alarm {}", seen.firing.join(", ")));
            }
            let hold = u64::from(release.canary_minutes) * 60;
            let held = seen.now.saturating_sub(*since);
            if held < hold {
                return Next::Hold {
                    remaining: hold - held,
                };
            }
            if seen.canary_invocations >= policy.min_invocations {
                return Next::Update(AliasUpdate {
                    why: Why::Promote,
                    primary: version.clone(),
                    routing: None,
                    mark: Mark::Live {
                        version: version.clone(),
                    },
                });
            }
            let longest = hold.max(1) * u64::from(policy.max_hold_factor.max(1));
            if held < longest {
                return Next::Hold {
                    remaining: longest - held,
                };
            }
            roll_back(format!(
                "{TOO_LITTLE_TRAFFIC} ({} invocation(s) of {version} in {held} s; {} needed)",
                seen.canary_invocations, policy.min_invocations
            ))
        }
        // A canary of another version left behind (an older release's): its share back to the
        // alias's version first.
        (Some((routed, _)), _) if routed != version => Next::Update(AliasUpdate {
            why: Why::RollBack,
            primary: alias.primary.clone(),
            routing: None,
            mark: Mark::RolledBack {
                version: routed.clone(),
                why: format!("superseded by version {version}"),
            },
        }),
        // Nothing in progress for this version (or a routing whose start cannot be read: the
        // hold starts again, so it is never shorter than configured).
        _ if release.canary_percent == 0 => Next::Update(AliasUpdate {
            why: Why::AllAtOnce,
            primary: version.clone(),
            routing: None,
            mark: Mark::Live {
                version: version.clone(),
            },
        }),
        _ if !seen.firing.is_empty() => Next::StaleAlarms {
            alarms: seen.firing.clone(),
        },
        _ => Next::Update(AliasUpdate {
            why: Why::StartCanary,
            primary: alias.primary.clone(),
            routing: Some((version.clone(), f64::from(release.canary_percent) / 100.0)),
            mark: Mark::Canary {
                version: version.clone(),
                since: seen.now,
            },
        }),
    }
}

fn numeric(version: &str) -> Option<u64> {
    version.parse().ok()
}

/// The published versions to delete: all but the `keep` newest, never one the alias names,
/// never `$LATEST`.
pub fn prunable(versions: &[String], alias: &Alias, keep: u32) -> Vec<String> {
    let mut numbered: Vec<u64> = versions.iter().filter_map(|v| numeric(v)).collect();
    numbered.sort_unstable_by(|a, b| b.cmp(a));
    numbered.dedup();
    let named = |v: &str| {
        alias.primary == v
            || alias
                .routing
                .as_ref()
                .is_some_and(|(routed, _)| routed == v)
    };
    numbered
        .into_iter()
        .skip(keep as usize)
        .map(|v| v.to_string())
        .filter(|v| !named(v))
        .collect()
}

/// The Lambda API the tool needs.
pub trait Lambda: Send + Sync {
    fn get_alias(
        &self,
        function: &str,
        alias: &str,
    ) -> impl Future<Output = anyhow::Result<Alias>> + Send;
    /// `UpdateAlias` with `RevisionId` = `revision`; `Ok(false)` when the alias changed
    /// meanwhile (`PreconditionFailedException`).
    fn update_alias(
        &self,
        function: &str,
        alias: &str,
        update: &AliasUpdate,
        revision: Option<&str>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    fn list_versions(
        &self,
        function: &str,
    ) -> impl Future<Output = anyhow::Result<Vec<String>>> + Send;
    fn delete_version(
        &self,
        function: &str,
        version: &str,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The alarms and metrics the tool watches.
pub trait Watch: Send + Sync {
    /// Of `alarms`, those in ALARM; an error when one does not exist (a canary watched by an
    /// alarm that is not there is not watched).
    fn firing(&self, alarms: &[String])
    -> impl Future<Output = anyhow::Result<Vec<String>>> + Send;
    /// `version`'s invocations through `alias` since `since` (unix seconds).
    fn invocations(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        since: u64,
    ) -> impl Future<Output = anyhow::Result<u64>> + Send;
}

/// How a function's release ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The alias serves the release's version; `pruned` versions were deleted.
    Live { pruned: Vec<String> },
    RolledBack {
        why: String,
        too_little_traffic: bool,
    },
}

/// Process exit codes of `donut-cli release`.
pub mod exit {
    /// Every function's alias serves its release's version.
    pub const LIVE: i32 = 0;
    /// Something could not be done (an API refused, the releases could not be read): the
    /// aliases are as the last successful call left them; run again.
    pub const ERROR: i32 = 1;
    /// A canary alarm fired: that function was rolled back (the alarms are named).
    pub const ROLLED_BACK: i32 = 3;
    /// A canary saw too little traffic to be judged: rolled back.
    pub const TOO_LITTLE_TRAFFIC: i32 = 4;
}

/// Timing of the watch loop.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// How often the alarms are read during a canary.
    pub poll: Duration,
    /// Consecutive failed reads of the alarms after which the canary is rolled back (it is not
    /// watched any more).
    pub blind_after: u32,
    /// How long canary alarms may stay in ALARM before the canary (a previous version's state,
    /// until their next evaluation) before the tool gives up, changing nothing.
    pub stale_wait: Duration,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(5),
            blind_after: 6,
            stale_wait: Duration::from_secs(300),
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// One function's release, to its end: reads, decides ([`next`]), acts, until live or rolled
/// back. `say` gets one line per change and per alarm seen.
pub async fn roll_out<L: Lambda, W: Watch>(
    lambda: &L,
    watch: &W,
    release: &Release,
    policy: Policy,
    pace: Pace,
    say: &(dyn Fn(String) + Send + Sync),
) -> anyhow::Result<Outcome> {
    let (function, alias_name) = (&release.function_name, &release.alias);
    let mut policy = policy;
    let mut blind = 0u32;
    let mut stale_since: Option<std::time::Instant> = None;
    loop {
        let alias = lambda.get_alias(function, alias_name).await?;
        let now = unix_now();
        let canary_since = match Mark::parse(&alias.description) {
            Mark::Canary { version, since } if version == release.version => Some(since),
            _ => None,
        };
        let would_start = alias.primary != release.version && release.canary_percent > 0;
        let (firing, canary_invocations) = match canary_since {
            // Before a canary: are its alarms clear? (An error here stops before any change.)
            None if would_start => (watch.firing(&release.canary_alarms).await?, 0),
            None => (Vec::new(), 0),
            Some(since) => {
                let read = async {
                    let firing = watch.firing(&release.canary_alarms).await?;
                    let calls = watch
                        .invocations(function, alias_name, &release.version, since)
                        .await?;
                    anyhow::Ok((firing, calls))
                };
                match read.await {
                    Ok(read) => {
                        blind = 0;
                        read
                    }
                    Err(e) => {
                        blind += 1;
                        say(format!("cannot read the canary's alarms ({blind}): {e:#}"));
                        if blind < pace.blind_after {
                            tokio::time::sleep(pace.poll).await;
                            continue;
                        }
                        (vec![format!("(unreadable: {e})")], 0)
                    }
                }
            }
        };
        let seen = Seen {
            firing,
            canary_invocations,
            now,
        };
        match next(&alias, release, &seen, &policy) {
            Next::Update(update) => {
                say(describe(&alias, &update, &seen));
                let rollback = update.why == Why::RollBack;
                let mut tries = 0u32;
                loop {
                    match lambda
                        .update_alias(function, alias_name, &update, alias.revision_id.as_deref())
                        .await
                    {
                        Ok(true) => break,
                        Ok(false) => {
                            say("the alias changed meanwhile: reading it again".into());
                            break;
                        }
                        // A rollback is retried until it is through: the canary must not stay.
                        Err(e) if rollback && tries < 60 => {
                            tries += 1;
                            say(format!("rollback refused ({tries}), retrying: {e:#}"));
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                // `--retry` restarts a rolled-back version once, not after its new rollback.
                policy.retry = false;
            }
            Next::Hold { remaining } => {
                stale_since = None;
                tokio::time::sleep(pace.poll.min(Duration::from_secs(remaining.max(1)))).await;
            }
            Next::StaleAlarms { alarms } => {
                let waited = stale_since
                    .get_or_insert_with(std::time::Instant::now)
                    .elapsed();
                if waited.is_zero() {
                    say(format!(
                        "waiting for the canary alarm(s) {} to leave the ALARM of a previous version before the canary",
                        alarms.join(", ")
                    ));
                }
                anyhow::ensure!(
                    waited < pace.stale_wait,
                    "the canary alarm(s) {} stayed in ALARM for {} s before the canary, while \
                     nothing invoked version {}: check what they watch (docs/operate.md#canary-alarms)",
                    alarms.join(", "),
                    waited.as_secs(),
                    release.version
                );
                tokio::time::sleep(pace.poll).await;
            }
            Next::Live => {
                let versions = lambda.list_versions(function).await?;
                let pruned = prunable(&versions, &alias, release.keep_versions);
                for version in &pruned {
                    lambda.delete_version(function, version).await?;
                }
                if !pruned.is_empty() {
                    say(format!("pruned version(s) {}", pruned.join(", ")));
                }
                say(format!("live: version {}", release.version));
                return Ok(Outcome::Live { pruned });
            }
            Next::RolledBack {
                why,
                too_little_traffic,
            } => {
                say(format!(
                    "rolled back version {} (serving {}): {why}",
                    release.version, alias.primary
                ));
                return Ok(Outcome::RolledBack {
                    why,
                    too_little_traffic,
                });
            }
        }
    }
}

fn describe(alias: &Alias, update: &AliasUpdate, seen: &Seen) -> String {
    match (update.why, &update.routing) {
        (Why::StartCanary, Some((v, w))) => format!(
            "canary: {:.0} % to version {v}, the rest to {}",
            w * 100.0,
            alias.primary
        ),
        (Why::Promote, _) => format!(
            "promote: version {} ({} canary invocation(s), no alarm)",
            update.primary, seen.canary_invocations
        ),
        (Why::AllAtOnce, _) => format!("all at once: version {}", update.primary),
        (Why::RollBack, _) => format!(
            "ROLL BACK to version {}: {}",
            update.primary,
            match &update.mark {
                Mark::RolledBack { why, .. } => why.as_str(),
                _ => "",
            }
        ),
        _ => format!("tidy: routing removed from version {}", update.primary),
    }
}

/// Every function's release at once (each its own canary); the exit code of the whole.
pub async fn roll_out_all<L, W>(
    lambda: std::sync::Arc<L>,
    watch: std::sync::Arc<W>,
    releases: &Releases,
    policy: Policy,
    pace: Pace,
) -> (i32, Vec<(String, anyhow::Result<Outcome>)>)
where
    L: Lambda + 'static,
    W: Watch + 'static,
{
    let mut tasks = tokio::task::JoinSet::new();
    for (name, release) in releases.clone() {
        let (lambda, watch) = (lambda.clone(), watch.clone());
        tasks.spawn(async move {
            let tag = name.clone();
            let say = move |line: String| println!("{tag}: {line}");
            let outcome = roll_out(&*lambda, &*watch, &release, policy, pace, &say).await;
            (name, outcome)
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(done) => outcomes.push(done),
            Err(e) => outcomes.push(("?".into(), Err(anyhow::anyhow!("a release task died: {e}")))),
        }
    }
    outcomes.sort_by(|a, b| a.0.cmp(&b.0));
    (exit_code(&outcomes), outcomes)
}

/// The worst of the outcomes: an error, then an alarm's rollback, then too little traffic.
pub fn exit_code(outcomes: &[(String, anyhow::Result<Outcome>)]) -> i32 {
    let code = |o: &anyhow::Result<Outcome>| match o {
        Err(_) => exit::ERROR,
        Ok(Outcome::RolledBack {
            too_little_traffic: false,
            ..
        }) => exit::ROLLED_BACK,
        Ok(Outcome::RolledBack { .. }) => exit::TOO_LITTLE_TRAFFIC,
        Ok(Outcome::Live { .. }) => exit::LIVE,
    };
    let rank = |c: i32| match c {
        exit::ERROR => 3,
        exit::ROLLED_BACK => 2,
        exit::TOO_LITTLE_TRAFFIC => 1,
        _ => 0,
    };
    outcomes
        .iter()
        .map(|(_, o)| code(o))
        .max_by_key(|c| rank(*c))
        .unwrap_or(exit::LIVE)
}

pub mod aws;

#[cfg(test)]
mod tests;
