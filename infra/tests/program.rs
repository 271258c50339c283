//! The Pulumi program as deployed by the real Pulumi engine (with the stand-in AWS provider),
//! read off the engine's state (`pulumi stack export`): for dev and prod, every resource,
//! every edge between resources, IAM least privilege, secrets, and the differences between
//! stages. The engine's own behaviour (preview, no-change preview, config changes, destroy)
//! is tested in `engine.rs`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};
use support::*;

type Run = Deployment;

/// `pulumi up` of a new stack of `stage`, as the engine recorded it. Nothing the stand-in
/// account accepted may be a reference to nothing (its findings).
fn deployed(stage: &str) -> Deployment {
    let project = Project::new(stage);
    project.ok(&["up", "--yes", "--skip-preview"]);
    let findings = project.findings();
    assert!(
        findings.is_empty(),
        "{stage}: what AWS would accept and leave doing nothing:\n{}",
        findings.join("\n")
    );
    project.deployment()
}

fn dev() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| deployed("dev"))
}

fn prod() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| deployed("prod"))
}

/// The system's functions: every function but the factory simulator (a stand-in for the
/// legacy factory that dev deploys; `the_factory_simulator_stands_outside_the_stack`).
fn system_functions(run: &Run) -> Vec<&Resource> {
    run.of_type("aws:lambda/function:Function")
        .into_iter()
        .filter(|f| !f.name.ends_with(donut_config::functions::FACTORY_SIMULATOR))
        .collect()
}

/// Dev's factory simulator: outside the VPC, behind an IAM-authorized function URL, its knobs
/// the stage's, calling back only the stack's API; its callbacks wait in a delay
/// queue that only it may use, and come back to it by an event source mapping.
#[test]
fn the_factory_simulator_stands_outside_the_stack() {
    let run = dev();
    let function = input(run, "donut-states-dev-factory-simulator");
    let name = s(out(run, "donut-states-dev-factory-simulator"), "name");
    assert!(function.get("vpcConfig").is_none(), "{function:?}");
    let env = function["environment"]["variables"].as_object().unwrap();
    let queue = out(run, "donut-states-dev-factory-sim-callbacks");
    assert_eq!(s(env, "SIM_DELAY_QUEUE_URL"), s(queue, "url"));
    assert_eq!(
        s(env, "CALLBACK_BASE_URL"),
        s(out(run, "donut-states-dev-factory-lane"), "apiEndpoint")
    );
    assert_eq!(s(env, "SIM_DELAY_SECONDS"), "5");
    for knob in ["FAIL", "HANG", "DUPLICATE", "DROP"] {
        assert_eq!(s(env, &format!("SIM_{knob}_PERCENT")), "0");
    }
    assert!(
        !env.keys().any(|k| k.starts_with("DB_")),
        "the simulator knows nothing of the warehouse"
    );
    let url = input(run, "donut-states-dev-factory-simulator-url");
    assert_eq!(s(url, "authorizationType"), "AWS_IAM");
    assert_eq!(s(url, "functionName"), name);
    // Bounded: its own reservation (the requester's 2 calls, the watchdog's, 2 callbacks).
    assert_eq!(function["reservedConcurrentExecutions"], 5.0);
    let mapping = input(run, "donut-states-dev-factory-sim-callbacks-due");
    assert_eq!(mapping["scalingConfig"]["maximumConcurrency"], 2.0);
    assert_eq!(s(mapping, "eventSourceArn"), s(queue, "arn"));
    assert_eq!(
        s(mapping, "functionName"),
        s(out(run, "donut-states-dev-factory-simulator"), "arn")
    );
    let delay = input(run, "donut-states-dev-factory-sim-callbacks");
    assert!(
        delay["visibilityTimeoutSeconds"].as_f64().unwrap()
            >= function["timeout"].as_f64().unwrap(),
        "SQS refuses a mapping to a function that runs longer than the queue's visibility timeout"
    );
    let policy = json_of(
        input(run, "donut-states-dev-factory-simulator-policy"),
        "policy",
    );
    let mut actions: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| {
            st["Resource"] == json!([s(queue, "arn")]) || st["Resource"] == s(queue, "arn")
        })
        .flat_map(|st| strings(&st["Action"]))
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:SendMessage"
        ]
    );
    let everything = serde_json::to_string(&policy).unwrap();
    assert!(
        !everything.contains("ec2:") && !everything.contains("secretsmanager:"),
        "no network interfaces, no secrets: {everything}"
    );
    assert!(
        prod()
            .of_type("aws:lambda/function:Function")
            .iter()
            .all(|f| !f.name.contains("simulator")),
        "prod deploys no simulator"
    );
}

/// Only the functions that call the factory may invoke the simulator's URL, and they sign: dev's
/// factory-requester and watchdog (settings `FACTORY_AUTH=aws_iam` in the stack's Region) are
/// allowed `lambda:InvokeFunctionUrl` and `lambda:InvokeFunction` (both, since October 2025)
/// on the simulator's function and nothing else; no other role is. Prod calls the real factory
/// unsigned (`FACTORY_AUTH=none`) and no role may invoke any function.
#[test]
fn only_the_factory_callers_may_invoke_the_simulator_url_and_they_sign() {
    let invoking = |run: &Run| -> BTreeMap<String, Vec<(Vec<String>, Value)>> {
        run.of_type("aws:iam/rolePolicy:RolePolicy")
            .into_iter()
            .filter_map(|p| {
                let doc = json_of(&p.inputs, "policy");
                let statements: Vec<(Vec<String>, Value)> = doc["Statement"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|st| {
                        strings(&st["Action"])
                            .iter()
                            .any(|a| a.starts_with("lambda:"))
                    })
                    .map(|st| {
                        let mut actions = strings(&st["Action"]);
                        actions.sort();
                        (actions, st["Resource"].clone())
                    })
                    .collect();
                (!statements.is_empty()).then(|| (p.name.clone(), statements))
            })
            .collect()
    };
    let run = dev();
    let simulator = s(out(run, "donut-states-dev-factory-simulator"), "arn").to_owned();
    let allowed = invoking(run);
    let expected: BTreeMap<String, Vec<(Vec<String>, Value)>> = [
        "donut-states-dev-factory-requester-policy",
        "donut-states-dev-factory-watchdog-policy",
    ]
    .into_iter()
    .map(|name| {
        (
            name.to_owned(),
            vec![(
                vec![
                    "lambda:InvokeFunction".to_owned(),
                    "lambda:InvokeFunctionUrl".to_owned(),
                ],
                json!([simulator]),
            )],
        )
    })
    .collect();
    assert_eq!(allowed, expected);
    for function in ["factory-requester", "factory-watchdog"] {
        let f = input(run, &format!("donut-states-dev-{function}"));
        let env = f["environment"]["variables"].as_object().unwrap();
        assert_eq!(s(env, "FACTORY_AUTH"), "aws_iam", "dev {function}");
        assert_eq!(
            s(env, "FACTORY_SIGNING_REGION"),
            "eu-west-1",
            "dev {function}"
        );
        let f = input(prod(), &format!("donut-states-prod-{function}"));
        let env = f["environment"]["variables"].as_object().unwrap();
        assert_eq!(s(env, "FACTORY_AUTH"), "none", "prod {function}");
        assert!(
            env.get("FACTORY_SIGNING_REGION").is_none(),
            "prod {function}"
        );
    }
    assert!(invoking(prod()).is_empty(), "{:?}", invoking(prod()));
}

fn s<'a>(map: &'a Map<String, Value>, key: &str) -> &'a str {
    map.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{key} is not a string in {map:?}"))
}

fn json_of(map: &Map<String, Value>, key: &str) -> Value {
    serde_json::from_str(s(map, key)).unwrap()
}

fn out<'a>(run: &'a Run, name: &str) -> &'a Map<String, Value> {
    &run.named(name).outputs
}

fn input<'a>(run: &'a Run, name: &str) -> &'a Map<String, Value> {
    &run.named(name).inputs
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_resource_of_the_architecture_is_declared() {
    for (run, endpoints, simulator, flow_logs, monitoring) in [
        (dev(), false, true, false, false),
        (prod(), true, false, true, true),
    ] {
        let counts = run.count_by_type();
        let mut expected: BTreeMap<String, usize> = [
            // The public API and the factory's lane.
            ("aws:apigatewayv2/api:Api", 2),
            ("aws:apigatewayv2/integration:Integration", 3),
            ("aws:apigatewayv2/route:Route", 13),
            ("aws:apigatewayv2/stage:Stage", 2),
            ("aws:cloudwatch/eventRule:EventRule", 1),
            ("aws:cloudwatch/eventTarget:EventTarget", 2),
            ("aws:cloudwatch/logGroup:LogGroup", 9),
            ("aws:cloudwatch/dashboard:Dashboard", 1),
            ("aws:cloudwatch/queryDefinition:QueryDefinition", 1),
            // 7 functions × (errors, throttles), DLQ depth and queue age, outbox age, expired
            // idempotency keys, factory failures, overdue orders, unfinished-order age, refused
            // callbacks, restock latency, API 5xx rate, 3 database alarms; and 3 aliased
            // functions × 2 canary alarms (their own failures and Lambda's errors, of the
            // version being released).
            ("aws:cloudwatch/metricAlarm:MetricAlarm", 33),
            ("aws:ec2/securityGroup:SecurityGroup", 3),
            // The VPC's own default group, adopted and closed.
            ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", 1),
            ("aws:ec2/subnet:Subnet", 3),
            ("aws:ec2/internetGateway:InternetGateway", 1),
            ("aws:ec2/eip:Eip", 1),
            ("aws:ec2/natGateway:NatGateway", 1),
            ("aws:ec2/routeTable:RouteTable", 2),
            ("aws:ec2/routeTableAssociation:RouteTableAssociation", 3),
            ("aws:ec2/vpc:Vpc", 1),
            // The operators' managed policy (ops attach it to their own role).
            ("aws:iam/policy:Policy", 1),
            // The functions' and the break-glass role, each with its inline policy.
            ("aws:iam/role:Role", 8),
            ("aws:iam/rolePolicy:RolePolicy", 8),
            ("aws:kms/key:Key", 1),
            ("aws:lambda/eventSourceMapping:EventSourceMapping", 1),
            ("aws:lambda/function:Function", 7),
            // The `live` alias of sales-api, warehouse-restock and factory-requester.
            ("aws:lambda/alias:Alias", 3),
            // The scheduled functions' asynchronous invocation: one run per period.
            (
                "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
                2,
            ),
            ("aws:lambda/invocation:Invocation", 1),
            ("aws:lambda/permission:Permission", 5),
            ("aws:rds/instance:Instance", 1),
            ("aws:rds/parameterGroup:ParameterGroup", 1),
            ("aws:rds/subnetGroup:SubnetGroup", 1),
            // The callback key, the functions' login, the operators' function's login, each
            // with its resource policy.
            ("aws:secretsmanager/secret:Secret", 3),
            ("aws:secretsmanager/secretPolicy:SecretPolicy", 3),
            ("aws:secretsmanager/secretVersion:SecretVersion", 1),
            ("aws:sns/topic:Topic", 2),
            ("aws:sns/topicSubscription:TopicSubscription", 2),
            ("aws:sqs/queue:Queue", 2),
            ("aws:sqs/queuePolicy:QueuePolicy", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if endpoints {
            // Prod's functions reach SNS and Secrets Manager inside the VPC.
            expected.insert("aws:ec2/vpcEndpoint:VpcEndpoint".into(), 2);
            expected.insert("aws:ec2/securityGroup:SecurityGroup".into(), 4);
        }
        if flow_logs {
            // Prod's VPC flow logs: the flow log, its log group, the role that delivers them and
            // its policy.
            for (type_, more) in [
                ("aws:ec2/flowLog:FlowLog", 1),
                ("aws:cloudwatch/logGroup:LogGroup", 1),
                ("aws:iam/role:Role", 1),
                ("aws:iam/rolePolicy:RolePolicy", 1),
            ] {
                *expected.entry(type_.to_owned()).or_default() += more;
            }
        }
        if monitoring {
            // Prod's Enhanced Monitoring: its role, with AWS's managed policy attached.
            for (type_, more) in [
                ("aws:iam/role:Role", 1),
                ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", 1),
            ] {
                *expected.entry(type_.to_owned()).or_default() += more;
            }
        }
        if simulator {
            // Dev's factory simulator: its function (log group, role, policy), the function
            // URL it answers on, the delay queue its callbacks wait in, and the mapping that
            // brings them back to it.
            for (type_, more) in [
                ("aws:lambda/function:Function", 1),
                ("aws:cloudwatch/logGroup:LogGroup", 1),
                ("aws:iam/role:Role", 1),
                ("aws:iam/rolePolicy:RolePolicy", 1),
                ("aws:lambda/functionUrl:FunctionUrl", 1),
                ("aws:sqs/queue:Queue", 1),
                ("aws:lambda/eventSourceMapping:EventSourceMapping", 1),
            ] {
                *expected.entry(type_.to_owned()).or_default() += more;
            }
        }
        assert_eq!(counts, expected);
        println!("{} resources per stack", counts.values().sum::<usize>());
    }
}

/// The functions sit in the private subnets; their way to the legacy factory on the
/// internet is the NAT gateway in the public subnet.
#[test]
fn private_subnets_reach_the_internet_only_through_the_nat() {
    let run = dev();
    let nat = out(run, "donut-states-dev-nat");
    assert_eq!(nat["subnetId"], out(run, "donut-states-dev-public-a")["id"]);
    assert_eq!(
        nat["allocationId"],
        out(run, "donut-states-dev-nat-ip")["id"]
    );
    let private_routes = out(run, "donut-states-dev-private-routes");
    assert_eq!(private_routes["routes"][0]["natGatewayId"], nat["id"]);
    assert_eq!(private_routes["routes"][0]["cidrBlock"], "0.0.0.0/0");
    for az in ["a", "b"] {
        let association = input(run, &format!("donut-states-dev-private-{az}-routes"));
        assert_eq!(association["routeTableId"], private_routes["id"]);
        assert_eq!(
            association["subnetId"],
            out(run, &format!("donut-states-dev-private-{az}"))["id"]
        );
        assert_eq!(
            input(run, &format!("donut-states-dev-private-{az}"))["mapPublicIpOnLaunch"],
            false
        );
    }
    let public_routes = out(run, "donut-states-dev-public-routes");
    assert_eq!(
        public_routes["routes"][0]["gatewayId"],
        out(run, "donut-states-dev-igw")["id"]
    );
    // Dev sends its AWS API calls through the NAT; prod through interface endpoints, one for
    // each service a function in the VPC calls: SNS and Secrets Manager. None for SQS: the
    // requester's queue is polled by its event source mapping, in the Lambda service outside
    // the VPC, and no function in the VPC calls SQS (least_privilege.rs records the calls).
    assert!(run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint").is_empty());
    let services: BTreeSet<String> = prod()
        .of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        .iter()
        .map(|e| s(&e.inputs, "serviceName").to_owned())
        .collect();
    assert_eq!(
        services,
        ["secretsmanager", "sns"]
            .map(|service| format!("com.amazonaws.eu-west-1.{service}"))
            .into()
    );
    for service in ["sns", "secretsmanager"] {
        let endpoint = input(prod(), &format!("donut-states-prod-{service}-endpoint"));
        assert_eq!(endpoint["privateDnsEnabled"], true);
        assert_eq!(s(endpoint, "vpcEndpointType"), "Interface");
    }
}

/// Egress by need, for both stages, off the engine's state: every function reaches MySQL and
/// the AWS APIs (inside the VPC where the stage has interface endpoints, through the NAT where
/// it has none); only the requester and the watchdog reach the legacy factory.
#[test]
fn each_function_may_reach_only_what_it_calls() {
    let rules = |run: &Run, sg: &str| -> Vec<(f64, String)> {
        input(run, sg)["egress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| {
                (
                    rule["fromPort"].as_f64().unwrap(),
                    strings(&rule["cidrBlocks"])[0].clone(),
                )
            })
            .collect()
    };
    let vpc = "10.40.0.0/16".to_owned();
    let any = "0.0.0.0/0".to_owned();
    // dev: no endpoints, so the AWS APIs are HTTPS through the NAT, which also carries the
    // https factory: the two groups allow the same.
    assert_eq!(
        rules(dev(), "donut-states-dev-lambda-sg"),
        vec![(3306.0, vpc.clone()), (443.0, any.clone())]
    );
    assert_eq!(
        rules(dev(), "donut-states-dev-factory-caller-sg"),
        vec![(3306.0, vpc.clone()), (443.0, any.clone())]
    );
    // prod: the AWS APIs inside the VPC; only the factory's callers reach the internet.
    assert_eq!(
        rules(prod(), "donut-states-prod-lambda-sg"),
        vec![(3306.0, vpc.clone()), (443.0, vpc.clone())]
    );
    assert_eq!(
        rules(prod(), "donut-states-prod-factory-caller-sg"),
        vec![
            (3306.0, vpc.clone()),
            (443.0, vpc.clone()),
            (443.0, any.clone())
        ]
    );
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        for function in donut_config::Function::ALL {
            let group = match function {
                donut_config::Function::FactoryRequester
                | donut_config::Function::FactoryWatchdog => "factory-caller-sg",
                _ => "lambda-sg",
            };
            let f = input(run, &format!("donut-states-{stage}-{}", function.name()));
            assert_eq!(
                strings(&f["vpcConfig"]["securityGroupIds"]),
                vec![s(out(run, &format!("donut-states-{stage}-{group}")), "id").to_owned()],
                "{stage}: {}",
                function.name()
            );
        }
        // The database takes MySQL from both groups, nothing else.
        let db_sg = input(run, &format!("donut-states-{stage}-db-sg"));
        let from: Vec<String> = db_sg["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| strings(&rule["securityGroups"])[0].clone())
            .collect();
        assert_eq!(
            from,
            ["lambda-sg", "factory-caller-sg"].map(|g| s(
                out(run, &format!("donut-states-{stage}-{g}")),
                "id"
            )
            .to_owned())
        );
    }
}

#[test]
fn the_queue_redrives_to_the_dlq_and_only_the_topic_may_send_to_it() {
    let run = dev();
    let queue = out(run, "donut-states-dev-factory-orders");
    let dlq = out(run, "donut-states-dev-factory-orders-dlq");
    let redrive = json_of(queue, "redrivePolicy");
    assert_eq!(redrive["deadLetterTargetArn"], dlq["arn"]);
    assert!(redrive["maxReceiveCount"].as_u64().unwrap() >= 5);
    assert_eq!(dlq["messageRetentionSeconds"], 14.0 * 86_400.0);
    let requester = out(run, "donut-states-dev-factory-requester");
    let visibility = queue["visibilityTimeoutSeconds"].as_f64().unwrap();
    assert!(
        visibility >= 6.0 * requester["timeout"].as_f64().unwrap(),
        "visibility ≥ 6 × consumer timeout"
    );

    let topic = out(run, "donut-states-dev-stock-out");
    let sub = input(run, "donut-states-dev-stock-out-to-factory-orders");
    assert_eq!(sub["protocol"], "sqs");
    assert_eq!(sub["endpoint"], queue["arn"]);
    assert_eq!(sub["topic"], topic["arn"]);
    assert_eq!(sub["rawMessageDelivery"], true);

    let policy_resource = input(run, "donut-states-dev-factory-orders-policy");
    assert_eq!(policy_resource["queueUrl"], queue["url"]);
    let policy = json_of(policy_resource, "policy");
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Principal"]["Service"], "sns.amazonaws.com");
    assert_eq!(statements[0]["Action"], "sqs:SendMessage");
    assert_eq!(statements[0]["Resource"], queue["arn"]);
    assert_eq!(
        statements[0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        topic["arn"]
    );
}

#[test]
fn the_requester_consumes_the_queue_with_partial_batch_failures() {
    let run = dev();
    let esm = input(run, "donut-states-dev-factory-orders-to-requester");
    assert_eq!(
        esm["eventSourceArn"],
        out(run, "donut-states-dev-factory-orders")["arn"]
    );
    // Through its `live` alias (the release's switch; every_trigger_invokes_the_live_alias).
    assert_eq!(
        esm["functionName"],
        out(run, "donut-states-dev-factory-requester-live")["arn"]
    );
    assert_eq!(
        strings(&esm["functionResponseTypes"]),
        vec!["ReportBatchItemFailures"]
    );
    assert_eq!(esm["scalingConfig"]["maximumConcurrency"], 2.0);
    assert_eq!(esm["batchSize"], 10.0);
}

/// Gradual deploys: each aliased function (`donut_config::release::ALIASED`) publishes a
/// version and has a `live` alias at it, and every trigger invokes the alias — the API
/// integrations (by the alias's ARN) with API Gateway's permission on the alias (`qualifier`),
/// the factory-requester's event source mapping — so the alias is the one switch a release
/// moves; nothing invokes such a function unqualified. The functions that are not aliased
/// publish nothing. The `releases` output names, per aliased function, the version to release
/// and its canary alarms, each scoped to that version (period 60 s, one datapoint, missing data
/// not breaching, ops told both ways), with the stage's pace: dev all at once, prod 10 % for
/// 10 minutes, 3 versions kept.
#[test]
fn every_trigger_invokes_the_live_alias() {
    for (run, stage, percent, minutes) in [(dev(), "dev", 0, 5), (prod(), "prod", 10, 10)] {
        let n = |what: &str| format!("donut-states-{stage}-{what}");
        let mut aliased_arns = BTreeSet::new();
        for function in donut_config::Function::ALL {
            let deployed = run.named(&n(function.name()));
            if !donut_config::release::is_aliased(function) {
                assert!(
                    deployed.inputs.get("publish").is_none(),
                    "{stage}: {} publishes versions",
                    function.name()
                );
                assert_eq!(deployed.outputs["version"], "$LATEST");
                continue;
            }
            let key = function.name();
            assert_eq!(deployed.inputs["publish"], true, "{stage}: {key}");
            assert_eq!(deployed.outputs["version"], "1", "{stage}: {key}");
            let alias = run.named(&n(&format!("{key}-live")));
            assert_eq!(alias.type_, "aws:lambda/alias:Alias");
            assert_eq!(alias.inputs["name"], donut_config::release::ALIAS);
            assert_eq!(alias.inputs["functionName"], deployed.outputs["name"]);
            assert_eq!(alias.inputs["functionVersion"], deployed.outputs["version"]);
            assert!(
                alias.inputs.get("routingConfig").is_none(),
                "{stage}: {key}"
            );
            let function_arn = s(&deployed.outputs, "arn");
            assert_eq!(
                s(&alias.outputs, "arn"),
                format!("{function_arn}:live"),
                "{stage}: {key}"
            );
            assert!(
                alias.dependencies.contains(&n(key)),
                "{stage}: the {key} alias does not depend on its function: {:?}",
                alias.dependencies
            );
            aliased_arns.insert(function_arn.to_owned());
            // API Gateway's permission: on the alias, for the API that integrates it.
            if function != donut_config::Function::FactoryRequester {
                let permission = input(run, &n(&format!("{key}-api-invoke")));
                assert_eq!(permission["qualifier"], "live", "{stage}: {key}");
                assert_eq!(permission["function"], deployed.outputs["name"]);
                let integration = run.named(&n(&format!("{key}-integration")));
                assert_eq!(
                    integration.inputs["integrationUri"], alias.outputs["arn"],
                    "{stage}: {key}"
                );
                assert!(
                    integration
                        .dependencies
                        .contains(&n(&format!("{key}-live"))),
                    "{stage}: {key}'s integration does not depend on its alias"
                );
            }
        }
        // The requester's queue mapping invokes the alias too.
        assert_eq!(
            input(run, &n("factory-orders-to-requester"))["functionName"],
            out(run, &n("factory-requester-live"))["arn"]
        );
        // No trigger names an aliased function unqualified: integrations, mappings, schedule
        // targets, and every API Gateway permission of one is qualified.
        for (type_, key) in [
            ("aws:apigatewayv2/integration:Integration", "integrationUri"),
            (
                "aws:lambda/eventSourceMapping:EventSourceMapping",
                "functionName",
            ),
            ("aws:cloudwatch/eventTarget:EventTarget", "arn"),
        ] {
            for trigger in run.of_type(type_) {
                let target = s(&trigger.inputs, key);
                assert!(
                    !aliased_arns.contains(target),
                    "{stage}: {} invokes {target} unqualified",
                    trigger.name
                );
            }
        }
        // The release each function's new version goes out by.
        let releases: BTreeMap<String, donut_config::release::Release> =
            serde_json::from_value(run.exports[donut_config::outputs::RELEASES].clone())
                .expect("the releases output reads as donut_config::release::Release");
        assert_eq!(
            releases.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["factory-requester", "sales-api", "warehouse-restock"]
        );
        let ops = out(run, &n("ops"))["arn"].clone();
        for (key, release) in &releases {
            let deployed = out(run, &n(key));
            assert_eq!(release.function_name, s(deployed, "name"), "{stage}: {key}");
            assert_eq!(release.alias, "live");
            assert_eq!(release.version, "1");
            assert_eq!(
                (
                    release.canary_percent,
                    release.canary_minutes,
                    release.keep_versions
                ),
                (percent, minutes, 3),
                "{stage}: {key}"
            );
            let ours = if key == "factory-requester" {
                "BatchItemFailures"
            } else {
                "ServerErrors"
            };
            let mut watched = BTreeSet::new();
            for name in &release.canary_alarms {
                let alarm = run
                    .of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
                    .into_iter()
                    .find(|a| s(&a.outputs, "name") == name)
                    .unwrap_or_else(|| panic!("{stage}: no alarm named {name}"));
                let i = &alarm.inputs;
                assert_eq!(
                    (
                        &i["period"],
                        &i["evaluationPeriods"],
                        &i["datapointsToAlarm"]
                    ),
                    (&json!(60.0), &json!(1.0), &json!(1.0)),
                    "{stage}: {name}"
                );
                assert_eq!(i["treatMissingData"], "notBreaching", "{name}");
                assert_eq!(i["alarmActions"], json!([ops]), "{name}");
                assert_eq!(i["okActions"], json!([ops]), "{name}");
                let dimensions = i["dimensions"].as_object().unwrap();
                match s(i, "metricName") {
                    "Errors" => {
                        assert_eq!(i["namespace"], "AWS/Lambda");
                        assert_eq!(dimensions["FunctionName"], s(deployed, "name"));
                        assert_eq!(
                            dimensions["Resource"],
                            format!("{}:live", s(deployed, "name"))
                        );
                        assert_eq!(dimensions["ExecutedVersion"], "1");
                    }
                    metric => {
                        assert_eq!(metric, ours, "{stage}: {key}");
                        assert_eq!(i["namespace"], format!("DonutStates/{stage}"));
                        assert_eq!(dimensions["Function"], s(deployed, "name"));
                        assert_eq!(dimensions["Version"], "1");
                    }
                }
                watched.insert(s(i, "metricName").to_owned());
            }
            assert_eq!(
                watched,
                BTreeSet::from(["Errors".to_owned(), ours.to_owned()]),
                "{stage}: {key}"
            );
        }
    }
}

#[test]
fn routes_are_the_api_crates_routes_and_reach_their_functions() {
    let run = dev();
    let api = out(run, "donut-states-dev-http-api");
    let integrations: BTreeMap<String, String> = run
        .of_type("aws:apigatewayv2/integration:Integration")
        .iter()
        .map(|i| {
            (
                s(&i.outputs, "id").to_owned(),
                s(&i.inputs, "integrationUri").to_owned(),
            )
        })
        .collect();
    let lane = out(run, "donut-states-dev-factory-lane");
    let routes = run.of_type("aws:apigatewayv2/route:Route");
    let keys: BTreeSet<&str> = routes.iter().map(|r| s(&r.inputs, "routeKey")).collect();
    let declared: BTreeSet<&str> = donut_config::routes::ROUTES
        .iter()
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(keys, declared);
    for route in routes {
        // The factory's callback on its lane alone; every other route on the public API.
        let on_lane = s(&route.inputs, "routeKey").contains("/factory/callback");
        let expected = if on_lane { lane } else { api };
        assert_eq!(route.inputs["apiId"], expected["id"], "{}", route.name);
        let target = s(&route.inputs, "target")
            .strip_prefix("integrations/")
            .unwrap();
        let key = s(&route.inputs, "routeKey");
        let function = if key.contains("/factory/callback") {
            "warehouse-restock"
        } else if key.starts_with("ANY /admin/") {
            "admin-api"
        } else {
            "sales-api"
        };
        // An aliased function through its `live` alias (every_trigger_invokes_the_live_alias).
        let invoked = if function == "admin-api" {
            format!("donut-states-dev-{function}")
        } else {
            format!("donut-states-dev-{function}-live")
        };
        assert_eq!(integrations[target], s(out(run, &invoked), "arn"), "{key}");
    }
    for i in run.of_type("aws:apigatewayv2/integration:Integration") {
        assert_eq!(i.inputs["integrationType"], "AWS_PROXY");
        // API Gateway invokes Lambda by POST (the stand-in refuses another method as AWS does).
        assert_eq!(i.inputs["integrationMethod"], "POST");
        assert_eq!(i.inputs["payloadFormatVersion"], "2.0");
    }
    let stage = input(run, "donut-states-dev-api-stage");
    assert_eq!(stage["name"], "$default");
    assert_eq!(
        stage["accessLogSettings"]["destinationArn"],
        out(run, "donut-states-dev-api-access-logs")["arn"]
    );
    // Each function may be invoked by its own API only: the restock by the factory's lane.
    for (function, by) in [
        ("sales-api", api),
        ("warehouse-restock", lane),
        ("admin-api", api),
    ] {
        let permission = input(run, &format!("donut-states-dev-{function}-api-invoke"));
        assert_eq!(permission["principal"], "apigateway.amazonaws.com");
        assert_eq!(
            permission["function"],
            out(run, &format!("donut-states-dev-{function}"))["name"]
        );
        assert_eq!(
            s(permission, "sourceArn"),
            format!("{}/*/*", s(by, "executionArn"))
        );
    }
}

/// The operators' door: every `/admin/…` route takes API Gateway's IAM authorization and every
/// other route none, as deployed (inputs and what the stand-in answered); the managed policy
/// ops attach allows `execute-api:Invoke`, and only that, on exactly the admin routes of this
/// API; it is tagged, named by the provider, and a stack output.
#[test]
fn the_admin_routes_take_iam_and_the_operators_policy_allows_only_them() {
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let routes = run.of_type("aws:apigatewayv2/route:Route");
        let mut iam = BTreeSet::new();
        for route in &routes {
            let key = s(&route.inputs, "routeKey");
            let expected = if key.starts_with("ANY /admin/") {
                iam.insert(key.to_owned());
                "AWS_IAM"
            } else {
                "NONE"
            };
            assert_eq!(route.inputs["authorizationType"], expected, "{stage} {key}");
            assert_eq!(
                route.outputs["authorizationType"], expected,
                "{stage} {key}"
            );
            assert!(route.inputs.get("authorizerId").is_none(), "{stage} {key}");
        }
        let admin_routes: BTreeSet<String> = donut_config::routes::ROUTES
            .iter()
            .filter(|(_, f)| *f == donut_config::Function::AdminApi)
            .map(|(k, _)| (*k).to_owned())
            .collect();
        assert_eq!(iam, admin_routes, "{stage}");
        assert_eq!(iam.len(), 8, "{stage}");

        let policy = run.named(&format!("donut-states-{stage}-operator-policy"));
        assert_eq!(run.exports["operatorPolicyArn"], policy.outputs["arn"]);
        assert!(
            s(&policy.outputs, "arn").starts_with("arn:aws:iam::123456789012:policy/donut-states-"),
            "{}",
            policy.outputs["arn"]
        );
        let doc = json_of(&policy.inputs, "policy");
        let statements = doc["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1, "{doc}");
        assert_eq!(statements[0]["Effect"], "Allow");
        assert_eq!(strings(&statements[0]["Action"]), ["execute-api:Invoke"]);
        let execution_arn = s(
            out(run, &format!("donut-states-{stage}-http-api")),
            "executionArn",
        );
        let resources: BTreeSet<String> = strings(&statements[0]["Resource"]).into_iter().collect();
        let expected: BTreeSet<String> = [
            "admin/products",
            "admin/products/*",
            "admin/products/*/stock",
            "admin/audit",
            "admin/factory-orders",
            "admin/factory-orders/*",
            "admin/factory-orders/*/re-request",
            "admin/factory-orders/*/cancel",
        ]
        .iter()
        .map(|path| format!("{execution_arn}/*/*/{path}"))
        .collect();
        assert_eq!(resources, expected, "{stage}");
        println!("{stage}: {}", statements[0]);
        // Declared after the routes it names and their stage (the stand-in judges its
        // resources against the requests they serve).
        for route in &routes {
            if s(&route.inputs, "routeKey").starts_with("ANY /admin/") {
                assert!(
                    policy.dependencies.contains(&route.name),
                    "{stage}: the policy does not wait for {}",
                    route.name
                );
            }
        }
    }
}

#[test]
fn alarms_watch_the_dlq_functions_and_api_and_mail_ops() {
    let run = dev();
    let ops = out(run, "donut-states-dev-ops");
    let mail = input(run, "donut-states-dev-ops-email");
    assert_eq!(mail["protocol"], "email");
    assert_eq!(mail["endpoint"], OPS_EMAIL);
    assert_eq!(mail["topic"], ops["arn"]);
    let dlq_alarm = input(run, "donut-states-dev-dlq-depth");
    assert_eq!(dlq_alarm["namespace"], "AWS/SQS");
    assert_eq!(
        dlq_alarm["metricName"],
        "ApproximateNumberOfMessagesVisible"
    );
    assert_eq!(
        dlq_alarm["dimensions"]["QueueName"],
        out(run, "donut-states-dev-factory-orders-dlq")["name"]
    );
    assert_eq!(dlq_alarm["threshold"], 1.0);
    assert_eq!(
        dlq_alarm["comparisonOperator"],
        "GreaterThanOrEqualToThreshold"
    );
    assert_eq!(dlq_alarm["treatMissingData"], "notBreaching");
    for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") {
        assert_eq!(
            strings(&alarm.inputs["alarmActions"]),
            vec![s(ops, "arn").to_owned()],
            "{}",
            alarm.name
        );
    }
    for function in donut_config::Function::ALL.map(donut_config::Function::name) {
        let alarm = input(run, &format!("donut-states-dev-{function}-errors"));
        assert_eq!(
            alarm["dimensions"]["FunctionName"],
            out(run, &format!("donut-states-dev-{function}"))["name"]
        );
    }
    for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") {
        assert_eq!(
            alarm.inputs["okActions"], alarm.inputs["alarmActions"],
            "{}: ops hear when it clears",
            alarm.name
        );
    }
    for function in donut_config::Function::ALL.map(donut_config::Function::name) {
        let alarm = input(run, &format!("donut-states-dev-{function}-throttles"));
        assert_eq!(alarm["metricName"], "Throttles");
        assert_eq!(
            alarm["dimensions"]["FunctionName"],
            out(run, &format!("donut-states-dev-{function}"))["name"]
        );
    }
    let queue_age = input(run, "donut-states-dev-queue-age");
    assert_eq!(queue_age["metricName"], "ApproximateAgeOfOldestMessage");
    assert_eq!(
        queue_age["dimensions"]["QueueName"],
        out(run, "donut-states-dev-factory-orders")["name"]
    );
    assert_eq!(queue_age["threshold"], 15.0 * 60.0);
    let outbox = input(run, "donut-states-dev-outbox-age");
    assert_eq!(outbox["namespace"], "DonutStates/dev");
    assert_eq!(outbox["metricName"], "OutboxOldestAge");
    assert_eq!(outbox["threshold"], 5.0 * 60_000.0);
    // The relay's sweep of expired idempotency keys: a key an hour past its window, in 3 sweep
    // periods running, is a sweep that keeps failing; no data (no run) is not breaching, as
    // for the outbox's age.
    let keys = input(run, "donut-states-dev-expired-keys-age");
    assert_eq!(keys["namespace"], "DonutStates/dev");
    assert_eq!(keys["metricName"], "ExpiredKeyOldestAge");
    assert_eq!(keys["statistic"], "Maximum");
    assert_eq!(keys["threshold"], 60.0 * 60_000.0);
    assert_eq!(keys["comparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(
        (
            keys["datapointsToAlarm"].clone(),
            keys["evaluationPeriods"].clone()
        ),
        (3.0.into(), 3.0.into())
    );
    assert_eq!(keys["period"], 60.0, "one sweep a minute");
    assert_eq!(keys["treatMissingData"], outbox["treatMissingData"]);
    assert_eq!(keys["okActions"], outbox["okActions"]);
    // A scheduled function's throttled run is retried by Lambda and its work done by the next
    // run: its throttles alarm wants 3 sweep periods running; the others' any throttle.
    for function in donut_config::Function::ALL.map(donut_config::Function::name) {
        let alarm = input(run, &format!("donut-states-dev-{function}-throttles"));
        let scheduled = matches!(function, "outbox-relay" | "factory-watchdog");
        let m_of_n = if scheduled { 3.0 } else { 1.0 };
        assert_eq!(
            (
                alarm["datapointsToAlarm"].clone(),
                alarm["evaluationPeriods"].clone()
            ),
            (m_of_n.into(), m_of_n.into()),
            "{function}"
        );
        assert_eq!(alarm["threshold"], 1.0, "{function}");
        assert_eq!(alarm["period"], 60.0, "{function}");
    }
    // The identifier: the instance's `id` is its resource id (`db-…`), unknown to CloudWatch.
    let db_id = out(run, "donut-states-dev-db")["identifier"].clone();
    assert!(
        db_id.as_str().unwrap().starts_with("donut-states-dev-db-"),
        "{db_id}"
    );
    for (alarm, metric, operator) in [
        (
            "db-connections",
            "DatabaseConnections",
            "GreaterThanOrEqualToThreshold",
        ),
        (
            "db-free-storage",
            "FreeStorageSpace",
            "LessThanOrEqualToThreshold",
        ),
        (
            "db-cpu-credits",
            "CPUCreditBalance",
            "LessThanOrEqualToThreshold",
        ),
    ] {
        let alarm = input(run, &format!("donut-states-dev-{alarm}"));
        assert_eq!(alarm["metricName"], metric);
        assert_eq!(alarm["comparisonOperator"], operator);
        assert_eq!(alarm["dimensions"]["DBInstanceIdentifier"], db_id);
    }
    // The API alarm is a rate: 5xx in percent of requests, M of N periods, per stage.
    for (run, stage, percent, m, n) in [
        (dev(), "dev", 5.0, 1.0, 1.0),
        (prod(), "prod", 2.0, 3.0, 5.0),
    ] {
        let api_5xx = input(run, &format!("donut-states-{stage}-api-5xx"));
        assert_eq!(api_5xx["threshold"], percent);
        assert_eq!(
            (
                api_5xx["datapointsToAlarm"].clone(),
                api_5xx["evaluationPeriods"].clone()
            ),
            (m.into(), n.into())
        );
        let queries = api_5xx["metricQueries"].as_array().unwrap();
        let by_id = |id: &str| queries.iter().find(|q| q["id"] == id).unwrap().clone();
        assert_eq!(by_id("errors")["metric"]["metricName"], "5xx");
        assert_eq!(by_id("requests")["metric"]["metricName"], "Count");
        assert_eq!(
            by_id("errors")["metric"]["dimensions"]["ApiId"],
            out(run, &format!("donut-states-{stage}-http-api"))["id"]
        );
        assert_eq!(by_id("rate")["returnData"], true);
        assert!(
            s(by_id("rate").as_object().unwrap(), "expression").contains("100 * errors / requests")
        );
    }
}

/// Every alarm names its runbook by an absolute address (the stage's `repositoryUrl`, so a
/// mail reader can open it), a section of docs/operate.md that exists.
#[test]
fn every_alarm_links_to_a_runbook_section_that_exists() {
    let readme = std::fs::read_to_string(root().join("docs/operate.md")).unwrap();
    let anchors: BTreeSet<String> = readme
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|heading| {
            heading
                .trim_start_matches('#')
                .trim()
                .to_lowercase()
                .chars()
                .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                .map(|c| if c == ' ' { '-' } else { c })
                .collect()
        })
        .collect();
    for run in [dev(), prod()] {
        for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") {
            let description = s(&alarm.inputs, "alarmDescription");
            let (_, anchor) = description
                .split_once(&format!("Runbook: {REPOSITORY_URL}/docs/operate.md#"))
                .unwrap_or_else(|| panic!("{}: no runbook in {description:?}", alarm.name));
            assert!(
                anchors.contains(anchor),
                "{}: docs/operate.md has no section #{anchor}",
                alarm.name
            );
        }
    }
}

#[test]
fn functions_are_rust_on_arm64_with_the_settings_they_read() {
    let run = dev();
    let topic_arn = s(out(run, "donut-states-dev-stock-out"), "arn");
    let db = out(run, "donut-states-dev-db");
    let db_secret = db["masterUserSecrets"][0]["secretArn"].as_str().unwrap();
    let app_secret = s(out(run, "donut-states-dev-app-db-login"), "arn");
    let operator_secret = s(out(run, "donut-states-dev-operator-db-login"), "arn");
    let callback_secret = s(out(run, "donut-states-dev-callback-secret"), "arn");
    let api_url = s(out(run, "donut-states-dev-http-api"), "apiEndpoint");
    let lane_url = s(out(run, "donut-states-dev-factory-lane"), "apiEndpoint");
    let subnets: Vec<&str> = ["a", "b"]
        .iter()
        .map(|az| s(out(run, &format!("donut-states-dev-private-{az}")), "id"))
        .collect();
    for f in system_functions(run) {
        let i = &f.inputs;
        assert_eq!(i["runtime"], "provided.al2023");
        assert_eq!(i["handler"], "bootstrap");
        assert_eq!(strings(&i["architectures"]), vec!["arm64"]);
        assert_eq!(i["tracingConfig"]["mode"], "Active");
        assert_eq!(
            i["code"][SIG_KEY], "0def7320c3a5731c473e5ecbe6d01bc7",
            "a FileArchive"
        );
        let short = f.name.trim_start_matches("donut-states-dev-");
        assert!(
            s(i["code"].as_object().unwrap(), "path")
                .ends_with(&format!("target/lambda/{short}/bootstrap.zip"))
        );
        assert_eq!(strings(&i["vpcConfig"]["subnetIds"]), subnets);
        let env = i["environment"]["variables"].as_object().unwrap();
        // Only migrate logs in as the master user; the operators' function as its own user;
        // the others as the application user.
        let login = match short {
            "migrate" => db_secret,
            "admin-api" => operator_secret,
            _ => app_secret,
        };
        assert_eq!(s(env, "DB_SECRET_ARN"), login, "{}", f.name);
        assert_eq!(s(env, "DB_HOST"), s(db, "address"));
        assert_eq!(s(env, "DB_NAME"), "donut");
        let wants_topic = matches!(short, "sales-api" | "outbox-relay" | "admin-api");
        assert_eq!(
            env.get("STOCK_OUT_TOPIC_ARN").and_then(Value::as_str),
            wants_topic.then_some(topic_arn),
            "{short}"
        );
        let wants_callback = matches!(
            short,
            "warehouse-restock" | "factory-requester" | "factory-watchdog"
        );
        assert_eq!(
            env.get("CALLBACK_SECRET_ARN").and_then(Value::as_str),
            wants_callback.then_some(callback_secret),
            "{short}"
        );
        // Callback URLs start with the factory's lane's address, not the public API's.
        assert_eq!(
            env.get("CALLBACK_BASE_URL").and_then(Value::as_str),
            wants_callback.then_some(lane_url),
            "{short}"
        );
        assert_ne!(lane_url, api_url);
        assert!(
            !env.values().any(|v| v.as_str() == Some(SECRET)),
            "no secret in plain env"
        );
    }
    // Dev calls the factory simulator it deploys; prod the stage's factory.
    let simulator_url = s(
        out(run, "donut-states-dev-factory-simulator-url"),
        "functionUrl",
    );
    for (run, stage, factory) in [
        (run, "dev", simulator_url.trim_end_matches('/')),
        (prod(), "prod", FACTORY_URL),
    ] {
        for caller in ["factory-requester", "factory-watchdog"] {
            let env =
                &input(run, &format!("donut-states-{stage}-{caller}"))["environment"]["variables"];
            assert_eq!(env["FACTORY_URL"], factory, "{stage} {caller}");
        }
    }
    assert_eq!(
        input(run, "donut-states-dev-sales-api")["environment"]["variables"]["MAX_QUANTITY"],
        "10"
    );
}

/// Each function's environment, as the engine deployed it, is read back by that function's
/// own contract (donut_config::settings) — the code its `main` runs — with the stage's values.
#[test]
fn every_function_reads_back_what_the_infra_wrote() {
    use donut_config::Function;
    use donut_config::settings::{self, Contract, Database, EnvReader};
    for run in [dev(), prod()] {
        let stage = if std::ptr::eq(run, dev()) {
            "dev"
        } else {
            "prod"
        };
        let config = donut_config::StageConfig::from_stack_file(
            stage,
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../Pulumi.{stage}.yaml")),
        )
        .unwrap();
        let arn_of =
            |what: &str| s(out(run, &format!("donut-states-{stage}-{what}")), "arn").to_owned();
        for function in Function::ALL {
            let deployed = format!("donut-states-{stage}-{}", function.name());
            let vars = input(run, &deployed)["environment"]["variables"]
                .as_object()
                .unwrap_or_else(|| panic!("{deployed} has no environment"))
                .clone();
            let get = |name: &str| vars.get(name).and_then(Value::as_str).map(str::to_owned);
            let env = EnvReader::new(&get);
            let database = match function {
                Function::SalesApi => {
                    let s = settings::SalesApi::read(&env).expect("sales-api");
                    assert_eq!(s.max_quantity, config.max_quantity);
                    s.base.database
                }
                Function::WarehouseRestock => {
                    settings::WarehouseRestock::read(&env)
                        .expect("restock")
                        .base
                        .database
                }
                Function::FactoryRequester => {
                    settings::FactoryRequester::read(&env)
                        .expect("requester")
                        .base
                        .database
                }
                Function::OutboxRelay => {
                    settings::OutboxRelay::read(&env)
                        .expect("relay")
                        .base
                        .database
                }
                Function::Migrate => {
                    let s = settings::Migrate::read(&env).expect("migrate");
                    assert_eq!(s.app_user, settings::APP_DB_USER);
                    assert_eq!(s.app_db_secret_arn, arn_of("app-db-login"));
                    assert_eq!(s.operator_user, settings::OPERATOR_DB_USER);
                    assert_eq!(s.operator_db_secret_arn, arn_of("operator-db-login"));
                    s.base.database
                }
                Function::AdminApi => {
                    let s = settings::AdminApi::read(&env).expect("admin-api");
                    assert_eq!(s.max_body_bytes, config.max_body_bytes);
                    assert_eq!(
                        s.re_request_not_within_seconds,
                        u64::from(config.queue.visibility_timeout_seconds)
                    );
                    assert_eq!(s.stock_out_topic_arn, arn_of("stock-out"));
                    assert_eq!(s.base.database.secret_arn, arn_of("operator-db-login"));
                    s.base.database
                }
                Function::FactoryWatchdog => {
                    let s = settings::FactoryWatchdog::read(&env).expect("watchdog");
                    assert_eq!(s.max_attempts, config.factory_max_attempts);
                    assert_eq!(
                        s.deadline_minutes,
                        u64::from(config.factory_deadline_minutes)
                    );
                    s.base.database
                }
            };
            let Database {
                pool_size, tls_ca, ..
            } = database;
            assert_eq!(
                pool_size,
                config.db_connections_per_instance(function),
                "{deployed}"
            );
            assert_eq!(
                tls_ca.as_deref(),
                Some("/var/task/rds-ca.pem"),
                "{deployed}"
            );
        }
    }
}

/// The exact actions each function's role allows, and on what.
#[test]
fn every_role_is_least_privilege() {
    let run = dev();
    let arn = |name: &str| s(out(run, name), "arn").to_owned();
    let master_secret = out(run, "donut-states-dev-db")["masterUserSecrets"][0]["secretArn"]
        .as_str()
        .unwrap()
        .to_owned();
    // The functions read the application user's login, never the master's.
    let db_secret = arn("donut-states-dev-app-db-login");
    // The operators' function reads its own login, and nothing else does.
    let operator_secret = arn("donut-states-dev-operator-db-login");
    let topic = arn("donut-states-dev-stock-out");
    let queue = arn("donut-states-dev-factory-orders");
    let callback = arn("donut-states-dev-callback-secret");
    let ops = arn("donut-states-dev-ops");
    let key = arn("donut-states-dev-topics-key");
    // dev's factory is the simulator behind an AWS_IAM function URL: its callers sign, and
    // AWS asks both actions of them (docs.aws.amazon.com/lambda/latest/dg/urls-auth.html).
    let simulator = arn("donut-states-dev-factory-simulator");
    // Lambda manages a VPC function's network interfaces with its role: creating one in the
    // stack's subnets with the function's security group; deleting and (un)assigning addresses
    // on the account's network interfaces in the Region; only describing them on `*` (the one
    // action with no resource type).
    let interfaces = "arn:aws:ec2:eu-west-1:123456789012:network-interface/*".to_owned();
    let subnet_arns: Vec<String> = ["a", "b"]
        .iter()
        .map(|az| arn(&format!("donut-states-dev-private-{az}")))
        .collect();
    let vpc_grants = |function: &str| -> Vec<(String, String)> {
        let group = match function {
            "factory-requester" | "factory-watchdog" => "factory-caller-sg",
            _ => "lambda-sg",
        };
        let mut grants = vec![("ec2:DescribeNetworkInterfaces".to_owned(), "*".to_owned())];
        for resource in [interfaces.clone()]
            .into_iter()
            .chain(subnet_arns.iter().cloned())
            .chain([arn(&format!("donut-states-dev-{group}"))])
        {
            grants.push(("ec2:CreateNetworkInterface".to_owned(), resource));
        }
        for action in [
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ] {
            grants.push((action.to_owned(), interfaces.clone()));
        }
        grants
    };
    let common = [
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    ];
    let expected: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::from([
        (
            "sales-api",
            vec![
                ("secretsmanager:GetSecretValue", db_secret.as_str()),
                ("sns:Publish", topic.as_str()),
                ("kms:GenerateDataKey", key.as_str()),
                ("kms:Decrypt", key.as_str()),
            ],
        ),
        (
            "outbox-relay",
            vec![
                ("secretsmanager:GetSecretValue", db_secret.as_str()),
                ("sns:Publish", topic.as_str()),
                ("kms:GenerateDataKey", key.as_str()),
                ("kms:Decrypt", key.as_str()),
            ],
        ),
        (
            "migrate",
            vec![
                ("secretsmanager:GetSecretValue", master_secret.as_str()),
                ("secretsmanager:GetSecretValue", db_secret.as_str()),
                ("secretsmanager:PutSecretValue", db_secret.as_str()),
                ("secretsmanager:GetSecretValue", operator_secret.as_str()),
                ("secretsmanager:PutSecretValue", operator_secret.as_str()),
                ("secretsmanager:GetRandomPassword", "*"),
            ],
        ),
        (
            "admin-api",
            vec![
                ("secretsmanager:GetSecretValue", operator_secret.as_str()),
                ("sns:Publish", topic.as_str()),
                ("kms:GenerateDataKey", key.as_str()),
                ("kms:Decrypt", key.as_str()),
            ],
        ),
        (
            "warehouse-restock",
            vec![
                ("secretsmanager:GetSecretValue", db_secret.as_str()),
                ("secretsmanager:GetSecretValue", callback.as_str()),
            ],
        ),
        (
            "factory-watchdog",
            vec![
                ("secretsmanager:GetSecretValue", db_secret.as_str()),
                ("secretsmanager:GetSecretValue", callback.as_str()),
                ("sns:Publish", ops.as_str()),
                ("kms:GenerateDataKey", key.as_str()),
                ("kms:Decrypt", key.as_str()),
                ("lambda:InvokeFunctionUrl", simulator.as_str()),
                ("lambda:InvokeFunction", simulator.as_str()),
            ],
        ),
        (
            "factory-requester",
            vec![
                ("secretsmanager:GetSecretValue", db_secret.as_str()),
                ("secretsmanager:GetSecretValue", callback.as_str()),
                ("sqs:ReceiveMessage", queue.as_str()),
                ("sqs:DeleteMessage", queue.as_str()),
                ("sqs:GetQueueAttributes", queue.as_str()),
                ("lambda:InvokeFunctionUrl", simulator.as_str()),
                ("lambda:InvokeFunction", simulator.as_str()),
            ],
        ),
    ]);
    assert_eq!(
        expected.keys().copied().collect::<BTreeSet<_>>(),
        donut_config::Function::ALL
            .map(donut_config::Function::name)
            .into_iter()
            .collect(),
        "every function's role is in the table"
    );
    for (function, grants) in expected {
        let policy_resource = input(run, &format!("donut-states-dev-{function}-policy"));
        assert_eq!(
            policy_resource["role"],
            out(run, &format!("donut-states-dev-{function}-role"))["id"]
        );
        let doc = json_of(policy_resource, "policy");
        let mut allowed: BTreeSet<(String, String)> = BTreeSet::new();
        for st in doc["Statement"].as_array().unwrap() {
            assert_eq!(st["Effect"], "Allow");
            for action in strings(&st["Action"]) {
                assert!(
                    !action.contains('*'),
                    "{function}: wildcard action {action}"
                );
                for resource in strings(&st["Resource"]) {
                    allowed.insert((action.clone(), resource));
                }
            }
        }
        let log_group = format!("{}:*", arn(&format!("donut-states-dev-{function}-logs")));
        let mut want: BTreeSet<(String, String)> = grants
            .iter()
            .map(|(a, r)| ((*a).to_owned(), (*r).to_owned()))
            .collect();
        for action in common {
            let resource = if action.starts_with("logs:") {
                log_group.clone()
            } else {
                "*".to_owned()
            };
            want.insert((action.to_owned(), resource));
        }
        want.extend(vpc_grants(function));
        assert_eq!(allowed, want, "{function}");
        let role = input(run, &format!("donut-states-dev-{function}-role"));
        let trust = json_of(role, "assumeRolePolicy");
        assert_eq!(
            trust["Statement"][0]["Principal"]["Service"],
            "lambda.amazonaws.com"
        );
    }
}

#[test]
fn secrets_travel_as_secrets_and_never_in_plain_outputs() {
    let run = dev();
    let version = input(run, "donut-states-dev-callback-secret-value");
    let value = &version["secretString"];
    assert_eq!(value[SIG_KEY], SECRET_SIG, "kept as a secret");
    assert!(value["ciphertext"].is_string(), "encrypted in the state");
    assert_eq!(
        version["secretId"],
        out(run, "donut-states-dev-callback-secret")["id"]
    );
    for key in [
        "apiUrl",
        "stockOutTopicArn",
        "factoryOrdersQueueUrl",
        "deadLetterQueueUrl",
        "dbEndpoint",
    ] {
        assert!(run.exports[key].is_string(), "export {key}");
    }
    // The plain value is nowhere in the state (engine.rs checks the whole export too).
    for r in &run.resources {
        for side in [&r.inputs, &r.outputs] {
            assert!(
                !serde_json::to_string(side).unwrap().contains(SECRET),
                "{}",
                r.name
            );
        }
    }
    let db = input(run, "donut-states-dev-db");
    assert_eq!(
        db["manageMasterUserPassword"], true,
        "RDS makes the password and keeps it in Secrets Manager"
    );
    assert!(db.get("password").is_none());
}

#[test]
fn the_database_is_private_and_encrypted_and_prod_is_protected() {
    for (run, stage, prod_like) in [(dev(), "dev", false), (prod(), "prod", true)] {
        let db = input(run, &format!("donut-states-{stage}-db"));
        assert_eq!(db["engine"], "mysql");
        assert_eq!(db["storageEncrypted"], true);
        assert_eq!(db["publiclyAccessible"], false);
        assert_eq!(db["multiAz"], prod_like);
        assert_eq!(db["deletionProtection"], prod_like);
        assert_eq!(db["skipFinalSnapshot"], !prod_like);
        assert_eq!(
            db["backupRetentionPeriod"],
            if prod_like { 14.0 } else { 1.0 }
        );
        assert_eq!(
            db["vpcSecurityGroupIds"][0],
            out(run, &format!("donut-states-{stage}-db-sg"))["id"]
        );
        let sg = input(run, &format!("donut-states-{stage}-db-sg"));
        assert_eq!(
            sg["ingress"][0]["securityGroups"][0],
            out(run, &format!("donut-states-{stage}-lambda-sg"))["id"]
        );
        assert_eq!(sg["ingress"][0]["fromPort"], 3306.0);
        let migrate = input(run, &format!("donut-states-{stage}-migrate-on-deploy"));
        assert_eq!(
            json_of(migrate, "input")["seed"],
            !prod_like,
            "seed data for dev only"
        );
        assert_eq!(
            migrate["functionName"],
            out(run, &format!("donut-states-{stage}-migrate"))["name"]
        );
    }
    // Each function's memory from its stage: the two measured ones their own sizes
    // (`salesApiMemoryMb`, `warehouseRestockMemoryMb`), the others `lambdaMemoryMb`.
    for (run, stage, sales, restock, others) in [
        (prod(), "prod", 1024.0, 1024.0, 512.0),
        (dev(), "dev", 1024.0, 1024.0, 256.0),
    ] {
        let memory =
            |name: &str| input(run, &format!("donut-states-{stage}-{name}"))["memorySize"].clone();
        assert_eq!(memory("sales-api"), sales);
        assert_eq!(memory("warehouse-restock"), restock);
        for name in [
            "factory-requester",
            "outbox-relay",
            "factory-watchdog",
            "migrate",
            "admin-api",
        ] {
            assert_eq!(memory(name), others, "{stage} {name}");
        }
    }
}

/// The watchdog: on the sweep schedule with the outbox relay, alerting ops, and watched by an
/// alarm on the metric it emits.
#[test]
fn the_factory_watchdog_runs_on_the_schedule_and_is_alarmed() {
    let run = dev();
    let rule = out(run, "donut-states-dev-sweep");
    assert_eq!(rule["scheduleExpression"], "rate(1 minute)");
    for function in ["outbox-relay", "factory-watchdog"] {
        let target = input(run, &format!("donut-states-dev-{function}-schedule"));
        assert_eq!(target["rule"], rule["name"]);
        assert_eq!(
            target["arn"],
            out(run, &format!("donut-states-dev-{function}"))["arn"]
        );
        let permission = input(run, &format!("donut-states-dev-{function}-schedule-invoke"));
        assert_eq!(permission["principal"], "events.amazonaws.com");
        assert_eq!(permission["sourceArn"], rule["arn"]);
        // One run per period, each within it: it reserves one instance, a run ends before the
        // next is due, a failed run is not run again (the next one is its retry), and an event
        // the period has overtaken is dropped — so a sweep cannot throttle its own next run.
        let f = input(run, &format!("donut-states-dev-{function}"));
        assert_eq!(f["reservedConcurrentExecutions"], 1.0, "{function}");
        assert!(
            f["timeout"].as_f64().unwrap() < 60.0,
            "{function}: {} s",
            f["timeout"]
        );
        let invoke = input(run, &format!("donut-states-dev-{function}-async"));
        assert_eq!(
            invoke["functionName"],
            out(run, &format!("donut-states-dev-{function}"))["name"]
        );
        assert_eq!(invoke["maximumRetryAttempts"], 0.0);
        assert_eq!(invoke["maximumEventAgeInSeconds"], 60.0);
        assert!(invoke.get("qualifier").is_none(), "every version");
    }
    let env = &input(run, "donut-states-dev-factory-watchdog")["environment"]["variables"];
    assert_eq!(
        env["OPS_TOPIC_ARN"],
        out(run, "donut-states-dev-ops")["arn"]
    );
    assert_eq!(env["FACTORY_DEADLINE_MINUTES"], "30");
    assert_eq!(env["FACTORY_MAX_ATTEMPTS"], "3");
    assert_eq!(env["METRICS_NAMESPACE"], "DonutStates/dev");
    let alarm = input(run, "donut-states-dev-factory-orders-overdue");
    assert_eq!(alarm["namespace"], "DonutStates/dev");
    assert_eq!(alarm["metricName"], "FactoryOrdersOverdue");
    assert_eq!(alarm["threshold"], 1.0);
    assert_eq!(
        strings(&alarm["alarmActions"]),
        vec![s(out(run, "donut-states-dev-ops"), "arn").to_owned()]
    );
    let prod_env = &input(prod(), "donut-states-prod-factory-watchdog")["environment"]["variables"];
    assert_eq!(prod_env["FACTORY_DEADLINE_MINUTES"], "120");
}

/// What ops look at: the dashboard shows every metric the code emits, the DLQ, the functions
/// and the API; the saved query splits durations cold/warm; the pipeline has its own alarms.
#[test]
fn the_dashboard_alarms_and_saved_query_cover_the_pipeline() {
    let run = dev();
    let dashboard = input(run, "donut-states-dev-operations");
    let body = json_of(dashboard, "dashboardBody");
    let text = body.to_string();
    for metric in donut_metrics::Metric::ALL.map(donut_metrics::Metric::name) {
        if metric != "ColdStarts" {
            assert!(text.contains(metric), "the dashboard shows {metric}");
        }
    }
    assert!(text.contains("donut-states-dev-factory-orders-dlq"));
    assert!(
        text.contains(s(out(run, "donut-states-dev-http-api"), "id")),
        "API widgets name the API"
    );
    for f in donut_config::Function::ALL.map(donut_config::Function::name) {
        let name = s(out(run, &format!("donut-states-dev-{f}")), "name");
        assert!(
            text.contains(&format!("\"{name}\"")),
            "{f} ({name}) on the dashboard"
        );
    }
    let query = input(run, "donut-states-dev-cold-vs-warm");
    assert!(s(query, "queryString").contains("@initDuration"));
    assert_eq!(
        query["logGroupNames"].as_array().unwrap().len(),
        donut_config::Function::ALL.len()
    );
    let groups: BTreeSet<String> = strings(&query["logGroupNames"]).into_iter().collect();
    let functions_logs: BTreeSet<String> = donut_config::Function::ALL
        .iter()
        .map(|f| {
            // The log group each function is configured to log to.
            let logging = &input(run, &format!("donut-states-dev-{f}"))["loggingConfig"];
            let group = logging["logGroup"].as_str().unwrap().to_owned();
            assert_eq!(
                group,
                s(out(run, &format!("donut-states-dev-{f}-logs")), "name")
            );
            group
        })
        .collect();
    assert_eq!(
        groups, functions_logs,
        "the query reads every function's log group"
    );
    let failures = input(run, "donut-states-dev-factory-failures");
    assert_eq!(failures["namespace"], "DonutStates/dev");
    assert_eq!(failures["metricName"], "FactoryCallFailures");
    assert_eq!(failures["threshold"], 5.0);
    let latency = input(run, "donut-states-dev-restock-latency");
    assert_eq!(latency["metricName"], "RestockLatency");
    assert_eq!(latency["extendedStatistic"], "p90");
    assert!(latency.get("statistic").is_none());
    assert_eq!(latency["threshold"], 60.0 * 60_000.0);
    for f in system_functions(run) {
        assert_eq!(
            f.inputs["environment"]["variables"]["METRICS_NAMESPACE"], "DonutStates/dev",
            "{}",
            f.name
        );
    }
}

/// Every resource AWS can tag carries who and what it belongs to (cost reports, clean-up).
#[test]
fn every_taggable_resource_is_tagged() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("infra/schema/aws-subset.json")).unwrap(),
    )
    .unwrap();
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let mut tagged = 0;
        for r in &run.resources {
            if schema["resources"][&r.type_]["inputProperties"]["tags"].is_null() {
                continue;
            }
            let tags = &r.inputs["tags"];
            assert_eq!(tags["project"], "donut-states", "{}", r.name);
            assert_eq!(tags["stage"], stage, "{}", r.name);
            assert_eq!(tags["stack"], stage, "{}", r.name);
            assert!(
                tags["owner"].as_str().is_some_and(|o| !o.is_empty()),
                "{}",
                r.name
            );
            assert_eq!(&r.outputs["tagsAll"], tags, "{}", r.name);
            tagged += 1;
        }
        println!("{stage}: {tagged} tagged resources");
        assert!(tagged > 50);
    }
}

/// The connection budget, deployed: each function's reserved concurrency and pool, the API's
/// throttle, the server's idle timeout — the numbers `donut_config::capacity` checked.
#[test]
fn the_connection_budget_is_what_is_deployed() {
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let config = donut_config::StageConfig::from_stack_file(
            stage,
            &root().join(format!("Pulumi.{stage}.yaml")),
        )
        .unwrap();
        let mut worst_case = 0.0;
        for function in donut_config::Function::ALL {
            let f = input(run, &format!("donut-states-{stage}-{}", function.name()));
            let reserved = f["reservedConcurrentExecutions"].as_f64().unwrap();
            let pool: f64 = f["environment"]["variables"]["DB_POOL_SIZE"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(reserved, f64::from(config.reserved_concurrency(function)));
            assert_eq!(
                pool,
                f64::from(config.db_connections_per_instance(function))
            );
            assert!(f["environment"]["variables"]["DB_IDLE_SECONDS"].is_string());
            // The requester runs as many instances as its event source allows (one fewer than
            // it reserves); the others as many as they reserve.
            let instances = if function == donut_config::Function::FactoryRequester {
                reserved - 1.0
            } else {
                reserved
            };
            worst_case += instances * pool;
        }
        let requester = input(run, &format!("donut-states-{stage}-factory-requester"));
        let mapping = input(
            run,
            &format!("donut-states-{stage}-factory-orders-to-requester"),
        );
        assert!(
            requester["reservedConcurrentExecutions"].as_f64().unwrap()
                > mapping["scalingConfig"]["maximumConcurrency"]
                    .as_f64()
                    .unwrap(),
            "{stage}: the requester reserves more than its event source's maximum"
        );
        let budget = config.connection_budget().unwrap();
        assert_eq!(
            worst_case + f64::from(budget.headroom),
            f64::from(budget.worst_case)
        );
        assert!(budget.worst_case <= budget.max_connections);
        let mapping = input(
            run,
            &format!("donut-states-{stage}-factory-orders-to-requester"),
        );
        assert_eq!(
            mapping["scalingConfig"]["maximumConcurrency"],
            f64::from(config.queue.max_concurrency)
        );
        let throttle =
            &input(run, &format!("donut-states-{stage}-api-stage"))["defaultRouteSettings"];
        assert_eq!(
            throttle["throttlingRateLimit"],
            f64::from(config.capacity.api_throttle_rate)
        );
        assert_eq!(
            throttle["throttlingBurstLimit"],
            f64::from(config.capacity.api_throttle_burst)
        );
        let db = input(run, &format!("donut-states-{stage}-db"));
        assert_eq!(db["engineVersion"], "8.4");
        assert_eq!(
            db["engineLifecycleSupport"],
            "open-source-rds-extended-support-disabled"
        );
        let parameters = out(run, &format!("donut-states-{stage}-db-parameters"));
        assert_eq!(db["parameterGroupName"], parameters["name"]);
        assert_eq!(parameters["family"], "mysql8.4");
        let values: BTreeMap<String, String> = parameters["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let p = p.as_object().unwrap();
                (s(p, "name").to_owned(), s(p, "value").to_owned())
            })
            .collect();
        let wait = config.capacity.db_wait_timeout_seconds.to_string();
        assert_eq!(values["wait_timeout"], wait);
        assert_eq!(values["interactive_timeout"], wait);
        // TLS: the functions always verify the server, and the server refuses plain
        // connections (`dbRequireTls`, both stages).
        assert_eq!(values["require_secure_transport"], "1");
        // The slow query log, written to a file RDS publishes, where the stage exports it.
        let exported = !config.database.log_exports.is_empty();
        assert_eq!(exported, stage == "prod");
        assert_eq!(
            values.get("slow_query_log").map(String::as_str),
            exported.then_some("1"),
            "{stage}"
        );
        assert_eq!(
            values.get("log_output").map(String::as_str),
            exported.then_some("FILE"),
            "{stage}"
        );
        for function in donut_config::Function::ALL {
            let f = input(run, &format!("donut-states-{stage}-{}", function.name()));
            assert_eq!(
                f["environment"]["variables"]["DB_TLS_CA"],
                "/var/task/rds-ca.pem"
            );
        }
    }
}

/// The ordering the deploy needs is in the engine's state (`pulumi stack export`'s
/// `dependencies`), not only in the order the program happened to register things: what
/// `out::after` orders, and every alarm after what it watches.
#[test]
fn the_graph_the_deploy_needs_is_in_the_state() {
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let n = |what: &str| format!("donut-states-{stage}-{what}");
        let depends = |dependent: &str, on: &str| {
            let resource = run.named(&n(dependent));
            assert!(
                resource.dependencies.contains(&n(on)),
                "{stage}: {dependent} does not depend on {on}: {:?}",
                resource.dependencies
            );
        };
        let mut edges = 0;
        for function in donut_config::Function::ALL.map(donut_config::Function::name) {
            // A function is created once its role may do what it needs.
            depends(function, &format!("{function}-policy"));
            edges += 1;
        }
        for served in ["sales-api", "warehouse-restock", "admin-api"] {
            // The API routes to a function only once the schema is migrated, and once API
            // Gateway may invoke what the integration names (the alias, for an aliased one).
            depends(&format!("{served}-integration"), "migrate-on-deploy");
            depends(
                &format!("{served}-integration"),
                &format!("{served}-api-invoke"),
            );
            edges += 2;
        }
        // The operators' policy names the admin routes once they and the stage exist.
        depends("operator-policy", "http-api");
        depends("operator-policy", "api-stage");
        edges += 2;
        for (key, function) in donut_config::routes::ROUTES {
            if *function == donut_config::Function::AdminApi {
                let route = key
                    .to_lowercase()
                    .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
                depends(
                    "operator-policy",
                    &format!("route-{}", route.trim_matches('-')),
                );
                edges += 1;
            }
        }
        // The admin function logs in with its own secret; migrate keeps that login.
        depends("admin-api", "operator-db-login");
        depends("migrate", "operator-db-login");
        edges += 2;
        // The default security group is the VPC's.
        depends("default-sg", "vpc");
        edges += 1;
        // Each secret's policy names its secret and the roles it lets in: it goes before them.
        for (secret, readers) in [
            (
                "app-db-login",
                &[
                    "sales-api",
                    "warehouse-restock",
                    "factory-requester",
                    "outbox-relay",
                    "factory-watchdog",
                    "migrate",
                ][..],
            ),
            ("operator-db-login", &["admin-api", "migrate"][..]),
            (
                "callback-secret",
                &["warehouse-restock", "factory-requester", "factory-watchdog"][..],
            ),
        ] {
            let policy = format!("{secret}-policy");
            depends(&policy, secret);
            depends(&policy, "break-glass");
            edges += 2;
            for reader in readers {
                depends(&policy, &format!("{reader}-role"));
                edges += 1;
            }
        }
        if stage == "prod" {
            // The flow logs are delivered once their role may write; the database is monitored
            // once the monitoring role has its policy.
            depends("vpc-flow-log", "vpc-flow-logs-policy");
            depends("vpc-flow-log", "vpc-flow-logs");
            depends("vpc-flow-log", "vpc");
            depends("db", "db-monitoring-policy");
            edges += 4;
        }
        // The topic delivers to the queue once the queue lets it in.
        depends("stock-out-to-factory-orders", "factory-orders-policy");
        // The NAT is usable once its subnet routes to the internet gateway.
        depends("nat", "public-routes");
        edges += 2;
        // A function in the VPC runs once its calls have a way out: to the AWS APIs (the
        // endpoints where the stage has them, else the private subnets' route through the
        // NAT) and, for the factory's callers, to the internet.
        let endpoints = ["sns-endpoint", "secretsmanager-endpoint"];
        let nat_route = ["private-a-routes", "private-b-routes"];
        for function in donut_config::Function::ALL {
            let calls_factory = matches!(
                function,
                donut_config::Function::FactoryRequester | donut_config::Function::FactoryWatchdog
            );
            let mut routes: Vec<&str> = Vec::new();
            if stage == "prod" {
                routes.extend(endpoints);
            }
            if stage == "dev" || calls_factory {
                routes.extend(nat_route);
            }
            for route in routes {
                depends(function.name(), route);
                edges += 1;
            }
        }
        if stage == "prod" {
            // HTTPS to the endpoints only once they answer: switching `interfaceEndpoints` on
            // never leaves the functions without a way to the AWS APIs.
            for group in ["lambda-sg", "factory-caller-sg"] {
                for endpoint in endpoints {
                    depends(group, endpoint);
                    edges += 1;
                }
            }
        }
        // The schedule invokes a sweep once it may, and once its runs are not retried.
        for function in ["outbox-relay", "factory-watchdog"] {
            depends(
                &format!("{function}-schedule"),
                &format!("{function}-schedule-invoke"),
            );
            depends(
                &format!("{function}-schedule"),
                &format!("{function}-async"),
            );
            edges += 2;
        }
        // Every alarm after what it watches.
        for (alarm, subject) in [
            ("dlq-depth", "factory-orders-dlq"),
            ("queue-age", "factory-orders"),
            ("db-connections", "db"),
            ("db-free-storage", "db"),
            ("db-cpu-credits", "db"),
            ("api-5xx", "http-api"),
            ("api-5xx", "api-stage"),
        ] {
            depends(alarm, subject);
            edges += 1;
        }
        for function in donut_config::Function::ALL.map(donut_config::Function::name) {
            depends(&format!("{function}-errors"), function);
            depends(&format!("{function}-throttles"), function);
            edges += 2;
        }
        // Gradual deploys: an alias after its function; what invokes the alias, and the
        // canary alarms on it, after the alias (a destroy deletes them first).
        for function in donut_config::release::ALIASED.map(donut_config::Function::name) {
            let alias = format!("{function}-live");
            depends(&alias, function);
            depends(&format!("{function}-canary-errors"), &alias);
            depends(&format!("{function}-canary-errors"), function);
            edges += 3;
        }
        for (trigger, function) in [
            ("sales-api-integration", "sales-api"),
            ("warehouse-restock-integration", "warehouse-restock"),
            ("factory-orders-to-requester", "factory-requester"),
        ] {
            depends(trigger, &format!("{function}-live"));
            edges += 1;
        }
        println!("{stage}: {edges} required edges found in the state");
    }
}

/// The factory's callback has a lane of its own: an API whose one route is the callback, its
/// stage throttled per stage (`callbackThrottle*`), apart from the public API every stranger
/// knows; its refusals are counted and alarmed. The operators' routes have a small throttle of
/// their own (`adminThrottleRate`/`Burst`).
#[test]
fn the_callback_route_has_its_own_throttle_and_its_refusals_an_alarm() {
    for (run, stage, rate, burst) in [(dev(), "dev", 5.0, 10.0), (prod(), "prod", 20.0, 40.0)] {
        let lane_stage = input(run, &format!("donut-states-{stage}-factory-lane-stage"));
        assert_eq!(
            lane_stage["apiId"],
            out(run, &format!("donut-states-{stage}-factory-lane"))["id"]
        );
        assert_eq!(
            lane_stage["defaultRouteSettings"]["throttlingRateLimit"],
            rate
        );
        assert_eq!(
            lane_stage["defaultRouteSettings"]["throttlingBurstLimit"],
            burst
        );
        assert!(
            lane_stage["accessLogSettings"]["destinationArn"].is_string(),
            "{stage}: the lane's access log"
        );
        let api_stage = input(run, &format!("donut-states-{stage}-api-stage"));
        let settings = api_stage["routeSettings"].as_array().unwrap();
        let by_key: BTreeMap<&str, &Value> = settings
            .iter()
            .map(|setting| (setting["routeKey"].as_str().unwrap(), setting))
            .collect();
        assert_eq!(by_key.len(), settings.len(), "{stage}: one setting a route");
        assert!(
            !by_key.contains_key("ANY /factory/callback/{factory_order_id}"),
            "{stage}: no callback route on the public API"
        );
        assert_ne!(
            api_stage["defaultRouteSettings"]["throttlingRateLimit"], rate,
            "{stage}: not the buyers' throttle"
        );
        // The operators' lane: every admin route, 5/s with bursts of 10 in both stages.
        let admin: Vec<&str> = donut_config::routes::ROUTES
            .iter()
            .filter(|(_, f)| *f == donut_config::Function::AdminApi)
            .map(|(k, _)| *k)
            .collect();
        assert_eq!(settings.len(), admin.len(), "{stage}: {settings:?}");
        for key in admin {
            let setting = by_key
                .get(key)
                .unwrap_or_else(|| panic!("{stage}: no throttle for {key}"));
            assert_eq!(setting["throttlingRateLimit"], 5.0, "{stage} {key}");
            assert_eq!(setting["throttlingBurstLimit"], 10.0, "{stage} {key}");
        }
        let alarm = input(run, &format!("donut-states-{stage}-callbacks-refused"));
        assert_eq!(alarm["metricName"], "CallbacksRefused");
        assert_eq!(alarm["threshold"], 5.0);
    }
}

/// The VPC's default security group, which AWS makes allowing all traffic between its members,
/// is adopted and closed in both stages: no rule in, none out. Prod logs its VPC's flows (all
/// traffic) to a log group kept a year, delivered by a role only VPC Flow Logs may assume, for
/// this account's flow logs, that may write to that group alone; dev has none (`vpcFlowLogs`).
#[test]
fn the_default_security_group_is_closed_and_prod_logs_its_flows() {
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let n = |what: &str| format!("donut-states-{stage}-{what}");
        let vpc = out(run, &n("vpc"));
        let default = run.named(&n("default-sg"));
        assert_eq!(default.inputs["vpcId"], vpc["id"], "{stage}");
        assert!(
            default.inputs.get("ingress").is_none() && default.inputs.get("egress").is_none(),
            "{stage}: no rules given: {:?}",
            default.inputs
        );
        assert_eq!(default.outputs["ingress"], json!([]), "{stage}");
        assert_eq!(default.outputs["egress"], json!([]), "{stage}");
        assert_eq!(default.outputs["name"], "default", "{stage}");
        let flow_logs = run.of_type("aws:ec2/flowLog:FlowLog");
        if stage == "dev" {
            assert!(flow_logs.is_empty(), "dev: vpcFlowLogs is false");
            continue;
        }
        assert_eq!(flow_logs.len(), 1);
        let flow = &flow_logs[0].inputs;
        let group = run.named(&n("vpc-flow-logs"));
        let role = out(run, &n("vpc-flow-logs-role"));
        assert_eq!(flow["vpcId"], vpc["id"]);
        assert_eq!(flow["trafficType"], "ALL");
        assert_eq!(flow["logDestinationType"], "cloud-watch-logs");
        assert_eq!(flow["logDestination"], group.outputs["arn"]);
        assert_eq!(flow["iamRoleArn"], role["arn"]);
        assert_eq!(group.inputs["retentionInDays"], 365.0);
        let trust = json_of(input(run, &n("vpc-flow-logs-role")), "assumeRolePolicy");
        let statement = &trust["Statement"][0];
        assert_eq!(
            statement["Principal"]["Service"],
            "vpc-flow-logs.amazonaws.com"
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        assert_eq!(
            statement["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:ec2:eu-west-1:123456789012:vpc-flow-log/*"
        );
        let policy = json_of(input(run, &n("vpc-flow-logs-policy")), "policy");
        let streams = format!("{}:*", s(&group.outputs, "arn"));
        assert_eq!(
            policy["Statement"][0]["Resource"],
            json!([streams]),
            "{policy}"
        );
        assert_eq!(
            strings(&policy["Statement"][1]["Action"]),
            ["logs:DescribeLogGroups"]
        );
    }
}

/// The database, per stage: tags copied to its snapshots and minor versions applied, stated in
/// both; prod's Enhanced Monitoring (every 60 s, by a role only RDS may assume for this stack's
/// instances, with AWS's managed policy) and its error and slow query logs in CloudWatch Logs;
/// dev has neither. The API's access log is kept `accessLogRetentionDays` (prod: a year).
#[test]
fn the_database_is_monitored_and_logs_where_the_stage_says() {
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let n = |what: &str| format!("donut-states-{stage}-{what}");
        let db = input(run, &n("db"));
        assert_eq!(db["copyTagsToSnapshot"], true, "{stage}");
        assert_eq!(db["autoMinorVersionUpgrade"], true, "{stage}");
        let access_logs = input(run, &n("api-access-logs"));
        if stage == "dev" {
            assert_eq!(db["monitoringInterval"], 0.0);
            assert!(db.get("monitoringRoleArn").is_none());
            assert!(db.get("enabledCloudwatchLogsExports").is_none());
            assert_eq!(access_logs["retentionInDays"], 14.0);
            continue;
        }
        assert_eq!(access_logs["retentionInDays"], 365.0);
        assert_eq!(db["monitoringInterval"], 60.0);
        let role = out(run, &n("db-monitoring-role"));
        assert_eq!(db["monitoringRoleArn"], role["arn"]);
        let attached = input(run, &n("db-monitoring-policy"));
        assert_eq!(attached["role"], role["name"]);
        assert_eq!(
            attached["policyArn"],
            "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
        );
        let trust = json_of(input(run, &n("db-monitoring-role")), "assumeRolePolicy");
        let statement = &trust["Statement"][0];
        assert_eq!(
            statement["Principal"]["Service"],
            "monitoring.rds.amazonaws.com"
        );
        assert_eq!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        let instances = s(
            statement["Condition"]["ArnLike"].as_object().unwrap(),
            "aws:SourceArn",
        );
        let identifier = s(out(run, &n("db")), "identifier");
        let pattern = instances
            .strip_prefix("arn:aws:rds:eu-west-1:123456789012:db:")
            .and_then(|p| p.strip_suffix('*'))
            .unwrap_or_else(|| panic!("{instances}"));
        assert!(identifier.starts_with(pattern), "{identifier} {instances}");
        assert_eq!(
            strings(&db["enabledCloudwatchLogsExports"]),
            ["error", "slowquery"]
        );
    }
}

/// Each of the stack's secrets is readable only by the roles of the functions that read it: its
/// resource policy denies every action to every principal but those roles (exactly the roles
/// whose own policy reads it), the break-glass role and the deployers (`deployerArns`), with
/// AWS services acting as themselves left to IAM; public policies are blocked. The break-glass
/// role is assumable by the account's principals with MFA only, for an hour, and may read, write
/// and repair the three secrets and nothing else; it is a stack output.
#[test]
fn each_secret_lets_in_only_its_readers_the_break_glass_role_and_the_deployers() {
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let n = |what: &str| format!("donut-states-{stage}-{what}");
        let glass = out(run, &n("break-glass"));
        assert_eq!(run.exports["breakGlassRoleArn"], glass["arn"], "{stage}");
        let trust = json_of(input(run, &n("break-glass")), "assumeRolePolicy");
        let statement = &trust["Statement"][0];
        assert_eq!(
            statement["Principal"]["AWS"],
            "arn:aws:iam::123456789012:root"
        );
        assert_eq!(
            statement["Condition"]["Bool"]["aws:MultiFactorAuthPresent"],
            "true"
        );
        assert_eq!(
            statement["Condition"]["NumericLessThan"]["aws:MultiFactorAuthAge"],
            "3600"
        );
        assert_eq!(input(run, &n("break-glass"))["maxSessionDuration"], 3600.0);
        let secrets: BTreeSet<String> = ["app-db-login", "operator-db-login", "callback-secret"]
            .iter()
            .map(|secret| s(out(run, &n(secret)), "arn").to_owned())
            .collect();
        let glass_policy = json_of(input(run, &n("break-glass-policy")), "policy");
        assert_eq!(
            strings(&glass_policy["Statement"][0]["Resource"])
                .into_iter()
                .collect::<BTreeSet<_>>(),
            secrets
        );
        assert_eq!(glass_policy["Statement"].as_array().unwrap().len(), 1);
        for secret in ["app-db-login", "operator-db-login", "callback-secret"] {
            let arn = s(out(run, &n(secret)), "arn").to_owned();
            let policy = input(run, &n(&format!("{secret}-policy")));
            assert_eq!(s(policy, "secretArn"), arn);
            assert_eq!(policy["blockPublicPolicy"], true);
            let doc = json_of(policy, "policy");
            let statements = doc["Statement"].as_array().unwrap();
            assert_eq!(statements.len(), 1, "{stage} {secret}: {doc}");
            let deny = &statements[0];
            assert_eq!(deny["Effect"], "Deny");
            assert_eq!(deny["Principal"]["AWS"], "*");
            assert_eq!(deny["Action"], "secretsmanager:*");
            assert_eq!(
                deny["Condition"]["BoolIfExists"]["aws:PrincipalIsAWSService"],
                "false"
            );
            let let_in: BTreeSet<String> =
                strings(&deny["Condition"]["StringNotEquals"]["aws:PrincipalArn"])
                    .into_iter()
                    .collect();
            // The roles whose own policy names the secret: its readers.
            let mut readers: BTreeSet<String> = run
                .of_type("aws:iam/rolePolicy:RolePolicy")
                .into_iter()
                .filter(|p| !p.name.ends_with("break-glass-policy"))
                .filter(|p| {
                    let doc = json_of(&p.inputs, "policy");
                    doc["Statement"].as_array().unwrap().iter().any(|st| {
                        strings(&st["Action"])
                            .iter()
                            .any(|a| a.starts_with("secretsmanager:"))
                            && st["Resource"] != "*"
                            && strings(&st["Resource"]).contains(&arn)
                    })
                })
                .map(|p| {
                    let role = s(&p.inputs, "role");
                    run.of_type("aws:iam/role:Role")
                        .into_iter()
                        .find(|r| r.outputs["name"] == role)
                        .map(|r| s(&r.outputs, "arn").to_owned())
                        .unwrap()
                })
                .collect();
            assert!(!readers.is_empty(), "{stage} {secret}");
            readers.insert(s(glass, "arn").to_owned());
            readers.insert(DEPLOYER.to_owned());
            assert_eq!(let_in, readers, "{stage} {secret}");
        }
    }
}

/// CloudWatch may use the topics' key only for this stack's alarms in this account: the key
/// policy's statement for the service carries `aws:SourceAccount` and `aws:SourceArn` (the
/// stack's alarms, whose names start with its prefix).
#[test]
fn cloudwatch_uses_the_topics_key_only_for_the_stacks_alarms() {
    for (run, stage) in [(dev(), "dev"), (prod(), "prod")] {
        let policy = json_of(
            input(run, &format!("donut-states-{stage}-topics-key")),
            "policy",
        );
        let cloudwatch = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["Principal"]["Service"] == "cloudwatch.amazonaws.com")
            .unwrap();
        assert_eq!(
            cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
        let alarms =
            format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:donut-states-{stage}-*");
        assert_eq!(
            cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"],
            alarms.as_str()
        );
        for alarm in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm") {
            let arn = s(&alarm.outputs, "arn");
            assert!(
                arn.starts_with(alarms.trim_end_matches('*')),
                "{stage}: {arn} is not {alarms}"
            );
        }
    }
}

/// A stage with a buyer authorizer (`donut-states:buyerAuth`, absent from both committed
/// stages): the API gets a JWT authorizer (the `Authorization` header, the stage's issuer and
/// audiences), and exactly the routes `takes_buyer_authorizer` names — the buyers' order routes,
/// `ANY /orders` and `ANY /orders/{order_id}` — take JWT authorization with it; the catalogue
/// and the callback stay open, the operators' routes IAM. Printed as the engine's state holds
/// it for AWS.
#[test]
fn a_stage_with_a_buyer_authorizer_guards_the_order_routes_with_it() {
    let project = Project::new("dev");
    project.set_path(
        "donut-states:buyerAuth.issuer",
        "https://auth.donut-states.com/realms/buyers",
    );
    project.set_path("donut-states:buyerAuth.audience[0]", "donut-checkout");
    project.set_path("donut-states:buyerAuth.audience[1]", "donut-app");
    project.ok(&["preview"]);
    project.ok(&["up", "--yes", "--skip-preview"]);
    let findings = project.findings();
    assert!(findings.is_empty(), "{}", findings.join("\n"));
    let run = project.deployment();
    let api = out(&run, "donut-states-dev-http-api");
    let authorizers = run.of_type("aws:apigatewayv2/authorizer:Authorizer");
    assert_eq!(authorizers.len(), 1);
    let authorizer = authorizers[0];
    assert_eq!(authorizer.name, "donut-states-dev-buyer-authorizer");
    assert_eq!(authorizer.inputs["apiId"], api["id"]);
    assert_eq!(authorizer.inputs["authorizerType"], "JWT");
    assert_eq!(
        strings(&authorizer.inputs["identitySources"]),
        ["$request.header.Authorization"]
    );
    assert_eq!(
        authorizer.inputs["jwtConfiguration"],
        json!({
            "issuer": "https://auth.donut-states.com/realms/buyers",
            "audiences": ["donut-checkout", "donut-app"]
        })
    );
    let authorizer_id = s(&authorizer.outputs, "id").to_owned();
    let mut state = Vec::new();
    for route in run.of_type("aws:apigatewayv2/route:Route") {
        let key = s(&route.inputs, "routeKey");
        let expected = if key.starts_with("ANY /admin/") {
            "AWS_IAM"
        } else if donut_config::routes::takes_buyer_authorizer(key) {
            "JWT"
        } else {
            "NONE"
        };
        assert_eq!(route.inputs["authorizationType"], expected, "{key}");
        assert_eq!(route.outputs["authorizationType"], expected, "{key}");
        if expected == "JWT" {
            assert_eq!(s(&route.inputs, "authorizerId"), authorizer_id, "{key}");
            assert!(
                route.dependencies.contains(&authorizer.name),
                "{key} does not wait for the authorizer: {:?}",
                route.dependencies
            );
            state.push(json!({
                "type": route.type_, "logicalName": route.name, "id": route.outputs["id"],
                "routeKey": key,
                "authorizationType": route.outputs["authorizationType"],
                "authorizerId": route.outputs["authorizerId"],
            }));
        } else {
            assert!(route.inputs.get("authorizerId").is_none(), "{key}");
        }
    }
    assert_eq!(state.len(), 2, "POST /orders and GET /orders/{{order_id}}");
    state.insert(
        0,
        json!({
            "type": authorizer.type_, "logicalName": authorizer.name,
            "name": authorizer.outputs["name"], "id": authorizer_id,
            "apiId": authorizer.outputs["apiId"],
            "authorizerType": authorizer.outputs["authorizerType"],
            "identitySources": authorizer.outputs["identitySources"],
            "jwtConfiguration": authorizer.outputs["jwtConfiguration"],
        }),
    );
    println!(
        "the buyer authorizer and the routes it guards, as the engine's state holds them:\n{}",
        serde_json::to_string_pretty(&state).unwrap()
    );
    project.ok(&["destroy", "--yes", "--skip-preview"]);
    assert_eq!(project.live_resources(), 0);
}
