//! The legacy Factory API, simulated.
//!
//! `POST /api/manufactures` takes the legacy payload and answers the legacy shape
//! (`{"data": {"data": …, "id": …, "reqestor": null}}`); after `delay_ms` it POSTs the same
//! payload to `CallbackUrl`. Knobs make it misbehave the way the real one did: 5xx answers,
//! requests that hang, callbacks sent twice or never. `GET /stats` counts what happened;
//! `PUT /knobs` changes the knobs of a running simulator.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use donut_factory::ManufactureRequest;
use donut_factory::contract::{AcceptedData, MANUFACTURES_PATH, ManufactureAccepted};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// How the simulator behaves. Rates are probabilities in `0.0..=1.0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Knobs {
    /// Delay before the callback, in ms.
    pub delay_ms: u64,
    /// Answer 500 to this share of orders (nothing is made).
    pub fail_rate: f64,
    /// Answer 500 to the first N orders, whatever the rates say.
    pub fail_first: u64,
    /// Never answer this share of orders (the client must time out).
    pub hang_rate: f64,
    /// Call back twice for this share of accepted orders.
    pub duplicate_rate: f64,
    /// Never call back for this share of accepted orders.
    pub drop_rate: f64,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            delay_ms: 1000,
            fail_rate: 0.0,
            fail_first: 0,
            hang_rate: 0.0,
            duplicate_rate: 0.0,
            drop_rate: 0.0,
        }
    }
}

impl Knobs {
    /// Reads `FACTORY_DELAY_MS`, `FACTORY_FAIL_RATE`, `FACTORY_FAIL_FIRST`, `FACTORY_HANG_RATE`,
    /// `FACTORY_DUPLICATE_RATE`, `FACTORY_DROP_RATE`; unset ones keep their defaults.
    pub fn from_env() -> anyhow::Result<Self> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
            match std::env::var(name) {
                Ok(raw) => raw
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{name}={raw:?} is not a valid value")),
                Err(_) => Ok(default),
            }
        }
        let d = Self::default();
        let knobs = Self {
            delay_ms: var("FACTORY_DELAY_MS", d.delay_ms)?,
            fail_rate: var("FACTORY_FAIL_RATE", d.fail_rate)?,
            fail_first: var("FACTORY_FAIL_FIRST", d.fail_first)?,
            hang_rate: var("FACTORY_HANG_RATE", d.hang_rate)?,
            duplicate_rate: var("FACTORY_DUPLICATE_RATE", d.duplicate_rate)?,
            drop_rate: var("FACTORY_DROP_RATE", d.drop_rate)?,
        };
        knobs.validate()?;
        Ok(knobs)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, rate) in [
            ("fail_rate", self.fail_rate),
            ("hang_rate", self.hang_rate),
            ("duplicate_rate", self.duplicate_rate),
            ("drop_rate", self.drop_rate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "{name} must be within 0..=1, got {rate}"
            );
        }
        Ok(())
    }
}

/// What the simulator did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub received: u64,
    pub accepted: u64,
    pub failed: u64,
    pub hung: u64,
    pub callbacks_sent: u64,
    pub callbacks_failed: u64,
    pub callbacks_dropped: u64,
    pub duplicates_sent: u64,
}

struct Inner {
    knobs: Knobs,
    rng: StdRng,
    stats: Stats,
}

#[derive(Clone)]
struct Sim {
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

enum Verdict {
    Fail,
    Hang,
    Accept { delay: Duration, callbacks: u32 },
}

impl Sim {
    fn judge(&self) -> Verdict {
        let mut inner = self.inner.lock().expect("simulator state");
        let Inner { knobs, rng, stats } = &mut *inner;
        stats.received += 1;
        if stats.received <= knobs.fail_first || rng.random_bool(knobs.fail_rate) {
            stats.failed += 1;
            return Verdict::Fail;
        }
        if rng.random_bool(knobs.hang_rate) {
            stats.hung += 1;
            return Verdict::Hang;
        }
        stats.accepted += 1;
        let callbacks = if rng.random_bool(knobs.drop_rate) {
            stats.callbacks_dropped += 1;
            0
        } else if rng.random_bool(knobs.duplicate_rate) {
            stats.duplicates_sent += 1;
            2
        } else {
            1
        };
        Verdict::Accept {
            delay: Duration::from_millis(knobs.delay_ms),
            callbacks,
        }
    }

    fn count(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.inner.lock().expect("simulator state").stats);
    }
}

async fn manufacture(
    State(sim): State<Sim>,
    body: Result<Json<ManufactureRequest>, axum::extract::rejection::JsonRejection>,
) -> (StatusCode, Json<serde_json::Value>) {
    let Ok(Json(order)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid manufacture request" })),
        );
    };
    match sim.judge() {
        Verdict::Fail => {
            tracing::info!(product = %order.message_attribute_product_id, "answering 500");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "factory overloaded" })),
            )
        }
        Verdict::Hang => {
            tracing::info!(product = %order.message_attribute_product_id, "hanging");
            std::future::pending::<()>().await;
            unreachable!("pending never resolves")
        }
        Verdict::Accept { delay, callbacks } => {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::info!(%id, product = %order.message_attribute_product_id, qty = order.order_stock_cnt, callbacks, "accepted");
            tokio::spawn(call_back(sim.clone(), order.clone(), delay, callbacks));
            let accepted = ManufactureAccepted {
                data: AcceptedData {
                    data: order,
                    id,
                    reqestor: None,
                },
            };
            (
                StatusCode::OK,
                Json(serde_json::to_value(accepted).expect("serialisable")),
            )
        }
    }
}

/// The legacy factory calls back once and does not retry; a failed callback is lost.
async fn call_back(sim: Sim, order: ManufactureRequest, delay: Duration, times: u32) {
    tokio::time::sleep(delay).await;
    for _ in 0..times {
        let result = sim.http.post(&order.callback_url).json(&order).send().await;
        match result {
            Ok(r) if r.status().is_success() => sim.count(|s| s.callbacks_sent += 1),
            Ok(r) => {
                tracing::warn!(status = r.status().as_u16(), "callback refused");
                sim.count(|s| s.callbacks_failed += 1);
            }
            Err(e) => {
                tracing::warn!(error = %e, "callback failed");
                sim.count(|s| s.callbacks_failed += 1);
            }
        }
    }
}

async fn stats(State(sim): State<Sim>) -> Json<Stats> {
    Json(sim.inner.lock().expect("simulator state").stats.clone())
}

async fn get_knobs(State(sim): State<Sim>) -> Json<Knobs> {
    Json(sim.inner.lock().expect("simulator state").knobs.clone())
}

async fn put_knobs(
    State(sim): State<Sim>,
    Json(knobs): Json<Knobs>,
) -> (StatusCode, Json<serde_json::Value>) {
    if let Err(e) = knobs.validate() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": e.to_string() })),
        );
    }
    tracing::info!(?knobs, "knobs changed");
    sim.inner.lock().expect("simulator state").knobs = knobs.clone();
    (
        StatusCode::OK,
        Json(serde_json::to_value(knobs).expect("serialisable")),
    )
}

/// A running simulator.
pub struct FactorySim {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FactorySim {
    /// Binds `addr` (use port 0 for any) and serves until dropped. `seed` makes the dice
    /// reproducible.
    pub async fn start(addr: SocketAddr, knobs: Knobs, seed: Option<u64>) -> anyhow::Result<Self> {
        knobs.validate()?;
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let sim = Sim {
            inner: Arc::new(Mutex::new(Inner {
                knobs,
                rng,
                stats: Stats::default(),
            })),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10))
                .build()?,
        };
        let app = axum::Router::new()
            .route(MANUFACTURES_PATH, post(manufacture))
            .route("/stats", get(stats))
            .route("/knobs", get(get_knobs).put(put_knobs))
            .route("/health", get(|| async { "ok" }))
            .with_state(sim);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "factory simulator stopped");
            }
        });
        Ok(Self { addr, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FactorySim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
