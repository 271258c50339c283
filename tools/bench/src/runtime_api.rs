//! One Lambda instance, here: a function's release binary in a process of its own, fed one
//! event at a time through a Runtime API of its own — the interface Lambda gives every custom
//! runtime (`GET /2018-06-01/runtime/invocation/next`, `POST …/invocation/{id}/response` and
//! `…/error`, `POST …/init/error`; docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html) —
//! so what the process spends is what the instance would spend: its CPU time per event is read
//! from the kernel's per-thread accounting, and it may be held to the CPU share Lambda gives its
//! memory size (a cgroup CPU quota, [`CpuQuota`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
            // why it could not start, if it cannot (a function writes nothing else there).
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("{} could not start", binary.display()))?;
        let pid = child.id().context("the process has no pid")?;
        if let Some(quota) = quota {
            quota.add(pid)?;
        }
        let started = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                r = is_ready.wait_for(Option::is_some) => r.map(|r| r.clone()).ok().flatten(),
                exit = child.wait() => {
                    let mut stderr = String::new();
                    if let Some(mut pipe) = child.stderr.take() {
                        let _ = tokio::io::AsyncReadExt::read_to_string(&mut pipe, &mut stderr).await;
                    }
                    Some(Err(format!("exited at start ({exit:?}): {}", stderr.trim())))
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
            }),
            Ok(Some(Err(why))) => anyhow::bail!("{name} failed to initialise: {why}"),
            Ok(None) | Err(_) => anyhow::bail!("{name} never polled its Runtime API"),
        }
    }

    /// Hands the instance `event` and waits for its answer.
    pub async fn invoke(&self, event: Vec<u8>) -> anyhow::Result<Answer> {
        let (answer, answered) = oneshot::channel();
        self.events
            .send(Invocation { event, answer })
            .await
            .map_err(|_| anyhow::anyhow!("{} no longer polls", self.name))?;
        tokio::time::timeout(Duration::from_secs(30), answered)
            .await
            .with_context(|| format!("{} did not answer within 30 s", self.name))?
            .with_context(|| format!("{} dropped the event", self.name))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The CPU time the process has spent (every thread's, user and system), from
    /// `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on the CPU, its first field).
    pub fn cpu(&self) -> Duration {
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

/// The CPU time of every live thread of `pid`.
pub fn process_cpu(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .sum()
}

/// The CPU a Lambda instance gets for its memory size, as a CFS bandwidth quota on a cgroup of
/// its own. "Lambda allocates CPU power in proportion to the amount of memory configured … At
/// 1,769 MB, a function has the equivalent of one vCPU" (Lambda Developer Guide, "Configure
/// Lambda function memory", docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html):
/// `memory_mb ÷ 1769` of one CPU per period, the kernel's default period of 100 ms (Lambda's
/// own period is not published). cgroup v1 (`/sys/fs/cgroup/cpu`, `cpu.cfs_quota_us`) or v2
/// (`cpu.max`); it needs root.
pub struct CpuQuota {
    dir: PathBuf,
}

/// One vCPU's worth of memory (the Lambda Developer Guide, above).
pub const MB_PER_VCPU: u32 = 1769;
const PERIOD_US: u64 = 100_000;

impl CpuQuota {
    pub fn for_memory(memory_mb: u32) -> anyhow::Result<Self> {
        let quota_us = quota_us(memory_mb);
        let name = format!("donut-bench-{memory_mb}mb-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let (dir, files): (PathBuf, Vec<(&str, String)>) = if v1.join("cpu.cfs_quota_us").exists() {
            (
                v1.join(&name),
                vec![
                    ("cpu.cfs_period_us", PERIOD_US.to_string()),
                    ("cpu.cfs_quota_us", quota_us.to_string()),
                ],
            )
        } else {
            (
                Path::new("/sys/fs/cgroup").join(&name),
                vec![("cpu.max", format!("{quota_us} {PERIOD_US}"))],
            )
        };
        std::fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot make the cgroup {} (the memory table needs root and a cpu controller)",
                dir.display()
            )
        })?;
        for (file, value) in files {
            std::fs::write(dir.join(file), &value)
                .with_context(|| format!("cannot write {value} to {}", dir.join(file).display()))?;
        }
        Ok(Self { dir })
    }

    /// Moves `pid` (every thread of it) into the cgroup.
    fn add(&self, pid: u32) -> anyhow::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("cannot move {pid} into {}", self.dir.display()))
    }
}

/// The CPU time per [`PERIOD_US`] a `memory_mb` function gets, µs.
fn quota_us(memory_mb: u32) -> u64 {
    u64::from(memory_mb) * PERIOD_US / u64::from(MB_PER_VCPU)
}

impl Drop for CpuQuota {
    /// Removes the cgroup (its processes are gone by then: stop them first).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_gets_its_share_of_one_cpu() {
        assert_eq!(quota_us(1769), 100_000, "one vCPU at 1 769 MB");
        assert_eq!(quota_us(128), 7_235);
        assert_eq!(quota_us(1024), 57_885);
        assert_eq!(quota_us(3538), 200_000, "two at twice the size");
    }
}
