//! The scenarios: `rush` (buyers at one product), `mixed` (reads and buys across products),
//! `stockout` (drain a product, time the restock). Arrivals are open-loop at a fixed rate,
//! bounded by a duration, a request count and a cap on requests in flight.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::invariants::{self, Check};
use crate::summary::Summary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// N buyers hit one product at a fixed arrival rate.
    Rush,
    /// Several products: 80 % reads, 20 % buys.
    Mixed,
    /// Drain one product, then measure until the restock lands.
    Stockout,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub target: String,
    pub scenario: Scenario,
    /// Arrivals per second.
    pub rate: f64,
    pub duration: Duration,
    pub max_requests: u64,
    pub max_in_flight: usize,
    pub product: String,
    /// Units per order (stockout: the largest order the API accepts).
    pub quantity: u32,
    /// The warehouse, for the invariant checks (skipped without it).
    pub database_url: Option<String>,
    pub progress: bool,
}

pub struct Report {
    pub run_id: String,
    pub summary: Summary,
    /// Requests not sent because `max_in_flight` were outstanding (k6: dropped iterations).
    pub dropped: u64,
    pub restock_latency: Option<Duration>,
    pub checks: Vec<Check>,
}

struct Outcome {
    latency: Duration,
    status: Option<u16>,
    sold: u64,
}

#[derive(Default)]
struct Live {
    done: AtomicU64,
    errors: AtomicU64,
}

async fn open_loop<F, Fut>(settings: &Settings, request: F) -> (Summary, u64)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let interval = Duration::from_secs_f64(1.0 / settings.rate.max(0.001));
    let started = Instant::now();
    let deadline = started + settings.duration;
    let slots = Arc::new(tokio::sync::Semaphore::new(settings.max_in_flight.max(1)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();
    let live = Arc::new(Live::default());
    let progress = settings.progress.then(|| {
        let live = live.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let t = started.elapsed().as_secs_f64();
                let done = live.done.load(Ordering::Relaxed);
                eprint!(
                    "\r  {t:6.1}s  {done:>8} requests  {:>8.1}/s  errors {:<6}",
                    done as f64 / t,
                    live.errors.load(Ordering::Relaxed)
                );
            }
        })
    });
    let collector_live = live.clone();
    let collector = tokio::spawn(async move {
        let mut summary = Summary::default();
        while let Some(o) = rx.recv().await {
            summary.record(o.latency, o.status, o.sold);
            if o.status.is_none_or(|s| s >= 500) {
                collector_live.errors.fetch_add(1, Ordering::Relaxed);
            }
            collector_live.done.fetch_add(1, Ordering::Relaxed);
        }
        summary
    });

    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut sent, mut dropped) = (0u64, 0u64);
    while sent + dropped < settings.max_requests {
        ticker.tick().await;
        if Instant::now() >= deadline {
            break;
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            dropped += 1;
            continue;
        };
        let tx = tx.clone();
        let fut = request(sent);
        tokio::spawn(async move {
            let _ = tx.send(fut.await);
            drop(slot);
        });
        sent += 1;
    }
    drop(tx);
    let mut summary = collector.await.expect("collector");
    summary.elapsed = started.elapsed();
    if let Some(p) = progress {
        p.abort();
        eprintln!();
    }
    (summary, dropped)
}

/// Retries of one logical purchase after a 503 or a lost reply, each with its key.
const PURCHASE_ATTEMPTS: u32 = 4;

/// One logical purchase: its key is its correlation id, sent on every attempt, so a retry after
/// a 503 or a lost reply sells at most once (the API answers a retry of a sale with the sale).
async fn timed_post(
    http: reqwest::Client,
    url: String,
    correlation: String,
    body: Value,
) -> Outcome {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let response = http
            .post(&url)
            .header("x-correlation-id", &correlation)
            .header("idempotency-key", &correlation)
            .json(&body)
            .send()
            .await;
        let retry = match &response {
            Ok(r) => r.status().as_u16() == 503,
            Err(_) => true,
        };
        if retry && attempt < PURCHASE_ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
            continue;
        }
        let latency = started.elapsed();
        return match response {
            Ok(r) => {
                let status = r.status().as_u16();
                let sold = if status == 200 {
                    r.json::<Value>()
                        .await
                        .ok()
                        .and_then(|b| b["quantity"].as_u64())
                        .unwrap_or(0)
                } else {
                    0
                };
                Outcome {
                    latency,
                    status: Some(status),
                    sold,
                }
            }
            Err(_) => Outcome {
                latency,
                status: None,
                sold: 0,
            },
        };
    }
}

async fn timed_get(http: reqwest::Client, url: String) -> Outcome {
    let started = Instant::now();
    let status = http.get(url).send().await.ok().map(|r| r.status().as_u16());
    Outcome {
        latency: started.elapsed(),
        status,
        sold: 0,
    }
}

pub async fn stock(http: &reqwest::Client, target: &str, product: &str) -> anyhow::Result<i64> {
    let r = http
        .get(format!("{target}/products/{product}"))
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == 200,
        "GET /products/{product} answered {}",
        r.status()
    );
    let body: Value = r.json().await?;
    body["stock"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no stock in {body}"))
}

/// Runs one scenario and checks the invariants afterwards.
pub async fn run(settings: &Settings) -> anyhow::Result<Report> {
    crate::ensure_loopback(&settings.target)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(512)
        .build()?;
    let target = settings.target.trim_end_matches('/').to_owned();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let window = match &settings.database_url {
        Some(url) => Some(invariants::Window::open(url, &settings.product).await?),
        None => None,
    };

    let mut restock_latency = None;
    let (summary, dropped) = match settings.scenario {
        Scenario::Rush => {
            let body = json!({ "product_id": settings.product, "quantity": settings.quantity });
            open_loop(settings, |i| {
                timed_post(
                    http.clone(),
                    format!("{target}/orders"),
                    format!("load-{run_id}-{i}"),
                    body.clone(),
                )
            })
            .await
        }
        Scenario::Mixed => {
            let list: Value = http
                .get(format!("{target}/products"))
                .send()
                .await?
                .json()
                .await?;
            let products: Vec<String> = list["products"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p["product_id"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            anyhow::ensure!(!products.is_empty(), "no products to shop for");
            open_loop(settings, |i| {
                // A fixed, well-spread sequence: reproducible runs without a random source.
                let pick = (i.wrapping_mul(2_654_435_761) >> 7) as usize;
                let product = products[pick % products.len()].clone();
                let http = http.clone();
                let target = target.clone();
                let correlation = format!("load-{run_id}-{i}");
                let buy = pick.is_multiple_of(5);
                async move {
                    if buy {
                        timed_post(
                            http,
                            format!("{target}/orders"),
                            correlation,
                            json!({ "product_id": product, "quantity": 1 }),
                        )
                        .await
                    } else {
                        timed_get(http, format!("{target}/products/{product}")).await
                    }
                }
            })
            .await
        }
        Scenario::Stockout => {
            let (summary, latency) = stockout(&http, &target, &run_id, settings).await?;
            restock_latency = latency;
            (summary, 0)
        }
    };
    let checks = match window {
        Some(w) => w.close(&run_id, summary.sold_units).await?,
        None => vec![Check::skipped(
            "invariants",
            "no --database-url: nothing checked",
        )],
    };
    Ok(Report {
        run_id,
        summary,
        dropped,
        restock_latency,
        checks,
    })
}

/// Drains the product with the largest orders the API takes, then polls until stock is back.
async fn stockout(
    http: &reqwest::Client,
    target: &str,
    run_id: &str,
    settings: &Settings,
) -> anyhow::Result<(Summary, Option<Duration>)> {
    let deadline = Instant::now() + settings.duration;
    let mut summary = Summary::default();
    let started = Instant::now();
    let mut emptied_at = None;
    let mut i = 0;
    while emptied_at.is_none()
        && Instant::now() < deadline
        && summary.requests() < settings.max_requests
    {
        let left = stock(http, target, &settings.product).await?;
        let quantity = left.clamp(1, i64::from(settings.quantity.max(1)));
        let body = json!({ "product_id": settings.product, "quantity": quantity });
        let o = timed_post(
            http.clone(),
            format!("{target}/orders"),
            format!("load-{run_id}-{i}"),
            body,
        )
        .await;
        i += 1;
        summary.record(o.latency, o.status, o.sold);
        if o.status == Some(409) || (o.status == Some(200) && left == quantity) {
            emptied_at = Some(Instant::now());
        }
    }
    summary.elapsed = started.elapsed();
    let Some(emptied_at) = emptied_at else {
        return Ok((summary, None));
    };
    while Instant::now() < deadline {
        if stock(http, target, &settings.product).await? > 0 {
            return Ok((summary, Some(emptied_at.elapsed())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((summary, None))
}
