//! `donut-bench` (`make bench`): every figure beside its baseline, measured in the same run on
//! the same database, printed as a table and written to `bench/results/<date>.md` with a
//! latency plot (SVG).
//!
//! It starts its own Donut-States (the `make up` code path: `LocalSystem::start`) on the MariaDB and
//! LocalStack that `scripts/services.sh start` runs, in a database and resource prefix of its
//! own, and release `bootstrap` binaries for the cold-start figure (built by `make bench`).

mod cgroup;
mod cold_start;
mod docs;
mod handler_cpu;
mod lambda_shape;
mod memory;
mod purchase;
mod report;
mod runtime_api;
mod second_opinion;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use donut_config::StageConfig;
use donut_local::{LocalSystem, SystemOptions};
use factory_sim::Knobs;
use mysql_async::prelude::*;

use crate::report::{Figure, Report};

/// The simulator's delay in the restock benchmark.
const FACTORY_DELAY: Duration = Duration::from_millis(1000);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn own_database(server: &str) -> anyhow::Result<String> {
    let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let admin = mysql_async::Pool::new(server);
    admin
        .get_conn()
        .await
        .context("no MariaDB: run `scripts/services.sh start` (make bench does)")?
        .query_drop(format!("CREATE DATABASE `{name}`"))
        .await?;
    admin.disconnect().await?;
    Ok(format!("{}/{name}", server.trim_end_matches('/')))
}

/// A functions' user of the bench's own on its database, made as the migrate function makes
/// it (`ensure_app_user`: exactly the deployed grants); its URL.
async fn functions_user(database_url: &str) -> anyhow::Result<String> {
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let user = format!("benchfn_{}", &suffix[..8]);
    let password = format!("{suffix}{suffix}");
    let master =
        donut_warehouse::MySqlWarehouse::new(&donut_warehouse::DbConfig::from_url(database_url)?);
    master
        .ensure_app_user(&user, &password, "127.0.0.0/255.0.0.0")
        .await?;
    master.close().await;
    let (scheme, rest) = database_url.split_once("://").context("a mysql:// URL")?;
    let (_, host_and_db) = rest.rsplit_once('@').context("a URL with a login")?;
    Ok(format!("{scheme}://{user}:{password}@{host_and_db}"))
}

/// The handler's CPU per purchase at every N (sales-api and the minimal handler as Lambda
/// instances), then the memory table (`memory`; a note in its place where no cgroup can be
/// made, any other failure fails the bench).
async fn handler_and_memory(
    report: &mut Report,
    stack: &LocalSystem,
    pool: &mysql_async::Pool,
    bin_dir: &std::path::Path,
    functions_url: &str,
    aws: &str,
    stage: &StageConfig,
) -> anyhow::Result<()> {
    let db_ca = std::env::var("DONUT_BENCH_DB_CA")
        .context("DONUT_BENCH_DB_CA: the database's CA (`make bench` sets it)")?;
    let lambdas = handler_cpu::Lambdas {
        stack,
        bin_dir,
        aws_endpoint: aws,
        region: &stage.region,
        db_ca: &db_ca,
        functions_url,
    };
    for &n in &lambda_shape::INSTANCES {
        eprintln!("  the handler's CPU, N = {n} processes each…");
        report.handler.push(
            handler_cpu::point(
                &lambdas,
                stage.memory_mb(donut_config::Function::SalesApi),
                n,
            )
            .await?,
        );
    }
    eprintln!("memory sizes: one instance under each size's CPU share…");
    match memory::table(&lambdas, pool).await {
        Ok(rows) => report.memory = rows,
        Err(e) => match e.downcast_ref::<cgroup::NoCgroup>() {
            Some(no) => report.memory_note = format!("Not measured: {no}."),
            None => return Err(e),
        },
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let server = std::env::var("DONUT_BENCH_DB_URL")
        .unwrap_or_else(|_| "mysql://donut:donut@127.0.0.1:3307".into());
    let aws = std::env::var("DONUT_BENCH_AWS_ENDPOINT")
        .unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let database_url = own_database(&server).await?;
    let stage = StageConfig::from_stack_file("dev", &root().join("Pulumi.dev.yaml"))?;
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    eprintln!("starting the stack…");
    let stack = LocalSystem::start(
        SystemOptions {
            stage: stage.clone(),
            prefix: format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            database_url: database_url.clone(),
            app_user: format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            operator_user: format!("bop_{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            aws_endpoint: aws.clone(),
            api_addr: any,
            factory_lane_addr: any,
            throttled: false,
            factory_addr: any,
            factory_knobs: Knobs {
                delay_ms: FACTORY_DELAY.as_millis() as u64,
                ..Knobs::default()
            },
            factory_seed: Some(1),
            visibility_timeout_seconds: 5,
            alarm_period_seconds: 10,
            relay_interval: Duration::from_millis(250),
            watchdog: donut_domain::usecases::WatchdogPolicy {
                deadline: Duration::from_secs(60),
                open_deadline: Duration::from_secs(60),
                max_attempts: stage.factory_max_attempts,
            },
            seed_products: false,
        },
        &mut |step, took| eprintln!("  {step}: {} ms", took.as_millis()),
    )
    .await?;

    let mut report = Report::new();
    // DONUT_BENCH_ONLY=sale: the sale at N = 32 and its parts, printed, nothing written;
    // DONUT_BENCH_ONLY=handler: the handler's CPU and the memory table, the same.
    let only = std::env::var("DONUT_BENCH_ONLY").unwrap_or_default();
    let only_sale = only == "sale";
    let only_handler = only == "handler";
    // First, as it needs no database: a function that cannot start stops the bench early.
    eprintln!("Lambda cold start…");
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(PathBuf::from)
        .context("donut-bench has no directory")?;
    if only.is_empty() {
        report.cold = cold_start::measure(&bin_dir).await?;
    }
    for (function, size) in cold_start::zip_sizes(&root()) {
        let name = format!("{} bootstrap.zip (arm64)", function.name());
        report.figures.push(match size {
            Some(bytes) => Figure::goal(&name, bytes as f64 / 1e6, "MB", 8.0),
            None => Figure::missing(&name, "run `make lambdas`"),
        });
    }
    // The baselines get as many connections as the API's pool (DbConfig's default, 16).
    let opts = mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&database_url)?)
        .pool_opts(
            mysql_async::PoolOpts::default()
                .with_constraints(mysql_async::PoolConstraints::new(0, 16).expect("0 ≤ 16")),
        );
    let pool = mysql_async::Pool::new(opts);
    purchase::shelves(&pool).await?;
    memory::prepare(&pool).await?;
    lambda_shape::minimal_procedures(&mut pool.get_conn().await?).await?;
    let functions_url = functions_user(&database_url).await?;
    // The functions as Lambda instances first (their processes start on a quiet machine).
    if only.is_empty() || only_handler {
        handler_and_memory(
            &mut report,
            &stack,
            &pool,
            &bin_dir,
            &functions_url,
            &aws,
            &stage,
        )
        .await?;
    }
    if only_handler {
        stack.stop().await;
        print!("{}", report.lambda_tables());
        return Ok(());
    }

    eprintln!("purchase path: API vs raw conditional UPDATE vs read-then-write…");
    let p = if only_sale {
        purchase::Throughput::default()
    } else {
        purchase::throughput(&stack.api_url, &pool).await?
    };
    report.figures.push(Figure::ratio(
        "purchase throughput: API ÷ raw conditional UPDATE (32 clients, 16 connections)",
        p.api.rate(),
        p.raw.rate(),
        "req/s",
        Some(0.8),
    ));
    report.figures.push(Figure::ratio(
        "purchase throughput: API ÷ course read-then-write (32 clients, 16 connections)",
        p.api.rate(),
        p.read_then_write.rate(),
        "req/s",
        None,
    ));
    report.latency = vec![
        ("API (HTTP → handler → MySQL)", p.api.clone()),
        ("raw UPDATE", p.raw.clone()),
        ("read-then-write", p.read_then_write.clone()),
    ];

    eprintln!("purchase path, Lambda-shaped (N instances × 1 connection)…");
    let server = lambda_shape::ServerCpu::from_env();
    if !server.known() {
        eprintln!("  (no DONUT_BENCH_DB_PID: server CPU per purchase left out)");
    }
    // Every path and its baselines log in as the functions' user, with its grants (as on AWS);
    // the trim study's own tables are the master user's.
    let instances: &[usize] = if only_sale {
        &[32]
    } else {
        &lambda_shape::INSTANCES
    };
    for &n in instances {
        eprintln!("  N = {n} ({} interleaved repeats)", lambda_shape::REPEATS);
        report
            .lambda
            .push(lambda_shape::point(&functions_url, n, &server).await?);
    }
    eprintln!("  what the sale does beyond the minimal purchase (N = 32)…");
    report.parts = lambda_shape::parts(&functions_url, 32, &server).await?;
    if only_sale {
        // Nothing else was measured.
        report.figures.clear();
        stack.stop().await;
        print!("{}", report.lambda_tables());
        return Ok(());
    }
    eprintln!("  what the order row costs (N = 32)…");
    report.trims = lambda_shape::trims(&database_url, 32, &server).await?;

    eprintln!("idempotency-key sweep on 1 000 000 keys…");
    let (expired, idle, swept) = purchase::key_sweep(&database_url).await?;
    report.figures.push(Figure::goal(
        &format!("idempotency-key sweep, one scheduled run ({swept} of 1 000 000 expired keys)"),
        expired.as_secs_f64(),
        "s",
        // Well inside the outbox-relay function's 60 s timeout.
        30.0,
    ));
    report.figures.push(Figure::goal(
        "idempotency-key sweep, one scheduled run (1 000 000 live keys, none expired)",
        idle.as_secs_f64() * 1000.0,
        "ms",
        100.0,
    ));

    eprintln!("oversell: 32 buyers at 500 donuts…");
    let o = purchase::oversell(&stack.api_url, &pool).await?;
    report.figures.push(Figure::compare(
        "units oversold, 500 in stock (ours vs read-then-write)",
        o.ours as f64,
        o.course as f64,
        "units",
        Some(0.0),
    ));

    eprintln!("rush: 500 buyers at one shelf…");
    let r = purchase::rush(&stack.api_url, &pool).await?;
    report.figures.push(Figure::compare(
        "factory orders per stock-out episode, 500-buyer rush (ours vs course)",
        r.ours as f64,
        r.course as f64,
        "orders",
        Some(1.0),
    ));

    eprintln!(
        "stock-out → restock, simulator delay {} ms…",
        FACTORY_DELAY.as_millis()
    );
    let overhead = purchase::restock_overhead(&stack.api_url, &database_url, FACTORY_DELAY).await?;
    report.figures.push(Figure::goal(
        "stock-out → restock minus factory delay (median of 5)",
        overhead.as_secs_f64(),
        "s",
        1.0,
    ));

    eprintln!("the seed's scenario, by donut-load and by vegeta…");
    let vegeta = root().join(".local/bin/vegeta");
    if vegeta.exists() {
        report.second_opinion.push(
            second_opinion::donut_load(&stack.api_url, &database_url, "bench-course-load").await?,
        );
        report
            .second_opinion
            .push(second_opinion::vegeta(&vegeta, &stack.api_url, "bench-course-vegeta").await?);
    } else {
        report.second_opinion_note = "vegeta is not built: `make bench` builds it".into();
    }

    stack.stop().await;
    pool.disconnect().await.ok();

    print!("{}{}", report.table(), report.lambda_tables());
    let mut written = report.write(&root().join("bench/results"))?;
    written.push(docs::update(&root())?);
    eprintln!(
        "\nwritten: {}",
        written
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
