//! `donut-cli release`, the binary, against a whole local stack (its Lambda stand-in and
//! LocalStack's CloudWatch): a bad sales-api version is rolled back by its canary alarm — exit
//! code 3, the alarm named —, and a good one goes live although the first run of the tool is
//! killed (SIGKILL) in the middle of the canary: the second run resumes it from the alias.
//!
//! Services: `DONUT_TEST_DB_URL` (MariaDB) and `DONUT_TEST_AWS_ENDPOINT` (LocalStack), as
//! every end-to-end test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use donut_config::StageConfig;
use donut_domain::usecases::WatchdogPolicy;
use donut_local::{LocalSystem, SystemOptions};
use donut_testkit::{Shelf, TestDb};
use factory_sim::Knobs;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aws_endpoint() -> String {
    std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

async fn stack(db: &TestDb) -> LocalSystem {
    let mut stage = StageConfig::from_stack_file("dev", &root().join("Pulumi.dev.yaml"))
        .expect("Pulumi.dev.yaml");
    // prod's share, the shortest hold (settings only).
    stage.release.canary_percent = 10;
    stage.release.canary_minutes = 1;
    stage.release.keep_versions = 2;
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let id = uuid::Uuid::new_v4().simple().to_string();
    let options = SystemOptions {
        stage,
        prefix: format!("cli-{}", &id[..12]),
        database_url: db.url.clone(),
        app_user: format!("fn_{}", &id[..12]),
        operator_user: format!("op_{}", &id[..12]),
        aws_endpoint: aws_endpoint(),
        api_addr: any_port,
        factory_lane_addr: any_port,
        throttled: false,
        factory_addr: any_port,
        factory_knobs: Knobs::default(),
        factory_seed: Some(42),
        visibility_timeout_seconds: 2,
        alarm_period_seconds: 10,
        relay_interval: Duration::from_millis(250),
        watchdog: WatchdogPolicy {
            deadline: Duration::from_secs(3600),
            open_deadline: Duration::from_secs(3600),
            max_attempts: 3,
        },
        seed_products: false,
    };
    LocalSystem::start(options, &mut |_, _| {})
        .await
        .expect("the stack starts")
}

/// `donut-cli release` on the stack's releases, as a process.
fn release(system: &LocalSystem, releases: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_donut-cli"));
    command
        .args(["--stage", "dev", "--endpoint", &aws_endpoint(), "release"])
        .arg("--releases")
        .arg(releases)
        .args(["--lambda-endpoint", &system.releases.url])
        .args(["--min-invocations", "5", "--poll-seconds", "1"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exits_3_naming_the_alarm_and_finishes_a_canary_after_a_kill() {
    let db = TestDb::with_shelves(&[Shelf::new("cli-canary", 1_000_000)]).await;
    let system = stack(&db).await;
    let sales = system
        .releases
        .function_name(donut_config::Function::SalesApi);
    // Buyers all along: one purchase every 50 ms.
    let stop = Arc::new(AtomicBool::new(false));
    let buyers = tokio::spawn({
        let (url, stop) = (format!("{}/orders", system.api_url), stop.clone());
        async move {
            let http = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while !stop.load(Ordering::SeqCst) {
                tick.tick().await;
                let (http, url) = (http.clone(), url.clone());
                tokio::spawn(async move {
                    let _ = http
                        .post(url)
                        .json(&serde_json::json!({"product_id": "cli-canary", "quantity": 1}))
                        .send()
                        .await;
                });
            }
        }
    });
    let file = std::env::temp_dir().join(format!("{}-releases.json", system.prefix));

    // Bad: its sales fail (a database it may not use).
    let bad = system
        .releases
        .publish_sales_api(|s| s.base.database.name = format!("{}_missing", s.base.database.name))
        .await
        .unwrap();
    std::fs::write(&file, system.releases.releases_json().to_string()).unwrap();
    let out = release(&system, &file).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let alarm = format!("{}-sales-api-canary-5xx", system.prefix);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("ROLL BACK to version 1: alarm {alarm}")),
        "{stdout}"
    );
    let alias = system.releases.service.get_alias(&sales, "live").unwrap();
    assert_eq!((alias.function_version, alias.routing), (1, None), "{bad}");

    // Good, the first run killed mid-canary.
    let good = system.releases.publish_sales_api(|_| {}).await.unwrap();
    std::fs::write(&file, system.releases.releases_json().to_string()).unwrap();
    let started = Instant::now();
    let mut first = release(&system, &file).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while system
        .releases
        .service
        .get_alias(&sales, "live")
        .unwrap()
        .routing
        != Some((good, 0.1))
    {
        assert!(Instant::now() < deadline, "the canary started");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(20)).await;
    first.kill().await.unwrap(); // SIGKILL: nothing of the tool runs after it.
    let killed_at = started.elapsed();
    let alias = system.releases.service.get_alias(&sales, "live").unwrap();
    assert_eq!(
        (alias.function_version, alias.routing),
        (1, Some((good, 0.1)))
    );
    let out = release(&system, &file).output().await.unwrap();
    let promoted_at = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("sales-api: live: version {good}")),
        "{stdout}"
    );
    let alias = system.releases.service.get_alias(&sales, "live").unwrap();
    assert_eq!((alias.function_version, alias.routing), (good, None));
    // Resumed (a minute after the canary began), not restarted (a minute after the kill).
    assert!(
        promoted_at < killed_at + Duration::from_secs(50),
        "killed at {killed_at:?}, promoted at {promoted_at:?}"
    );
    println!("killed at {killed_at:?}, promoted at {promoted_at:?}; second run:\n{stdout}");
    stop.store(true, Ordering::SeqCst);
    let _ = buyers.await;
    let _ = std::fs::remove_file(&file);
    system.stop().await;
}
