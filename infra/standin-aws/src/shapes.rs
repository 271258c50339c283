//! What AWS would answer for a created resource: an id in the real provider's form for that
//! type, an ARN, and the computed attributes the program reads (queue URLs, API endpoint, RDS
//! address and managed secret, invoke ARNs).
//!
//! [`ID_FORMS`] is the table of what each type's `id` is in pulumi-aws 7.51.1, what the program
//! must read instead when it needs a name, and where that comes from. pulumi-aws overrides no
//! id of these types (`provider/computed_ids.go`), so each `id` is what upstream
//! terraform-provider-aws sets with `d.SetId(…)`; the "Import" section of each resource's page
//! in the pinned wheel (`pulumi_aws/<module>/<resource>.py`) says the same. A test creates every
//! type and holds its id to the table's form.

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
        // The VPC's own group, adopted: its id is the group's.
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup" => ("sg-", "security-group/"),
        "aws:ec2/flowLog:FlowLog" => ("fl-", "vpc-flow-log/"),
        _ => return None,
    })
}

/// One row of the id table.
pub struct IdForm {
    pub type_token: &'static str,
    /// What `id` is, e.g. "the DbiResourceId, `db-` + 26 upper-case base-32 characters".
    pub id: &'static str,
    /// What the program reads when it needs a name or identifier for another resource.
    pub read: &'static str,
    /// The provider documentation (or upstream source) it comes from.
    pub source: &'static str,
    /// Whether an id has the form, given the resource's inputs.
    pub holds: fn(&str, &Map<String, Value>) -> bool,
}

fn hex_after(id: &str, prefix: &str, len: usize) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == len
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn is_uuid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The id is the resource's `name` input.
fn is_name(id: &str, inputs: &Map<String, Value>) -> bool {
    text(inputs, "name") == Some(id)
}

/// The id table (pulumi-aws 7.51.1). Sources: "wheel" is the pinned pulumi_aws 7.51.1 wheel
/// (the resource's docstring, its "Import" section); "upstream" is terraform-provider-aws's
/// `internal/service/<service>/<resource>.go` (`d.SetId`).
pub const ID_FORMS: &[IdForm] = &[
    IdForm {
        type_token: "aws:apigatewayv2/api:Api",
        id: "the API id, 10 lower-case alphanumerics",
        read: "id (apiId of routes, integrations, stages; ApiId of metrics); apiEndpoint",
        source: "wheel apigatewayv2/api.py Import; upstream apigatewayv2/api.go d.SetId(output.ApiId)",
        holds: |id, _| {
            id.len() == 10
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        },
    },
    IdForm {
        type_token: "aws:apigatewayv2/authorizer:Authorizer",
        id: "the authorizer id alone (7 characters), not api/authorizer",
        read: "id (a route's authorizerId)",
        source: "wheel apigatewayv2/authorizer.py Import (aabbccddee/1122334: api id / authorizer id); upstream apigatewayv2/authorizer.go d.SetId(output.AuthorizerId)",
        holds: |id, _| id.len() == 7 && !id.contains('/'),
    },
    IdForm {
        type_token: "aws:apigatewayv2/integration:Integration",
        id: "the integration id alone (7 characters), not api/integration",
        read: "id (a route's target is integrations/<id>)",
        source: "upstream apigatewayv2/integration.go d.SetId(resp.IntegrationId)",
        holds: |id, _| id.len() == 7 && !id.contains('/'),
    },
    IdForm {
        type_token: "aws:apigatewayv2/route:Route",
        id: "the route id alone (7 characters)",
        read: "id, routeKey",
        source: "upstream apigatewayv2/route.go d.SetId(output.RouteId)",
        holds: |id, _| id.len() == 7 && !id.contains('/'),
    },
    IdForm {
        type_token: "aws:apigatewayv2/stage:Stage",
        id: "the stage name",
        read: "name (the Stage dimension of API metrics), invokeUrl",
        source: "upstream apigatewayv2/stage.go d.SetId(output.StageName)",
        holds: |id, inputs| text(inputs, "name").unwrap_or("$default") == id,
    },
    IdForm {
        type_token: "aws:cloudwatch/dashboard:Dashboard",
        id: "the dashboard name",
        read: "dashboardName",
        source: "wheel cloudwatch/dashboard.py Import (dashboard_name)",
        holds: |id, inputs| text(inputs, "dashboardName") == Some(id),
    },
    IdForm {
        type_token: "aws:cloudwatch/eventRule:EventRule",
        id: "the rule name (default bus)",
        read: "name, arn",
        source: "upstream events/id.go RuleCreateResourceID",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:cloudwatch/eventTarget:EventTarget",
        id: "<rule>-<targetId>, joined by '-' (default bus)",
        read: "rule, targetId",
        source: "upstream events/target.go targetResourceIDSeparator = \"-\"",
        holds: |id, inputs| {
            id == format!(
                "{}-{}",
                text(inputs, "rule").unwrap_or_default(),
                text(inputs, "targetId").unwrap_or_default()
            )
        },
    },
    IdForm {
        type_token: "aws:cloudwatch/logGroup:LogGroup",
        id: "the log group name",
        read: "name, arn",
        source: "wheel cloudwatch/log_group.py Import (name); upstream logs/group.go d.SetId(name)",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:cloudwatch/metricAlarm:MetricAlarm",
        id: "the alarm name",
        read: "name, arn",
        source: "wheel cloudwatch/metric_alarm.py Import (alarm_name)",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:cloudwatch/queryDefinition:QueryDefinition",
        id: "the query definition id, a UUID",
        read: "queryDefinitionId",
        source: "upstream logs/query_definition.go d.SetId(output.QueryDefinitionId)",
        holds: |id, _| is_uuid(id),
    },
    IdForm {
        type_token: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        id: "the VPC's default security group's id, sg- + 17 hex",
        read: "id",
        source: "wheel ec2/default_security_group.py Import (the security group id, sg-903004f8)",
        holds: |id, _| hex_after(id, "sg-", 17),
    },
    IdForm {
        type_token: "aws:ec2/eip:Eip",
        id: "the allocation id, eipalloc- + 17 hex",
        read: "id (allocationId), publicIp",
        source: "upstream ec2/ec2_eip.go d.SetId(output.AllocationId)",
        holds: |id, _| hex_after(id, "eipalloc-", 17),
    },
    IdForm {
        type_token: "aws:ec2/flowLog:FlowLog",
        id: "the flow log id, fl- + 17 hex",
        read: "id, arn",
        source: "wheel ec2/flow_log.py Import (id, fl-1a2b3c4d); upstream ec2/vpc_flow_log.go d.SetId(output.FlowLogIds[0])",
        holds: |id, _| hex_after(id, "fl-", 17),
    },
    IdForm {
        type_token: "aws:ec2/internetGateway:InternetGateway",
        id: "igw- + 17 hex",
        read: "id",
        source: "wheel ec2/internet_gateway.py Import (id)",
        holds: |id, _| hex_after(id, "igw-", 17),
    },
    IdForm {
        type_token: "aws:ec2/natGateway:NatGateway",
        id: "nat- + 17 hex",
        read: "id",
        source: "wheel ec2/nat_gateway.py Import (id)",
        holds: |id, _| hex_after(id, "nat-", 17),
    },
    IdForm {
        type_token: "aws:ec2/routeTable:RouteTable",
        id: "rtb- + 17 hex",
        read: "id",
        source: "wheel ec2/route_table.py Import (id)",
        holds: |id, _| hex_after(id, "rtb-", 17),
    },
    IdForm {
        type_token: "aws:ec2/routeTableAssociation:RouteTableAssociation",
        id: "the association id, rtbassoc- + 17 hex (not subnet/rtb, the import form)",
        read: "id",
        source: "upstream ec2/vpc_route_table_association.go d.SetId(AssociationId)",
        holds: |id, _| hex_after(id, "rtbassoc-", 17),
    },
    IdForm {
        type_token: "aws:ec2/securityGroup:SecurityGroup",
        id: "sg- + 17 hex",
        read: "id (name is the group name)",
        source: "upstream ec2/vpc_security_group.go d.SetId(output.GroupId)",
        holds: |id, _| hex_after(id, "sg-", 17),
    },
    IdForm {
        type_token: "aws:ec2/subnet:Subnet",
        id: "subnet- + 17 hex",
        read: "id",
        source: "wheel ec2/subnet.py Import (id)",
        holds: |id, _| hex_after(id, "subnet-", 17),
    },
    IdForm {
        type_token: "aws:ec2/vpc:Vpc",
        id: "vpc- + 17 hex",
        read: "id",
        source: "upstream ec2/vpc_.go d.SetId(output.Vpc.VpcId)",
        holds: |id, _| hex_after(id, "vpc-", 17),
    },
    IdForm {
        type_token: "aws:ec2/vpcEndpoint:VpcEndpoint",
        id: "vpce- + 17 hex",
        read: "id",
        source: "wheel ec2/vpc_endpoint.py Import (id)",
        holds: |id, _| hex_after(id, "vpce-", 17),
    },
    IdForm {
        type_token: "aws:iam/policy:Policy",
        id: "the policy's ARN, arn:aws:iam::<account>:policy<path><name>",
        read: "arn (what a role or user attaches)",
        source: "wheel iam/policy.py Import (arn); upstream iam/policy.go d.SetId(aws.ToString(output.Policy.Arn))",
        holds: |id, inputs| {
            id == format!(
                "arn:aws:iam::{ACCOUNT}:policy{}{}",
                text(inputs, "path").unwrap_or("/"),
                text(inputs, "name").unwrap_or_default()
            )
        },
    },
    IdForm {
        type_token: "aws:iam/role:Role",
        id: "the role name",
        read: "name, arn",
        source: "wheel iam/role.py Import (name); upstream iam/role.go d.SetId(roleName)",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:iam/rolePolicy:RolePolicy",
        id: "<role name>:<policy name>",
        read: "name, role",
        source: "upstream iam/role_policy.go d.SetId(fmt.Sprintf(\"%s:%s\", roleName, policyName))",
        holds: |id, inputs| {
            id == format!(
                "{}:{}",
                text(inputs, "role").unwrap_or_default(),
                text(inputs, "name").unwrap_or_default()
            )
        },
    },
    IdForm {
        type_token: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        id: "<role name>/<policy ARN>",
        read: "role, policyArn",
        source: "wheel iam/role_policy_attachment.py Import (test-role/arn:…:policy/test-policy); upstream iam/role_policy_attachment.go @IdAttrFormat(\"{role}/{policy_arn}\"), d.SetId(createRolePolicyAttachmentImportID(d))",
        holds: |id, inputs| {
            id == format!(
                "{}/{}",
                text(inputs, "role").unwrap_or_default(),
                text(inputs, "policyArn").unwrap_or_default()
            )
        },
    },
    IdForm {
        type_token: "aws:kms/key:Key",
        id: "the key id, a UUID",
        read: "keyId, arn",
        source: "upstream kms/key.go d.SetId(output.KeyMetadata.KeyId)",
        holds: |id, _| is_uuid(id),
    },
    IdForm {
        type_token: "aws:lambda/alias:Alias",
        id: "the alias's ARN, arn:aws:lambda:<region>:<account>:function:<function name>:<alias name>",
        read: "arn (a trigger's function: an integration's URI, a mapping's functionName), invokeArn, name (a permission's qualifier)",
        source: "upstream lambda/alias.go d.SetId(aws.ToString(output.AliasArn)); wheel lambda_/alias.py Import (function_name/alias, the import form only)",
        holds: |id, inputs| {
            let function = function_name_of(text(inputs, "functionName").unwrap_or_default());
            id.starts_with("arn:aws:lambda:")
                && id.ends_with(&format!(
                    ":{ACCOUNT}:function:{function}:{}",
                    text(inputs, "name").unwrap_or_default()
                ))
        },
    },
    IdForm {
        type_token: "aws:lambda/eventSourceMapping:EventSourceMapping",
        id: "the mapping's UUID",
        read: "uuid",
        source: "upstream lambda/event_source_mapping.go d.SetId(output.UUID)",
        holds: |id, _| is_uuid(id),
    },
    IdForm {
        type_token: "aws:lambda/function:Function",
        id: "the function name",
        read: "name (FunctionName of metrics), arn, invokeArn",
        source: "wheel lambda_/function.py Import (function_name); upstream lambda/function.go d.SetId(functionName)",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        id: "the functionName input as given (with a qualifier: <functionName>:<qualifier>)",
        read: "id",
        source: "wheel lambda_/function_event_invoke_config.py Import (name; name:qualifier); upstream lambda/function_event_invoke_config.go functionEventInvokeConfigCreateResourceID(functionName, qualifier)",
        holds: |id, inputs| id == function_event_invoke_config_id(inputs),
    },
    IdForm {
        type_token: "aws:lambda/functionUrl:FunctionUrl",
        id: "the functionName input as given (with a qualifier: <functionName>/<qualifier>)",
        read: "functionUrl",
        source: "upstream lambda/function_url.go functionURLCreateResourceID(functionName, qualifier)",
        holds: |id, inputs| id == function_url_id(inputs),
    },
    IdForm {
        type_token: "aws:lambda/invocation:Invocation",
        id: "<function name>_<qualifier>_<md5 hex of the input>",
        read: "result",
        source: "upstream lambda/invocation.go d.SetId(fmt.Sprintf(\"%s_%s_%x\", functionName, qualifier, md5.Sum(payload)))",
        holds: |id, inputs| {
            let input = text(inputs, "input").unwrap_or_default();
            id == format!(
                "{}_$LATEST_{:x}",
                text(inputs, "functionName").unwrap_or_default(),
                md5::compute(input)
            )
        },
    },
    IdForm {
        type_token: "aws:lambda/permission:Permission",
        id: "the statement id",
        read: "statementId",
        source: "upstream lambda/permission.go d.SetId(statementID)",
        holds: |id, inputs| text(inputs, "statementId").is_none_or(|s| s == id),
    },
    IdForm {
        type_token: "aws:rds/instance:Instance",
        id: "the DbiResourceId, db- + 26 upper-case base-32 characters (since provider v6, upstream v5)",
        read: "identifier (DBInstanceIdentifier of metrics, a proxy target's dbInstanceIdentifier)",
        source: "upstream website/docs/r/db_instance.html.markdown: \"id - RDS DBI resource ID\"",
        holds: |id, _| {
            id.strip_prefix("db-").is_some_and(|rest| {
                rest.len() == 26
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
            })
        },
    },
    IdForm {
        type_token: "aws:rds/parameterGroup:ParameterGroup",
        id: "the parameter group name",
        read: "name",
        source: "upstream rds/parameter_group.go d.SetId(DBParameterGroupName)",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:rds/proxy:Proxy",
        id: "the proxy name",
        read: "name, endpoint",
        source: "upstream rds/proxy.go d.SetId(output.DBProxy.DBProxyName)",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:rds/proxyDefaultTargetGroup:ProxyDefaultTargetGroup",
        id: "the proxy name",
        read: "name (\"default\")",
        source: "upstream rds/proxy_default_target_group.go d.SetId(d.Get(\"db_proxy_name\"))",
        holds: |id, inputs| text(inputs, "dbProxyName") == Some(id),
    },
    IdForm {
        type_token: "aws:rds/proxyTarget:ProxyTarget",
        id: "<proxy>/<target group>/RDS_INSTANCE/<DB instance identifier>",
        read: "endpoint",
        source: "upstream rds/proxy_target.go proxyTargetResourceIDSeparator = \"/\"",
        holds: |id, inputs| {
            id == format!(
                "{}/{}/RDS_INSTANCE/{}",
                text(inputs, "dbProxyName").unwrap_or_default(),
                text(inputs, "targetGroupName").unwrap_or_default(),
                text(inputs, "dbInstanceIdentifier").unwrap_or_default()
            )
        },
    },
    IdForm {
        type_token: "aws:rds/subnetGroup:SubnetGroup",
        id: "the subnet group name",
        read: "name",
        source: "wheel rds/subnet_group.py Import (name)",
        holds: is_name,
    },
    IdForm {
        type_token: "aws:secretsmanager/secret:Secret",
        id: "the secret's ARN (its name + '-' + 6 random characters)",
        read: "arn",
        source: "upstream secretsmanager/secret.go d.SetId(CreateSecretOutput.ARN)",
        holds: |id, inputs| {
            id.starts_with("arn:aws:secretsmanager:")
                && id.contains(&format!(
                    ":secret:{}-",
                    text(inputs, "name").unwrap_or_default()
                ))
        },
    },
    IdForm {
        type_token: "aws:secretsmanager/secretPolicy:SecretPolicy",
        id: "the secret's ARN",
        read: "secretArn",
        source: "wheel secretsmanager/secret_policy.py Import (the secret ARN); upstream secretsmanager/secret_policy.go d.SetId(aws.ToString(output.ARN))",
        holds: |id, inputs| text(inputs, "secretArn") == Some(id),
    },
    IdForm {
        type_token: "aws:secretsmanager/secretVersion:SecretVersion",
        id: "<secret id>|<version id>",
        read: "versionId",
        source: "upstream secretsmanager/secret_version.go secretVersionIDSeparator = \"|\"",
        holds: |id, inputs| {
            id.starts_with(&format!(
                "{}|",
                text(inputs, "secretId").unwrap_or_default()
            ))
        },
    },
    IdForm {
        type_token: "aws:sns/topic:Topic",
        id: "the topic's ARN",
        read: "arn, name (TopicName of metrics)",
        source: "wheel sns/topic.py Import (arn); upstream sns/topic.go d.SetId(output.TopicArn)",
        holds: |id, inputs| {
            id.starts_with("arn:aws:sns:")
                && id.ends_with(&format!(":{}", text(inputs, "name").unwrap_or_default()))
        },
    },
    IdForm {
        type_token: "aws:sns/topicSubscription:TopicSubscription",
        id: "the subscription's ARN, <topic ARN>:<UUID>",
        read: "arn",
        source: "upstream sns/topic_subscription.go d.SetId(output.SubscriptionArn)",
        holds: |id, inputs| {
            id.strip_prefix(&format!("{}:", text(inputs, "topic").unwrap_or_default()))
                .is_some_and(is_uuid)
        },
    },
    IdForm {
        type_token: "aws:sqs/queue:Queue",
        id: "the queue URL",
        read: "url, name (QueueName of metrics), arn",
        source: "wheel sqs/queue.py Import (url); upstream sqs/queue.go d.SetId(QueueUrl)",
        holds: |id, inputs| {
            id.starts_with("https://sqs.")
                && id.ends_with(&format!("/{}", text(inputs, "name").unwrap_or_default()))
        },
    },
    IdForm {
        type_token: "aws:sqs/queuePolicy:QueuePolicy",
        id: "the queue URL",
        read: "queueUrl",
        source: "upstream sqs/attribute_funcs.go d.SetId(url)",
        holds: |id, inputs| text(inputs, "queueUrl") == Some(id),
    },
];

/// The id table's row for a type.
pub fn id_form(type_token: &str) -> Option<&'static IdForm> {
    ID_FORMS.iter().find(|f| f.type_token == type_token)
}

/// The function a `functionName` input names: its name, or the name in its ARN
/// (`arn:aws:lambda:<region>:<account>:function:<name>`, with or without a `:<qualifier>`).
pub fn function_name_of(name_or_arn: &str) -> &str {
    match name_or_arn.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => name_or_arn,
    }
}

/// A function's published version after `version` ("$LATEST" when it has none): Lambda numbers
/// a function's versions 1, 2, 3… and never uses a number again ("Lambda … increments the
/// version number", the Lambda developer guide, "Creating function versions").
pub fn next_version(version: Option<&str>) -> String {
    let last: u64 = version.and_then(|v| v.parse().ok()).unwrap_or(0);
    (last + 1).to_string()
}

/// A function's asynchronous invocation config's id: its function as named, `:<qualifier>`
/// when it has one.
fn function_event_invoke_config_id(inputs: &Map<String, Value>) -> String {
    let name = text(inputs, "functionName").unwrap_or_default();
    match text(inputs, "qualifier") {
        Some(q) => format!("{name}:{q}"),
        None => name.to_owned(),
    }
}

/// A function URL's id: its function as named, `/<qualifier>` when it has one.
fn function_url_id(inputs: &Map<String, Value>) -> String {
    let name = text(inputs, "functionName").unwrap_or_default();
    match text(inputs, "qualifier") {
        Some(q) => format!("{name}/{q}"),
        None => name.to_owned(),
    }
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
        if type_token == "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup" {
            // What AWS made with the VPC (wheel ec2/default_security_group.py: name, description,
            // owner_id), its rules those of the program: none when it gives none (the provider
            // removes the rules AWS made when it adopts the group).
            out.insert("name".into(), json!("default"));
            out.insert("description".into(), json!("default VPC security group"));
            out.insert("ownerId".into(), json!(ACCOUNT));
            for rules in ["ingress", "egress"] {
                if !inputs.contains_key(rules) {
                    out.insert(rules.into(), json!([]));
                }
            }
        }
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
                // With `publish`, CreateFunction publishes version 1 (the wheel's
                // lambda_/function.py: version is the "Latest published version", qualified_arn
                // the "ARN identifying your Lambda Function Version (if versioning is enabled
                // via `publish = true`)"); without, both name $LATEST.
                let version = if inputs.get("publish") == Some(&json!(true)) {
                    next_version(None)
                } else {
                    "$LATEST".to_owned()
                };
                out.insert("qualifiedArn".into(), json!(format!("{arn}:{version}")));
                out.insert("version".into(), json!(version));
                (physical.clone(), Some(arn))
            }
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig" => {
                (function_event_invoke_config_id(inputs), None)
            }
            "aws:lambda/alias:Alias" => {
                // upstream lambda/alias.go: id and arn are CreateAlias's AliasArn; invoke_arn is
                // invokeARN(client, aliasARN), API Gateway's path to the alias.
                let function = function_name_of(text(inputs, "functionName").unwrap_or_default());
                let arn =
                    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{function}:{physical}");
                out.insert(
                    "invokeArn".into(),
                    json!(format!(
                        "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
                    )),
                );
                (arn.clone(), Some(arn))
            }
            "aws:lambda/functionUrl:FunctionUrl" => {
                // wheel lambda_/function_url.py: function_url is
                // `https://<url_id>.lambda-url.<region>.on.aws/`; real url ids are 32 lower-case
                // letters and digits. invoke_mode defaults to BUFFERED (upstream function_url.go).
                // With authorization NONE the provider also adds the two public statements to
                // the function's policy (InvokeFunctionUrl; InvokeFunction when invoked via the
                // URL) — a policy, not a resource: nothing to answer here.
                let name = text(inputs, "functionName").unwrap_or_default();
                let url_id = format!("{:x}", md5::compute(token));
                out.insert(
                    "functionUrl".into(),
                    json!(format!("https://{url_id}.lambda-url.{region}.on.aws/")),
                );
                out.insert("urlId".into(), json!(url_id));
                if !inputs.contains_key("invokeMode") {
                    out.insert("invokeMode".into(), json!("BUFFERED"));
                }
                let function_arn = if name.starts_with("arn:") {
                    name.to_owned()
                } else {
                    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")
                };
                out.insert("functionArn".into(), json!(function_arn));
                (function_url_id(inputs), None)
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
                let payload = text(inputs, "input").unwrap_or_default();
                (
                    format!("{function}_$LATEST_{:x}", md5::compute(payload)),
                    None,
                )
            }
            "aws:iam/role:Role" => (
                physical.clone(),
                Some(format!("arn:aws:iam::{ACCOUNT}:role/{physical}")),
            ),
            "aws:iam/policy:Policy" => {
                // CreatePolicy: the ARN is the account's, the path (default "/") and the name;
                // PolicyId is "ANPA" and 17 upper-case letters and digits; a new policy is
                // attached to nothing (wheel iam/policy.py: arn, attachment_count, policy_id).
                let path = text(inputs, "path").unwrap_or("/").to_owned();
                if !inputs.contains_key("path") {
                    out.insert("path".into(), json!(path));
                }
                let policy_id: String = format!("ANPA{}", token.to_ascii_uppercase())
                    .chars()
                    .take(21)
                    .collect();
                out.insert("policyId".into(), json!(policy_id));
                out.insert("attachmentCount".into(), json!(0));
                let arn = format!("arn:aws:iam::{ACCOUNT}:policy{path}{physical}");
                (arn.clone(), Some(arn))
            }
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment" => (
                format!(
                    "{}/{}",
                    text(inputs, "role").unwrap_or_default(),
                    text(inputs, "policyArn").unwrap_or_default()
                ),
                None,
            ),
            "aws:secretsmanager/secretPolicy:SecretPolicy" => (
                text(inputs, "secretArn").unwrap_or_default().to_owned(),
                None,
            ),
            "aws:apigatewayv2/authorizer:Authorizer" => (token[..7].to_owned(), None),
            "aws:iam/rolePolicy:RolePolicy" => (
                format!("{}:{physical}", text(inputs, "role").unwrap_or_default()),
                None,
            ),
            "aws:rds/instance:Instance" => {
                let host = format!("{physical}.c{short}.{region}.rds.amazonaws.com");
                let port = inputs.get("port").and_then(Value::as_i64).unwrap_or(3306);
                out.insert("address".into(), json!(host));
                out.insert("endpoint".into(), json!(format!("{host}:{port}")));
                let resource_id = dbi_resource_id(token);
                out.insert("resourceId".into(), json!(resource_id));
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
                    resource_id,
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
                    "{}/{}/RDS_INSTANCE/{}",
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
            "aws:apigatewayv2/integration:Integration" => (token[..7].to_owned(), None),
            "aws:apigatewayv2/route:Route" => {
                // upstream apigatewayv2/route.go: authorization_type defaults to NONE, and Read
                // sets it from GetRoute.
                if !inputs.contains_key("authorizationType") {
                    out.insert("authorizationType".into(), json!("NONE"));
                }
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

/// An RDS DbiResourceId: `db-` and 26 characters of base 32 (A–Z, 2–7), from random hex.
fn dbi_resource_id(token: &str) -> String {
    const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let body: String = token
        .bytes()
        .cycle()
        .take(26)
        .enumerate()
        .map(|(i, b)| BASE32[(usize::from(b) * 7 + i * 13) % 32] as char)
        .collect();
    format!("db-{body}")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs the way the program and the provider's auto-naming leave them (only the keys
    /// the type has).
    fn inputs(type_token: &str) -> Map<String, Value> {
        let schema = crate::schema::Schema::load();
        let mut m = Map::new();
        for (key, value) in [
            ("name", "donut-states-dev-thing-1a2b3c4"),
            ("dashboardName", "donut-states-dev"),
            ("identifier", "donut-states-dev-db-1a2b3c4"),
            ("rule", "donut-states-dev-sweep-1a2b3c4"),
            ("targetId", "donut-states-dev-sweep-target-1a2b3c4"),
            ("role", "donut-states-dev-sales-api-role-1a2b3c4"),
            (
                "policyArn",
                "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            ),
            (
                "secretArn",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
            ),
            ("functionName", "donut-states-dev-migrate-1a2b3c4"),
            ("input", "{\"reason\":\"deploy\"}"),
            ("statementId", "AllowApiGateway"),
            ("dbProxyName", "donut-states-dev-db-proxy-1a2b3c4"),
            ("targetGroupName", "default"),
            ("dbInstanceIdentifier", "donut-states-dev-db-1a2b3c4"),
            (
                "secretId",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:x-AbCdEf",
            ),
            (
                "topic",
                "arn:aws:sns:eu-west-1:123456789012:donut-states-dev-stock-outs-1a2b3c4",
            ),
            (
                "queueUrl",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/q-1a2b3c4",
            ),
        ] {
            if schema.has_input(type_token, key) {
                m.insert(key.into(), json!(value));
            }
        }
        if type_token == "aws:apigatewayv2/stage:Stage" {
            m.insert("name".into(), json!("$default"));
        }
        m
    }

    #[test]
    fn every_type_answers_the_id_the_real_provider_answers() {
        let schema = crate::schema::Schema::load();
        let mut checked = 0;
        for type_token in schema.types() {
            let form = id_form(type_token)
                .unwrap_or_else(|| panic!("{type_token}: not in the id table (ID_FORMS)"));
            let inputs = inputs(type_token);
            let place = Place {
                region: "eu-west-1",
            };
            let (id, _) = created(
                &place,
                type_token,
                "logical",
                &inputs,
                "0123456789abcdef0123456789abcdef",
            );
            assert!(
                (form.holds)(&id, &inputs),
                "{type_token}: id {id:?} is not {}",
                form.id
            );
            checked += 1;
        }
        assert_eq!(
            checked,
            ID_FORMS.len(),
            "a row for a type the schema does not have"
        );
    }

    #[test]
    fn an_rds_instance_is_known_by_its_resource_id_not_its_identifier() {
        let inputs = inputs("aws:rds/instance:Instance");
        let (id, out) = created(
            &Place {
                region: "eu-west-1",
            },
            "aws:rds/instance:Instance",
            "db",
            &inputs,
            "0123456789abcdef0123456789abcdef",
        );
        assert!(id.starts_with("db-") && id.len() == 29, "{id}");
        assert_ne!(Some(id.as_str()), text(&inputs, "identifier"));
        assert_eq!(out["resourceId"], json!(id));
    }
}
