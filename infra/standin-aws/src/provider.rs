//! The `ResourceProvider` gRPC service the engine drives: Check against the schema subset,
//! an honest Diff of old and new inputs, and Create/Read/Update/Delete on the stand-in account.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Mutex, PoisonError};

use pulumi_gestalt_proto::pulumi::pulumirpc as rpc;
use rpc::diff_response::DiffChanges;
use rpc::property_diff::Kind as DiffKind;
use serde_json::{Map, Value, json};
use tonic::{Request, Response, Status};

use crate::account::{Account, Live};
use crate::names;
use crate::schema::Schema;
use crate::shapes::{self, Place};
use crate::wire::{UNKNOWN, has_unknown, object, to_struct, without_nulls};

/// The pulumi-aws release the program's bindings were generated from (the schema subset's).
pub const VERSION: &str = "7.51.1";

pub struct Provider {
    schema: Schema,
    account: Account,
    region: Mutex<String>,
    /// One resource's Create/Update/Delete at a time: the account is one file.
    writing: tokio::sync::Mutex<()>,
}

impl Provider {
    pub fn new(account: Account) -> Self {
        Provider {
            schema: Schema::load(),
            account,
            region: Mutex::new("us-east-1".into()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    fn region(&self) -> String {
        self.region
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The logical name in a URN (`urn:pulumi:stack::project::type::name`).
fn logical(urn: &str) -> &str {
    urn.rsplit("::").next().unwrap_or(urn)
}

/// 32 random hex digits.
fn random_hex() -> String {
    let mut out = String::new();
    for _ in 0..2 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// Seven hex digits from the engine's random seed: the same seed, the same suffix, so a
/// preview and the update after it agree on an auto-name.
fn seeded_suffix(seed: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in seed {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:07x}", hash & 0xfff_ffff)
}

/// Inputs whose change makes AWS create a new resource (Terraform's ForceNew), for the types
/// the program uses; every type's `name` and `namePrefix` too.
fn forces_replacement(type_token: &str, key: &str) -> bool {
    if matches!(key, "name" | "namePrefix") {
        return true;
    }
    let keys: &[&str] = match type_token {
        "aws:ec2/vpc:Vpc" => &["cidrBlock"],
        "aws:ec2/subnet:Subnet" => &["vpcId", "cidrBlock", "availabilityZone"],
        "aws:ec2/securityGroup:SecurityGroup" => &["vpcId", "description"],
        "aws:ec2/eip:Eip" => &["domain"],
        "aws:ec2/natGateway:NatGateway" => &["subnetId", "allocationId", "connectivityType"],
        "aws:ec2/routeTable:RouteTable" => &["vpcId"],
        "aws:ec2/routeTableAssociation:RouteTableAssociation" => &["subnetId", "gatewayId"],
        "aws:ec2/vpcEndpoint:VpcEndpoint" => &["vpcId", "serviceName", "vpcEndpointType"],
        // upstream ec2/vpc_default_security_group.go: vpc_id ForceNew.
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup" => &["vpcId"],
        // upstream ec2/vpc_flow_log.go: every argument but tags is ForceNew (a flow log cannot
        // be changed, only replaced).
        "aws:ec2/flowLog:FlowLog" => &[
            "vpcId",
            "subnetId",
            "eniId",
            "regionalNatGatewayId",
            "transitGatewayId",
            "transitGatewayAttachmentId",
            "trafficType",
            "logDestination",
            "logDestinationType",
            "iamRoleArn",
            "deliverCrossAccountRole",
            "logFormat",
            "maxAggregationInterval",
            "destinationOptions",
        ],
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment" => &["role", "policyArn"],
        "aws:secretsmanager/secretPolicy:SecretPolicy" => &["secretArn"],
        "aws:apigatewayv2/authorizer:Authorizer" => &["apiId", "authorizerType"],
        "aws:rds/instance:Instance" => &[
            "identifier",
            "dbName",
            "storageEncrypted",
            "username",
            "availabilityZone",
            "kmsKeyId",
        ],
        "aws:rds/parameterGroup:ParameterGroup" => &["family"],
        "aws:secretsmanager/secretVersion:SecretVersion" => &["secretId"],
        "aws:apigatewayv2/api:Api" => &["protocolType"],
        "aws:apigatewayv2/integration:Integration" => &["apiId", "integrationType"],
        "aws:apigatewayv2/route:Route" => &["apiId"],
        "aws:apigatewayv2/stage:Stage" => &["apiId"],
        "aws:lambda/permission:Permission" => &[
            "action",
            "function",
            "principal",
            "sourceArn",
            "sourceAccount",
            "statementId",
            "qualifier",
        ],
        "aws:lambda/eventSourceMapping:EventSourceMapping" => &["eventSourceArn"],
        // upstream lambda/alias.go: function_name and name are ForceNew.
        "aws:lambda/alias:Alias" => &["functionName"],
        "aws:lambda/invocation:Invocation" => &["functionName", "input", "triggers", "qualifier"],
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig" => {
            &["functionName", "qualifier"]
        }
        "aws:iam/rolePolicy:RolePolicy" => &["role"],
        // upstream iam/policy.go: description and path are ForceNew (the name too).
        "aws:iam/policy:Policy" => &["description", "path"],
        "aws:cloudwatch/eventTarget:EventTarget" => &["rule", "targetId"],
        "aws:cloudwatch/dashboard:Dashboard" => &["dashboardName"],
        "aws:sns/topic:Topic" => &["fifoTopic"],
        "aws:sns/topicSubscription:TopicSubscription" => &["topic", "endpoint", "protocol"],
        "aws:sqs/queue:Queue" => &["fifoQueue"],
        "aws:sqs/queuePolicy:QueuePolicy" => &["queueUrl"],
        _ => &[],
    };
    keys.contains(&key)
}

/// The property-by-property difference between old and new inputs.
struct InputDiff {
    changed: Vec<String>,
    replaces: Vec<String>,
    detailed: HashMap<String, rpc::PropertyDiff>,
}

fn diff_inputs(type_token: &str, old: &Map<String, Value>, new: &Map<String, Value>) -> InputDiff {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut diff = InputDiff {
        changed: vec![],
        replaces: vec![],
        detailed: HashMap::new(),
    };
    for key in keys {
        let before = old.get(key).filter(|v| !v.is_null());
        let after = new.get(key).filter(|v| !v.is_null());
        let unknown = after.is_some_and(has_unknown);
        if before == after && !unknown {
            continue;
        }
        let replace = forces_replacement(type_token, key);
        let kind = match (before, after, replace) {
            (None, Some(_), false) => DiffKind::Add,
            (None, Some(_), true) => DiffKind::AddReplace,
            (Some(_), None, false) => DiffKind::Delete,
            (Some(_), None, true) => DiffKind::DeleteReplace,
            (_, _, false) => DiffKind::Update,
            (_, _, true) => DiffKind::UpdateReplace,
        };
        diff.changed.push(key.clone());
        if replace {
            diff.replaces.push(key.clone());
        }
        diff.detailed.insert(
            key.clone(),
            rpc::PropertyDiff {
                kind: kind as i32,
                input_diff: true,
            },
        );
    }
    diff
}

/// Inputs of a function whose change is no new version: its tags (TagResource, not an update
/// of the function) and `publish` itself.
const NOT_PUBLISHED: [&str; 3] = ["tags", "tagsAll", "publish"];

/// The version and qualified ARN an update of a function leaves: with `publish`, a change of its
/// code or configuration publishes the next version (upstream lambda/function.go's
/// CustomizeDiff `updateComputedAttributesOnPublish`: `version` and `qualified_arn` are new
/// computed values when publish is set and the code or the configuration changed — unknown in
/// a preview); otherwise they stay.
fn published_after_update(
    olds: &Map<String, Value>,
    old_inputs: &Map<String, Value>,
    news: &Map<String, Value>,
    preview: bool,
) -> Option<(Value, Value)> {
    if news.get("publish") != Some(&json!(true)) {
        return None;
    }
    let changed = old_inputs
        .keys()
        .chain(news.keys())
        .filter(|k| !NOT_PUBLISHED.contains(&k.as_str()))
        .any(|k| {
            old_inputs.get(k).filter(|v| !v.is_null()) != news.get(k).filter(|v| !v.is_null())
        });
    let was_published = old_inputs.get("publish") == Some(&json!(true));
    if !changed && was_published {
        return None;
    }
    if preview {
        return Some((json!(UNKNOWN), json!(UNKNOWN)));
    }
    let version = shapes::next_version(olds.get("version").and_then(Value::as_str));
    let arn = olds.get("arn").and_then(Value::as_str).unwrap_or_default();
    Some((json!(version), json!(format!("{arn}:{version}"))))
}

/// The first naming rule only the AWS service checks, as the error `pulumi up` shows.
fn refused_by_aws(type_token: &str, inputs: &Map<String, Value>) -> Result<(), Status> {
    match names::refusals(type_token, inputs)
        .into_iter()
        .find(|r| r.when == names::When::Aws)
    {
        Some(r) => Err(failed(r.message)),
        None => Ok(()),
    }
}

fn failed(error: impl std::fmt::Display) -> Status {
    Status::unknown(error.to_string())
}

impl Provider {
    /// Outputs of a new resource: its inputs plus what AWS computes. In preview the computed
    /// values are unknown.
    fn outputs(
        &self,
        type_token: &str,
        urn: &str,
        inputs: &Map<String, Value>,
        preview: bool,
    ) -> (String, Map<String, Value>) {
        let region = self.region();
        let token = random_hex();
        let (id, computed) = shapes::created(
            &Place { region: &region },
            type_token,
            logical(urn),
            inputs,
            &token,
        );
        let mut out = inputs.clone();
        for (key, value) in computed {
            out.entry(key)
                .or_insert(if preview { json!(UNKNOWN) } else { value });
        }
        if self.schema.has_output(type_token, "tagsAll") {
            out.insert(
                "tagsAll".into(),
                inputs.get("tags").cloned().unwrap_or(json!({})),
            );
        }
        (if preview { String::new() } else { id }, out)
    }
}

#[tonic::async_trait]
impl rpc::resource_provider_server::ResourceProvider for Provider {
    async fn handshake(
        &self,
        _: Request<rpc::ProviderHandshakeRequest>,
    ) -> Result<Response<rpc::ProviderHandshakeResponse>, Status> {
        // The engine then negotiates through Configure, as with older providers.
        Err(Status::unimplemented("handshake"))
    }

    async fn parameterize(
        &self,
        _: Request<rpc::ParameterizeRequest>,
    ) -> Result<Response<rpc::ParameterizeResponse>, Status> {
        Err(Status::unimplemented(
            "the stand-in AWS provider is not parameterizable",
        ))
    }

    async fn get_schema(
        &self,
        _: Request<rpc::GetSchemaRequest>,
    ) -> Result<Response<rpc::GetSchemaResponse>, Status> {
        Ok(Response::new(rpc::GetSchemaResponse {
            schema: self.schema.text().to_owned(),
        }))
    }

    async fn check_config(
        &self,
        r: Request<rpc::CheckRequest>,
    ) -> Result<Response<rpc::CheckResponse>, Status> {
        let req = r.into_inner();
        let news = object(req.news.as_ref());
        let failures = match news.get("region").and_then(Value::as_str) {
            Some(region) if !region.is_empty() => vec![],
            _ => vec![rpc::CheckFailure {
                property: "region".into(),
                reason: "missing required configuration 'aws:region': `pulumi config set aws:region <region>`".into(),
            }],
        };
        Ok(Response::new(rpc::CheckResponse {
            inputs: Some(to_struct(&news)),
            failures,
        }))
    }

    async fn diff_config(
        &self,
        r: Request<rpc::DiffRequest>,
    ) -> Result<Response<rpc::DiffResponse>, Status> {
        let req = r.into_inner();
        let old = object(req.old_inputs.as_ref().or(req.olds.as_ref()));
        let diff = diff_inputs("pulumi:providers:aws", &old, &object(req.news.as_ref()));
        Ok(Response::new(rpc::DiffResponse {
            changes: if diff.changed.is_empty() {
                DiffChanges::DiffNone
            } else {
                DiffChanges::DiffSome
            } as i32,
            diffs: diff.changed,
            ..Default::default()
        }))
    }

    async fn configure(
        &self,
        r: Request<rpc::ConfigureRequest>,
    ) -> Result<Response<rpc::ConfigureResponse>, Status> {
        let req = r.into_inner();
        let region = object(req.args.as_ref())
            .get("region")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| req.variables.get("aws:config:region").cloned());
        if let Some(region) = region {
            *self.region.lock().unwrap_or_else(PoisonError::into_inner) = region;
        }
        Ok(Response::new(rpc::ConfigureResponse {
            // Secrets arrive as plain values and the engine marks the outputs made from them
            // secret again, as it does for any provider that does not take secrets.
            accept_secrets: false,
            supports_preview: true,
            accept_resources: false,
            accept_outputs: false,
            supports_autonaming_configuration: false,
        }))
    }

    async fn invoke(
        &self,
        r: Request<rpc::InvokeRequest>,
    ) -> Result<Response<rpc::InvokeResponse>, Status> {
        Err(Status::unimplemented(format!(
            "the stand-in AWS provider has no functions ({} was called)",
            r.get_ref().tok
        )))
    }

    async fn call(
        &self,
        _: Request<rpc::CallRequest>,
    ) -> Result<Response<rpc::CallResponse>, Status> {
        Err(Status::unimplemented("call"))
    }

    async fn check(
        &self,
        r: Request<rpc::CheckRequest>,
    ) -> Result<Response<rpc::CheckResponse>, Status> {
        let req = r.into_inner();
        let type_token = req.r#type.clone();
        let olds = object(req.olds.as_ref());
        let mut news = without_nulls(&object(req.news.as_ref()));
        // Auto-naming, as the real provider does for a resource whose name is not set: keep the
        // name it already has, or make one from the logical name and a seeded suffix. RDS
        // instances are named by `identifier`, lower case.
        // Nothing is lower-cased (pulumi-aws has no transform for RDS names): an upper-case
        // logical name fails the identifier's validation below, as it does for real.
        let (key, _) = names::autonaming(&type_token);
        let prefix = if key == "identifier" {
            "identifierPrefix"
        } else {
            "namePrefix"
        };
        let mut failures: Vec<rpc::CheckFailure> = Vec::new();
        if self.schema.has_input(&type_token, key)
            && !news.contains_key(key)
            && !news.contains_key(prefix)
        {
            match olds.get(key) {
                Some(name) => {
                    news.insert(key.into(), name.clone());
                }
                None => match names::auto_name(
                    &type_token,
                    logical(&req.urn),
                    &seeded_suffix(&req.random_seed),
                ) {
                    Ok(name) => {
                        news.insert(key.into(), json!(name));
                    }
                    // The Pulumi SDK's refusal: the engine reports it as the check's error.
                    Err(e) => return Err(failed(e)),
                },
            }
        }
        failures.extend(self.schema.check(&type_token, &news).into_iter().map(|f| {
            rpc::CheckFailure {
                property: f.property,
                reason: f.reason,
            }
        }));
        failures.extend(
            names::refusals(&type_token, &news)
                .into_iter()
                .filter(|r| r.when == names::When::Plan)
                .map(|r| rpc::CheckFailure {
                    property: r.property.into(),
                    reason: r.message,
                }),
        );
        Ok(Response::new(rpc::CheckResponse {
            inputs: Some(to_struct(&news)),
            failures,
        }))
    }

    async fn diff(
        &self,
        r: Request<rpc::DiffRequest>,
    ) -> Result<Response<rpc::DiffResponse>, Status> {
        let req = r.into_inner();
        let news = object(req.news.as_ref());
        // Old inputs when the engine sends them; else the old state's values of input keys.
        let old = match req.old_inputs.as_ref() {
            Some(old) if !old.fields.is_empty() => object(Some(old)),
            _ => {
                let olds = object(req.olds.as_ref());
                olds.into_iter()
                    .filter(|(k, _)| self.schema.has_input(&req.r#type, k))
                    .collect()
            }
        };
        let mut diff = diff_inputs(&req.r#type, &old, &news);
        diff.changed.retain(|k| !req.ignore_changes.contains(k));
        diff.replaces.retain(|k| !req.ignore_changes.contains(k));
        diff.detailed.retain(|k, _| !req.ignore_changes.contains(k));
        // A replacement that keeps a fixed physical name must delete the old one first, or
        // AWS refuses the duplicate name.
        let keeps_name = old.get("name").is_some() && old.get("name") == news.get("name");
        Ok(Response::new(rpc::DiffResponse {
            changes: if diff.changed.is_empty() {
                DiffChanges::DiffNone
            } else {
                DiffChanges::DiffSome
            } as i32,
            delete_before_replace: !diff.replaces.is_empty() && keeps_name,
            replaces: diff.replaces,
            diffs: diff.changed,
            detailed_diff: diff.detailed,
            has_detailed_diff: true,
            stables: vec![],
        }))
    }

    async fn create(
        &self,
        r: Request<rpc::CreateRequest>,
    ) -> Result<Response<rpc::CreateResponse>, Status> {
        let req = r.into_inner();
        let inputs = object(req.properties.as_ref());
        if !req.preview {
            refused_by_aws(&req.r#type, &inputs)?;
        }
        let (id, outputs) = self.outputs(&req.r#type, &req.urn, &inputs, req.preview);
        if !req.preview {
            match shapes::id_form(&req.r#type) {
                Some(form) if (form.holds)(&id, &inputs) => {}
                Some(form) => {
                    return Err(failed(format!(
                        "stand-in: {} id {id:?} is not {}",
                        req.r#type, form.id
                    )));
                }
                None => {
                    return Err(failed(format!(
                        "stand-in: no id form for {} (add it to shapes::ID_FORMS, from the provider's docs)",
                        req.r#type
                    )));
                }
            }
            let _one = self.writing.lock().await;
            self.account
                .create(Live {
                    type_token: req.r#type.clone(),
                    id: id.clone(),
                    logical: logical(&req.urn).to_owned(),
                    inputs,
                    outputs: outputs.clone(),
                })
                .map_err(failed)?;
        }
        Ok(Response::new(rpc::CreateResponse {
            id,
            properties: Some(to_struct(&outputs)),
            refresh_before_update: false,
        }))
    }

    async fn read(
        &self,
        r: Request<rpc::ReadRequest>,
    ) -> Result<Response<rpc::ReadResponse>, Status> {
        let req = r.into_inner();
        let live = self
            .account
            .get(&req.r#type, &req.id, &object(req.properties.as_ref()))
            .map_err(failed)?;
        Ok(Response::new(match live {
            Some(live) => rpc::ReadResponse {
                id: live.id,
                properties: Some(to_struct(&live.outputs)),
                inputs: Some(to_struct(&live.inputs)),
                refresh_before_update: false,
            },
            // Gone from the account: the engine drops it from the state.
            None => rpc::ReadResponse::default(),
        }))
    }

    async fn update(
        &self,
        r: Request<rpc::UpdateRequest>,
    ) -> Result<Response<rpc::UpdateResponse>, Status> {
        let req = r.into_inner();
        let olds = object(req.olds.as_ref());
        let old_inputs = object(req.old_inputs.as_ref());
        let news = object(req.news.as_ref());
        if !req.preview {
            refused_by_aws(&req.r#type, &news)?;
        }
        // What AWS computed stays (id, ARN, endpoints); every input takes its new value.
        let mut outputs: Map<String, Value> = olds
            .into_iter()
            .filter(|(k, _)| !old_inputs.contains_key(k) && !self.schema.has_input(&req.r#type, k))
            .collect();
        outputs.extend(news.clone());
        if req.r#type == "aws:lambda/function:Function"
            && let Some((version, qualified_arn)) =
                published_after_update(&object(req.olds.as_ref()), &old_inputs, &news, req.preview)
        {
            outputs.insert("version".into(), version);
            outputs.insert("qualifiedArn".into(), qualified_arn);
        }
        if self.schema.has_output(&req.r#type, "tagsAll") {
            outputs.insert(
                "tagsAll".into(),
                news.get("tags").cloned().unwrap_or(json!({})),
            );
        }
        if !req.preview {
            let _one = self.writing.lock().await;
            self.account
                .update(Live {
                    type_token: req.r#type.clone(),
                    id: req.id.clone(),
                    logical: logical(&req.urn).to_owned(),
                    inputs: news,
                    outputs: outputs.clone(),
                })
                .map_err(failed)?;
        }
        Ok(Response::new(rpc::UpdateResponse {
            properties: Some(to_struct(&outputs)),
            refresh_before_update: false,
        }))
    }

    async fn delete(&self, r: Request<rpc::DeleteRequest>) -> Result<Response<()>, Status> {
        let req = r.into_inner();
        let _one = self.writing.lock().await;
        self.account
            .delete(&req.r#type, &req.id, &object(req.properties.as_ref()))
            .map_err(failed)?;
        Ok(Response::new(()))
    }

    async fn construct(
        &self,
        _: Request<rpc::ConstructRequest>,
    ) -> Result<Response<rpc::ConstructResponse>, Status> {
        Err(Status::unimplemented("the AWS provider has no components"))
    }

    async fn cancel(&self, _: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn get_plugin_info(&self, _: Request<()>) -> Result<Response<rpc::PluginInfo>, Status> {
        Ok(Response::new(rpc::PluginInfo {
            version: VERSION.into(),
        }))
    }

    async fn attach(&self, _: Request<rpc::PluginAttach>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn get_mapping(
        &self,
        _: Request<rpc::GetMappingRequest>,
    ) -> Result<Response<rpc::GetMappingResponse>, Status> {
        Ok(Response::new(rpc::GetMappingResponse::default()))
    }

    async fn get_mappings(
        &self,
        _: Request<rpc::GetMappingsRequest>,
    ) -> Result<Response<rpc::GetMappingsResponse>, Status> {
        Ok(Response::new(rpc::GetMappingsResponse::default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_reports_changes_additions_removals_and_replacements() {
        let old = json!({"name": "q", "delaySeconds": 1, "policy": "p"});
        let new = json!({"name": "q", "delaySeconds": 2, "tags": {"a": "b"}});
        let diff = diff_inputs(
            "aws:sqs/queue:Queue",
            old.as_object().unwrap(),
            new.as_object().unwrap(),
        );
        assert_eq!(diff.changed, vec!["delaySeconds", "policy", "tags"]);
        assert!(diff.replaces.is_empty());
        let renamed = json!({"name": "r", "delaySeconds": 1, "policy": "p"});
        let diff = diff_inputs(
            "aws:sqs/queue:Queue",
            old.as_object().unwrap(),
            renamed.as_object().unwrap(),
        );
        assert_eq!(diff.replaces, vec!["name"]);
    }

    #[test]
    fn equal_inputs_and_nulls_are_no_change_but_unknowns_are() {
        let old = json!({"name": "q", "delaySeconds": 1});
        let same = json!({"name": "q", "delaySeconds": 1, "policy": null});
        assert!(
            diff_inputs(
                "aws:sqs/queue:Queue",
                old.as_object().unwrap(),
                same.as_object().unwrap()
            )
            .changed
            .is_empty()
        );
        let unknown = json!({"name": "q", "delaySeconds": UNKNOWN});
        assert_eq!(
            diff_inputs(
                "aws:sqs/queue:Queue",
                old.as_object().unwrap(),
                unknown.as_object().unwrap()
            )
            .changed,
            vec!["delaySeconds"]
        );
    }

    /// With `publish`, a change of code or configuration publishes the next version (unknown in
    /// a preview); tags alone, or no change, publish nothing; without `publish`, nothing.
    #[test]
    fn an_update_publishes_the_next_version_when_code_or_configuration_change() {
        let olds = json!({"arn": "arn:aws:lambda:r:1:function:f", "version": "3"});
        let olds = olds.as_object().unwrap();
        let before = json!({"publish": true, "code": {"hash": "a"}, "tags": {"a": "1"}});
        let before = before.as_object().unwrap();
        let code = json!({"publish": true, "code": {"hash": "b"}, "tags": {"a": "1"}});
        assert_eq!(
            published_after_update(olds, before, code.as_object().unwrap(), false),
            Some((json!("4"), json!("arn:aws:lambda:r:1:function:f:4")))
        );
        assert_eq!(
            published_after_update(olds, before, code.as_object().unwrap(), true),
            Some((json!(UNKNOWN), json!(UNKNOWN)))
        );
        let retagged = json!({"publish": true, "code": {"hash": "a"}, "tags": {"a": "2"}});
        assert_eq!(
            published_after_update(olds, before, retagged.as_object().unwrap(), false),
            None
        );
        assert_eq!(published_after_update(olds, before, before, false), None);
        let unpublished = json!({"code": {"hash": "b"}});
        assert_eq!(
            published_after_update(olds, before, unpublished.as_object().unwrap(), false),
            None
        );
    }

    #[test]
    fn auto_names_are_stable_for_a_seed() {
        assert_eq!(seeded_suffix(b"seed"), seeded_suffix(b"seed"));
        assert_ne!(seeded_suffix(b"seed"), seeded_suffix(b"other"));
        assert_eq!(seeded_suffix(b"seed").len(), 7);
    }
}
