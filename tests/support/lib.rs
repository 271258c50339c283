//! `spawn_stack`: one whole Donut-States per test — its own database, its own LocalStack
//! resources (a unique name prefix), its own ports — started through the same
//! `LocalSystem::start` that `make up` runs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use donut_config::StageConfig;
use donut_domain::usecases::WatchdogPolicy;
use donut_local::{LocalSystem, SystemOptions};
pub use donut_testkit::{Shelf, TestDb};
use factory_sim::{Knobs, Stats};
use serde_json::{Value, json};

pub use factory_sim;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn aws_endpoint() -> String {
    std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// Every test's log lines, as JSON, in one file per test binary.
pub fn log_file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let path = root()
            .join("target")
            .join("e2e-logs")
            .join(format!("{}.jsonl", std::process::id()));
        donut_local::telemetry::init(&path, false).expect("log file");
        path
    })
}

/// The JSON log lines that mention `needle`.
pub fn log_lines_with(needle: &str) -> Vec<Value> {
    std::fs::read_to_string(log_file())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub struct TestStack {
    pub stack: LocalSystem,
    pub db: TestDb,
    pub http: reqwest::Client,
    pub stage: StageConfig,
    /// The functions' database user the stack's migrate made (from loopback).
    pub app_user: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The correlation id the API made for the request (`x-correlation-id` of the answer).
    pub correlation_id: String,
}

/// The watchdog in tests: a callback overdue after 2 s, three requests, then ops hear of it.
/// Open orders are chased only in the tests that ask for it ([`spawn_stack_watched`]): the
/// others watch a message's own way to the DLQ.
pub const WATCHDOG: WatchdogPolicy = WatchdogPolicy {
    deadline: Duration::from_secs(2),
    open_deadline: Duration::from_secs(3600),
    max_attempts: 3,
};

pub async fn spawn_stack(shelves: &[Shelf], knobs: Knobs) -> TestStack {
    spawn_stack_with(TestDb::with_shelves(shelves).await, aws_endpoint(), knobs).await
}

/// A stack whose watchdog follows `policy`.
pub async fn spawn_stack_watched(
    shelves: &[Shelf],
    knobs: Knobs,
    policy: WatchdogPolicy,
) -> TestStack {
    start(
        TestDb::with_shelves(shelves).await,
        aws_endpoint(),
        knobs,
        Setup {
            watchdog: policy,
            ..Setup::default()
        },
    )
    .await
}

/// How a test's stack differs from the default one.
pub struct Setup {
    pub watchdog: WatchdogPolicy,
    /// The gateways throttle as the stage's API Gateway stages do.
    pub throttled: bool,
    /// Changes to the dev stage's config.
    pub stage: fn(&mut StageConfig),
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            watchdog: WATCHDOG,
            throttled: false,
            stage: |_| {},
        }
    }
}

/// A stack set up as `setup` says.
pub async fn spawn_stack_set_up(shelves: &[Shelf], knobs: Knobs, setup: Setup) -> TestStack {
    start(
        TestDb::with_shelves(shelves).await,
        aws_endpoint(),
        knobs,
        setup,
    )
    .await
}

impl TestStack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.api_url)
    }

    /// A path on the factory's lane (the API of its callback alone).
    pub fn lane_url(&self, path: &str) -> String {
        format!("{}{path}", self.stack.factory_lane_url)
    }

    /// Buys, sending `reference` as the buyer's own `x-correlation-id`.
    pub async fn buy(&self, product: &str, quantity: i64, reference: &str) -> Reply {
        let r = self
            .http
            .post(self.url("/orders"))
            .header("x-correlation-id", reference)
            .json(&json!({ "product_id": product, "quantity": quantity }))
            .send()
            .await
            .expect("the API answers");
        let correlation_id = r
            .headers()
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Reply {
            status: r.status().as_u16(),
            correlation_id,
            body: r.json().await.unwrap_or(Value::Null),
        }
    }

    pub async fn stock(&self, product: &str) -> i64 {
        let r = self
            .http
            .get(self.url(&format!("/products/{product}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["stock"].as_i64().unwrap()
    }

    /// The simulator's counts. Its URL throttles as Lambda does (429 past the reserved
    /// instances' request rate, which a flood in the test may just have used up): asked again
    /// after a pause, as an AWS client retries a throttle.
    pub async fn factory_stats(&self) -> Stats {
        for _ in 0..20 {
            let r = self.factory(reqwest::Method::GET, "/stats", None).await;
            if r.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(r.status(), 200);
                return r.json().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("the simulator's /stats: throttled for 5 s");
    }

    /// A call to the factory simulator's URL (`/knobs`, `/stats`), signed as the local
    /// functions sign (its function URL takes `AWS_IAM`).
    pub async fn factory(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.stack.factory_url));
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut request = request.build().unwrap();
        donut_local::function_url::sign_local(&mut request, &self.stage.region)
            .await
            .unwrap();
        self.http.execute(request).await.unwrap()
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.stack.aws)
    }

    /// Buys the last unit of `product` from a factory that fails every call, and waits until
    /// its stock-out sits in the DLQ: the ops toolbox's queues and what it lists there (one).
    pub async fn dead_lettered(
        &self,
        product: &str,
        correlation_id: &str,
    ) -> (donut_cli::Queues, Vec<donut_cli::DeadLetter>) {
        assert_eq!(self.buy(product, 1, correlation_id).await.status, 200);
        let dlq = self.stack.resources.dlq_url.clone();
        eventually(
            Duration::from_secs(60),
            "the message in the DLQ",
            || async { self.queue_depth(&dlq).await == 1 },
        )
        .await;
        let queues = donut_cli::Queues::find(self.sqs(), &self.stack.prefix)
            .await
            .unwrap();
        let letters = donut_cli::list(&queues, 10).await.unwrap();
        assert_eq!(letters.len(), 1);
        (queues, letters)
    }

    /// Messages visible plus in flight on a queue.
    pub async fn queue_depth(&self, url: &str) -> i64 {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes.unwrap_or_default();
        let n = |k: &A| {
            attrs
                .get(k)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        n(&A::ApproximateNumberOfMessages) + n(&A::ApproximateNumberOfMessagesNotVisible)
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }
}

/// Polls `check` every 100 ms until it holds or `limit` passes; returns the time it took.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {limit:?}");
}

/// The e-mails LocalStack captured (SNS e-mail subscriptions and SES).
pub async fn captured_emails() -> Vec<Value> {
    let r = reqwest::get(format!("{}/_aws/ses", aws_endpoint()))
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A TCP proxy in front of a service, to cut it off and bring it back (fault tests).
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (o, c) = (open.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !o.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                c.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                }));
            }
        });
        Self {
            addr,
            open,
            connections,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Refuses new connections and breaks the open ones.
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for c in self.connections.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// Like [`spawn_stack`], with the database and the AWS endpoint given.
pub async fn spawn_stack_with(db: TestDb, aws_endpoint: String, knobs: Knobs) -> TestStack {
    start(db, aws_endpoint, knobs, Setup::default()).await
}

async fn start(db: TestDb, aws_endpoint: String, knobs: Knobs, setup: Setup) -> TestStack {
    log_file();
    let mut stage = StageConfig::from_stack_file("dev", &root().join("Pulumi.dev.yaml"))
        .expect("Pulumi.dev.yaml");
    // A hanging factory costs the request timeout per try: keep it short in tests.
    stage.factory_timeout_ms = 1000;
    (setup.stage)(&mut stage);
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    let id = uuid::Uuid::new_v4().simple().to_string();
    let app_user = format!("fn_{}", &id[..12]);
    let options = SystemOptions {
        stage: stage.clone(),
        prefix: format!("e2e-{}", &id[..12]),
        database_url: db.url.clone(),
        // The stack's migrate makes its own functions' user (tests share the server).
        app_user: app_user.clone(),
        operator_user: format!("op_{}", &id[..12]),
        aws_endpoint,
        api_addr: any_port,
        factory_lane_addr: any_port,
        throttled: setup.throttled,
        factory_addr: any_port,
        factory_knobs: knobs,
        factory_seed: Some(42),
        visibility_timeout_seconds: 2,
        alarm_period_seconds: 10,
        relay_interval: Duration::from_millis(250),
        watchdog: setup.watchdog,
        seed_products: false,
    };
    let stack = LocalSystem::start(options, &mut |_, _| {})
        .await
        .expect("the stack starts");
    TestStack {
        stack,
        db,
        http: reqwest::Client::new(),
        stage,
        app_user,
    }
}
