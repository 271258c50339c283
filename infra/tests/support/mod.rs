//! A fake Pulumi engine: a real gRPC server (ResourceMonitor + Engine, the services the
//! Pulumi CLI serves to a language host) on 127.0.0.1:0 that records every registration and
//! answers the way Pulumi's mocks do: inputs echoed, ids, ARNs and URLs invented. In
//! preview it answers like the real engine for a program without partial-value support:
//! no computed outputs and no unknown inputs echoed.
//!
//! [`run_program`] starts one, runs the real `donut-infra` binary against it with the
//! engine's environment variables and a stack's config, and returns what it registered.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prost_types::value::Kind;
use pulumi_gestalt_proto::pulumi::pulumirpc as rpc;
use rpc::engine_server::{Engine, EngineServer};
use rpc::resource_monitor_server::{ResourceMonitor, ResourceMonitorServer};
use serde_json::{Map, Value, json};
use tonic::{Request, Response, Status};

/// Pulumi's wire markers.
pub const SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
pub const SECRET_SIG: &str = "1b47061264138c4ac30d75fd1eb44270";
pub const UNKNOWN: &str = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

#[derive(Debug, Clone)]
pub struct Registered {
    pub type_: String,
    pub name: String,
    pub custom: bool,
    pub inputs: Map<String, Value>,
    /// What the fake answered: the resource's state as the program sees it.
    pub outputs: Map<String, Value>,
}

#[derive(Default)]
struct State {
    resources: Vec<Registered>,
    root: String,
    exports: Map<String, Value>,
    logs: Vec<String>,
}

#[derive(Clone)]
struct Fake {
    state: Arc<Mutex<State>>,
    preview: bool,
    project: String,
    stack: String,
    region: String,
}

pub fn to_json(value: &prost_types::Value) -> Value {
    match &value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => json!(n),
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(s)),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(to_json).collect()),
    }
}

pub fn struct_to_json(s: &prost_types::Struct) -> Map<String, Value> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), to_json(v)))
        .collect()
}

fn from_json(value: &Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.iter().map(from_json).collect(),
        }),
        Value::Object(o) => Kind::StructValue(struct_from_json(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn struct_from_json(map: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), from_json(v))).collect(),
    }
}

/// Whether a value is, or holds, an unknown.
fn has_unknown(value: &Value) -> bool {
    match value {
        Value::String(s) => s == UNKNOWN,
        Value::Array(a) => a.iter().any(has_unknown),
        Value::Object(o) => o.values().any(has_unknown),
        _ => false,
    }
}

impl Fake {
    /// The state a provider would report: the inputs (no nulls), plus computed attributes.
    fn outputs(
        &self,
        type_: &str,
        name: &str,
        inputs: &Map<String, Value>,
    ) -> (String, Map<String, Value>) {
        let mut out: Map<String, Value> = inputs
            .iter()
            .filter(|(_, v)| !(v.is_null() || (self.preview && has_unknown(v))))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if self.preview {
            return (String::new(), out);
        }
        let physical = inputs
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(name)
            .to_owned();
        let service = type_
            .split(':')
            .nth(1)
            .and_then(|m| m.split('/').next())
            .unwrap_or("x");
        let id = match type_ {
            "aws:sqs/queue:Queue" => format!(
                "https://sqs.{}.amazonaws.com/123456789012/{physical}",
                self.region
            ),
            _ => format!("{physical}-id"),
        };
        let arn = match type_ {
            "aws:sqs/queue:Queue" | "aws:sns/topic:Topic" => {
                format!("arn:aws:{service}:{}:123456789012:{physical}", self.region)
            }
            "aws:lambda/function:Function" => format!(
                "arn:aws:lambda:{}:123456789012:function:{physical}",
                self.region
            ),
            "aws:cloudwatch/logGroup:LogGroup" => format!(
                "arn:aws:logs:{}:123456789012:log-group:{physical}",
                self.region
            ),
            "aws:iam/role:Role" => format!("arn:aws:iam::123456789012:role/{physical}"),
            _ => format!("arn:aws:{service}:{}:123456789012:{physical}", self.region),
        };
        out.insert("id".into(), json!(id));
        out.entry("arn").or_insert(json!(arn));
        out.entry("name").or_insert(json!(physical));
        match type_ {
            "aws:sqs/queue:Queue" => {
                out.insert("url".into(), json!(id));
            }
            "aws:lambda/function:Function" => {
                out.insert(
                    "invokeArn".into(),
                    json!(format!(
                        "arn:aws:apigateway:{}:lambda:path/functions/{arn}/invocations",
                        self.region
                    )),
                );
            }
            "aws:apigatewayv2/api:Api" => {
                out.insert(
                    "apiEndpoint".into(),
                    json!(format!(
                        "https://{physical}.execute-api.{}.amazonaws.com",
                        self.region
                    )),
                );
                out.insert(
                    "executionArn".into(),
                    json!(format!(
                        "arn:aws:execute-api:{}:123456789012:{physical}",
                        self.region
                    )),
                );
            }
            "aws:rds/instance:Instance" => {
                let host = format!("{physical}.abc.{}.rds.amazonaws.com", self.region);
                out.insert("address".into(), json!(host));
                out.insert("endpoint".into(), json!(format!("{host}:3306")));
                out.insert(
                    "masterUserSecrets".into(),
                    json!([{ "secretArn": format!("arn:aws:secretsmanager:{}:123456789012:secret:rds!{physical}", self.region), "secretStatus": "active", "kmsKeyId": null }]),
                );
            }
            "aws:lambda/invocation:Invocation" => {
                out.insert("result".into(), json!("{\"applied\":[1]}"));
            }
            _ => {}
        }
        (id, out)
    }
}

#[tonic::async_trait]
impl ResourceMonitor for Fake {
    async fn supports_feature(
        &self,
        r: Request<rpc::SupportsFeatureRequest>,
    ) -> Result<Response<rpc::SupportsFeatureResponse>, Status> {
        let has_support = r.get_ref().id == "secrets";
        Ok(Response::new(rpc::SupportsFeatureResponse { has_support }))
    }
    async fn invoke(
        &self,
        _: Request<rpc::ResourceInvokeRequest>,
    ) -> Result<Response<rpc::InvokeResponse>, Status> {
        Err(Status::unimplemented("the program makes no invokes"))
    }
    async fn call(
        &self,
        _: Request<rpc::ResourceCallRequest>,
    ) -> Result<Response<rpc::CallResponse>, Status> {
        Err(Status::unimplemented("call"))
    }
    async fn read_resource(
        &self,
        _: Request<rpc::ReadResourceRequest>,
    ) -> Result<Response<rpc::ReadResourceResponse>, Status> {
        Err(Status::unimplemented("read_resource"))
    }
    async fn register_resource(
        &self,
        r: Request<rpc::RegisterResourceRequest>,
    ) -> Result<Response<rpc::RegisterResourceResponse>, Status> {
        let req = r.into_inner();
        let urn = format!(
            "urn:pulumi:{}::{}::{}::{}",
            self.stack, self.project, req.r#type, req.name
        );
        let inputs = req.object.as_ref().map(struct_to_json).unwrap_or_default();
        let (id, outputs) = if req.custom {
            self.outputs(&req.r#type, &req.name, &inputs)
        } else {
            (String::new(), Map::new())
        };
        let mut state = self.state.lock().unwrap();
        if req.r#type == "pulumi:pulumi:Stack" {
            state.root = urn.clone();
        }
        state.resources.push(Registered {
            type_: req.r#type.clone(),
            name: req.name.clone(),
            custom: req.custom,
            inputs,
            outputs: outputs.clone(),
        });
        Ok(Response::new(rpc::RegisterResourceResponse {
            urn,
            id,
            object: Some(struct_from_json(&outputs)),
            ..Default::default()
        }))
    }
    async fn register_resource_outputs(
        &self,
        r: Request<rpc::RegisterResourceOutputsRequest>,
    ) -> Result<Response<()>, Status> {
        let req = r.into_inner();
        let mut state = self.state.lock().unwrap();
        if req.urn == state.root {
            state.exports = req.outputs.as_ref().map(struct_to_json).unwrap_or_default();
        }
        Ok(Response::new(()))
    }
    async fn register_stack_transform(
        &self,
        _: Request<rpc::Callback>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("transforms"))
    }
    async fn register_stack_invoke_transform(
        &self,
        _: Request<rpc::Callback>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("transforms"))
    }
    async fn register_resource_hook(
        &self,
        _: Request<rpc::RegisterResourceHookRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("hooks"))
    }
    async fn register_error_hook(
        &self,
        _: Request<rpc::RegisterErrorHookRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("hooks"))
    }
    async fn register_package(
        &self,
        _: Request<rpc::RegisterPackageRequest>,
    ) -> Result<Response<rpc::RegisterPackageResponse>, Status> {
        Err(Status::unimplemented("packages"))
    }
    async fn signal_and_wait_for_shutdown(&self, _: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
}

#[tonic::async_trait]
impl Engine for Fake {
    async fn log(&self, r: Request<rpc::LogRequest>) -> Result<Response<()>, Status> {
        self.state.lock().unwrap().logs.push(r.into_inner().message);
        Ok(Response::new(()))
    }
    async fn get_root_resource(
        &self,
        _: Request<rpc::GetRootResourceRequest>,
    ) -> Result<Response<rpc::GetRootResourceResponse>, Status> {
        Ok(Response::new(rpc::GetRootResourceResponse {
            urn: self.state.lock().unwrap().root.clone(),
        }))
    }
    async fn set_root_resource(
        &self,
        r: Request<rpc::SetRootResourceRequest>,
    ) -> Result<Response<rpc::SetRootResourceResponse>, Status> {
        self.state.lock().unwrap().root = r.into_inner().urn;
        Ok(Response::new(rpc::SetRootResourceResponse {}))
    }
    async fn start_debugging(
        &self,
        _: Request<rpc::StartDebuggingRequest>,
    ) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("debugging"))
    }
    async fn require_pulumi_version(
        &self,
        _: Request<rpc::RequirePulumiVersionRequest>,
    ) -> Result<Response<rpc::RequirePulumiVersionResponse>, Status> {
        Ok(Response::new(rpc::RequirePulumiVersionResponse {}))
    }
}

/// What one run of the program did.
pub struct Run {
    pub resources: Vec<Registered>,
    pub exports: Map<String, Value>,
    pub success: bool,
    pub stderr: String,
    pub preview: bool,
}

impl Run {
    pub fn of_type(&self, type_: &str) -> Vec<&Registered> {
        self.resources.iter().filter(|r| r.type_ == type_).collect()
    }

    /// The one resource with this logical name.
    pub fn named(&self, name: &str) -> &Registered {
        let found: Vec<_> = self.resources.iter().filter(|r| r.name == name).collect();
        assert_eq!(found.len(), 1, "exactly one resource named {name}");
        found[0]
    }

    pub fn count_by_type(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.resources.iter().filter(|r| r.custom) {
            *counts.entry(r.type_.clone()).or_default() += 1;
        }
        counts
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs the real infra binary for `stage` against a fresh fake engine. `edit` may change
/// the config (key → value) before the run; `secret` is the callback secret, if any.
pub fn run_program(
    stage: &str,
    preview: bool,
    secret: Option<&str>,
    edit: impl FnOnce(&mut BTreeMap<String, String>),
) -> Run {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut config =
        donut_config::stack_file_values(&root().join(format!("Pulumi.{stage}.yaml"))).unwrap();
    edit(&mut config);
    let mut secret_keys = Vec::new();
    if let Some(secret) = secret {
        config.insert("donut-states:callbackSecret".into(), secret.into());
        secret_keys.push("donut-states:callbackSecret");
    }
    let fake = Fake {
        state: Arc::default(),
        preview,
        project: "donut-states".into(),
        stack: stage.into(),
        region: config.get("aws:region").cloned().unwrap_or_default(),
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(ResourceMonitorServer::new(fake.clone()))
        .add_service(EngineServer::new(fake.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    runtime.spawn(server);

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_donut-infra"))
        .current_dir(root())
        .env("PULUMI_MONITOR", addr.to_string())
        .env("PULUMI_ENGINE", addr.to_string())
        .env("PULUMI_PROJECT", "donut-states")
        .env("PULUMI_STACK", stage)
        .env("PULUMI_ORGANIZATION", "organization")
        .env("PULUMI_ROOT_DIRECTORY", root())
        .env("PULUMI_DRY_RUN", if preview { "true" } else { "false" })
        .env("PULUMI_CONFIG", serde_json::to_string(&config).unwrap())
        .env(
            "PULUMI_CONFIG_SECRET_KEYS",
            serde_json::to_string(&secret_keys).unwrap(),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the infra binary runs");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the program did not finish"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap();
    let state = fake.state.lock().unwrap();
    Run {
        resources: state.resources.clone(),
        exports: state.exports.clone(),
        success: status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        preview,
    }
}
