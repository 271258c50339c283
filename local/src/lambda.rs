//! The Lambda stand-in for versions and aliases: each aliased function's published versions
//! (each a handler instance of its own), its `live` alias with its routing, the alias's
//! per-invocation choice of a version by weight, and the part of the Lambda API the rollout tool
//! calls — `GetAlias`, `UpdateAlias`, `ListVersionsByFunction`, `DeleteFunction` with a
//! `Qualifier` — served over HTTP for the SDK ([`serve`]).
//!
//! LocalStack's Lambda cannot play this part here: without Docker its functions end `Failed`
//! (a version's runtime cannot be installed), `UpdateFunctionCode` is refused on them, and
//! `UpdateAlias` with a `RoutingConfig` fails with an internal error (LocalStack 2026.3.0, tried
//! on this machine).
//!
//! Like Lambda, every invocation through the alias runs the version chosen at random by the
//! routing's weight, and what Lambda records of it goes to (LocalStack's) CloudWatch: the
//! namespace `AWS/Lambda`'s `Invocations` and `Errors` with the dimensions `FunctionName`,
//! `Resource` = `<function>:<alias>` and `ExecutedVersion` (the dimensions of
//! docs.aws.amazon.com/lambda/latest/dg/monitoring-functions-metrics.html: "Resource" filters
//! by a version or alias, "ExecutedVersion" by the version that ran, for alias invocations
//! only; the combined set {FunctionName, Resource, ExecutedVersion} is the one aws-cdk-lib's
//! `LambdaMetrics` names; that a 5xx answer of an HTTP function is not an `Errors` — the
//! function returned — is Lambda's rule for functions that return a response), and the
//! function's own metrics (its EMF lines in Lambda) with the dimensions
//! `Function` and `Version`, as `donut_runtime::metrics` writes them from
//! `AWS_LAMBDA_FUNCTION_NAME` and `AWS_LAMBDA_FUNCTION_VERSION`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The account id of the local stand-ins' ARNs (LocalStack's).
const ACCOUNT: &str = "000000000000";

/// One alias of a function.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasState {
    pub function_version: u64,
    /// The additional version and its weight (0.0..=1.0).
    pub routing: Option<(u64, f64)>,
    pub description: String,
    pub revision_id: String,
}

#[derive(Debug, Default)]
struct FunctionState {
    /// Published versions, in order (1, 2, …; deleted ones gone; numbers never reused).
    versions: Vec<u64>,
    last_version: u64,
    aliases: BTreeMap<String, AliasState>,
}

/// A refusal, as the Lambda API answers it: the status, `x-amzn-ErrorType`, and the message.
#[derive(Debug, Clone, PartialEq)]
pub struct LambdaError {
    pub status: u16,
    pub kind: &'static str,
    pub message: String,
}

impl LambdaError {
    fn not_found(message: String) -> Self {
        Self {
            status: 404,
            kind: "ResourceNotFoundException",
            message,
        }
    }

    fn invalid(message: String) -> Self {
        Self {
            status: 400,
            kind: "InvalidParameterValueException",
            message,
        }
    }
}

impl IntoResponse for LambdaError {
    fn into_response(self) -> Response {
        // Lambda's REST-JSON errors: the type in `x-amzn-ErrorType`, the body
        // `{"Type": "User", "message": …}` (the SDK reads the header).
        (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST),
            [("x-amzn-ErrorType", self.kind)],
            Json(json!({ "Type": "User", "message": self.message })),
        )
            .into_response()
    }
}

/// The local Lambda service's versions and aliases, of every aliased function.
#[derive(Debug)]
pub struct LambdaService {
    region: String,
    functions: Mutex<BTreeMap<String, FunctionState>>,
}

fn revision() -> String {
    uuid_like(rand::rng().random())
}

fn uuid_like(n: u128) -> String {
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A function name from what the API's `FunctionName` accepts: the name, its ARN or partial
/// ARN (`123456789012:function:name`) — Lambda API reference, UpdateAlias, "FunctionName … Name
/// formats".
fn function_name(raw: &str) -> &str {
    match raw.rsplit_once("function:") {
        Some((_, name)) => name,
        None => raw,
    }
}

impl LambdaService {
    pub fn new(region: &str) -> Arc<Self> {
        Arc::new(Self {
            region: region.to_owned(),
            functions: Mutex::new(BTreeMap::new()),
        })
    }

    fn arn(&self, function: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{ACCOUNT}:function:{function}",
            self.region
        )
    }

    /// Publishes the function's next version (its first creates the function).
    pub fn publish(&self, function: &str) -> u64 {
        let mut functions = self.functions.lock().expect("lambda state");
        let f = functions.entry(function.to_owned()).or_default();
        f.last_version += 1;
        let v = f.last_version;
        f.versions.push(v);
        v
    }

    /// `CreateAlias` at `version` (the infra program creates the alias at the first version).
    pub fn create_alias(
        &self,
        function: &str,
        alias: &str,
        version: u64,
    ) -> Result<(), LambdaError> {
        let mut functions = self.functions.lock().expect("lambda state");
        let f = functions.get_mut(function).ok_or_else(|| {
            LambdaError::not_found(format!("Function not found: {}", self.arn(function)))
        })?;
        if !f.versions.contains(&version) {
            return Err(LambdaError::not_found(format!(
                "Function not found: {}:{version}",
                self.arn(function)
            )));
        }
        if f.aliases.contains_key(alias) {
            return Err(LambdaError {
                status: 409,
                kind: "ResourceConflictException",
                message: format!("Alias already exists: {}:{alias}", self.arn(function)),
            });
        }
        f.aliases.insert(
            alias.to_owned(),
            AliasState {
                function_version: version,
                routing: None,
                description: String::new(),
                revision_id: revision(),
            },
        );
        Ok(())
    }

    pub fn get_alias(&self, function: &str, alias: &str) -> Result<AliasState, LambdaError> {
        let functions = self.functions.lock().expect("lambda state");
        functions
            .get(function)
            .and_then(|f| f.aliases.get(alias))
            .cloned()
            .ok_or_else(|| {
                LambdaError::not_found(format!("Alias not found: {}:{alias}", self.arn(function)))
            })
    }

    /// `UpdateAlias`: what is given changes, what is not stays. Refused as Lambda refuses:
    /// - a version that does not exist: `ResourceNotFoundException`;
    /// - `FunctionVersion` other than `$LATEST` or a number (API reference, AliasConfiguration:
    ///   "Pattern: (\$LATEST|[0-9]+)");
    /// - routing keys other than a published version's number ("Key Pattern: [0-9]+", so never
    ///   `$LATEST`), weights outside 0.0..=1.0 ("Valid Range: Minimum value of 0.0. Maximum value
    ///   of 1.0.": API reference, AliasRoutingConfiguration), more than one additional version
    ///   (developer guide, "Alias routing configuration": an alias points to at most two
    ///   versions), routing on an alias whose version is `$LATEST` (same page: both versions
    ///   published), the additional version equal to the alias's own — all
    ///   `InvalidParameterValueException`; the exact messages are UNCONFIRMED;
    /// - a `Description` over 256 characters (API reference, UpdateAlias);
    /// - a stale `RevisionId`: `PreconditionFailedException` (412; API reference, UpdateAlias,
    ///   Errors: "The RevisionId provided does not match the latest RevisionId for the Lambda
    ///   function or alias.").
    pub fn update_alias(
        &self,
        function: &str,
        alias: &str,
        body: &Value,
    ) -> Result<AliasState, LambdaError> {
        let mut functions = self.functions.lock().expect("lambda state");
        let arn = self.arn(function);
        let f = functions
            .get_mut(function)
            .ok_or_else(|| LambdaError::not_found(format!("Function not found: {arn}")))?;
        let exists = |v: u64, f: &FunctionState| f.versions.contains(&v);
        let current = f
            .aliases
            .get(alias)
            .cloned()
            .ok_or_else(|| LambdaError::not_found(format!("Alias not found: {arn}:{alias}")))?;
        if let Some(expected) = body.get("RevisionId").and_then(Value::as_str)
            && expected != current.revision_id
        {
            return Err(LambdaError {
                status: 412,
                kind: "PreconditionFailedException",
                message: "The Revision Id provided does not match the latest Revision Id. Call the GetAlias API to retrieve the latest Revision Id".into(),
            });
        }
        let mut next = current.clone();
        if let Some(v) = body.get("FunctionVersion").and_then(Value::as_str) {
            if v == "$LATEST" {
                return Err(LambdaError::invalid(
                    "The local stand-in keeps aliases on published versions only".into(),
                ));
            }
            let n: u64 = v.parse().map_err(|_| {
                LambdaError::invalid(format!(
                    "1 validation error detected: Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"
                ))
            })?;
            if !exists(n, f) {
                return Err(LambdaError::not_found(format!(
                    "Function not found: {arn}:{n}"
                )));
            }
            next.function_version = n;
        }
        if let Some(d) = body.get("Description").and_then(Value::as_str) {
            if d.chars().count() > 256 {
                return Err(LambdaError::invalid(
                    "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256".into(),
                ));
            }
            next.description = d.to_owned();
        }
        if let Some(routing) = body.get("RoutingConfig") {
            let weights = routing
                .get("AdditionalVersionWeights")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if weights.len() > 1 {
                return Err(LambdaError::invalid(
                    "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
                ));
            }
            next.routing = match weights.into_iter().next() {
                None => None,
                Some((key, weight)) => {
                    let n: u64 = key
                        .parse()
                        .ok()
                        .filter(|_| key.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| {
                            LambdaError::invalid(format!(
                                "1 validation error detected: Value '{key}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]"
                            ))
                        })?;
                    let w = weight.as_f64().filter(|w| (0.0..=1.0).contains(w)).ok_or_else(|| {
                        LambdaError::invalid(format!(
                            "1 validation error detected: Value '{weight}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]"
                        ))
                    })?;
                    if !exists(n, f) {
                        return Err(LambdaError::not_found(format!(
                            "Function not found: {arn}:{n}"
                        )));
                    }
                    Some((n, w))
                }
            };
        }
        if let Some((n, _)) = next.routing
            && n == next.function_version
        {
            return Err(LambdaError::invalid(format!(
                "Invalid function version {n}. Function version {n} is already included in routing configuration."
            )));
        }
        next.revision_id = revision();
        f.aliases.insert(alias.to_owned(), next.clone());
        Ok(next)
    }

    pub fn versions(&self, function: &str) -> Result<Vec<u64>, LambdaError> {
        let functions = self.functions.lock().expect("lambda state");
        functions
            .get(function)
            .map(|f| f.versions.clone())
            .ok_or_else(|| {
                LambdaError::not_found(format!("Function not found: {}", self.arn(function)))
            })
    }

    /// `DeleteFunction` with a `Qualifier`: one version. Refused while an alias names it
    /// (409 `ResourceConflictException`, "Unable to delete version because the following
    /// aliases reference it: [live]", as AWS answers; a version only in an alias's routing is
    /// refused the same way — UNCONFIRMED), for `$LATEST` (the function itself: not served
    /// here), and for an alias's name.
    pub fn delete_version(&self, function: &str, qualifier: &str) -> Result<(), LambdaError> {
        let mut functions = self.functions.lock().expect("lambda state");
        let arn = self.arn(function);
        let f = functions
            .get_mut(function)
            .ok_or_else(|| LambdaError::not_found(format!("Function not found: {arn}")))?;
        let Ok(n) = qualifier.parse::<u64>() else {
            return Err(LambdaError::invalid(
                "Deletion of aliases is not currently supported.".into(),
            ));
        };
        if !f.versions.contains(&n) {
            return Err(LambdaError::not_found(format!(
                "Function not found: {arn}:{n}"
            )));
        }
        let referencing: Vec<&str> = f
            .aliases
            .iter()
            .filter(|(_, a)| a.function_version == n || a.routing.is_some_and(|(r, _)| r == n))
            .map(|(name, _)| name.as_str())
            .collect();
        if !referencing.is_empty() {
            return Err(LambdaError {
                status: 409,
                kind: "ResourceConflictException",
                message: format!(
                    "Unable to delete version because the following aliases reference it: [{}]",
                    referencing.join(", ")
                ),
            });
        }
        f.versions.retain(|v| *v != n);
        Ok(())
    }

    /// The version an invocation through `alias` runs: the routing's version with its weight's
    /// probability, else the alias's (Lambda developer guide, "Alias routing configuration":
    /// "Lambda uses a simple probabilistic model to distribute the traffic between the two
    /// function versions").
    pub fn pick(&self, function: &str, alias: &str) -> Option<u64> {
        let a = self.get_alias(function, alias).ok()?;
        Some(match a.routing {
            Some((v, w)) if rand::rng().random::<f64>() < w => v,
            _ => a.function_version,
        })
    }

    fn alias_json(&self, function: &str, alias: &str, a: &AliasState) -> Value {
        let weights: serde_json::Map<String, Value> = a
            .routing
            .iter()
            .map(|(v, w)| (v.to_string(), json!(w)))
            .collect();
        let mut out = json!({
            "AliasArn": format!("{}:{alias}", self.arn(function)),
            "Name": alias,
            "FunctionVersion": a.function_version.to_string(),
            "Description": a.description,
            "RevisionId": a.revision_id,
        });
        if !weights.is_empty() {
            out["RoutingConfig"] = json!({ "AdditionalVersionWeights": weights });
        }
        out
    }
}

/// The Lambda API's paths the rollout tool calls (API version 2015-03-31).
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Arc<LambdaService>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/2015-03-31/functions/{function}/aliases/{alias}",
            get(get_alias).put(update_alias),
        )
        .route(
            "/2015-03-31/functions/{function}/versions",
            get(list_versions),
        )
        .route(
            "/2015-03-31/functions/{function}",
            axum::routing::delete(delete_function),
        )
        .with_state(service);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn get_alias(
    State(s): State<Arc<LambdaService>>,
    Path((function, alias)): Path<(String, String)>,
) -> Result<Json<Value>, LambdaError> {
    let function = function_name(&function);
    let a = s.get_alias(function, &alias)?;
    Ok(Json(s.alias_json(function, &alias, &a)))
}

async fn update_alias(
    State(s): State<Arc<LambdaService>>,
    Path((function, alias)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, LambdaError> {
    let function = function_name(&function);
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| LambdaError::invalid(format!("the request body is not JSON: {e}")))?;
    let a = s.update_alias(function, &alias, &body)?;
    tracing::info!(
        function,
        alias,
        version = a.function_version,
        routing = ?a.routing,
        description = %a.description,
        "lambda alias updated"
    );
    Ok(Json(s.alias_json(function, &alias, &a)))
}

async fn list_versions(
    State(s): State<Arc<LambdaService>>,
    Path(function): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, LambdaError> {
    let function = function_name(&function);
    // `$LATEST` first, then the versions (API reference, ListVersionsByFunction); pages of
    // `MaxItems` (at most 50), `Marker` the next page's start.
    let mut all = vec!["$LATEST".to_owned()];
    all.extend(s.versions(function)?.iter().map(u64::to_string));
    let start: usize = query
        .get("Marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = query
        .get("MaxItems")
        .and_then(|m| m.parse().ok())
        .unwrap_or(50)
        .clamp(1, 50);
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|v| {
            json!({
                "FunctionName": function,
                "FunctionArn": format!("{}:{v}", s.arn(function)),
                "Version": v,
            })
        })
        .collect();
    let mut out = json!({ "Versions": page });
    if start + max < all.len() {
        out["NextMarker"] = json!((start + max).to_string());
    }
    Ok(Json(out))
}

async fn delete_function(
    State(s): State<Arc<LambdaService>>,
    Path(function): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<StatusCode, LambdaError> {
    let function = function_name(&function);
    let Some(qualifier) = query.get("Qualifier") else {
        return Err(LambdaError::invalid(
            "The local stand-in deletes versions only (give a Qualifier)".into(),
        ));
    };
    s.delete_version(function, qualifier)?;
    tracing::info!(function, version = %qualifier, "lambda version deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// One value of a metric, on its way to CloudWatch.
#[derive(Debug)]
struct Point {
    namespace: String,
    name: String,
    unit: StandardUnit,
    dimensions: Vec<(String, String)>,
    value: f64,
}

/// Metric values on their way to CloudWatch: every second, one `PutMetricData` per namespace,
/// the second's values of each metric and dimension set as one datum of statistic values
/// (count, sum, minimum, maximum), stamped with the whole second — as CloudWatch Logs turns
/// many EMF lines into datapoints.
#[derive(Clone)]
pub struct MetricsOut {
    tx: mpsc::UnboundedSender<Point>,
    /// Whether anything is sent: a function's metrics go to CloudWatch once it has a release to
    /// watch (a second version); before that nothing watches them, and LocalStack, shared by
    /// every stack of a test run, is spared them.
    on: Arc<std::sync::atomic::AtomicBool>,
}

/// (namespace, metric, unit, dimensions) → (count, sum, min, max).
type Aggregate = BTreeMap<(String, String, String, Vec<(String, String)>), (f64, f64, f64, f64)>;

impl MetricsOut {
    /// Starts the sender; it stops when every `MetricsOut` is dropped and the rest is sent.
    pub fn start(cloudwatch: aws_sdk_cloudwatch::Client) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Point>();
        let task = tokio::spawn(async move {
            let mut open = true;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while open {
                tick.tick().await;
                let mut second: Aggregate = BTreeMap::new();
                loop {
                    match rx.try_recv() {
                        Ok(p) => {
                            let key = (
                                p.namespace,
                                p.name,
                                p.unit.as_str().to_owned(),
                                p.dimensions,
                            );
                            let e = second.entry(key).or_insert((
                                0.0,
                                0.0,
                                f64::INFINITY,
                                f64::NEG_INFINITY,
                            ));
                            e.0 += 1.0;
                            e.1 += p.value;
                            e.2 = e.2.min(p.value);
                            e.3 = e.3.max(p.value);
                        }
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
                let at = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or_default();
                let mut by_namespace: BTreeMap<String, Vec<MetricDatum>> = BTreeMap::new();
                for ((namespace, name, unit, dimensions), (count, sum, min, max)) in second {
                    let values = aws_sdk_cloudwatch::types::StatisticSet::builder()
                        .sample_count(count)
                        .sum(sum)
                        .minimum(min)
                        .maximum(max)
                        .build();
                    let datum = MetricDatum::builder()
                        .metric_name(name)
                        .unit(StandardUnit::from(unit.as_str()))
                        .statistic_values(values)
                        .timestamp(DateTime::from_secs(at))
                        .set_dimensions(Some(
                            dimensions
                                .iter()
                                .map(|(n, v)| Dimension::builder().name(n).value(v).build())
                                .collect(),
                        ))
                        .build();
                    by_namespace.entry(namespace).or_default().push(datum);
                }
                for (namespace, data) in by_namespace {
                    // PutMetricData takes at most 1000 datums a call.
                    for chunk in data.chunks(1000) {
                        if let Err(e) = cloudwatch
                            .put_metric_data()
                            .namespace(&namespace)
                            .set_metric_data(Some(chunk.to_vec()))
                            .send()
                            .await
                        {
                            tracing::warn!(
                                error = %aws_sdk_cloudwatch::error::DisplayErrorContext(e),
                                "local metrics not sent to CloudWatch"
                            );
                        }
                    }
                }
            }
        });
        (
            Self {
                tx,
                on: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            },
            task,
        )
    }

    /// The same sender, with a switch of its own (one function's).
    fn of_one_function(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            on: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    fn put(
        &self,
        namespace: &str,
        name: &str,
        unit: StandardUnit,
        value: f64,
        dims: &[(&str, &str)],
    ) {
        if !self.on.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let _ = self.tx.send(Point {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            unit,
            dimensions: dims
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            value,
        });
    }
}

/// One published version's metric sink: the function's own metrics with `Function` and
/// `Version` (what its EMF lines carry in Lambda).
struct VersionSink {
    out: MetricsOut,
    namespace: String,
    function: String,
    version: String,
}

impl donut_metrics::Sink for VersionSink {
    fn record(&self, metric: donut_metrics::Metric, value: f64) {
        let unit = match metric.unit() {
            donut_metrics::Unit::Count => StandardUnit::Count,
            donut_metrics::Unit::Milliseconds => StandardUnit::Milliseconds,
        };
        self.out.put(
            &self.namespace,
            metric.name(),
            unit,
            value,
            &[("Function", &self.function), ("Version", &self.version)],
        );
    }
}

/// A published version: its handler and its metric sink.
type Version<H> = (H, Arc<dyn donut_metrics::Sink>);

/// An aliased function: its published versions' handlers, invoked through its alias.
pub struct Aliased<H> {
    service: Arc<LambdaService>,
    pub function: String,
    pub alias: String,
    versions: RwLock<BTreeMap<u64, Version<H>>>,
    out: MetricsOut,
    namespace: String,
    /// Invocations per version so far (what the local stack's tests measure a canary by).
    counts: Mutex<BTreeMap<u64, u64>>,
}

impl<H: Clone> Aliased<H> {
    /// The function `function` (its AWS name) with `first` as version 1 and the alias at it.
    pub fn new(
        service: Arc<LambdaService>,
        out: MetricsOut,
        namespace: &str,
        function: &str,
        alias: &str,
        first: H,
    ) -> Self {
        let this = Self {
            service,
            function: function.to_owned(),
            alias: alias.to_owned(),
            versions: RwLock::new(BTreeMap::new()),
            out: out.of_one_function(),
            namespace: namespace.to_owned(),
            counts: Mutex::new(BTreeMap::new()),
        };
        let v = this.publish(first);
        this.service
            .create_alias(function, alias, v)
            .expect("a new function's alias");
        this
    }

    /// Publishes `handler` as the function's next version; its number.
    pub fn publish(&self, handler: H) -> u64 {
        let v = self.service.publish(&self.function);
        if v >= 2 {
            self.out
                .on
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let sink: Arc<dyn donut_metrics::Sink> = Arc::new(VersionSink {
            out: self.out.clone(),
            namespace: self.namespace.clone(),
            function: self.function.clone(),
            version: v.to_string(),
        });
        self.versions
            .write()
            .expect("versions")
            .insert(v, (handler, sink));
        v
    }

    /// Invocations through the alias so far, per version.
    pub fn invocations(&self) -> BTreeMap<u64, u64> {
        self.counts.lock().expect("counts").clone()
    }

    /// One invocation through the alias: the version Lambda would run, its handler, and the
    /// scope its metrics are recorded in. `Invocations` (and `Errors`, when `failed` says so of
    /// the outcome) are recorded by [`Aliased::invoke`].
    fn choose(&self) -> Option<(u64, H, Arc<dyn donut_metrics::Sink>)> {
        let v = self.service.pick(&self.function, &self.alias)?;
        let versions = self.versions.read().expect("versions");
        let (h, sink) = versions.get(&v)?;
        Some((v, h.clone(), sink.clone()))
    }

    /// Runs `call` on the version the alias picks, inside its metric scope; records Lambda's
    /// `Invocations` and `Errors` of the version through the alias.
    pub async fn invoke<F, Fut, T>(&self, call: F) -> Option<(u64, T)>
    where
        F: FnOnce(H) -> Fut,
        Fut: std::future::Future<Output = (T, bool)>,
    {
        let (v, handler, sink) = self.choose()?;
        *self.counts.lock().expect("counts").entry(v).or_default() += 1;
        let (out, failed) = donut_metrics::scoped(sink, call(handler)).await;
        let (version, resource) = (v.to_string(), format!("{}:{}", self.function, self.alias));
        let dims = [
            ("FunctionName", self.function.as_str()),
            ("Resource", resource.as_str()),
            ("ExecutedVersion", version.as_str()),
        ];
        self.out
            .put("AWS/Lambda", "Invocations", StandardUnit::Count, 1.0, &dims);
        self.out.put(
            "AWS/Lambda",
            "Errors",
            StandardUnit::Count,
            if failed { 1.0 } else { 0.0 },
            &dims,
        );
        Some((v, out))
    }
}

/// Where the Lambda API stand-in listens, once served.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// An SQS consumer, as the event-source driver calls it.
pub type SqsInvoke = Arc<
    dyn Fn(
            aws_lambda_events::event::sqs::SqsEvent,
        )
            -> futures::future::BoxFuture<'static, aws_lambda_events::event::sqs::SqsBatchResponse>
        + Send
        + Sync,
>;

/// The local stack's releases: the Lambda stand-in (served for the rollout tool), the aliased
/// functions' versions, their canary alarms, and the `releases` output as the infra program
/// writes it.
pub struct Releases {
    pub service: Arc<LambdaService>,
    /// The Lambda API stand-in (`donut-cli release --lambda-endpoint`).
    pub url: String,
    out: MetricsOut,
    aws: aws_config::SdkConfig,
    prefix: String,
    namespace: String,
    ops_topic_arn: String,
    runbook_url: String,
    alarm_period_seconds: u32,
    release: donut_config::ReleaseConfig,
    sales_api: std::sync::OnceLock<Arc<Aliased<crate::gateway::Invoke>>>,
    warehouse_restock: std::sync::OnceLock<Arc<Aliased<crate::gateway::Invoke>>>,
    factory_requester: std::sync::OnceLock<Arc<Aliased<SqsInvoke>>>,
    /// How sales-api is built (its AWS configuration and settings), for new versions.
    sales_build: std::sync::OnceLock<(
        donut_runtime::Aws,
        donut_contract::settings::SalesApi<String>,
    )>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The canary alarms created, deleted at [`Releases::stop`].
    alarms: Mutex<Vec<String>>,
}

impl Releases {
    /// Starts the Lambda API stand-in on 127.0.0.1 (any port) and the metric sender. A
    /// function's canary alarms are created when its second version is published (the first
    /// release they can watch): LocalStack evaluates every alarm on one scheduler thread, and
    /// alarms for stacks that never release would only slow the others down.
    pub async fn start(
        aws: &aws_config::SdkConfig,
        stage: &donut_config::StageConfig,
        prefix: &str,
        ops_topic_arn: &str,
        alarm_period_seconds: u32,
    ) -> anyhow::Result<Arc<Self>> {
        let service = LambdaService::new(&stage.region);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = url(listener.local_addr()?);
        // Served until `Releases::stop`.
        let server = tokio::spawn({
            let service = service.clone();
            async move {
                let _ = serve(listener, service, std::future::pending()).await;
            }
        });
        let (out, sender) = MetricsOut::start(aws_sdk_cloudwatch::Client::new(aws));
        let this = Arc::new(Self {
            service,
            url,
            out,
            aws: aws.clone(),
            prefix: prefix.to_owned(),
            namespace: stage.metrics_namespace(),
            ops_topic_arn: ops_topic_arn.to_owned(),
            runbook_url: stage.runbook_url("canary-alarms"),
            alarm_period_seconds,
            release: stage.release,
            sales_api: Default::default(),
            warehouse_restock: Default::default(),
            factory_requester: Default::default(),
            sales_build: Default::default(),
            tasks: Mutex::new(vec![server, sender]),
            alarms: Mutex::new(Vec::new()),
        });
        Ok(this)
    }

    /// The function's AWS name locally (`<prefix>-<function>`).
    pub fn function_name(&self, function: donut_config::Function) -> String {
        format!("{}-{}", self.prefix, function.name())
    }

    fn aliased<H: Clone>(&self, function: donut_config::Function, first: H) -> Arc<Aliased<H>> {
        Arc::new(Aliased::new(
            self.service.clone(),
            self.out.clone(),
            &self.namespace,
            &self.function_name(function),
            donut_config::release::ALIAS,
            first,
        ))
    }

    /// sales-api's first version behind its alias; what the gateway invokes.
    pub fn sales_api(
        &self,
        aws: donut_runtime::Aws,
        settings: donut_contract::settings::SalesApi<String>,
        first: crate::gateway::Invoke,
    ) -> crate::gateway::Invoke {
        let _ = self.sales_build.set((aws, settings));
        let a = self.aliased(donut_config::Function::SalesApi, first);
        let _ = self.sales_api.set(a.clone());
        alias_invoker(a)
    }

    /// warehouse-restock's first version behind its alias; what the factory's lane invokes.
    pub fn warehouse_restock(&self, first: crate::gateway::Invoke) -> crate::gateway::Invoke {
        let a = self.aliased(donut_config::Function::WarehouseRestock, first);
        let _ = self.warehouse_restock.set(a.clone());
        alias_invoker(a)
    }

    /// factory-requester's first version behind its alias; what the event source invokes.
    pub fn factory_requester(&self, first: SqsInvoke) -> SqsInvoke {
        let a = self.aliased(donut_config::Function::FactoryRequester, first);
        let _ = self.factory_requester.set(a.clone());
        Arc::new(move |event: aws_lambda_events::event::sqs::SqsEvent| {
            let a = a.clone();
            Box::pin(async move {
                let ids: Vec<String> = event
                    .records
                    .iter()
                    .filter_map(|r| r.message_id.clone())
                    .collect();
                match a.invoke(|h| async move { (h(event).await, false) }).await {
                    Some((_, response)) => response,
                    // No alias to invoke (cannot happen once started): the batch comes back.
                    None => {
                        let mut r = aws_lambda_events::event::sqs::SqsBatchResponse::default();
                        for id in ids {
                            let mut f = aws_lambda_events::event::sqs::BatchItemFailure::default();
                            f.item_identifier = id;
                            r.batch_item_failures.push(f);
                        }
                        r
                    }
                }
            })
        })
    }

    /// Publishes a new version of sales-api built with its settings changed by `change` (as
    /// `pulumi up` publishes one on a code or configuration change), and points its canary
    /// alarms at it; its number.
    pub async fn publish_sales_api(
        &self,
        change: impl FnOnce(&mut donut_contract::settings::SalesApi<String>),
    ) -> anyhow::Result<u64> {
        let (aws, settings) = self
            .sales_build
            .get()
            .ok_or_else(|| anyhow::anyhow!("sales-api is not served"))?;
        let mut settings = settings.clone();
        change(&mut settings);
        let handler = donut_runtime::apps::sales_api(aws, &settings)?;
        let a = self
            .sales_api
            .get()
            .ok_or_else(|| anyhow::anyhow!("sales-api is not served"))?;
        let v = a.publish(crate::gateway::invoker(Arc::new(handler)));
        self.put_canary_alarms(donut_config::Function::SalesApi, v)
            .await?;
        Ok(v)
    }

    /// The canary alarms of `function`, scoped to `version`: as the infra program declares
    /// them (`infra/src/alarms.rs`, `canary_alarms`), with the local alarm period.
    async fn put_canary_alarms(
        &self,
        function: donut_config::Function,
        version: u64,
    ) -> anyhow::Result<()> {
        let names = crate::provision::canary_alarm_names(&self.prefix, function);
        let new = {
            let mut alarms = self.alarms.lock().expect("alarms");
            let new = !alarms.contains(&names[0]);
            for name in &names {
                if !alarms.contains(name) {
                    alarms.push(name.clone());
                }
            }
            new
        };
        if new {
            let task = tokio::spawn(evaluate_alarms(
                aws_sdk_cloudwatch::Client::new(&self.aws),
                names,
                Duration::from_secs(u64::from(self.alarm_period_seconds)),
            ));
            self.tasks.lock().expect("tasks").push(task);
        }
        crate::provision::canary_alarms(
            &self.aws,
            &crate::provision::CanaryAlarms {
                prefix: &self.prefix,
                function,
                function_name: &self.function_name(function),
                version: &version.to_string(),
                namespace: &self.namespace,
                ops_topic_arn: &self.ops_topic_arn,
                runbook_url: &self.runbook_url,
                period_seconds: self.alarm_period_seconds,
            },
        )
        .await
    }

    /// The `releases` output as the infra program writes it: each aliased function's latest
    /// published version, its canary alarms, the stage's release settings.
    pub fn releases_json(&self) -> Value {
        let mut out = serde_json::Map::new();
        for function in donut_config::release::ALIASED {
            let name = self.function_name(function);
            let version = self
                .service
                .versions(&name)
                .ok()
                .and_then(|v| v.last().copied())
                .unwrap_or(1);
            let release = donut_config::release::Release {
                function_name: name,
                alias: donut_config::release::ALIAS.to_owned(),
                version: version.to_string(),
                canary_alarms: crate::provision::canary_alarm_names(&self.prefix, function),
                canary_percent: self.release.canary_percent,
                canary_minutes: self.release.canary_minutes,
                keep_versions: self.release.keep_versions,
            };
            out.insert(
                function.name().to_owned(),
                serde_json::to_value(release).expect("a release is JSON"),
            );
        }
        Value::Object(out)
    }

    /// sales-api's invocations through its alias so far, per version.
    pub fn sales_api_invocations(&self) -> BTreeMap<u64, u64> {
        self.sales_api
            .get()
            .map(|a| a.invocations())
            .unwrap_or_default()
    }

    /// Stops the stand-in's tasks and deletes the canary alarms it created.
    pub async fn stop(&self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
        let alarms: Vec<String> = std::mem::take(&mut *self.alarms.lock().expect("alarms"));
        if !alarms.is_empty() {
            let _ = aws_sdk_cloudwatch::Client::new(&self.aws)
                .delete_alarms()
                .set_alarm_names(Some(alarms))
                .send()
                .await;
        }
    }
}

/// The gateway's invoker of an aliased HTTP function: each request to the version the alias
/// picks.
fn alias_invoker(a: Arc<Aliased<crate::gateway::Invoke>>) -> crate::gateway::Invoke {
    Arc::new(move |request| {
        let a = a.clone();
        Box::pin(async move {
            match a.invoke(|h| async move { (h(request).await, false) }).await {
                Some((_, response)) => response,
                None => lambda_http::Response::builder()
                    .status(502)
                    .body(lambda_http::Body::from(
                        r#"{"message":"Internal server error"}"#,
                    ))
                    .expect("a static response"),
            }
        })
    })
}

/// The local stack's evaluation of its canary alarms, beside LocalStack's own.
///
/// LocalStack evaluates every alarm of every stack on one scheduler thread, three
/// `GetMetricData` calls each (`localstack/services/cloudwatch/alarm_scheduler.py`, fixed-rate
/// tasks in one priority queue); with the dozens of alarms the test stacks running side by side
/// create at 10-second periods its evaluations ran five minutes late here (measured: alarms
/// still "Unchecked: Initial alarm creation" 300 s after they were made), so a canary would be
/// over before its alarm looked at it. This evaluates each canary alarm every half period by the
/// rule CloudWatch applies to it — the alarm's statistic over the last period compared with its
/// threshold, no datapoint not breaching (`treatMissingData: notBreaching`) — and sets the state
/// with `SetAlarmState` when it differs (which triggers the alarm's actions, as a transition
/// does). LocalStack's late evaluations read the data as it is when they run, so they agree.
async fn evaluate_alarms(
    cloudwatch: aws_sdk_cloudwatch::Client,
    names: Vec<String>,
    period: Duration,
) {
    use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue};
    let period = period.max(Duration::from_secs(1));
    loop {
        tokio::time::sleep(period / 2).await;
        let Ok(found) = cloudwatch
            .describe_alarms()
            .set_alarm_names(Some(names.clone()))
            .send()
            .await
        else {
            continue;
        };
        for alarm in found.metric_alarms() {
            let (Some(name), Some(statistic), Some(threshold)) =
                (alarm.alarm_name(), alarm.statistic(), alarm.threshold())
            else {
                continue;
            };
            let seconds = alarm.period().unwrap_or(60).max(1);
            let now = std::time::SystemTime::now();
            let start = now - Duration::from_secs(seconds as u64);
            let Ok(stats) = cloudwatch
                .get_metric_statistics()
                .set_namespace(alarm.namespace().map(str::to_owned))
                .set_metric_name(alarm.metric_name().map(str::to_owned))
                .set_dimensions(Some(alarm.dimensions().to_vec()))
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(now))
                .period(seconds)
                .statistics(statistic.clone())
                .send()
                .await
            else {
                continue;
            };
            let value: Option<f64> = stats
                .datapoints()
                .iter()
                .filter_map(|d| match statistic.as_str() {
                    "Sum" => d.sum(),
                    "Maximum" => d.maximum(),
                    "Minimum" => d.minimum(),
                    "Average" => d.average(),
                    _ => d.sample_count(),
                })
                .reduce(|a, b| {
                    if statistic.as_str() == "Sum" {
                        a + b
                    } else {
                        a.max(b)
                    }
                });
            let breaching = value.is_some_and(|v| match alarm.comparison_operator() {
                Some(ComparisonOperator::GreaterThanOrEqualToThreshold) => v >= threshold,
                Some(ComparisonOperator::GreaterThanThreshold) => v > threshold,
                Some(ComparisonOperator::LessThanThreshold) => v < threshold,
                Some(ComparisonOperator::LessThanOrEqualToThreshold) => v <= threshold,
                _ => false,
            });
            let state = if breaching {
                StateValue::Alarm
            } else {
                StateValue::Ok
            };
            if alarm.state_value() == Some(&state) {
                continue;
            }
            let reason = match value {
                Some(v) => format!(
                    "Threshold Crossed: 1 datapoint [{v}] was {} the threshold ({threshold}) (local evaluation)",
                    if breaching { "not less than" } else { "less than" }
                ),
                None => "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching] (local evaluation)".to_owned(),
            };
            let _ = cloudwatch
                .set_alarm_state()
                .alarm_name(name)
                .state_value(state)
                .state_reason(reason)
                .send()
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Arc<LambdaService> {
        let s = LambdaService::new("eu-west-1");
        for _ in 0..3 {
            s.publish("f");
        }
        s.create_alias("f", "live", 1).unwrap();
        s
    }

    #[test]
    fn routing_is_refused_where_lambda_refuses_it() {
        let s = service();
        let refused = |body: Value| s.update_alias("f", "live", &body).unwrap_err();
        let e = refused(json!({"RoutingConfig": {"AdditionalVersionWeights": {"$LATEST": 0.1}}}));
        assert_eq!(e.kind, "InvalidParameterValueException");
        let e =
            refused(json!({"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}}}));
        assert_eq!(e.kind, "InvalidParameterValueException");
        let e = refused(json!({"RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}}}));
        assert_eq!(e.kind, "InvalidParameterValueException");
        let e = refused(json!({"RoutingConfig": {"AdditionalVersionWeights": {"1": 0.1}}}));
        assert_eq!(e.kind, "InvalidParameterValueException");
        let e = refused(json!({"RoutingConfig": {"AdditionalVersionWeights": {"9": 0.1}}}));
        assert_eq!((e.status, e.kind), (404, "ResourceNotFoundException"));
        let e = refused(json!({"FunctionVersion": "9"}));
        assert_eq!(e.status, 404);
        let e = refused(json!({"Description": "x".repeat(257)}));
        assert_eq!(e.kind, "InvalidParameterValueException");
        let e = refused(json!({"RevisionId": "stale", "FunctionVersion": "2"}));
        assert_eq!((e.status, e.kind), (412, "PreconditionFailedException"));
        assert_eq!(s.get_alias("f", "live").unwrap().function_version, 1);
    }

    #[test]
    fn an_update_changes_what_it_names_and_the_revision() {
        let s = service();
        let before = s.get_alias("f", "live").unwrap();
        let a = s
            .update_alias(
                "f",
                "live",
                &json!({"RevisionId": before.revision_id, "RoutingConfig": {"AdditionalVersionWeights": {"3": 0.25}}, "Description": "d"}),
            )
            .unwrap();
        assert_eq!((a.function_version, a.routing), (1, Some((3, 0.25))));
        assert_ne!(a.revision_id, before.revision_id);
        // An empty map removes the routing.
        let a = s
            .update_alias(
                "f",
                "live",
                &json!({"FunctionVersion": "3", "RoutingConfig": {"AdditionalVersionWeights": {}}}),
            )
            .unwrap();
        assert_eq!(
            (a.function_version, a.routing, a.description.as_str()),
            (3, None, "d")
        );
    }

    #[test]
    fn a_version_an_alias_names_is_not_deleted() {
        let s = service();
        s.update_alias(
            "f",
            "live",
            &json!({"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}}}),
        )
        .unwrap();
        for v in ["1", "2"] {
            let e = s.delete_version("f", v).unwrap_err();
            assert_eq!((e.status, e.kind), (409, "ResourceConflictException"));
            assert!(e.message.contains("[live]"), "{}", e.message);
        }
        assert_eq!(s.delete_version("f", "live").unwrap_err().status, 400);
        s.delete_version("f", "3").unwrap();
        assert_eq!(s.versions("f").unwrap(), vec![1, 2]);
        assert_eq!(s.delete_version("f", "3").unwrap_err().status, 404);
        // Numbers are not reused.
        assert_eq!(s.publish("f"), 4);
    }

    #[test]
    fn invocations_split_by_weight() {
        let s = service();
        s.update_alias(
            "f",
            "live",
            &json!({"RoutingConfig": {"AdditionalVersionWeights": {"2": 0.2}}}),
        )
        .unwrap();
        let n = 20_000;
        let to_2 = (0..n).filter(|_| s.pick("f", "live") == Some(2)).count();
        let share = to_2 as f64 / n as f64;
        // 20 000 draws at p = 0.2: the standard deviation is 0.0028; 0.02 is > 7 of them.
        assert!((share - 0.2).abs() < 0.02, "{share}");
    }
}
