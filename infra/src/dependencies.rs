//! Records what depends on what, which gestalt 0.0.12 does not: its RegisterResource requests
//! carry no `dependencies` and no `propertyDependencies`, so the engine's state has no graph
//! and `pulumi destroy` deletes everything at once — in an order AWS refuses (a VPC before its
//! subnets, a secret before the policies that name it).
//!
//! The program therefore talks to the engine through a small relay on 127.0.0.1: every
//! request goes on unchanged, except that a registration gets the URNs of the resources whose
//! outputs (id, ARNs, URLs, endpoints) appear in its inputs. gestalt registers a resource
//! only once all its inputs are resolved, so every output a resource was built from belongs
//! to a resource registered before it: the recorded edges are the program's data flow and can
//! form no cycle. An input that merely equals another resource's output by coincidence adds
//! an edge that only makes the engine more careful.
//!
//! gestalt cannot send resource options either: the relay also adds the `ignoreChanges` the
//! program needs ([`IGNORED_CHANGES`]) to the registrations of those resource types.
//!
//! Remove this module when gestalt sends dependencies and `ignoreChanges` itself.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use prost_types::value::Kind;
use pulumi_gestalt_proto::pulumi::pulumirpc as rpc;
use rpc::resource_monitor_client::ResourceMonitorClient;
use rpc::resource_monitor_server::{ResourceMonitor, ResourceMonitorServer};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// Outputs shorter than this are too common to mean a reference (`$default`, `80`).
const SHORTEST_REFERENCE: usize = 6;

/// A registered resource and the output values another resource could be built from.
#[derive(Debug, Clone)]
pub struct Registered {
    pub urn: String,
    pub references: Vec<String>,
}

impl Registered {
    pub fn from_response(response: &rpc::RegisterResourceResponse) -> Self {
        let mut references = vec![response.id.clone()];
        if let Some(outputs) = &response.object {
            for (key, value) in &outputs.fields {
                if is_reference_key(key) {
                    strings(value, &mut references);
                }
            }
        }
        references.retain(|r| r.len() >= SHORTEST_REFERENCE);
        references.sort();
        references.dedup();
        Registered {
            urn: response.urn.clone(),
            references,
        }
    }
}

/// Outputs that identify a resource to others: ARNs, URLs, endpoints, addresses, names, RDS
/// identifiers — and
/// an invocation's `result`, which what must wait for the invocation is built from.
fn is_reference_key(key: &str) -> bool {
    matches!(
        key,
        "id" | "arn" | "url" | "name" | "identifier" | "address" | "endpoint" | "result"
    ) || ["Arn", "Url", "Endpoint", "Arns"]
        .iter()
        .any(|suffix| key.ends_with(suffix))
        || key == "masterUserSecrets"
}

fn strings(value: &prost_types::Value, out: &mut Vec<String>) {
    match &value.kind {
        Some(Kind::StringValue(s)) => out.push(s.clone()),
        Some(Kind::ListValue(list)) => list.values.iter().for_each(|v| strings(v, out)),
        Some(Kind::StructValue(object)) => object.fields.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// `needle` occurs in `haystack` as a whole token, not as the start of a longer name.
fn contains_token(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let after = haystack[at + needle.len()..].chars().next();
        let before = haystack[..at].chars().next_back();
        let joins = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        !after.is_some_and(joins) && !before.is_some_and(joins)
    })
}

/// Orders made with `out::after`: (a value, the reference of what it waited for). Whatever a
/// later resource builds from the value depends on that resource too: the value alone does not
/// name it, so the relay could not see the edge otherwise.
static ORDERED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Records that `value` was released only once `dependency` (an id, an ARN) was known.
pub fn ordered_after(value: &str, dependency: &str) {
    ORDERED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((value.to_owned(), dependency.to_owned()));
}

/// For each input property, the URNs of the earlier resources it was built from, directly or
/// through a value that waited for them (`ordered`).
pub fn property_dependencies(
    inputs: &prost_types::Struct,
    earlier: &[Registered],
) -> BTreeMap<String, BTreeSet<String>> {
    let ordered = ORDERED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, value) in &inputs.fields {
        let mut values = Vec::new();
        strings(value, &mut values);
        for (released, dependency) in &ordered {
            if values.iter().any(|v| contains_token(v, released)) {
                values.push(dependency.clone());
            }
        }
        let urns: BTreeSet<String> = earlier
            .iter()
            .filter(|r| {
                r.references
                    .iter()
                    .any(|reference| values.iter().any(|v| contains_token(v, reference)))
            })
            .map(|r| r.urn.clone())
            .collect();
        if !urns.is_empty() {
            found.insert(key.clone(), urns);
        }
    }
    found
}

/// Adds the dependencies found in the request's inputs.
pub fn record(request: &mut rpc::RegisterResourceRequest, earlier: &[Registered]) {
    let Some(inputs) = &request.object else {
        return;
    };
    let by_property = property_dependencies(inputs, earlier);
    let mut all: BTreeSet<String> = request.dependencies.iter().cloned().collect();
    for (key, urns) in by_property {
        all.extend(urns.iter().cloned());
        request
            .property_dependencies
            .entry(key)
            .or_default()
            .urns
            .extend(urns);
    }
    request.dependencies = all.into_iter().collect();
}

/// Inputs the engine must not change once a resource exists, by type: the provider's
/// `ignoreChanges` resource option, which the engine reads from the registration
/// (`RegisterResourceRequest.ignoreChanges`, field 12 of pulumi's proto/pulumi/resource.proto:
/// "a list of property selectors to ignore during updates"), keeps the old values of those
/// inputs and passes the selectors to the provider's Diff (`DiffRequest.ignoreChanges`).
///
/// A Lambda alias (`donut_config::release::ALIAS`) is created at the function's first
/// published version; from then on the rollout tool moves it (its version and its routing
/// weights), and a later `up` — which publishes a new version — must leave it where the tool
/// put it, or every deploy would switch all traffic to the new version at once. Its
/// description is the tool's record of the release (a canary's start, a rollback that must
/// stick): after a `pulumi refresh` has read it, an `up` must not write the program's back.
pub const IGNORED_CHANGES: &[(&str, &[&str])] = &[(
    "aws:lambda/alias:Alias",
    &["functionVersion", "routingConfig", "description"],
)];

/// Adds the type's [`IGNORED_CHANGES`] to a registration.
pub fn ignore_changes(request: &mut rpc::RegisterResourceRequest) {
    let Some((_, ignored)) = IGNORED_CHANGES
        .iter()
        .find(|(type_token, _)| *type_token == request.r#type)
    else {
        return;
    };
    for property in *ignored {
        if !request.ignore_changes.iter().any(|p| p == property) {
            request.ignore_changes.push((*property).to_owned());
        }
    }
}

#[derive(Clone)]
struct Relay {
    engine: ResourceMonitorClient<Channel>,
    registered: Arc<Mutex<Vec<Registered>>>,
}

/// Starts the relay and points the program (`PULUMI_MONITOR`) at it. Call before anything
/// else runs: it changes the process environment.
pub fn relay_monitor() -> anyhow::Result<()> {
    let Ok(engine) = std::env::var("PULUMI_MONITOR") else {
        return Ok(()); // not run by the engine: gestalt says what is missing
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("relay: bind")?;
    listener.set_nonblocking(true)?;
    let address: SocketAddr = listener.local_addr()?;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{engine}"))
        .context("PULUMI_MONITOR is not an address")?;
    // SAFETY: called first thing in `main`, before any other thread exists.
    unsafe { std::env::set_var("PULUMI_MONITOR", address.to_string()) };
    std::thread::Builder::new()
        .name("monitor-relay".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the relay");
            runtime.block_on(async move {
                let relay = Relay {
                    engine: ResourceMonitorClient::new(endpoint.connect_lazy()),
                    registered: Arc::default(),
                };
                let listener = tokio::net::TcpListener::from_std(listener).expect("relay listener");
                let served = tonic::transport::Server::builder()
                    .add_service(ResourceMonitorServer::new(relay))
                    .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                    .await;
                if let Err(e) = served {
                    eprintln!("the relay to the Pulumi engine stopped: {e}");
                }
            });
        })?;
    Ok(())
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ResourceMonitor for Relay {
    async fn register_resource(
        &self,
        r: Request<rpc::RegisterResourceRequest>,
    ) -> Answer<rpc::RegisterResourceResponse> {
        let mut request = r.into_inner();
        let earlier = self
            .registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        record(&mut request, &earlier);
        ignore_changes(&mut request);
        let response = self.engine.clone().register_resource(request).await?;
        self.registered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Registered::from_response(response.get_ref()));
        Ok(response)
    }

    async fn supports_feature(
        &self,
        r: Request<rpc::SupportsFeatureRequest>,
    ) -> Answer<rpc::SupportsFeatureResponse> {
        self.engine.clone().supports_feature(r.into_inner()).await
    }

    async fn invoke(&self, r: Request<rpc::ResourceInvokeRequest>) -> Answer<rpc::InvokeResponse> {
        self.engine.clone().invoke(r.into_inner()).await
    }

    async fn call(&self, r: Request<rpc::ResourceCallRequest>) -> Answer<rpc::CallResponse> {
        self.engine.clone().call(r.into_inner()).await
    }

    async fn read_resource(
        &self,
        r: Request<rpc::ReadResourceRequest>,
    ) -> Answer<rpc::ReadResourceResponse> {
        self.engine.clone().read_resource(r.into_inner()).await
    }

    async fn register_resource_outputs(
        &self,
        r: Request<rpc::RegisterResourceOutputsRequest>,
    ) -> Answer<()> {
        self.engine
            .clone()
            .register_resource_outputs(r.into_inner())
            .await
    }

    async fn register_stack_transform(&self, r: Request<rpc::Callback>) -> Answer<()> {
        self.engine
            .clone()
            .register_stack_transform(r.into_inner())
            .await
    }

    async fn register_stack_invoke_transform(&self, r: Request<rpc::Callback>) -> Answer<()> {
        self.engine
            .clone()
            .register_stack_invoke_transform(r.into_inner())
            .await
    }

    async fn register_resource_hook(
        &self,
        r: Request<rpc::RegisterResourceHookRequest>,
    ) -> Answer<()> {
        self.engine
            .clone()
            .register_resource_hook(r.into_inner())
            .await
    }

    async fn register_error_hook(&self, r: Request<rpc::RegisterErrorHookRequest>) -> Answer<()> {
        self.engine
            .clone()
            .register_error_hook(r.into_inner())
            .await
    }

    async fn register_package(
        &self,
        r: Request<rpc::RegisterPackageRequest>,
    ) -> Answer<rpc::RegisterPackageResponse> {
        self.engine.clone().register_package(r.into_inner()).await
    }

    async fn signal_and_wait_for_shutdown(&self, r: Request<()>) -> Answer<()> {
        self.engine
            .clone()
            .signal_and_wait_for_shutdown(r.into_inner())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> prost_types::Value {
        prost_types::Value {
            kind: Some(Kind::StringValue(s.into())),
        }
    }

    fn object(entries: &[(&str, prost_types::Value)]) -> prost_types::Struct {
        prost_types::Struct {
            fields: entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>(),
        }
    }

    fn registered(urn: &str, id: &str, arn: &str) -> Registered {
        Registered::from_response(&rpc::RegisterResourceResponse {
            urn: urn.into(),
            id: id.into(),
            object: Some(object(&[
                ("arn", text(arn)),
                ("visibilityTimeoutSeconds", text("120")),
            ])),
            ..Default::default()
        })
    }

    #[test]
    fn inputs_built_from_earlier_outputs_depend_on_them_property_by_property() {
        let earlier = vec![
            registered("urn:vpc", "vpc-0abc123", "arn:aws:ec2:r:1:vpc/vpc-0abc123"),
            registered(
                "urn:topic",
                "arn:aws:sns:r:1:stock-out",
                "arn:aws:sns:r:1:stock-out",
            ),
            registered(
                "urn:other-topic",
                "arn:aws:sns:r:1:stock-out-ops",
                "arn:aws:sns:r:1:stock-out-ops",
            ),
        ];
        let mut request = rpc::RegisterResourceRequest {
            object: Some(object(&[
                ("vpcId", text("vpc-0abc123")),
                (
                    "policy",
                    text(
                        r#"{"Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:r:1:stock-out"}}}"#,
                    ),
                ),
                ("timeout", text("120")),
            ])),
            ..Default::default()
        };
        record(&mut request, &earlier);
        assert_eq!(request.dependencies, vec!["urn:topic", "urn:vpc"]);
        assert_eq!(request.property_dependencies["vpcId"].urns, vec!["urn:vpc"]);
        assert_eq!(
            request.property_dependencies["policy"].urns,
            vec!["urn:topic"]
        );
        assert!(
            !request.property_dependencies.contains_key("timeout"),
            "short values are no reference"
        );
    }

    #[test]
    fn an_alias_registration_ignores_its_version_routing_and_description_and_nothing_else_does() {
        let mut alias = rpc::RegisterResourceRequest {
            r#type: "aws:lambda/alias:Alias".into(),
            ..Default::default()
        };
        ignore_changes(&mut alias);
        ignore_changes(&mut alias);
        assert_eq!(
            alias.ignore_changes,
            vec!["functionVersion", "routingConfig", "description"]
        );
        let mut function = rpc::RegisterResourceRequest {
            r#type: "aws:lambda/function:Function".into(),
            ..Default::default()
        };
        ignore_changes(&mut function);
        assert!(function.ignore_changes.is_empty());
    }

    #[test]
    fn a_longer_name_is_not_a_reference_to_its_prefix() {
        assert!(contains_token(
            "arn:aws:sns:r:1:stock-out:*",
            "arn:aws:sns:r:1:stock-out"
        ));
        assert!(!contains_token(
            "arn:aws:sns:r:1:stock-out-ops",
            "arn:aws:sns:r:1:stock-out"
        ));
        assert!(!contains_token("xvpc-0abc123", "vpc-0abc123"));
    }
}
