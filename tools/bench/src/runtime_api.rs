//! One Lambda instance, here: a function's release binary in a process of its own, fed one
//! event at a time through a Runtime API of its own — the interface Lambda gives every custom
//! runtime (`GET /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response` and
//! `…/error`, `POST …/init/error`; docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) —
//! so what the process spends is what the instance would spend: its CPU time per event is read
//! from the kernel's per-thread accounting, and it may be held to the CPU share Lambda gives its
//! memory size (a cgroup CPU quota, `crate::cgroup`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tokio::sync::{mpsc, oneshot, watch};

use crate::cgroup::CpuQuota;

/// What the function answered for one event.
#[derive(Debug)]
pub enum Answer {
    /// `POST …/response`: the handler's result.
    Response(Vec<u8>),
    /// `POST …/error`: the handler failed.
    Error(String),
}

struct Invocation {
    event: Vec<u8>,
    answer: oneshot::Sender<Answer>,
}

/// The Runtime API one instance polls.
struct Stub {
    arn: String,
    events: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// Set at the first `/next` (the instance is initialised), or with the init error.
    ready: watch::Sender<Option<Result<(), String>>>,
}

async fn next(State(stub): State<Arc<Stub>>) -> axum::response::Response {
    stub.ready.send_if_modified(|r| {
        let first = r.is_none();
        if first {
            *r = Some(Ok(()));
        }
        first
    });
    let Some(invocation) = stub.events.lock().await.recv().await else {
        // The bench is done with this instance; it is killed next.
        return StatusCode::GONE.into_response();
    };
    let id = uuid::Uuid::new_v4().to_string();
    stub.waiting
        .lock()
        .expect("the waiting map is never poisoned")
        .insert(id.clone(), invocation.answer);
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &id);
    set("lambda-runtime-deadline-ms", &deadline.to_string());
    set("lambda-runtime-invoked-function-arn", &stub.arn);
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Sampled=0",
    );
    set("content-type", "application/json");
    (headers, invocation.event).into_response()
}

fn answered(stub: &Stub, id: &str, answer: Answer) -> StatusCode {
    let waiting = stub
        .waiting
        .lock()
        .expect("the waiting map is never poisoned")
        .remove(id);
    match waiting {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        // As Lambda answers an unknown or already answered request id.
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(stub): State<Arc<Stub>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    answered(&stub, &id, Answer::Response(body.to_vec()))
}

async fn error(
    State(stub): State<Arc<Stub>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    answered(
        &stub,
        &id,
        Answer::Error(String::from_utf8_lossy(&body).into_owned()),
    )
}

async fn init_error(State(stub): State<Arc<Stub>>, body: Bytes) -> StatusCode {
    let why = String::from_utf8_lossy(&body).into_owned();
    stub.ready.send_replace(Some(Err(why)));
    StatusCode::ACCEPTED
}

/// One running instance of a function.
pub struct LambdaProcess {
    name: String,
    pid: u32,
    events: mpsc::Sender<Invocation>,
    child: tokio::process::Child,
    server: tokio::task::JoinHandle<()>,
    /// The end of what it wrote to stderr (a panic's message), kept by a task reading it.
    stderr: Arc<Mutex<String>>,
    /// Why it no longer serves, once it has exited: every later event fails at once.
    gone: Option<String>,
}

/// How much of a function's stderr is kept.
const STDERR_TAIL: usize = 4096;

/// Reads `pipe` to its end, keeping its last [`STDERR_TAIL`] bytes in `tail`.
async fn keep_tail(mut pipe: tokio::process::ChildStderr, tail: Arc<Mutex<String>>) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = tokio::io::AsyncReadExt::read(&mut pipe, &mut buf).await {
        if n == 0 {
            break;
        }
        let mut tail = tail.lock().expect("the stderr tail is never poisoned");
        tail.push_str(&String::from_utf8_lossy(&buf[..n]));
        if tail.len() > STDERR_TAIL {
            let mut cut = tail.len() - STDERR_TAIL;
            while !tail.is_char_boundary(cut) {
                cut += 1;
            }
            tail.drain(..cut);
        }
    }
}

impl LambdaProcess {
    /// Starts `binary` as function `name` with `env` (its settings and AWS's variables), in
    /// `quota`'s cgroup when given; returns once it polls for its first event.
    pub async fn start(
        binary: &Path,
        name: &str,
        env: &[(&str, String)],
        quota: Option<&CpuQuota>,
    ) -> anyhow::Result<Self> {
        let (events, rx) = mpsc::channel(1);
        let (ready, mut is_ready) = watch::channel(None);
        let stub = Arc::new(Stub {
            arn: format!("arn:aws:lambda:eu-west-1:000000000000:function:{name}"),
            events: tokio::sync::Mutex::new(rx),
            waiting: Mutex::new(HashMap::new()),
            ready,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(stub);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?.to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &api)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            // Its log lines are written (the cost is the function's) and dropped; stderr says
            // why it could not start or why it died (a function writes nothing else there).
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("{} could not start", binary.display()))?;
        let pid = child.id().context("the process has no pid")?;
        if let Some(quota) = quota {
            quota.add(pid)?;
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            tokio::spawn(keep_tail(pipe, stderr.clone()));
        }
        let started = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                r = is_ready.wait_for(Option::is_some) => r.map(|r| r.clone()).ok().flatten(),
                exit = child.wait() => {
                    // What it wrote before it exited, read by `keep_tail` to the pipe's end.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let said = stderr.lock().expect("the stderr tail is never poisoned").clone();
                    Some(Err(format!("exited at start ({exit:?}): {}", said.trim())))
                }
            }
        })
        .await;
        match started {
            Ok(Some(Ok(()))) => Ok(Self {
                name: name.to_owned(),
                pid,
                events,
                child,
                server,
                stderr,
                gone: None,
            }),
            Ok(Some(Err(why))) => anyhow::bail!("{name} failed to initialise: {why}"),
            Ok(None) | Err(_) => anyhow::bail!("{name} never polled its Runtime API"),
        }
    }

    /// Hands the instance `event` and waits for its answer (30 s at most, as a deployed
    /// function's timeout would end it). Once the process has exited, fails at once.
    pub async fn invoke(&mut self, event: Vec<u8>) -> anyhow::Result<Answer> {
        if let Some(why) = &self.gone {
            anyhow::bail!("{why}");
        }
        let (answer, reply) = oneshot::channel();
        let answered = tokio::time::timeout(Duration::from_secs(30), async {
            self.events
                .send(Invocation { event, answer })
                .await
                .map_err(|_| anyhow::anyhow!("its Runtime API stopped"))?;
            reply
                .await
                .map_err(|_| anyhow::anyhow!("the event was dropped"))
        })
        .await;
        match answered {
            Ok(Ok(answer)) => Ok(answer),
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer within 30 s".to_owned(),
                };
                if let Ok(Some(exit)) = self.child.try_wait() {
                    let said = self
                        .stderr
                        .lock()
                        .expect("the stderr tail is never poisoned")
                        .clone();
                    self.gone = Some(format!("{} exited ({exit}): {}", self.name, said.trim()));
                    anyhow::bail!("{}", self.gone.as_deref().unwrap_or_default());
                }
                anyhow::bail!("{}: {why}", self.name)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The CPU time the process's live threads have spent (`process_cpu`); `None` once it
    /// is gone.
    pub fn cpu(&self) -> Option<Duration> {
        process_cpu(self.pid)
    }

    /// Kills the process and waits for it to be gone.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for LambdaProcess {
    /// The process is killed with its `Child` (`kill_on_drop`); its Runtime API stops too.
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The CPU time (user and system) of every live thread of `pid`, from
/// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on the CPU, its first field: exact, where
/// `/proc/<pid>/stat` counts 10 ms ticks). A thread that exits takes its time with it; in a
/// function's process only tokio's blocking threads exit (10 s idle), and a measured run hands
/// them nothing. `None` when the process is gone or no thread could be read.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let times: Vec<Duration> = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .collect();
    (!times.is_empty()).then(|| times.into_iter().sum())
}
