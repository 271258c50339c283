//! The handler's CPU per purchase, apart from the database's: N instances of sales-api's
//! release binary, each a process of its own polling a Runtime API of its own
//! (`runtime_api`), beside N instances of the minimal handler (`minimal-sale-lambda`: the same
//! runtime, one `CALL`, serde, JSON logs at INFO), each purchase handed over as the API Gateway
//! event Lambda receives. The figure is the processes' CPU time (every live thread, user and
//! system) over the measured run ÷ the purchases; the paths run interleaved, as the other
//! Lambda-shaped paths do.

use std::path::Path;
use std::time::Duration;

use donut_apigw::{HttpCall, event_json};
use donut_config::Function;
use donut_local::LocalSystem;

use crate::cgroup::CpuQuota;
use crate::lambda_shape::{self, Instance, Run, ServerCpu};
use crate::runtime_api::{Answer, LambdaProcess};

/// The minimal handler's binary (beside `donut-bench`).
pub const MINIMAL: &str = "minimal-sale-lambda";

/// `scripts/profile-handler.sh`'s profiles: with `DONUT_BENCH_PERF_DIR` set, each measured
/// run of the Lambda instances under `perf record -p` of their processes alone (not their
/// start, nor their warm-up), into `<dir>/<function>-n<N>-<unix ms>.data`; the returned closure
/// ends it. Does nothing without the variable.
pub fn profile(instances: &[Process]) -> impl FnOnce() + use<> {
    let recording = std::env::var("DONUT_BENCH_PERF_DIR")
        .ok()
        .zip(instances.first())
        .and_then(|(dir, first)| {
            let pids: Vec<String> = instances
                .iter()
                .map(|p| p.lambda.pid().to_string())
                .collect();
            let file = format!(
                "{dir}/{}-n{}-{}.data",
                first.label(),
                instances.len(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis()
            );
            let child = std::process::Command::new("perf")
                .args([
                    "record",
                    "-q",
                    "-F",
                    "999",
                    "-e",
                    "cpu-clock",
                    "-o",
                    &file,
                    "-p",
                ])
                .arg(pids.join(","))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .ok()?;
            // perf attaches within a few milliseconds; the run lasts seconds.
            std::thread::sleep(Duration::from_millis(300));
            Some(child)
        });
    move || {
        if let Some(mut child) = recording {
            // SIGINT: perf writes its file and exits.
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

/// One row: ours without and with a key, and the minimal handler, at `instances`.
pub struct HandlerPoint {
    pub instances: usize,
    pub ours: Run,
    pub ours_keyed: Run,
    pub minimal: Run,
}

/// One Lambda instance of a function, and the request it is sent.
pub struct Process {
    lambda: LambdaProcess,
    request: Request,
    /// What went wrong last, when an event failed (for the bench's error message).
    last_error: Option<String>,
}

/// What an instance is asked, each time anew (a new key, a new event id).
#[derive(Clone)]
pub enum Request {
    /// `POST /orders` for one unit of `product`, with an `Idempotency-Key` of its own when
    /// `keyed`.
    Order { product: String, keyed: bool },
    /// The factory's callbacks, one per factory order (`memory` makes them), each once.
    Callbacks(std::sync::Arc<std::sync::Mutex<Vec<FactoryCall>>>),
}

/// One call the factory makes when an order is made: `POST <path>?<query>` with `body`.
pub struct FactoryCall {
    pub path: String,
    pub query: String,
    pub body: Vec<u8>,
}

impl Process {
    /// The process's CPU time so far; `None` once it is gone.
    pub fn cpu(&self) -> Option<Duration> {
        self.lambda.cpu()
    }

    /// The function, and whether its orders carry a key.
    fn label(&self) -> String {
        match &self.request {
            Request::Order { keyed: true, .. } => format!("{}-keyed", self.lambda.name()),
            _ => self.lambda.name().to_owned(),
        }
    }

    pub async fn start(
        bin_dir: &Path,
        binary: &str,
        env: &[(&str, String)],
        quota: Option<&CpuQuota>,
        request: Request,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            lambda: LambdaProcess::start(&bin_dir.join(binary), binary, env, quota).await?,
            request,
            last_error: None,
        })
    }

    pub async fn stop(self) {
        self.lambda.stop().await;
    }

    fn event(&self) -> Option<Vec<u8>> {
        let json = |method, path: &str, query: &str, headers, body: &[u8]| {
            event_json(&HttpCall {
                method,
                path,
                raw_query: query,
                headers,
                body,
                source_ip: "127.0.0.1",
            })
            .to_string()
            .into_bytes()
        };
        match &self.request {
            Request::Order { product, keyed } => {
                let body = serde_json::json!({ "product_id": product, "quantity": 1 }).to_string();
                let mut headers = vec![("content-type".into(), "application/json".into())];
                if *keyed {
                    headers.push(("idempotency-key".into(), uuid::Uuid::new_v4().to_string()));
                }
                Some(json("POST", "/orders", "", headers, body.as_bytes()))
            }
            Request::Callbacks(left) => {
                let call = left.lock().ok()?.pop()?;
                let headers = vec![("content-type".into(), "application/json".into())];
                Some(json("POST", &call.path, &call.query, headers, &call.body))
            }
        }
    }
}

impl Instance for Process {
    fn last_error(&self) -> Option<String> {
        self.last_error.clone()
    }

    /// The status of the response the function returned (0 when it failed or there was nothing
    /// left to send).
    async fn buy(&mut self) -> u16 {
        let Some(event) = self.event() else {
            self.last_error = Some("no event left to send".into());
            return 0;
        };
        let answer = self.lambda.invoke(event).await;
        let status = match &answer {
            Ok(Answer::Response(body)) => serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|r| r["statusCode"].as_u64())
                .map(|s| s as u16),
            _ => None,
        };
        match (status, answer) {
            (Some(status), Ok(Answer::Response(body))) if status >= 500 => {
                self.last_error = Some(String::from_utf8_lossy(&body).into_owned());
                status
            }
            (Some(status), _) => status,
            (None, Ok(Answer::Error(why))) => {
                self.last_error = Some(why);
                0
            }
            (None, Ok(Answer::Response(body))) => {
                self.last_error = Some(format!(
                    "not a response: {}",
                    String::from_utf8_lossy(&body)
                ));
                0
            }
            (None, Err(e)) => {
                self.last_error = Some(format!("{e:#}"));
                0
            }
        }
    }
}

/// What AWS gives every function's process besides its settings (credentials, Region), here
/// pointing the unmodified SDK at LocalStack, and the memory size.
pub fn aws_env(aws_endpoint: &str, region: &str, memory_mb: u32) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", region.to_owned()),
        ("AWS_DEFAULT_REGION", region.to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_ENDPOINT_URL", aws_endpoint.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
    ]
}

/// What the bench needs to run functions as Lambda instances against its stack.
pub struct Lambdas<'a> {
    pub stack: &'a LocalSystem,
    /// Where the release binaries are (beside `donut-bench`).
    pub bin_dir: &'a Path,
    pub aws_endpoint: &'a str,
    pub region: &'a str,
    /// The database's CA (`DONUT_BENCH_DB_CA`): a deployed function reaches the database over
    /// TLS only, and so do these.
    pub db_ca: &'a str,
    /// The functions' database user's URL, for the minimal handler.
    pub functions_url: &'a str,
}

impl Lambdas<'_> {
    /// `function`'s environment as the infra program writes it, pointing at the stack.
    pub fn env(
        &self,
        function: Function,
        memory_mb: u32,
    ) -> anyhow::Result<Vec<(&'static str, String)>> {
        let (_, settings) = self
            .stack
            .lambda_env
            .iter()
            .find(|(f, _)| *f == function)
            .ok_or_else(|| {
                anyhow::anyhow!("the local stack has no environment for {function:?}")
            })?;
        let mut env = aws_env(self.aws_endpoint, self.region, memory_mb);
        env.extend(settings.iter().cloned());
        env.push(("DB_TLS_CA", self.db_ca.to_owned()));
        Ok(env)
    }

    /// The minimal handler's: the functions' user, TLS with the same CA; it calls no AWS
    /// service.
    fn minimal_env(&self, memory_mb: u32) -> Vec<(&'static str, String)> {
        let mut env = aws_env("http://127.0.0.1:9", self.region, memory_mb);
        env.push(("DONUT_MINIMAL_DB_URL", self.functions_url.to_owned()));
        env.push(("DONUT_MINIMAL_DB_CA", self.db_ca.to_owned()));
        env
    }
}

async fn many(
    n: usize,
    lambdas: &Lambdas<'_>,
    binary: &str,
    env: &[(&str, String)],
    request: Request,
) -> anyhow::Result<Vec<Process>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Process::start(lambdas.bin_dir, binary, env, None, request.clone()).await?);
    }
    Ok(out)
}

/// Ours (without and with a key) and the minimal handler at `n` instances each, interleaved.
/// `memory_mb`: the size the functions are told they have (no CPU quota here).
pub async fn point(
    lambdas: &Lambdas<'_>,
    memory_mb: u32,
    n: usize,
) -> anyhow::Result<HandlerPoint> {
    let order = |product: &str, keyed| Request::Order {
        product: product.into(),
        keyed,
    };
    let ours_env = lambdas.env(Function::SalesApi, memory_mb)?;
    let minimal_env = lambdas.minimal_env(memory_mb);
    let sales = Function::SalesApi.name();
    let mut paths = Vec::new();
    for (binary, env, product, keyed) in [
        (sales, &ours_env, "bench-ls-lambda", false),
        (sales, &ours_env, "bench-ls-lambda-keyed", true),
        (MINIMAL, &minimal_env, "bench-ls-lambda-minimal", false),
    ] {
        paths.push(lambda_shape::Path::Lambda(
            many(n, lambdas, binary, env, order(product, keyed)).await?,
        ));
    }
    // The processes' own CPU is measured; the server's is not read.
    let mut runs = lambda_shape::interleaved(paths, &ServerCpu::none())
        .await?
        .into_iter();
    let mut next = || runs.next().expect("one run per path");
    Ok(HandlerPoint {
        instances: n,
        ours: next(),
        ours_keyed: next(),
        minimal: next(),
    })
}
