//! The purchase path against its baselines, on one database at one concurrency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use donut_load::{Scenario, Settings, Summary};

use crate::lambda_shape::{Instance, drive};
use donut_domain::ExpiredKeys;
use mysql_async::prelude::*;
use serde_json::{Value, json};

pub const CONCURRENCY: usize = 32;
const PURCHASES: u64 = 4000;

/// The shelves each measurement uses.
pub async fn shelves(pool: &mysql_async::Pool) -> anyhow::Result<()> {
    let mut conn = pool.get_conn().await?;
    for (id, qty, point, reorder) in [
        ("bench-api", 1_000_000, 0, 10),
        ("bench-raw", 1_000_000, 0, 10),
        ("bench-rtw", 1_000_000, 0, 10),
        // No reorder (quantity 0): a restock mid-measurement would look like an oversell.
        ("bench-oversell-ours", 500, 0, 0),
        ("bench-oversell-course", 500, 0, 0),
        ("bench-rush", 50, 10, 100),
        ("bench-restock", 10, 0, 20),
        ("bench-ls-http", 1_000_000, 0, 0),
        ("bench-ls-handler", 1_000_000, 0, 0),
        ("bench-ls-store", 1_000_000, 0, 0),
        ("bench-ls-minimal", 1_000_000, 0, 0),
        ("bench-ls-bare", 1_000_000, 0, 0),
        ("bench-ls-store-keyed", 1_000_000, 0, 0),
        ("bench-ls-http-keyed", 1_000_000, 0, 0),
        ("bench-ls-trim", 1_000_000, 0, 0),
        ("bench-ls-parts", 1_000_000, 0, 0),
        ("bench-ls-lambda", 1_000_000, 0, 0),
        ("bench-ls-lambda-keyed", 1_000_000, 0, 0),
        ("bench-ls-lambda-minimal", 1_000_000, 0, 0),
        // The seed's scenario: sold out within the run, then refused; no restock.
        ("bench-course-load", crate::second_opinion::UNITS, 0, 0),
        ("bench-course-vegeta", crate::second_opinion::UNITS, 0, 0),
    ] {
        conn.exec_drop(
            "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, factory_product_id) \
             VALUES (?, ?, 100, ?, ?, ?, '9')",
            (id, id, qty, point, reorder),
        )
        .await?;
    }
    Ok(())
}

/// Runs `one` from `CONCURRENCY` workers until `total` calls are made; each call reports
/// its status (200 sold, 409 refused…).
async fn closed_loop<F, Fut>(total: u64, one: F) -> Summary
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    let one = Arc::new(one);
    let workers = (0..CONCURRENCY).map(|_| Worker(one.clone())).collect();
    drive(workers, total).await.1
}

/// One of the workers sharing `closed_loop`'s call.
struct Worker<F>(Arc<F>);

impl<F, Fut> Instance for Worker<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = u16> + Send,
{
    async fn buy(&mut self) -> u16 {
        (self.0)().await
    }
}

fn api_buyer(
    api: &str,
    product: &'static str,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>> + Send + Sync + 'static
{
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let url = format!("{api}/orders");
    move || {
        let request = http
            .post(&url)
            .json(&json!({ "product_id": product, "quantity": 1 }));
        Box::pin(async move {
            request
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        })
    }
}

/// The conditional UPDATE alone, autocommitted: the floor of what a purchase can cost.
fn raw_buyer(
    pool: &mysql_async::Pool,
    product: &'static str,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>> + Send + Sync + 'static
{
    let pool = pool.clone();
    move || {
        let pool = pool.clone();
        Box::pin(async move {
            let Ok(mut conn) = pool.get_conn().await else {
                return 0;
            };
            match conn
                .exec_drop(
                    "UPDATE products SET qty = qty - ? WHERE product_id = ? AND qty >= ?",
                    (1, product, 1),
                )
                .await
            {
                Ok(()) if conn.affected_rows() == 1 => 200,
                Ok(()) => 409,
                Err(_) => 0,
            }
        })
    }
}

/// The course's Node handler: read the stock, then write the new absolute value.
fn read_then_write_buyer(
    pool: &mysql_async::Pool,
    product: &'static str,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = u16> + Send>> + Send + Sync + 'static
{
    let pool = pool.clone();
    move || {
        let pool = pool.clone();
        Box::pin(async move {
            let Ok(mut conn) = pool.get_conn().await else {
                return 0;
            };
            let Ok(Some(qty)) = conn
                .exec_first::<i64, _, _>(
                    "SELECT qty FROM products WHERE product_id = ?",
                    (product,),
                )
                .await
            else {
                return 0;
            };
            if qty < 1 {
                return 409;
            }
            match conn
                .exec_drop(
                    "UPDATE products SET qty = ? WHERE product_id = ?",
                    (qty - 1, product),
                )
                .await
            {
                Ok(()) => 200,
                Err(_) => 0,
            }
        })
    }
}

#[derive(Default)]
pub struct Throughput {
    pub api: Summary,
    pub raw: Summary,
    pub read_then_write: Summary,
}

pub async fn throughput(api: &str, pool: &mysql_async::Pool) -> anyhow::Result<Throughput> {
    // Warm every path (connections, prepared statements) before measuring.
    closed_loop(200, api_buyer(api, "bench-api")).await;
    closed_loop(200, raw_buyer(pool, "bench-raw")).await;
    closed_loop(200, read_then_write_buyer(pool, "bench-rtw")).await;
    let api_summary = closed_loop(PURCHASES, api_buyer(api, "bench-api")).await;
    let raw = closed_loop(PURCHASES, raw_buyer(pool, "bench-raw")).await;
    let read_then_write = closed_loop(PURCHASES, read_then_write_buyer(pool, "bench-rtw")).await;
    anyhow::ensure!(
        api_summary.sold_units == PURCHASES,
        "API purchases failed: {:?}",
        api_summary.statuses
    );
    Ok(Throughput {
        api: api_summary,
        raw,
        read_then_write,
    })
}

pub struct Oversell {
    pub ours: i64,
    pub course: i64,
}

/// 32 buyers keep buying 1 until refused, on 500 units: units sold beyond 500.
pub async fn oversell(api: &str, pool: &mysql_async::Pool) -> anyhow::Result<Oversell> {
    let ours = closed_loop(2000, api_buyer(api, "bench-oversell-ours")).await;
    let course = closed_loop(2000, read_then_write_buyer(pool, "bench-oversell-course")).await;
    Ok(Oversell {
        ours: ours.sold_units as i64 - 500,
        course: course.sold_units as i64 - 500,
    })
}

pub struct Rush {
    pub ours: i64,
    pub course: i64,
}

/// 500 buyers at once on 50 units, reorder point 10: factory orders we open, and the ones
/// the course's flow would have sent (one per buyer who found the shelf at or below the
/// reorder point).
pub async fn rush(api: &str, pool: &mysql_async::Pool) -> anyhow::Result<Rush> {
    let http = reqwest::Client::new();
    let buyers = (0..500).map(|_| {
        let request = http
            .post(format!("{api}/orders"))
            .json(&json!({ "product_id": "bench-rush", "quantity": 1 }));
        async move {
            let r = request.send().await.ok()?;
            let status = r.status().as_u16();
            let body: Value = r.json().await.ok()?;
            Some((status, body["remaining"].as_i64()))
        }
    });
    let answers = futures::future::join_all(buyers).await;
    let course = answers
        .iter()
        .flatten()
        .filter(|(status, remaining)| {
            *status == 409 || (*status == 200 && remaining.is_some_and(|r| r <= 10))
        })
        .count() as i64;
    let ours: i64 = pool
        .get_conn()
        .await?
        .query_first("SELECT COUNT(*) FROM factory_orders WHERE product_id = 'bench-rush'")
        .await?
        .unwrap_or_default();
    Ok(Rush { ours, course })
}

/// Median over five stock-outs of (stock-out → restock) − the factory's delay.
pub async fn restock_overhead(
    api: &str,
    database_url: &str,
    delay: Duration,
) -> anyhow::Result<Duration> {
    let mut samples = Vec::new();
    for _ in 0..5 {
        let settings = Settings {
            target: api.to_owned(),
            scenario: Scenario::Stockout,
            rate: 1.0,
            duration: Duration::from_secs(30),
            max_requests: 1000,
            max_in_flight: 1,
            product: "bench-restock".into(),
            quantity: 10,
            database_url: Some(database_url.to_owned()),
            progress: false,
        };
        let report = donut_load::run(&settings).await?;
        if let Some(failed) = report.checks.iter().find(|c| c.held == Some(false)) {
            anyhow::bail!(
                "invariant broken during the restock benchmark: {}: {}",
                failed.name,
                failed.detail
            );
        }
        let latency = report
            .restock_latency
            .ok_or_else(|| anyhow::anyhow!("no restock within 30 s"))?;
        samples.push(latency.saturating_sub(delay));
    }
    samples.sort();
    Ok(samples[samples.len() / 2])
}

/// What sweeping idempotency keys costs on a table of 1 000 000: one scheduled run (the
/// outbox-relay function's: 50 statements of 1 000) when every key has expired, and the same
/// run when none has (the index answers at once). Returns (expired run, idle run, rows swept).
pub async fn key_sweep(database_url: &str) -> anyhow::Result<(Duration, Duration, u64)> {
    let pool = mysql_async::Pool::new(database_url);
    let mut conn = pool.get_conn().await?;
    conn.query_drop("DELETE FROM idempotency_keys").await?;
    // 10^6 rows from six digits, in one statement (MySQL and MariaDB alike).
    let fill = |expired: bool| {
        format!(
            "INSERT INTO idempotency_keys (idem_key, fingerprint, order_id, remaining, \
             created_at, expires_at) \
             SELECT CONCAT('bench-sweep-', n), 'bench 1', UUID(), 0, UTC_TIMESTAMP(6), \
                    UTC_TIMESTAMP(6) {} INTERVAL 1 HOUR \
             FROM (SELECT a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d AS n \
                   FROM {D} a, {D} b, {D} c, {D} e, {D} f, {D} g) digits",
            if expired { "-" } else { "+" },
            D = "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 \
                 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 \
                 UNION ALL SELECT 8 UNION ALL SELECT 9)"
        )
    };
    let warehouse =
        donut_warehouse::MySqlWarehouse::new(&donut_warehouse::DbConfig::from_url(database_url)?);
    conn.query_drop(fill(false)).await?;
    let started = Instant::now();
    let idle_swept = warehouse.sweep_expired_keys(1000, 50).await?;
    let idle = started.elapsed();
    anyhow::ensure!(idle_swept == 0, "live keys were swept");
    conn.query_drop("DELETE FROM idempotency_keys").await?;
    conn.query_drop(fill(true)).await?;
    let started = Instant::now();
    let swept = warehouse.sweep_expired_keys(1000, 50).await?;
    let expired = started.elapsed();
    conn.query_drop("DELETE FROM idempotency_keys").await?;
    warehouse.close().await;
    drop(conn);
    pool.disconnect().await.ok();
    Ok((expired, idle, swept))
}
