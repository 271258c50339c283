//! The legacy Factory API, simulated.
//!
//! `POST /api/manufactures` takes the legacy payload and answers the legacy shape
//! (`{"data": {"data": …, "id": …, "reqestor": null}}`); after `delay_ms` it POSTs the same
//! payload to `CallbackUrl`. Knobs make it misbehave the way the real one did: 5xx answers,
//! requests that hang, callbacks sent twice or never. `GET /stats` counts what happened;
//! `PUT /knobs` changes the knobs of a running simulator.
//!
//! The same simulator runs in this process (`FactorySim`, the local stack) or deployed as a
//! Lambda behind a function URL with IAM authorization ([`deployed`]), where a delay queue calls
//! back instead of a sleeping task. Lambda checks a deployed simulator's callers before it
//! runs; the local stack puts the same check in front of the in-process one
//! (`FactorySim::start_with`).

pub mod deployed;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
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

/// An order whose factory product id (`MessageAttributeProductId`) starts with this, followed
/// by a Unix time in seconds (`refuse-until-1767225600-…`), is refused (500) until then,
/// whatever the knobs say: orders refused on purpose, on a deployed simulator too, whose knobs
/// are the stage's (`make smoke`'s ops path). Only an operator can ask for it — a product's
/// factory id is set through the operators' API (IAM-signed) and nothing a buyer sends reaches
/// the factory request — and only for a while: a time more than [`MAX_REFUSAL`] ahead is not
/// honoured.
pub const REFUSE_UNTIL_PREFIX: &str = "refuse-until-";

/// The longest refusal honoured: what the smoke test's ops path needs (its orders' message
/// received `maxReceiveCount` times, one visibility timeout each, and half as long again).
pub const MAX_REFUSAL: std::time::Duration = std::time::Duration::from_secs(20 * 60);

/// The factory product id that asks for refusals until `until_unix_seconds` (and names `run`).
pub fn refuse_until(until_unix_seconds: u64, run: &str) -> String {
    format!("{REFUSE_UNTIL_PREFIX}{until_unix_seconds}-{run}")
}

/// Until when an order for `factory_product_id` is to be refused, at `now` (Unix seconds).
fn refused_until(factory_product_id: &str, now: u64) -> Option<u64> {
    let rest = factory_product_id.strip_prefix(REFUSE_UNTIL_PREFIX)?;
    let until: u64 = rest.split('-').next()?.parse().ok()?;
    (now < until && until <= now + MAX_REFUSAL.as_secs()).then_some(until)
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How an accepted order is called back.
#[derive(Clone)]
pub enum Callbacks {
    /// After the delay, by this process (the local stack, the tests).
    InProcess,
    /// Deployed: the order goes to a queue whose messages become visible after the delay
    /// (SQS `DelaySeconds`, at most 15 minutes), and whoever consumes it calls back
    /// ([`Simulator::deliver`]). Only URLs under `callback_base` are called: a public
    /// simulator must not post to any address a stranger names.
    DelayQueue {
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        callback_base: String,
    },
}

/// The most SQS delays a message (`DelaySeconds`, 0 to 900).
pub const MAX_QUEUE_DELAY_SECONDS: u64 = 900;

/// One accepted order to call back, as the delay queue carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub order: ManufactureRequest,
    /// How many times to call back (0: dropped, 2: a duplicate).
    pub times: u32,
}

struct Inner {
    knobs: Knobs,
    rng: StdRng,
    stats: Stats,
}

/// The simulator: the dice, what happened, and how it calls back. Clones share all three.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
    callbacks: Callbacks,
}

enum Verdict {
    Fail,
    Hang,
    Accept { delay: Duration, callbacks: u32 },
}

impl Simulator {
    /// `seed` makes the dice reproducible.
    pub fn new(knobs: Knobs, seed: Option<u64>, callbacks: Callbacks) -> anyhow::Result<Self> {
        knobs.validate()?;
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                knobs,
                rng,
                stats: Stats::default(),
            })),
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10))
                .build()?,
            callbacks,
        })
    }

    /// The legacy HTTP contract. `PUT /knobs` changes the knobs of a simulator in this
    /// process; a deployed one answers 405 (its knobs are the stage config's).
    pub fn router(&self) -> axum::Router {
        let knobs = match self.callbacks {
            Callbacks::InProcess => get(get_knobs).put(put_knobs),
            Callbacks::DelayQueue { .. } => get(get_knobs).put(knobs_fixed),
        };
        axum::Router::new()
            .route(MANUFACTURES_PATH, post(manufacture))
            .route("/stats", get(stats))
            .route("/knobs", knobs)
            .route("/health", get(|| async { "ok" }))
            .with_state(self.clone())
    }

    fn judge(&self, factory_product_id: &str) -> Verdict {
        let mut inner = self.inner.lock().expect("simulator state");
        let Inner { knobs, rng, stats } = &mut *inner;
        stats.received += 1;
        let told_to_refuse = refused_until(factory_product_id, now_unix()).is_some();
        if told_to_refuse || stats.received <= knobs.fail_first || rng.random_bool(knobs.fail_rate)
        {
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

    /// Schedules `delivery` after `delay`: a task here, or a delayed message.
    async fn schedule(&self, delivery: Delivery, delay: Duration) -> anyhow::Result<()> {
        match &self.callbacks {
            Callbacks::InProcess => {
                let sim = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    sim.deliver(delivery).await;
                });
                Ok(())
            }
            // A dropped callback needs no message.
            Callbacks::DelayQueue { .. } if delivery.times == 0 => Ok(()),
            Callbacks::DelayQueue { sqs, queue_url, .. } => {
                let seconds = delay.as_millis().div_ceil(1000) as u64;
                sqs.send_message()
                    .queue_url(queue_url)
                    .message_body(serde_json::to_string(&delivery)?)
                    .delay_seconds(seconds.min(MAX_QUEUE_DELAY_SECONDS) as i32)
                    .send()
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!("queueing the callback: {}", e.into_service_error())
                    })?;
                Ok(())
            }
        }
    }

    /// Calls back as the legacy factory did: once (or as `times` says), no retry; a failed
    /// callback is lost.
    pub async fn deliver(&self, delivery: Delivery) {
        let Some(url) = self.callback_target(&delivery.order.callback_url) else {
            tracing::error!(url = %delivery.order.callback_url, "not a callback this simulator may make");
            self.count(|s| s.callbacks_failed += delivery.times as u64);
            return;
        };
        for _ in 0..delivery.times {
            match self
                .http
                .post(url.clone())
                .json(&delivery.order)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => self.count(|s| s.callbacks_sent += 1),
                Ok(r) => {
                    tracing::warn!(status = r.status().as_u16(), "callback refused");
                    self.count(|s| s.callbacks_failed += 1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "callback failed");
                    self.count(|s| s.callbacks_failed += 1);
                }
            }
        }
    }

    /// The URL to call back, if the simulator may: in-process, any; deployed, only the
    /// stack's callback route (`/factory/callback/{id}` on the API's scheme, host and port),
    /// judged on the URL as it will be sent (parsed, so `..` and `%2e%2e` are resolved first).
    fn callback_target(&self, url: &str) -> Option<reqwest::Url> {
        let parsed = reqwest::Url::parse(url).ok()?;
        let Callbacks::DelayQueue { callback_base, .. } = &self.callbacks else {
            return Some(parsed);
        };
        let base = reqwest::Url::parse(callback_base).ok()?;
        let route: Vec<&str> = donut_contract::routes::paths::FACTORY_CALLBACK
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        let base_path: Vec<&str> = base.path_segments()?.filter(|s| !s.is_empty()).collect();
        let path: Vec<&str> = parsed.path_segments()?.collect();
        let same_origin = parsed.scheme() == base.scheme()
            && parsed.host_str() == base.host_str()
            && parsed.port_or_known_default() == base.port_or_known_default()
            && parsed.username().is_empty()
            && parsed.password().is_none();
        let expected = base_path.len() + route.len();
        let on_route = path.len() == expected
            && path[..base_path.len()] == base_path[..]
            && path[base_path.len()..]
                .iter()
                .zip(&route)
                .all(|(segment, part)| {
                    !segment.is_empty()
                        && (donut_contract::routes::parameter(part).is_some() || segment == part)
                });
        (same_origin && on_route).then_some(parsed)
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> (StatusCode, Json<serde_json::Value>) {
    (status, Json(json!({ "error": message.into() })))
}

async fn manufacture(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    body: Result<Json<ManufactureRequest>, axum::extract::rejection::JsonRejection>,
) -> (StatusCode, Json<serde_json::Value>) {
    let Ok(Json(order)) = body else {
        return error(StatusCode::BAD_REQUEST, "invalid manufacture request");
    };
    if sim.callback_target(&order.callback_url).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "CallbackUrl is not this stack's factory callback",
        );
    }
    let correlation_id = headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok());
    match sim.judge(&order.message_attribute_product_id) {
        Verdict::Fail => {
            tracing::info!(product = %order.message_attribute_product_id, correlation_id, "answering 500");
            error(StatusCode::INTERNAL_SERVER_ERROR, "factory overloaded")
        }
        Verdict::Hang => {
            tracing::info!(product = %order.message_attribute_product_id, "hanging");
            std::future::pending::<()>().await;
            unreachable!("pending never resolves")
        }
        Verdict::Accept { delay, callbacks } => {
            let id = uuid::Uuid::new_v4().to_string();
            tracing::info!(%id, product = %order.message_attribute_product_id, qty = order.order_stock_cnt, callbacks, "accepted");
            let delivery = Delivery {
                order: order.clone(),
                times: callbacks,
            };
            if let Err(e) = sim.schedule(delivery, delay).await {
                tracing::error!(error = %e, "cannot schedule the callback");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "factory cannot schedule");
            }
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

async fn stats(State(sim): State<Simulator>) -> Json<Stats> {
    Json(sim.inner.lock().expect("simulator state").stats.clone())
}

async fn get_knobs(State(sim): State<Simulator>) -> Json<Knobs> {
    Json(sim.inner.lock().expect("simulator state").knobs.clone())
}

/// Changes the knobs the body names and only those (`{"fail_rate": 1}` leaves the delay as it
/// is); a name that is not a knob, or a value out of range, changes nothing (400).
async fn put_knobs(
    State(sim): State<Simulator>,
    Json(change): Json<serde_json::Value>,
) -> (StatusCode, Json<serde_json::Value>) {
    let mut inner = sim.inner.lock().expect("simulator state");
    let mut merged = serde_json::to_value(&inner.knobs).expect("serialisable");
    let Some(change) = change.as_object() else {
        return error(StatusCode::BAD_REQUEST, "a JSON object of knobs to change");
    };
    for (name, value) in change {
        match merged.get_mut(name) {
            Some(knob) => *knob = value.clone(),
            None => return error(StatusCode::BAD_REQUEST, format!("no knob {name:?}")),
        }
    }
    let knobs: Knobs = match serde_json::from_value(merged) {
        Ok(knobs) => knobs,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    if let Err(e) = knobs.validate() {
        return error(StatusCode::BAD_REQUEST, e.to_string());
    }
    tracing::info!(?knobs, "knobs changed");
    inner.knobs = knobs.clone();
    (
        StatusCode::OK,
        Json(serde_json::to_value(knobs).expect("serialisable")),
    )
}

async fn knobs_fixed() -> (StatusCode, Json<serde_json::Value>) {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "a deployed simulator's knobs are its stage's config (donut-states:factorySim* keys): \
         change them with `pulumi config set` and `pulumi up`; to refuse a product's orders for a \
         while, give it (operators' API) the factory product id \
         refuse-until-<unix seconds, at most 20 minutes ahead>-<anything>",
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
        Self::start_with(addr, knobs, seed, |router| router).await
    }

    /// As [`start`](Self::start), every request going through what `wrap` puts in front of the
    /// simulator's routes first (the local stack's: the function URL's IAM authorization and
    /// its reserved instances, as Lambda answers before a deployed simulator runs).
    pub async fn start_with(
        addr: SocketAddr,
        knobs: Knobs,
        seed: Option<u64>,
        wrap: impl FnOnce(axum::Router) -> axum::Router,
    ) -> anyhow::Result<Self> {
        let app = wrap(Simulator::new(knobs, seed, Callbacks::InProcess)?.router());
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
