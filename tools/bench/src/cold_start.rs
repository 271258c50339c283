//! Lambda cold init: each release `bootstrap`, from exec to its first
//! `GET /2018-06-01/runtime/invocation/next` on a minimal Runtime API stub; and the size of
//! each `bootstrap.zip` that `make lambdas` built.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::report::Figure;

const FUNCTIONS: [&str; 6] = [
    "sales-api",
    "factory-requester",
    "warehouse-restock",
    "outbox-relay",
    "migrate",
    "factory-watchdog",
];
const STARTS: usize = 21;

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
        .env("DATABASE_URL", "mysql://bench:bench@127.0.0.1:9/bench")
        .env(
            "STOCK_OUT_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:000000000000:bench",
        )
        .env("CALLBACK_SECRET", "b".repeat(32))
        .env("CALLBACK_BASE_URL", "http://127.0.0.1:9")
        .env("FACTORY_URL", "http://127.0.0.1:9")
        .env("OPS_TOPIC_ARN", "arn:aws:sns:eu-west-1:000000000000:ops")
        .env("METRICS_NAMESPACE", "DonutStates/bench")
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

pub async fn measure(root: &Path) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for name in FUNCTIONS {
        let binary = root.join("target/release").join(name);
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: `make bench` builds it",
            binary.display()
        );
        let mut samples = Vec::with_capacity(STARTS);
        for _ in 0..STARTS {
            samples.push(one_start(&binary, name).await?);
        }
        samples.sort();
        let median = samples[STARTS / 2];
        figures.push(Figure::goal(
            &format!("cold init {name}: exec → first /next (median of {STARTS}, x86_64 host)"),
            median.as_secs_f64() * 1000.0,
            "ms",
            15.0,
        ));
    }
    for name in FUNCTIONS {
        let zip = root.join("target/lambda").join(name).join("bootstrap.zip");
        match std::fs::metadata(&zip) {
            Ok(m) => figures.push(Figure::goal(
                &format!("{name} bootstrap.zip (arm64)"),
                m.len() as f64 / 1e6,
                "MB",
                8.0,
            )),
            Err(_) => figures.push(Figure::missing(
                &format!("{name} bootstrap.zip (arm64)"),
                "run `make lambdas`",
            )),
        }
    }
    Ok(figures)
}
