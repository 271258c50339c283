//! Gradual releases on the local stack: the rollout tool (`donut-cli release`, its library
//! driven in-process) moves sales-api's `live` alias on the local Lambda stand-in while buyers
//! keep buying through the gateway, which invokes the version the alias picks per request.
//!
//! A bad release (its sales answer 5xx: the version is built with settings naming a database
//! that does not exist) goes out as a 10 % canary; its canary alarm fires in LocalStack's
//! CloudWatch from that version's own `ServerErrors` (dimensions Function, Version); the tool
//! rolls back and ends with exit code 3 naming the alarm; purchases stop reaching it. Then a
//! good release goes out, the tool is killed mid-canary (its task aborted: nothing runs after
//! the kill, as after a crash), and a second run resumes the canary from the alias and promotes
//! it; the oldest version beyond `keepVersions` is deleted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use donut_cli::release::aws::{SdkLambda, SdkWatch};
use donut_cli::release::{self, Outcome, Pace, Policy};
use donut_e2e::factory_sim::Knobs;
use donut_e2e::*;

/// Buys one unit every `every`, each purchase its own task (a slow 5xx does not slow the
/// others); counts what was sent and the 5xx answers.
struct Buyers {
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    /// Answers neither 200 nor 5xx, and requests the gateway did not answer (before `stop`).
    unexpected: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Buyers {
    fn start(url: String, every: Duration) -> Self {
        let (sent, failed, unexpected, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let task = tokio::spawn({
            let (sent, failed, unexpected, stop) = (
                sent.clone(),
                failed.clone(),
                unexpected.clone(),
                stop.clone(),
            );
            async move {
                let http = reqwest::Client::new();
                let mut tick = tokio::time::interval(every);
                while !stop.load(Ordering::SeqCst) {
                    tick.tick().await;
                    let (http, url, sent, failed, unexpected, stop) = (
                        http.clone(),
                        url.clone(),
                        sent.clone(),
                        failed.clone(),
                        unexpected.clone(),
                        stop.clone(),
                    );
                    tokio::spawn(async move {
                        let r = http
                            .post(&url)
                            .json(
                                &serde_json::json!({"product_id": "canary-glazed", "quantity": 1}),
                            )
                            .send()
                            .await;
                        sent.fetch_add(1, Ordering::SeqCst);
                        match r {
                            Ok(r) if r.status().is_server_error() => {
                                failed.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(r) if r.status() == 200 => {}
                            // In flight when the stack stopped: not the release's doing.
                            _ if stop.load(Ordering::SeqCst) => {}
                            _ => {
                                unexpected.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    });
                }
            }
        });
        Self {
            sent,
            failed,
            unexpected,
            stop,
            task,
        }
    }

    fn counts(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// The canary 5xx alarm's state, read every second: (seconds since `t0`, state) at each change.
/// An alarm's states as seen, each with the second it was first seen.
type States = Arc<std::sync::Mutex<Vec<(u64, String)>>>;

fn watch_alarm(
    aws: &aws_config::SdkConfig,
    alarm: String,
    t0: Instant,
) -> (States, tokio::task::JoinHandle<()>) {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(aws);
    let seen = Arc::new(std::sync::Mutex::new(Vec::<(u64, String)>::new()));
    let task = tokio::spawn({
        let seen = seen.clone();
        async move {
            loop {
                if let Ok(out) = cloudwatch
                    .describe_alarms()
                    .alarm_names(&alarm)
                    .send()
                    .await
                    && let Some(state) = out
                        .metric_alarms()
                        .first()
                        .and_then(|a| a.state_value())
                        .map(|s| s.as_str().to_owned())
                {
                    let mut seen = seen.lock().unwrap();
                    if seen.last().map(|(_, s)| s != &state).unwrap_or(true) {
                        seen.push((t0.elapsed().as_secs(), state));
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    (seen, task)
}

fn tool(t: &TestStack) -> (Arc<SdkLambda>, Arc<SdkWatch>) {
    let lambda = aws_sdk_lambda::config::Builder::from(&t.stack.aws)
        .endpoint_url(&t.stack.releases.url)
        .build();
    (
        Arc::new(SdkLambda(aws_sdk_lambda::Client::from_conf(lambda))),
        Arc::new(SdkWatch(aws_sdk_cloudwatch::Client::new(&t.stack.aws))),
    )
}

const POLICY: Policy = Policy {
    min_invocations: 5,
    max_hold_factor: 3,
    retry: false,
};

fn pace() -> Pace {
    Pace {
        poll: Duration::from_secs(1),
        ..Pace::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_release_is_rolled_back_by_its_canary_alarm_and_a_good_one_goes_live_across_a_crash()
{
    let t = spawn_stack_set_up(
        &[Shelf::new("canary-glazed", 1_000_000)],
        Knobs::default(),
        Setup {
            // prod's share; the shortest hold a release's minutes can say (settings only).
            stage: |s| {
                s.release.canary_percent = 10;
                s.release.canary_minutes = 1;
                s.release.keep_versions = 2;
            },
            ..Setup::default()
        },
    )
    .await;
    let releases = &t.stack.releases;
    let sales = releases.function_name(donut_config::Function::SalesApi);
    let alarm = format!("{}-sales-api-canary-5xx", t.stack.prefix);
    let t0 = Instant::now();
    let (alarm_states, alarm_task) = watch_alarm(&t.stack.aws, alarm.clone(), t0);
    let buyers = Buyers::start(t.url("/orders"), Duration::from_millis(50));
    let (lambda, watch) = tool(&t);

    // A bad release: every sale of version 2 fails (its database does not exist).
    let bad = releases
        .publish_sales_api(|s| s.base.database.name = format!("{}_missing", s.base.database.name))
        .await
        .unwrap();
    assert_eq!(bad, 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = (buyers.counts(), releases.sales_api_invocations());
    let started = Instant::now();
    let parsed = release::parse_releases(&releases.releases_json()).unwrap();
    let (code, outcomes) =
        release::roll_out_all(lambda.clone(), watch.clone(), &parsed, POLICY, pace()).await;
    let rollback_took = started.elapsed();
    let outcomes: BTreeMap<_, _> = outcomes.into_iter().collect();
    assert_eq!(code, release::exit::ROLLED_BACK, "{outcomes:?}");
    match &outcomes["sales-api"] {
        Ok(Outcome::RolledBack {
            why,
            too_little_traffic: false,
        }) => {
            assert!(why.contains(&alarm), "the rollback names the alarm: {why}")
        }
        other => panic!("sales-api: {other:?}"),
    }
    for other in ["warehouse-restock", "factory-requester"] {
        assert!(
            matches!(outcomes[other], Ok(Outcome::Live { .. })),
            "{other} had nothing to release: {:?}",
            outcomes[other]
        );
    }
    let live = releases.service.get_alias(&sales, "live").unwrap();
    assert_eq!((live.function_version, live.routing), (1, None));
    // Traffic is back on version 1: version 2 takes nothing more.
    let at_rollback = (buyers.counts(), releases.sales_api_invocations());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = (buyers.counts(), releases.sales_api_invocations());
    let reached_bad = at_rollback.1.get(&2).copied().unwrap_or(0);
    assert!(reached_bad > 0, "the canary took traffic");
    assert_eq!(after.1.get(&2).copied().unwrap_or(0), reached_bad);
    assert_eq!(after.0.1, at_rollback.0.1, "no 5xx after the rollback");
    let canary_sent = (at_rollback.0.0 - before.0.0) as f64;
    let share = reached_bad as f64 / canary_sent;
    println!(
        "bad release: rolled back after {:.1} s; purchases during the canary {canary_sent}, to version 2: {reached_bad} ({:.1} %), 5xx seen by buyers {}; alarm states {:?}",
        rollback_took.as_secs_f64(),
        share * 100.0,
        at_rollback.0.1 - before.0.1,
        alarm_states.lock().unwrap()
    );
    // Re-running changes nothing: the version stays rolled back.
    let (code, _) =
        release::roll_out_all(lambda.clone(), watch.clone(), &parsed, POLICY, pace()).await;
    assert_eq!(code, release::exit::ROLLED_BACK);

    // A good release (the same settings as version 1), the tool killed mid-canary.
    let good = releases.publish_sales_api(|_| {}).await.unwrap();
    assert_eq!(good, 3);
    let parsed = release::parse_releases(&releases.releases_json()).unwrap();
    let good_started = Instant::now();
    let first_run = tokio::spawn({
        let (lambda, watch, parsed) = (lambda.clone(), watch.clone(), parsed.clone());
        async move { release::roll_out_all(lambda, watch, &parsed, POLICY, pace()).await }
    });
    eventually(
        Duration::from_secs(60),
        "the good release's canary",
        || async { releases.service.get_alias(&sales, "live").unwrap().routing == Some((3, 0.1)) },
    )
    .await;
    // Killed 20 s into its 60 s hold.
    tokio::time::sleep(Duration::from_secs(20)).await;
    first_run.abort();
    let _ = first_run.await;
    let killed_at = good_started.elapsed();
    let mid = releases.service.get_alias(&sales, "live").unwrap();
    assert_eq!(
        (mid.function_version, mid.routing),
        (1, Some((3, 0.1))),
        "killed mid-canary"
    );
    let (code, outcomes) =
        release::roll_out_all(lambda.clone(), watch.clone(), &parsed, POLICY, pace()).await;
    let promoted_after = good_started.elapsed();
    assert_eq!(code, release::exit::LIVE, "{outcomes:?}");
    let live = releases.service.get_alias(&sales, "live").unwrap();
    assert_eq!((live.function_version, live.routing), (3, None));
    // The hold was resumed, not restarted: promoted about a minute after the canary began
    // (measured 60-65 s), where a restarted hold would end a minute after the kill (≥ 80 s).
    assert!(
        promoted_after < killed_at + Duration::from_secs(50),
        "resumed: killed at {killed_at:?}, promoted at {promoted_after:?}"
    );
    // keepVersions 2: version 1 deleted, 2 and 3 kept.
    assert_eq!(releases.service.versions(&sales).unwrap(), vec![2, 3]);
    let end = (buyers.counts(), releases.sales_api_invocations());
    buyers.stop.store(true, Ordering::SeqCst);
    let _ = buyers.task.await;
    alarm_task.abort();
    assert_eq!(end.0.1, at_rollback.0.1, "the good release answered no 5xx");
    assert_eq!(
        buyers.unexpected.load(Ordering::SeqCst),
        0,
        "every purchase answered 200 or (the bad version) 5xx"
    );
    println!(
        "good release: canary at {:?}, tool killed at {:.1} s, promoted at {:.1} s; invocations per version {:?}; alarm states {:?}",
        Some((3, 0.1)),
        killed_at.as_secs_f64(),
        promoted_after.as_secs_f64(),
        end.1,
        alarm_states.lock().unwrap()
    );
    t.stack.stop().await;
}
