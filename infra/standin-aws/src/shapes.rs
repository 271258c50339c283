//! What AWS would answer for a created resource: an id in AWS's form for that type, an ARN,
//! and the computed attributes the program reads (queue URLs, API endpoint, RDS address and
//! managed secret, invoke ARNs).

use serde_json::{Map, Value, json};

/// The stand-in account every ARN names.
pub const ACCOUNT: &str = "123456789012";

/// Where the stand-in "runs": the provider's `region` config.
pub struct Place<'a> {
    pub region: &'a str,
}

/// `vpc-…`-style ids of EC2 and friends, by type.
fn ec2_prefix(type_token: &str) -> Option<(&'static str, &'static str)> {
    Some(match type_token {
        "aws:ec2/vpc:Vpc" => ("vpc-", "vpc/"),
        "aws:ec2/subnet:Subnet" => ("subnet-", "subnet/"),
        "aws:ec2/securityGroup:SecurityGroup" => ("sg-", "security-group/"),
        "aws:ec2/internetGateway:InternetGateway" => ("igw-", "internet-gateway/"),
        "aws:ec2/eip:Eip" => ("eipalloc-", "elastic-ip/"),
        "aws:ec2/natGateway:NatGateway" => ("nat-", "natgateway/"),
        "aws:ec2/routeTable:RouteTable" => ("rtb-", "route-table/"),
        "aws:ec2/routeTableAssociation:RouteTableAssociation" => {
            ("rtbassoc-", "route-table-association/")
        }
        "aws:ec2/vpcEndpoint:VpcEndpoint" => ("vpce-", "vpc-endpoint/"),
        _ => return None,
    })
}

fn text<'a>(inputs: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    inputs.get(key).and_then(Value::as_str)
}

/// The id and computed outputs of a new resource. `token` is random hex for generated ids.
pub fn created(
    place: &Place,
    type_token: &str,
    logical: &str,
    inputs: &Map<String, Value>,
    token: &str,
) -> (String, Map<String, Value>) {
    let region = place.region;
    let service = type_token
        .split(':')
        .nth(1)
        .and_then(|m| m.split('/').next())
        .unwrap_or("x");
    let physical = text(inputs, "name")
        .or_else(|| text(inputs, "identifier"))
        .or_else(|| text(inputs, "dashboardName"))
        .unwrap_or(logical)
        .to_owned();
    let short = &token[..token.len().min(10)];
    let mut out = Map::new();
    let (id, arn) = if let Some((prefix, kind)) = ec2_prefix(type_token) {
        let id = format!("{prefix}{}", &token[..token.len().min(17)]);
        let arn = format!("arn:aws:ec2:{region}:{ACCOUNT}:{kind}{id}");
        (id, Some(arn))
    } else {
        match type_token {
            "aws:sqs/queue:Queue" => {
                let url = format!("https://sqs.{region}.amazonaws.com/{ACCOUNT}/{physical}");
                out.insert("url".into(), json!(url));
                (
                    url,
                    Some(format!("arn:aws:sqs:{region}:{ACCOUNT}:{physical}")),
                )
            }
            "aws:sqs/queuePolicy:QueuePolicy" => {
                (text(inputs, "queueUrl").unwrap_or(short).to_owned(), None)
            }
            "aws:sns/topic:Topic" => {
                let arn = format!("arn:aws:sns:{region}:{ACCOUNT}:{physical}");
                (arn.clone(), Some(arn))
            }
            "aws:sns/topicSubscription:TopicSubscription" => {
                let arn = format!(
                    "{}:{}",
                    text(inputs, "topic").unwrap_or_default(),
                    uuid(token)
                );
                (arn.clone(), Some(arn))
            }
            "aws:lambda/function:Function" => {
                let arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{physical}");
                out.insert(
                    "invokeArn".into(),
                    json!(format!(
                        "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
                    )),
                );
                out.insert("qualifiedArn".into(), json!(format!("{arn}:$LATEST")));
                out.insert("version".into(), json!("$LATEST"));
                (physical.clone(), Some(arn))
            }
            "aws:lambda/permission:Permission" => (
                text(inputs, "statementId")
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("terraform-{token}")),
                None,
            ),
            "aws:lambda/eventSourceMapping:EventSourceMapping" => {
                let id = uuid(token);
                let arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:event-source-mapping:{id}");
                out.insert("uuid".into(), json!(id));
                (id, Some(arn))
            }
            "aws:lambda/invocation:Invocation" => {
                // The stand-in runs no code: the result says so, in the JSON shape a
                // function's response has.
                out.insert(
                    "result".into(),
                    json!(
                        json!({"standIn": "not invoked: the stand-in provider runs no code"})
                            .to_string()
                    ),
                );
                let function = text(inputs, "functionName").unwrap_or_default();
                (format!("{function}_$LATEST_{short}"), None)
            }
            "aws:iam/role:Role" => (
                physical.clone(),
                Some(format!("arn:aws:iam::{ACCOUNT}:role/{physical}")),
            ),
            "aws:iam/rolePolicy:RolePolicy" => (
                format!("{}:{physical}", text(inputs, "role").unwrap_or_default()),
                None,
            ),
            "aws:rds/instance:Instance" => {
                let host = format!("{physical}.c{short}.{region}.rds.amazonaws.com");
                let port = inputs.get("port").and_then(Value::as_i64).unwrap_or(3306);
                out.insert("address".into(), json!(host));
                out.insert("endpoint".into(), json!(format!("{host}:{port}")));
                out.insert(
                    "resourceId".into(),
                    json!(format!("db-{}", token.to_uppercase())),
                );
                if inputs.get("manageMasterUserPassword") == Some(&json!(true)) {
                    out.insert(
                        "masterUserSecrets".into(),
                        json!([{
                            "secretArn": format!("arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:rds!db-{}-{}", uuid(token), &token[..6]),
                            "secretStatus": "active",
                            "kmsKeyId": format!("arn:aws:kms:{region}:{ACCOUNT}:key/{}", uuid(token)),
                        }]),
                    );
                }
                (
                    physical.clone(),
                    Some(format!("arn:aws:rds:{region}:{ACCOUNT}:db:{physical}")),
                )
            }
            "aws:kms/key:Key" => {
                let id = uuid(token);
                out.insert("keyId".into(), json!(id));
                let arn = format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}");
                (id, Some(arn))
            }
            "aws:rds/proxy:Proxy" => {
                out.insert(
                    "endpoint".into(),
                    json!(format!(
                        "{physical}.proxy-c{short}.{region}.rds.amazonaws.com"
                    )),
                );
                (
                    physical.clone(),
                    Some(format!(
                        "arn:aws:rds:{region}:{ACCOUNT}:db-proxy:prx-{token}"
                    )),
                )
            }
            "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup" => {
                let proxy = text(inputs, "dbProxyName").unwrap_or_default().to_owned();
                out.insert("name".into(), json!("default"));
                (
                    proxy,
                    Some(format!(
                        "arn:aws:rds:{region}:{ACCOUNT}:target-group:prx-tg-{short}"
                    )),
                )
            }
            "aws:rds/proxyTarget:ProxyTarget" => (
                format!(
                    "{},{},RDS_INSTANCE,{}",
                    text(inputs, "dbProxyName").unwrap_or_default(),
                    text(inputs, "targetGroupName").unwrap_or_default(),
                    text(inputs, "dbInstanceIdentifier").unwrap_or_default()
                ),
                None,
            ),
            "aws:rds/subnetGroup:SubnetGroup" => (
                physical.clone(),
                Some(format!("arn:aws:rds:{region}:{ACCOUNT}:subgrp:{physical}")),
            ),
            "aws:rds/parameterGroup:ParameterGroup" => (
                physical.clone(),
                Some(format!("arn:aws:rds:{region}:{ACCOUNT}:pg:{physical}")),
            ),
            "aws:secretsmanager/secret:Secret" => {
                let arn = format!(
                    "arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{physical}-{}",
                    &token[..6]
                );
                (arn.clone(), Some(arn))
            }
            "aws:secretsmanager/secretVersion:SecretVersion" => {
                let version = uuid(token);
                out.insert("versionId".into(), json!(version));
                (
                    format!("{}|{version}", text(inputs, "secretId").unwrap_or_default()),
                    None,
                )
            }
            "aws:apigatewayv2/api:Api" => {
                let id = short.to_owned();
                out.insert(
                    "apiEndpoint".into(),
                    json!(format!("https://{id}.execute-api.{region}.amazonaws.com")),
                );
                out.insert(
                    "executionArn".into(),
                    json!(format!("arn:aws:execute-api:{region}:{ACCOUNT}:{id}")),
                );
                let arn = format!("arn:aws:apigateway:{region}::/apis/{id}");
                (id, Some(arn))
            }
            "aws:apigatewayv2/stage:Stage" => {
                let api = text(inputs, "apiId").unwrap_or_default();
                let stage = text(inputs, "name").unwrap_or("$default").to_owned();
                let path = if stage == "$default" {
                    String::new()
                } else {
                    stage.clone()
                };
                out.insert(
                    "invokeUrl".into(),
                    json!(format!(
                        "https://{api}.execute-api.{region}.amazonaws.com/{path}"
                    )),
                );
                (
                    stage.clone(),
                    Some(format!(
                        "arn:aws:apigateway:{region}::/apis/{api}/stages/{stage}"
                    )),
                )
            }
            "aws:apigatewayv2/integration:Integration" | "aws:apigatewayv2/route:Route" => {
                (token[..7].to_owned(), None)
            }
            "aws:cloudwatch/logGroup:LogGroup" => (
                physical.clone(),
                Some(format!(
                    "arn:aws:logs:{region}:{ACCOUNT}:log-group:{physical}"
                )),
            ),
            "aws:cloudwatch/metricAlarm:MetricAlarm" => (
                physical.clone(),
                Some(format!(
                    "arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{physical}"
                )),
            ),
            "aws:cloudwatch/dashboard:Dashboard" => {
                let arn = format!("arn:aws:cloudwatch::{ACCOUNT}:dashboard/{physical}");
                out.insert("dashboardArn".into(), json!(arn));
                (physical.clone(), Some(arn))
            }
            "aws:cloudwatch/eventRule:EventRule" => (
                physical.clone(),
                Some(format!("arn:aws:events:{region}:{ACCOUNT}:rule/{physical}")),
            ),
            "aws:cloudwatch/eventTarget:EventTarget" => (
                format!(
                    "{}-{}",
                    text(inputs, "rule").unwrap_or_default(),
                    text(inputs, "targetId").unwrap_or(short)
                ),
                None,
            ),
            "aws:cloudwatch/queryDefinition:QueryDefinition" => {
                let id = uuid(token);
                out.insert("queryDefinitionId".into(), json!(id));
                (id, None)
            }
            _ => (
                format!("{physical}-{short}"),
                Some(format!("arn:aws:{service}:{region}:{ACCOUNT}:{physical}")),
            ),
        }
    };
    if let Some(arn) = arn {
        out.insert("arn".into(), json!(arn));
    }
    (id, out)
}

/// A UUID-shaped string from random hex (32 digits needed; shorter tokens are repeated).
fn uuid(token: &str) -> String {
    let hex: String = token.chars().cycle().take(32).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
