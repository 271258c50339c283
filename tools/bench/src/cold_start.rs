//! Lambda cold init: each release `bootstrap`, from exec to its first
//! `GET /2018-06-01/runtime/invocation/next` on a minimal Runtime API stub, beside the same for
//! the smallest `lambda_runtime` function (`echo-lambda`), started in turn with them; and the
//! size of each `bootstrap.zip` that `make lambdas` built.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use donut_config::Function;
use donut_config::settings::{self, Base, Callback, Contract, Database, Factory};

const STARTS: usize = 21;
const ECHO: &str = "echo-lambda";

/// One function's cold init beside the echo baseline's (medians of the same rounds).
pub struct ColdInit {
    pub function: Function,
    pub median: Duration,
    pub echo: Duration,
}

/// What each function reads at start (its contract, `donut_config::settings`), pointing at
/// nothing that answers: a cold init contacts nothing before its first event. The echo
/// baseline reads nothing.
fn settings_env(name: &str) -> Vec<(&'static str, String)> {
    let Some(function) = Function::ALL.into_iter().find(|f| f.name() == name) else {
        return Vec::new();
    };
    // A deployed function refuses to start without its CA bundle's file; it is read at the
    // first connection, which a cold init does not make.
    let ca = std::env::temp_dir().join("donut-bench-rds-ca.pem");
    if !ca.is_file() {
        let _ = std::fs::write(&ca, "# not read: the bench's functions never connect\n");
    }
    let base = Base {
        metrics_namespace: "DonutStates/bench".into(),
        database: Database {
            secret_arn: "arn:aws:secretsmanager:eu-west-1:000000000000:secret:login".into(),
            host: "127.0.0.1".into(),
            port: 9,
            name: "bench".into(),
            tls_ca: Some(ca.display().to_string()),
            pool_size: 1,
            idle_seconds: 60,
        },
    };
    let callback = Callback {
        base_url: "http://127.0.0.1:9".into(),
        secret_arn: "arn:aws:secretsmanager:eu-west-1:000000000000:secret:callback".into(),
        key_version: "1".into(),
        token_ttl_seconds: 3600,
    };
    let factory = Factory {
        url: "http://127.0.0.1:9".into(),
        timeout_ms: 5000,
        auth: settings::FactoryAuth::None,
    };
    let arn = |what: &str| format!("arn:aws:sns:eu-west-1:000000000000:{what}");
    let plain = |value: String| value;
    match function {
        Function::SalesApi => settings::SalesApi::to_env(
            &settings::SalesApi {
                base,
                max_quantity: 10,
                max_body_bytes: 16384,
                stock_out_topic_arn: arn("stock-out"),
                idempotency_key_hours: 24,
            },
            &plain,
        ),
        Function::WarehouseRestock => settings::WarehouseRestock::to_env(
            &settings::WarehouseRestock {
                base,
                max_body_bytes: 16384,
                callback,
            },
            &plain,
        ),
        Function::FactoryRequester => settings::FactoryRequester::to_env(
            &settings::FactoryRequester {
                base,
                factory,
                callback,
            },
            &plain,
        ),
        Function::OutboxRelay => settings::OutboxRelay::to_env(
            &settings::OutboxRelay {
                base,
                stock_out_topic_arn: arn("stock-out"),
            },
            &plain,
        ),
        Function::Migrate => settings::Migrate::to_env(
            &settings::Migrate {
                base,
                app_db_secret_arn: arn("app-login"),
                app_user: settings::APP_DB_USER.into(),
                operator_db_secret_arn: arn("operator-login"),
                operator_user: settings::OPERATOR_DB_USER.into(),
                app_user_hosts: "127.0.0.1".into(),
            },
            &plain,
        ),
        Function::AdminApi => settings::AdminApi::to_env(
            &settings::AdminApi {
                base,
                max_body_bytes: 16384,
                stock_out_topic_arn: arn("stock-out"),
                re_request_not_within_seconds: 300,
                idempotency_key_hours: 24,
            },
            &plain,
        ),
        Function::FactoryWatchdog => settings::FactoryWatchdog::to_env(
            &settings::FactoryWatchdog {
                base,
                factory,
                callback,
                deadline_minutes: 30,
                open_deadline_minutes: 30,
                max_attempts: 3,
                ops_topic_arn: arn("ops"),
                // Read at start, used only in an overdue e-mail (none is sent here).
                overdue_runbook_url: "https://example.com/docs/operate.md#factory-orders-overdue"
                    .into(),
            },
            &plain,
        ),
    }
}

/// One start: the time from spawning the binary to its first poll for an invocation.
async fn one_start(binary: &Path, name: &str) -> anyhow::Result<Duration> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api = listener.local_addr()?.to_string();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        // Lazy pools: nothing is contacted before the first invocation.
        .envs(settings_env(name))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (mut socket, _) = listener.accept().await?;
            let mut buf = [0u8; 256];
            let n = socket.read(&mut buf).await?;
            if buf[..n].starts_with(b"GET /2018-06-01/runtime/invocation/next") {
                return Ok::<_, std::io::Error>(started.elapsed());
            }
        }
    })
    .await;
    let _ = child.kill().await;
    match waited {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => anyhow::bail!("{name} never polled the Runtime API"),
    }
}

/// `bin_dir`: where the release binaries are (beside `donut-bench` itself).
pub async fn measure(bin_dir: &Path) -> anyhow::Result<Vec<ColdInit>> {
    let binary = |name: &str| bin_dir.join(name);
    for name in Function::ALL.map(Function::name).into_iter().chain([ECHO]) {
        anyhow::ensure!(
            binary(name).exists(),
            "{} is missing: `make bench` builds it",
            binary(name).display()
        );
    }
    // Rounds of (echo, every function): drift in the machine's load touches all alike.
    let mut echo = Vec::with_capacity(STARTS);
    let mut samples = vec![Vec::with_capacity(STARTS); Function::ALL.len()];
    for _ in 0..STARTS {
        echo.push(one_start(&binary(ECHO), ECHO).await?);
        for (i, f) in Function::ALL.iter().enumerate() {
            samples[i].push(one_start(&binary(f.name()), f.name()).await?);
        }
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let echo = median(echo);
    Ok(Function::ALL
        .into_iter()
        .zip(samples)
        .map(|(function, s)| ColdInit {
            function,
            median: median(s),
            echo,
        })
        .collect())
}

/// Each function's `bootstrap.zip` size in bytes, `None` when `make lambdas` has not built it;
/// `root` is the workspace.
pub fn zip_sizes(root: &Path) -> Vec<(Function, Option<u64>)> {
    Function::ALL
        .into_iter()
        .map(|f| {
            let zip = root
                .join("target/lambda")
                .join(f.name())
                .join("bootstrap.zip");
            (f, std::fs::metadata(&zip).ok().map(|m| m.len()))
        })
        .collect()
}
