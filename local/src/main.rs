//! `donut-local up`: the whole system in the foreground until Ctrl-C (what `make up` runs,
//! after `scripts/services.sh start` has MariaDB and LocalStack up).
//!
//! Environment: DONUT_STAGE (dev), DONUT_LOCAL_DIR (.local), DONUT_DB_PORT (3307),
//! DATABASE_URL (overrides the port), DONUT_LOCALSTACK_PORT (4566), DONUT_API_PORT (8080),
//! DONUT_FACTORY_PORT (8090), FACTORY_DELAY_MS (2000) and the other FACTORY_* knobs,
//! DONUT_VISIBILITY_TIMEOUT (5), DONUT_ALARM_PERIOD (10), DONUT_FACTORY_DEADLINE (30 s),
//! DONUT_KEEP_DATA (unset: every start begins from a fresh, seeded warehouse).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use donut_config::StageConfig;
use donut_domain::usecases::WatchdogPolicy;
use donut_local::{LocalSystem, SystemOptions};
use factory_sim::Knobs;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(raw) => raw
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={raw:?} is not valid")),
        Err(_) => Ok(default),
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1).unwrap_or_default();
    anyhow::ensure!(command == "up", "usage: donut-local up");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()?;
    let local_dir = std::env::var("DONUT_LOCAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".local"));
    let log_file = local_dir.join("logs").join("donut-local.jsonl");
    donut_local::telemetry::init(&log_file, std::env::var_os("DONUT_QUIET").is_none())?;

    let stage_name: String = env_or("DONUT_STAGE", "dev".to_owned())?;
    let stage =
        StageConfig::from_stack_file(&stage_name, &root.join(format!("Pulumi.{stage_name}.yaml")))?;
    let db_port: u16 = env_or("DONUT_DB_PORT", 3307)?;
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| format!("mysql://donut:donut@127.0.0.1:{db_port}/donut"));
    let api_port: u16 = env_or("DONUT_API_PORT", donut_local::API_PORT)?;
    let mut knobs = Knobs::from_env()?;
    if std::env::var_os("FACTORY_DELAY_MS").is_none() {
        knobs.delay_ms = 2000;
    }
    let visibility_timeout_seconds: u32 = env_or("DONUT_VISIBILITY_TIMEOUT", 5)?;
    let relay_interval = Duration::from_secs(1);
    let deadline = Duration::from_secs(env_or("DONUT_FACTORY_DEADLINE", 30)?);
    // A second stack beside `make up` (the contract run) takes a prefix, a database and users of
    // its own, so it changes nothing of the first.
    let options = SystemOptions {
        prefix: env_or("DONUT_PREFIX", stage.prefix())?,
        database_url,
        app_user: env_or(
            "DONUT_APP_USER",
            donut_config::settings::APP_DB_USER.to_owned(),
        )?,
        operator_user: env_or(
            "DONUT_OPERATOR_USER",
            donut_config::settings::OPERATOR_DB_USER.to_owned(),
        )?,
        aws_endpoint: format!(
            "http://127.0.0.1:{}",
            env_or::<u16>("DONUT_LOCALSTACK_PORT", 4566)?
        ),
        api_addr: loopback(api_port),
        factory_lane_addr: loopback(env_or(
            "DONUT_FACTORY_LANE_PORT",
            donut_local::FACTORY_LANE_PORT,
        )?),
        // The stage's API Gateway throttles, with DONUT_THROTTLE=1 (off by default: `make load`
        // pushes above dev's).
        throttled: std::env::var("DONUT_THROTTLE").is_ok_and(|v| v == "1"),
        factory_addr: loopback(env_or("DONUT_FACTORY_PORT", donut_local::FACTORY_PORT)?),
        factory_knobs: knobs,
        factory_seed: std::env::var("FACTORY_SEED")
            .ok()
            .map(|s| s.parse())
            .transpose()
            .context("FACTORY_SEED")?,
        visibility_timeout_seconds,
        alarm_period_seconds: env_or("DONUT_ALARM_PERIOD", 10)?,
        relay_interval,
        watchdog: WatchdogPolicy {
            deadline,
            open_deadline: donut_config::open_order_deadline(
                deadline,
                stage.queue.max_receive_count,
                Duration::from_secs(visibility_timeout_seconds.into()),
                relay_interval,
            ),
            max_attempts: stage.factory_max_attempts,
        },
        seed_products: stage.seed_products,
        stage,
    };

    let keep = std::env::var("DONUT_KEEP_DATA").is_ok_and(|v| v == "1");
    let kept = if keep {
        Some(unfinished_factory_orders(&options.database_url).await)
    } else {
        fresh_database(&options.database_url).await?;
        None
    };

    let started = Instant::now();
    let mut progress =
        |step: &str, took: Duration| println!("  {step:<42} done ({} ms)", took.as_millis());
    let stack = LocalSystem::start(options, &mut progress).await?;
    print_ready(&stack, started.elapsed(), &log_file);
    match kept {
        None => println!(
            "Warehouse: fresh, from the seed (DONUT_KEEP_DATA=1 make up keeps the last run's data)."
        ),
        Some(0) => {
            println!("Warehouse: kept from the last run; no factory order was left unfinished.")
        }
        Some(n) => println!(
            "Warehouse: kept from the last run, with {n} factory order(s) unfinished: the simulator that \
             took them is gone, so the watchdog asks this one again after {} s (DONUT_FACTORY_DEADLINE).",
            deadline.as_secs()
        ),
    }

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    println!("\nstopping…");
    stack.stop().await;
    println!("stopped.");
    Ok(())
}

fn print_ready(stack: &LocalSystem, took: Duration, log_file: &std::path::Path) {
    let api = &stack.api_url;
    let r = &stack.resources;
    println!(
        r#"
Donut-States is ready ({} ms).

  Sales API          {api}            (GET /products, GET /products/{{id}}, POST /orders)
  Factory's lane     {lane}/factory/callback/{{factory_order_id}}?q=…&exp=…&kid=…&sig=…
  Legacy factory     {factory}        (GET /stats, PUT /knobs)
  Stock-out topic    {topic}
  Factory queue      {queue}
  Dead-letter queue  {dlq}
  Logs (JSON)        {logs}

Try:
  curl -s {api}/products
  curl -s -X POST {api}/orders -H 'content-type: application/json' -d '{{"product_id":"maple-bar","quantity":1}}'
  for i in 1 2 3 4 5; do curl -s -X POST {api}/orders -H 'content-type: application/json' -d '{{"product_id":"maple-bar","quantity":10}}'; echo; done
      # buys 10 at a time until too few are left: 409 out_of_stock, a factory order opens, and
      # a few seconds later the factory's callback restocks (watch the log lines)
Ops: `make inbox` (alarm e-mails), `make dlq` (dead letters). Ctrl-C stops everything.
"#,
        took.as_millis(),
        factory = stack.factory_url,
        lane = stack.factory_lane_url,
        topic = r.stock_out_topic_arn,
        queue = r.queue_url,
        dlq = r.dlq_url,
        logs = log_file.display(),
    );
}

/// Drops and re-creates the warehouse's database: a new run must not inherit factory orders
/// that a simulator which no longer exists accepted (their products would stay empty until
/// the watchdog's deadline).
async fn fresh_database(url: &str) -> anyhow::Result<()> {
    use mysql_async::prelude::Queryable;
    let opts = mysql_async::Opts::from_url(url).context("DATABASE_URL")?;
    let name = opts
        .db_name()
        .context("DATABASE_URL names no database")?
        .to_owned();
    anyhow::ensure!(
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "refusing to re-create a database named {name:?}"
    );
    let server = mysql_async::OptsBuilder::from_opts(opts).db_name(None::<String>);
    let mut conn = mysql_async::Conn::new(server)
        .await
        .context("MariaDB is not reachable (scripts/services.sh start)")?;
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{name}`"))
        .await?;
    conn.query_drop(format!("CREATE DATABASE `{name}`")).await?;
    conn.disconnect().await?;
    Ok(())
}

/// Factory orders a previous run's simulator accepted and never called back for (0 when
/// there is no warehouse yet).
async fn unfinished_factory_orders(url: &str) -> u64 {
    use mysql_async::prelude::Queryable;
    let Ok(mut conn) = mysql_async::Conn::from_url(url).await else {
        return 0;
    };
    conn.query_first("SELECT COUNT(*) FROM factory_orders WHERE status = 'requested'")
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}
