//! The purchase path the way Lambda runs it: N instances, each with one database connection of
//! its own, each serving one request at a time. Beside ours, in the same run and shaped the same
//! way, the two baselines — the bare conditional UPDATE (the floor) and the minimal correct
//! purchase (conditional UPDATE + order row, one transaction, one round trip) — and ours without
//! the HTTP framing (the handler called with the event, as the Lambda runtime calls it), so the
//! gap splits into database, handler and HTTP. The database server's CPU time is read from
//! `/proc/<pid>/stat` around each run.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use donut_api::{Limits, SalesApi};
use donut_apigw::{HttpCall, to_lambda_request};
use donut_domain::{
    CorrelationId, IdempotencyKey, ProductId, PurchaseOutcome, PurchaseRequest, Quantity, Shelves,
};
use donut_load::Summary;
use donut_warehouse::{DbConfig, MySqlWarehouse};
use mysql_async::prelude::*;

/// Instances per run: one, a few, the stage's reserved concurrency, beyond it.
pub const INSTANCES: [usize; 4] = [1, 8, 32, 64];
/// Purchases per measured run (after a warm-up of [`WARM_UP_EACH`] per instance).
pub const PURCHASES: u64 = 4000;
pub const WARM_UP_EACH: u64 = 10;
/// Each path runs this many times, interleaved with the others (a machine's load drifts);
/// the run with the median throughput is reported.
pub const REPEATS: usize = 3;

/// One instance: buys once, answers with the HTTP status it stands for (200 sold, 409 refused,
/// 0 failed).
pub trait Instance: Send + 'static {
    fn buy(&mut self) -> impl Future<Output = u16> + Send;

    /// What went wrong last, where the instance knows more than a status.
    fn last_error(&self) -> Option<String> {
        None
    }
}

/// What one path did at one N.
#[derive(Clone, Default)]
pub struct Run {
    pub summary: Summary,
    /// CPU per purchase (user + system) of what the run watches: the database server's, when
    /// its pid is known; for the functions run as processes (`handler_cpu`), theirs.
    pub cpu_per_op: Option<Duration>,
}

/// One row of the Lambda-shaped table.
#[derive(Clone)]
pub struct Point {
    pub instances: usize,
    /// Ours: HTTP → local API Gateway → handler → warehouse.
    pub http: Run,
    /// The same, each purchase with an `Idempotency-Key` header of its own.
    pub http_keyed: Run,
    /// Ours without HTTP: the handler fed the event.
    pub handler: Run,
    /// Ours without the handler: the warehouse adapter's `purchase` (the procedure).
    pub store: Run,
    /// The same, each purchase with an `Idempotency-Key` of its own.
    pub store_keyed: Run,
    pub minimal: Run,
    pub bare: Run,
}

/// `total` purchases from `instances`, each one request at a time; the instances come back for
/// the next run.
pub async fn drive<I: Instance>(instances: Vec<I>, total: u64) -> (Vec<I>, Summary) {
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = instances
        .into_iter()
        .map(|mut instance| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut s = Summary::default();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    let status = instance.buy().await;
                    s.record(t.elapsed(), Some(status), u64::from(status == 200));
                }
                (instance, s)
            })
        })
        .collect();
    let mut back = Vec::new();
    let mut summary = Summary::default();
    for task in tasks {
        let (instance, s) = task.await.expect("an instance panicked");
        summary.merge(&s);
        back.push(instance);
    }
    summary.elapsed = started.elapsed();
    (back, summary)
}

/// Warms every instance (connection, prepared statements), then measures one run; the
/// instances come back for the next repeat.
pub async fn measure<I: Instance>(
    instances: Vec<I>,
    server: &ServerCpu,
) -> anyhow::Result<(Vec<I>, Run)> {
    measure_cpu(instances, |_| server.read(), |_| || {}).await
}

/// [`measure`], the CPU read by `cpu` (a running total) around the measured run; `start` is
/// called as it starts, and what it returns as it ends.
pub async fn measure_cpu<I: Instance, Stop: FnOnce()>(
    instances: Vec<I>,
    cpu: impl Fn(&[I]) -> Option<Duration>,
    start: impl FnOnce(&[I]) -> Stop,
) -> anyhow::Result<(Vec<I>, Run)> {
    let n = instances.len() as u64;
    let (instances, _) = drive(instances, n * WARM_UP_EACH).await;
    let stop = start(&instances);
    let before = cpu(&instances);
    let (instances, summary) = drive(instances, PURCHASES).await;
    let after = cpu(&instances);
    stop();
    let cpu_per_op = match (before, after) {
        (Some(a), Some(b)) => b
            .checked_sub(a)
            .map(|spent| spent / summary.requests().max(1) as u32),
        _ => None,
    };
    anyhow::ensure!(
        summary.sold_units == PURCHASES,
        "purchases failed in the Lambda-shaped run: {:?}{}",
        summary.statuses,
        instances
            .iter()
            .find_map(Instance::last_error)
            .map(|e| format!(" (last error: {e})"))
            .unwrap_or_default()
    );
    Ok((
        instances,
        Run {
            summary,
            cpu_per_op,
        },
    ))
}

/// The run with the median throughput.
fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.summary.rate().total_cmp(&b.summary.rate()));
    runs.swap_remove(runs.len() / 2)
}

/// One path's instances, kept across repeats.
pub enum Path {
    Http(Vec<Http>),
    Handler(Vec<Handler>),
    Store(Vec<Store>),
    Minimal(Vec<Minimal>),
    Bare(Vec<Bare>),
    /// Functions run as Lambda instances (processes): their own CPU is measured.
    Lambda(Vec<crate::handler_cpu::Process>),
}

impl Path {
    async fn run(self, server: &ServerCpu) -> anyhow::Result<(Self, Run)> {
        Ok(match self {
            Path::Http(v) => measure(v, server).await.map(|(v, r)| (Path::Http(v), r))?,
            Path::Handler(v) => measure(v, server)
                .await
                .map(|(v, r)| (Path::Handler(v), r))?,
            Path::Store(v) => measure(v, server).await.map(|(v, r)| (Path::Store(v), r))?,
            Path::Minimal(v) => measure(v, server)
                .await
                .map(|(v, r)| (Path::Minimal(v), r))?,
            Path::Bare(v) => measure(v, server).await.map(|(v, r)| (Path::Bare(v), r))?,
            Path::Lambda(v) => measure_cpu(
                v,
                |v| v.iter().map(|p| p.cpu()).sum(),
                crate::handler_cpu::profile,
            )
            .await
            .map(|(v, r)| (Path::Lambda(v), r))?,
        })
    }
}

/// Runs `paths` [`REPEATS`] times, interleaved; the median run of each.
pub async fn interleaved(mut paths: Vec<Path>, server: &ServerCpu) -> anyhow::Result<Vec<Run>> {
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); paths.len()];
    for _ in 0..REPEATS {
        let mut next = Vec::with_capacity(paths.len());
        for (i, path) in paths.into_iter().enumerate() {
            let (path, run) = path.run(server).await?;
            runs[i].push(run);
            next.push(path);
        }
        paths = next;
    }
    Ok(runs.into_iter().map(median).collect())
}

/// Every path at `n` instances.
pub async fn point(database_url: &str, n: usize, server: &ServerCpu) -> anyhow::Result<Point> {
    let paths = vec![
        Path::Http(http(database_url, n, "bench-ls-http", false).await?),
        Path::Http(http(database_url, n, "bench-ls-http-keyed", true).await?),
        Path::Handler(handler(database_url, n, "bench-ls-handler").await?),
        Path::Store(store(database_url, n, "bench-ls-store", false).await?),
        Path::Store(store(database_url, n, "bench-ls-store-keyed", true).await?),
        Path::Minimal(
            minimal(
                database_url,
                n,
                "bench-ls-minimal",
                "bench_minimal",
                OrderIds::Random,
            )
            .await?,
        ),
        Path::Bare(bare(database_url, n, "bench-ls-bare").await?),
    ];
    let mut runs = interleaved(paths, server).await?.into_iter();
    let mut next = || runs.next().expect("one run per path");
    Ok(Point {
        instances: n,
        http: next(),
        http_keyed: next(),
        handler: next(),
        store: next(),
        store_keyed: next(),
        minimal: next(),
        bare: next(),
    })
}

/// The order row's costs: the minimal purchase on each orders table, at `n` instances.
pub async fn trims(
    database_url: &str,
    n: usize,
    server: &ServerCpu,
) -> anyhow::Result<Vec<(&'static str, Run)>> {
    let mut paths = Vec::new();
    for (_, procedure, _, ids) in ORDER_TABLES {
        paths.push(Path::Minimal(
            minimal(database_url, n, "bench-ls-trim", procedure, ids).await?,
        ));
    }
    let runs = interleaved(paths, server).await?;
    Ok(ORDER_TABLES.iter().map(|t| t.2).zip(runs).collect())
}

/// A connection set up as the warehouse's pool sets its own (UTC, READ COMMITTED), so the
/// baselines run under the same isolation as ours.
async fn connect(database_url: &str) -> anyhow::Result<mysql_async::Conn> {
    let opts = mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(database_url)?)
        .init(vec![
            "SET time_zone = '+00:00'",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ]);
    Ok(mysql_async::Conn::new(opts).await?)
}

/// The database server's CPU time, from its pid (`DONUT_BENCH_DB_PID`).
pub struct ServerCpu {
    pid: Option<u32>,
}

impl ServerCpu {
    pub fn from_env() -> Self {
        Self {
            pid: std::env::var("DONUT_BENCH_DB_PID")
                .ok()
                .and_then(|p| p.trim().parse().ok()),
        }
    }

    /// utime + stime of the whole process. Linux reports them in USER_HZ ticks, which is 100
    /// on every architecture Linux runs this on (10 ms resolution: a run of thousands of
    /// purchases spends seconds).
    pub fn read(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        // Fields after the command name (which may hold spaces) start at state, field 3.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(Duration::from_millis(ticks * 10))
    }

    /// Reads nothing (runs that measure something else).
    pub fn none() -> Self {
        Self { pid: None }
    }

    pub fn known(&self) -> bool {
        self.read().is_some()
    }
}

/// The conditional UPDATE alone, autocommitted, on its own connection.
pub struct Bare {
    conn: mysql_async::Conn,
    product: &'static str,
}

impl Instance for Bare {
    async fn buy(&mut self) -> u16 {
        match self
            .conn
            .exec_drop(
                "UPDATE products SET qty = qty - ? WHERE product_id = ? AND qty >= ?",
                (1, self.product, 1),
            )
            .await
        {
            Ok(()) if self.conn.affected_rows() == 1 => 200,
            Ok(()) => 409,
            Err(_) => 0,
        }
    }
}

/// The least a correct purchase does: the conditional UPDATE and, when it sold, the order row,
/// in one transaction, in one round trip (a procedure per orders table, made by [`minimal_procedures`]).
/// Also the sale's parts study ([`PARTS`]): a procedure called as the warehouse calls it.
pub struct Minimal {
    conn: mysql_async::Conn,
    product: &'static str,
    procedure: &'static str,
    ids: OrderIds,
    call: Call,
}

/// How a procedure is called and says it sold.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// (product, quantity, order id, correlation id); answers 1 when it sold.
    Minimal,
    /// `donut_sell_v5` without a key, as the previous release calls it; answers `sold` second.
    SellV5,
    /// `donut_sell_v6`, as the warehouse calls it without a key; a sale above the reorder point
    /// answers one column, the stock left.
    SellV6,
}

/// How the minimal purchase names its order rows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OrderIds {
    /// Random (UUID v4), as `OrderId` does.
    Random,
    /// Time-ordered (UUID v7): each new key lands at the end of the primary key.
    TimeOrdered,
    /// The table's AUTO_INCREMENT.
    Server,
}

impl Instance for Minimal {
    async fn buy(&mut self) -> u16 {
        let id = match self.ids {
            OrderIds::Random => Some(uuid::Uuid::new_v4().to_string()),
            OrderIds::TimeOrdered => Some(uuid::Uuid::now_v7().to_string()),
            OrderIds::Server => None,
        };
        let correlation = "bench-correlation";
        let row: Result<Option<mysql_async::Row>, _> = match self.call {
            Call::Minimal => {
                self.conn
                    .exec_first(
                        format!("CALL {}(?, ?, ?, ?)", self.procedure),
                        (self.product, 1, id, correlation),
                    )
                    .await
            }
            Call::SellV5 => {
                self.conn
                    .exec_first(
                        "CALL donut_sell_v5(?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            self.product,
                            1,
                            id,
                            correlation,
                            None::<String>,
                            format!("{} 1", self.product),
                            86_400,
                            None::<String>,
                        ),
                    )
                    .await
            }
            Call::SellV6 => {
                self.conn
                    .exec_first(
                        "CALL donut_sell_v6(?, ?, ?, ?, ?)",
                        (self.product, 1, id, correlation, None::<String>),
                    )
                    .await
            }
        };
        let sold = match (self.call, row) {
            (_, Err(_)) => return 0,
            (_, Ok(None)) => false,
            (Call::Minimal, Ok(Some(row))) => row.get::<u8, _>(0) == Some(1),
            (Call::SellV5, Ok(Some(row))) => row.get::<u8, _>(1) == Some(1),
            (Call::SellV6, Ok(Some(row))) => row.len() == 1,
        };
        if sold { 200 } else { 409 }
    }
}

/// Ours without HTTP: the sales handler with a one-connection warehouse, fed the API Gateway
/// event the Lambda runtime would hand it.
pub struct Handler {
    api: SalesApi<MySqlWarehouse>,
    body: Vec<u8>,
}

impl Instance for Handler {
    async fn buy(&mut self) -> u16 {
        let call = HttpCall {
            method: "POST",
            path: "/orders",
            raw_query: "",
            headers: vec![("content-type".into(), "application/json".into())],
            body: &self.body,
            source_ip: "127.0.0.1",
        };
        let Ok(request) = to_lambda_request(&call) else {
            return 0;
        };
        self.api.handle(request).await.status().as_u16()
    }
}

/// Ours without the handler: `Shelves::purchase` on a one-connection warehouse.
pub struct Store {
    warehouse: MySqlWarehouse,
    product: ProductId,
    /// Each purchase with an `Idempotency-Key` of its own (a new key: the write it costs).
    keyed: bool,
}

impl Instance for Store {
    async fn buy(&mut self) -> u16 {
        let request = PurchaseRequest {
            product_id: self.product.clone(),
            quantity: Quantity::parse(1, 10).expect("1 is a quantity"),
            correlation_id: CorrelationId::new(),
            idempotency_key: self.keyed.then(|| {
                IdempotencyKey::unquoted(&uuid::Uuid::new_v4().to_string())
                    .expect("a UUID is a key")
            }),
            buyer: None,
        };
        match self.warehouse.purchase(&request).await {
            Ok(PurchaseOutcome::Sold(_)) => 200,
            Ok(_) => 409,
            Err(_) => 0,
        }
    }
}

/// Ours through HTTP: an instance of the local API Gateway in front of its own handler, and a
/// client keeping one connection to it.
pub struct Http {
    client: reqwest::Client,
    url: String,
    body: Vec<u8>,
    /// Each purchase with an `Idempotency-Key` of its own.
    keyed: bool,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Instance for Http {
    async fn buy(&mut self) -> u16 {
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json");
        if self.keyed {
            request = request.header("idempotency-key", uuid::Uuid::new_v4().to_string());
        }
        request
            .body(self.body.clone())
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

fn order_body(product: &str) -> Vec<u8> {
    serde_json::json!({ "product_id": product, "quantity": 1 })
        .to_string()
        .into_bytes()
}

fn one_connection_warehouse(database_url: &str) -> anyhow::Result<MySqlWarehouse> {
    let mut config = DbConfig::from_url(database_url)?;
    config.max_connections = 1;
    Ok(MySqlWarehouse::new(&config))
}

fn one_connection_api(database_url: &str) -> anyhow::Result<SalesApi<MySqlWarehouse>> {
    Ok(SalesApi::new(
        one_connection_warehouse(database_url)?,
        Limits {
            max_quantity: 10,
            max_body_bytes: 16 * 1024,
        },
    ))
}

pub async fn bare(
    database_url: &str,
    n: usize,
    product: &'static str,
) -> anyhow::Result<Vec<Bare>> {
    instances(n, || async move {
        Ok(Bare {
            conn: connect(database_url).await?,
            product,
        })
    })
    .await
}

pub async fn minimal(
    database_url: &str,
    n: usize,
    product: &'static str,
    procedure: &'static str,
    ids: OrderIds,
) -> anyhow::Result<Vec<Minimal>> {
    let mut out = called(database_url, n, product, procedure, Call::Minimal).await?;
    for m in &mut out {
        m.ids = ids;
    }
    Ok(out)
}

async fn called(
    database_url: &str,
    n: usize,
    product: &'static str,
    procedure: &'static str,
    call: Call,
) -> anyhow::Result<Vec<Minimal>> {
    instances(n, || async move {
        Ok(Minimal {
            conn: connect(database_url).await?,
            product,
            procedure,
            ids: OrderIds::Random,
            call,
        })
    })
    .await
}

pub async fn store(
    database_url: &str,
    n: usize,
    product: &'static str,
    keyed: bool,
) -> anyhow::Result<Vec<Store>> {
    instances(n, || async move {
        Ok(Store {
            warehouse: one_connection_warehouse(database_url)?,
            product: ProductId::parse(product)?,
            keyed,
        })
    })
    .await
}

pub async fn handler(
    database_url: &str,
    n: usize,
    product: &'static str,
) -> anyhow::Result<Vec<Handler>> {
    instances(n, || async move {
        Ok(Handler {
            api: one_connection_api(database_url)?,
            body: order_body(product),
        })
    })
    .await
}

/// `n` instances, each from `make` (each with a connection of its own).
async fn instances<I, F, Fut>(n: usize, mut make: F) -> anyhow::Result<Vec<I>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<I>>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(make().await?);
    }
    Ok(out)
}

pub async fn http(
    database_url: &str,
    n: usize,
    product: &'static str,
    keyed: bool,
) -> anyhow::Result<Vec<Http>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let api = Arc::new(one_connection_api(database_url)?);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}/orders", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let gateway = donut_local::gateway::Gateway {
            sales_api: donut_local::gateway::invoker(api.clone()),
            // The bench never calls the callback route; the sales handler answers it with 404.
            warehouse_restock: donut_local::gateway::invoker(api.clone()),
            // Nor the operators' routes (the sales handler answers them with 404).
            admin_api: donut_local::gateway::invoker(api),
            static_json: Arc::new(Vec::new()),
            // No IAM route is called.
            iam: Arc::new(donut_local::gateway::IamAuthorization::local("us-east-1")),
            // The stages' buyers are anonymous by default: no token is checked.
            jwt: None,
            throttles: None,
            serves: donut_local::gateway::all_routes,
        };
        tokio::spawn(donut_local::gateway::serve(listener, gateway, async move {
            let _ = stopped.await;
        }));
        out.push(Http {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?,
            url,
            body: order_body(product),
            keyed,
            _stop: stop,
        });
    }
    Ok(out)
}

/// The orders tables the trim study compares, each with the minimal purchase's procedure:
/// (table, procedure, DDL beyond the columns, how ids are made).
pub const ORDER_TABLES: [(&str, &str, &str, OrderIds); 5] = [
    (
        "orders",
        "bench_minimal",
        "as migrated: UUID v4 key, index on product, foreign key",
        OrderIds::Random,
    ),
    (
        "orders",
        "bench_minimal",
        "as migrated, time-ordered ids (UUID v7)",
        OrderIds::TimeOrdered,
    ),
    (
        "bench_orders_nofk",
        "bench_minimal_nofk",
        "UUID v4 key, index on product, no foreign key",
        OrderIds::Random,
    ),
    (
        "bench_orders_bare",
        "bench_minimal_bare",
        "UUID v4 key, no index on product, no foreign key",
        OrderIds::Random,
    ),
    (
        "bench_orders_auto",
        "bench_minimal_auto",
        "AUTO_INCREMENT key, index on product, foreign key",
        OrderIds::Server,
    ),
];

/// What the sale does beyond the minimal purchase, one part at a time, each beside the minimal
/// purchase (`bench_minimal`): (what, procedure, how it is called). The parts are the minimal
/// purchase plus one thing `donut_sell_v5` (migration 012) does, made by [`minimal_procedures`];
/// then `donut_sell_v5` and `donut_sell_v6` (migration 013) whole, without a key.
pub const PARTS: [(&str, &str, Call); 6] = [
    ("minimal purchase", "bench_minimal", Call::Minimal),
    (
        "+ the unit price read again (INSERT … SELECT from the product's row)",
        "bench_part_price",
        Call::Minimal,
    ),
    (
        "+ 13 local variables declared, unused (v5 declares 14; this sale uses 2)",
        "bench_part_variables",
        Call::Minimal,
    ),
    (
        "+ the twelve-column answer",
        "bench_part_answer",
        Call::Minimal,
    ),
    (
        "donut_sell_v5 (migration 012), no key",
        "donut_sell_v5",
        Call::SellV5,
    ),
    (
        "donut_sell_v6 (migration 013), no key",
        "donut_sell_v6",
        Call::SellV6,
    ),
];

/// The sale's parts ([`PARTS`]) at `n` instances, interleaved.
pub async fn parts(
    database_url: &str,
    n: usize,
    server: &ServerCpu,
) -> anyhow::Result<Vec<(&'static str, Run)>> {
    let mut paths = Vec::new();
    for (_, procedure, call) in PARTS {
        paths.push(Path::Minimal(
            called(database_url, n, "bench-ls-parts", procedure, call).await?,
        ));
    }
    let runs = interleaved(paths, server).await?;
    Ok(PARTS.iter().map(|p| p.0).zip(runs).collect())
}

/// The minimal purchase as one procedure per orders table, in the bench's own database.
pub async fn minimal_procedures(conn: &mut mysql_async::Conn) -> anyhow::Result<()> {
    let columns = "product_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
                   quantity INT UNSIGNED NOT NULL, correlation_id VARCHAR(128) NOT NULL, \
                   created_at DATETIME(6) NOT NULL";
    for ddl in [
        format!(
            "CREATE TABLE bench_orders_nofk (order_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
             {columns}, PRIMARY KEY (order_id), KEY by_product (product_id)) ENGINE = InnoDB"
        ),
        format!(
            "CREATE TABLE bench_orders_bare (order_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
             {columns}, PRIMARY KEY (order_id)) ENGINE = InnoDB"
        ),
        format!(
            "CREATE TABLE bench_orders_auto (order_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, \
             {columns}, PRIMARY KEY (order_id), KEY by_product (product_id), \
             FOREIGN KEY (product_id) REFERENCES products (product_id)) ENGINE = InnoDB"
        ),
    ] {
        conn.query_drop(ddl).await?;
    }
    for (table, procedure, _, ids) in ORDER_TABLES {
        if ids == OrderIds::TimeOrdered {
            continue; // same table and procedure as the random ids
        }
        let insert = if ids == OrderIds::Server {
            format!(
                "INSERT INTO {table} (product_id, quantity, correlation_id, created_at) \
                 VALUES (p_product, p_quantity, p_correlation, UTC_TIMESTAMP(6))"
            )
        } else {
            format!(
                "INSERT INTO {table} (order_id, product_id, quantity, correlation_id, created_at) \
                 VALUES (p_order, p_product, p_quantity, p_correlation, UTC_TIMESTAMP(6))"
            )
        };
        conn.query_drop(format!(
            "CREATE PROCEDURE {procedure}(
                IN p_product VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin,
                IN p_quantity INT UNSIGNED,
                IN p_order CHAR(36) CHARACTER SET ascii COLLATE ascii_bin,
                IN p_correlation VARCHAR(128))
             BEGIN
                DECLARE v_sold INT DEFAULT 0;
                DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;
                START TRANSACTION;
                UPDATE products SET qty = qty - p_quantity
                 WHERE product_id = p_product AND qty >= p_quantity;
                SET v_sold = ROW_COUNT();
                IF v_sold = 1 THEN {insert}; END IF;
                COMMIT;
                SELECT v_sold;
             END"
        ))
        .await?;
    }
    // The parts study's procedures: the minimal purchase on `orders`, plus one thing each.
    let head = "(IN p_product VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin, \
                IN p_quantity INT UNSIGNED, \
                IN p_order CHAR(36) CHARACTER SET ascii COLLATE ascii_bin, \
                IN p_correlation VARCHAR(128)) BEGIN DECLARE v_sold INT DEFAULT 0;";
    let sale = "DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END; \
                START TRANSACTION; \
                UPDATE products SET qty = qty - p_quantity \
                 WHERE product_id = p_product AND qty >= p_quantity; \
                SET v_sold = ROW_COUNT();";
    let insert = "INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at) \
                  VALUES (p_order, p_product, p_quantity, p_correlation, UTC_TIMESTAMP(6));";
    let variables = "DECLARE v_found INT DEFAULT 0; DECLARE v_packed BIGINT UNSIGNED; \
         DECLARE v_stock INT UNSIGNED; DECLARE v_point INT UNSIGNED; \
         DECLARE v_reorder_qty INT UNSIGNED; \
         DECLARE v_factory_pid VARCHAR(64) CHARACTER SET utf8mb4; \
         DECLARE v_open_id CHAR(36) CHARACTER SET ascii COLLATE ascii_bin; \
         DECLARE v_open_status VARCHAR(16) CHARACTER SET utf8mb4; \
         DECLARE v_key_taken INT DEFAULT 0; DECLARE v_expired INT DEFAULT 0; \
         DECLARE v_replay_order CHAR(36) CHARACTER SET ascii COLLATE ascii_bin; \
         DECLARE v_replay_fingerprint VARCHAR(96) CHARACTER SET ascii COLLATE ascii_bin; \
         DECLARE v_replay_opened INT DEFAULT 0;";
    for (procedure, body) in [
        (
            "bench_part_price",
            format!(
                "{sale} IF v_sold = 1 THEN \
                 INSERT INTO orders (order_id, product_id, quantity, correlation_id, created_at, \
                 unit_price_cents) SELECT p_order, p_product, p_quantity, p_correlation, \
                 UTC_TIMESTAMP(6), price_cents FROM products WHERE product_id = p_product; \
                 END IF; COMMIT; SELECT v_sold;"
            ),
        ),
        (
            "bench_part_variables",
            format!(
                "{variables} {sale} IF v_sold = 1 THEN {insert} END IF; COMMIT; SELECT v_sold;"
            ),
        ),
        (
            "bench_part_answer",
            format!(
                "{sale} IF v_sold = 1 THEN {insert} END IF; COMMIT; \
                 SELECT v_sold AS found, v_sold AS sold, 5 AS stock, 'done' AS step, \
                 NULL AS reorder_point, NULL AS reorder_qty, NULL AS factory_product_id, \
                 NULL AS open_id, NULL AS open_status, NULL AS replay_order_id, \
                 NULL AS replay_fingerprint, 0 AS replay_opened_now;"
            ),
        ),
    ] {
        conn.query_drop(format!("CREATE PROCEDURE {procedure}{head} {body} END"))
            .await?;
    }
    Ok(())
}
