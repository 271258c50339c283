//! The real Pulumi engine (built by `make engine`) runs the program: preview, up, a second
//! preview with no changes, one config change, destroy — and refuses bad config. The stand-in
//! AWS provider checks every input against the schema subset and refuses, like AWS, to delete
//! what something else still uses, so a destroy in the wrong order fails here.

mod support;

use std::collections::BTreeMap;

use support::*;

/// Resources per stack besides the stack itself and the default provider
/// (`program.rs` checks them type by type). Prod has the interface endpoints dev does without,
/// its VPC flow logs (4: the flow log, its log group, role and policy) and Enhanced Monitoring
/// (2: the role and its managed policy's attachment); dev deploys the factory simulator (7: its
/// delay queue, log group, role and policy, function, the queue's mapping, the function URL),
/// prod calls the real factory. Both have the factory's lane (3: its API, stage and access log)
/// and the gradual deploys' resources (9: the `live` alias of sales-api, warehouse-restock and
/// factory-requester, and each one's 2 canary alarms).
fn resources(stage: &str) -> usize {
    match stage {
        "dev" => 144,
        "prod" => 146,
        other => panic!("no stage {other}"),
    }
}

/// The outputs docs/architecture.md documents.
const OUTPUTS: [&str; 11] = [
    "apiUrl",
    "stockOutTopicArn",
    "factoryOrdersQueueUrl",
    "deadLetterQueueUrl",
    "dbEndpoint",
    "opsTopicArn",
    "dlqAlarmName",
    "factoryUrl",
    "dashboardUrl",
    "operatorPolicyArn",
    "breakGlassRoleArn",
];

fn names(list: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    names.sort();
    names
}

#[test]
fn preview_plans_every_resource_of_dev_and_prod() {
    for stage in ["dev", "prod"] {
        let project = Project::new(stage);
        let preview = project.ok(&["preview", "--json"]);
        let steps = steps_by_op(&preview.json());
        assert_eq!(
            steps.keys().collect::<Vec<_>>(),
            vec!["create"],
            "{steps:?}"
        );
        assert_eq!(steps["create"].len(), resources(stage), "{stage}");
        let function_urls: Vec<&String> = steps["create"]
            .iter()
            .filter(|name| name.ends_with("-factory-simulator-url"))
            .collect();
        assert_eq!(
            function_urls.len(),
            usize::from(stage == "dev"),
            "{stage}: the factory simulator's URL {function_urls:?}"
        );
        println!(
            "{stage}: preview planned {} resources in {:.1} s",
            resources(stage),
            preview.seconds
        );
        assert_eq!(project.live_resources(), 0, "a preview creates nothing");
        // What is computed by AWS is unknown in preview and flows on as unknown.
        let plan = preview.json();
        let queue = plan["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["urn"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("donut-states-{stage}-factory-orders"))
            })
            .unwrap();
        assert_eq!(
            queue["newState"]["inputs"]["redrivePolicy"], UNKNOWN,
            "needs the DLQ's ARN"
        );
        assert!(queue["newState"]["inputs"]["visibilityTimeoutSeconds"].is_number());
    }
}

#[test]
fn up_then_no_changes_then_one_config_change_then_destroy() {
    let project = Project::new("dev");
    let up = project.ok(&["up", "--yes", "--skip-preview"]);
    println!("up: {:.1} s", up.seconds);
    assert_eq!(project.live_resources(), resources("dev"));

    let outputs = project.ok(&["stack", "output", "--json"]).json();
    for key in OUTPUTS {
        let value = outputs[key]
            .as_str()
            .unwrap_or_else(|| panic!("output {key}: {outputs}"));
        assert!(!value.is_empty(), "{key}");
    }
    assert!(outputs["apiUrl"].as_str().unwrap().starts_with("https://"));
    // Dev calls its own factory simulator, at its function URL (no trailing slash: the
    // requester appends the legacy path).
    let factory = outputs["factoryUrl"].as_str().unwrap();
    let url_id = factory
        .strip_prefix("https://")
        .and_then(|f| f.strip_suffix(".lambda-url.eu-west-1.on.aws"))
        .unwrap_or_default();
    assert!(
        url_id.len() == 32
            && url_id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{factory}"
    );
    assert!(
        outputs["dlqAlarmName"]
            .as_str()
            .unwrap()
            .starts_with("donut-states-dev-dlq-depth-"),
        "{outputs}"
    );
    assert!(
        outputs["dashboardUrl"]
            .as_str()
            .unwrap()
            .contains("#dashboards:name=donut-states-dev-operations")
    );
    // Physical names: project, stack, what, and the provider's random suffix.
    let named = |name: &serde_json::Value, logical: &str| {
        let name = name.as_str().unwrap_or_default();
        let suffix = name
            .strip_prefix(&format!("{logical}-"))
            .unwrap_or_default();
        suffix.len() == 7 && suffix.chars().all(|c| c.is_ascii_hexdigit())
    };
    // Dev's factory simulator is listed with the functions.
    for function in donut_config::functions::packages() {
        let (name, group) = (
            &outputs["functionNames"][function],
            &outputs["logGroups"][function],
        );
        assert!(
            named(name, &format!("donut-states-dev-{function}")),
            "{name}"
        );
        assert!(
            named(group, &format!("donut-states-dev-{function}-logs")),
            "{group}"
        );
    }

    // A second deployment of the same program and config changes nothing.
    let again = project.pulumi(&["preview", "--expect-no-changes", "--diff"]);
    assert!(again.success, "a perpetual diff:\n{}", again.text());
    println!("no-change preview: {:.1} s", again.seconds);

    // The callback secret is encrypted in the state and in the stack file.
    let export = project.ok(&["stack", "export"]).stdout;
    assert!(
        !export.contains(SECRET),
        "the callback secret in plain text in the state"
    );
    assert!(export.contains(SECRET_SIG), "the state marks it secret");
    let stack_file = std::fs::read_to_string(project.dir.join("Pulumi.dev.yaml")).unwrap();
    assert!(!stack_file.contains(SECRET));
    assert!(stack_file.contains("secure:"));

    // One config value changes exactly what reads it: maxReceiveCount is the redrive policy's.
    project.set("donut-states:maxReceiveCount", "6");
    let preview = project.ok(&["preview", "--json"]).json();
    let plan = steps_by_op(&preview);
    assert_eq!(
        plan.get("update"),
        Some(&names(&["donut-states-dev-factory-orders"])),
        "{plan:?}"
    );
    assert_eq!(plan.len(), 1, "nothing else changes: {plan:?}");
    // Everything else, and the stack itself, stays the same.
    assert_eq!(preview["changeSummary"]["same"], resources("dev"));
    project.ok(&["up", "--yes", "--skip-preview"]);
    let queue = project.deployment();
    let redrive: serde_json::Value = serde_json::from_str(
        queue.named("donut-states-dev-factory-orders").inputs["redrivePolicy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(redrive["maxReceiveCount"], 6);

    // Destroy in one go, in an order AWS accepts: the program records what depends on what.
    let destroy = project.pulumi(&["destroy", "--yes", "--skip-preview"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
    println!("destroy: {:.1} s", destroy.seconds);
    assert_eq!(
        project.live_resources(),
        0,
        "everything deleted in the account"
    );
    let left: Vec<String> = Deployment::from_state(&project.export(), Default::default())
        .resources
        .iter()
        .map(|r| r.name.clone())
        .collect();
    assert!(left.is_empty(), "left in the state: {left:?}");
}

#[test]
fn bad_config_stops_preview_naming_the_key_and_creates_nothing() {
    let project = Project::new("dev");
    let cases: BTreeMap<&str, Option<&str>> = [
        ("donut-states:maxReceiveCount", Some("2")),
        ("donut-states:opsEmail", None),
        ("donut-states:callbackSecret", None),
    ]
    .into_iter()
    .collect();
    for (key, value) in cases {
        let before = project.pulumi(&["config", "get", key]);
        match value {
            Some(value) => project.set(key, value),
            None => project.rm(key),
        }
        let preview = project.pulumi(&["preview"]);
        assert!(
            !preview.success,
            "{key}: preview passed:\n{}",
            preview.text()
        );
        let short = key.trim_start_matches("donut-states:");
        assert!(
            preview.text().contains(short),
            "{key} not named:\n{}",
            preview.text()
        );
        assert_eq!(project.live_resources(), 0);
        // Put it back for the next case.
        let original = before.stdout.trim().to_owned();
        if key.ends_with("callbackSecret") {
            project.ok(&["config", "set", "--secret", key, SECRET]);
        } else {
            project.set(key, &original);
        }
    }
    project.ok(&["preview"]);
}

/// A stage calls the real factory or deploys its simulator, and prod never deploys it: the
/// config refuses, naming the key, before anything is planned.
#[test]
fn prod_refuses_the_factory_simulator() {
    let prod = Project::new("prod");
    prod.set("donut-states:factorySimulator", "true");
    let preview = prod.pulumi(&["preview"]);
    assert!(!preview.success, "preview passed:\n{}", preview.text());
    assert!(
        preview.text().contains("factoryUrl") && preview.text().contains("not both"),
        "{}",
        preview.text()
    );
    prod.rm("donut-states:factoryUrl");
    prod.set("donut-states:factorySimDelaySeconds", "5");
    for knob in ["Fail", "Hang", "Duplicate", "Drop"] {
        prod.set(&format!("donut-states:factorySim{knob}Percent"), "0");
    }
    let preview = prod.pulumi(&["preview"]);
    assert!(!preview.success, "preview passed:\n{}", preview.text());
    assert!(
        preview.text().contains("donut-states:factorySimulator")
            && preview.text().contains("prod calls the real factory"),
        "{}",
        preview.text()
    );
    assert_eq!(prod.live_resources(), 0);
}

#[test]
fn a_misspelt_argument_fails_preview_naming_it() {
    let project = Project::running(
        "dev",
        std::path::Path::new(env!("CARGO_BIN_EXE_donut-infra-misspelt")),
    );
    let preview = project.pulumi(&["preview"]);
    assert!(!preview.success, "preview passed:\n{}", preview.text());
    let text = preview.text();
    assert!(text.contains("visibilityTimeoutSecond"), "{text}");
    assert!(
        text.contains("did you mean 'visibilityTimeoutSeconds'"),
        "{text}"
    );
    println!(
        "{}",
        text.lines()
            .filter(|l| l.contains("visibilityTimeoutSecond"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The committed ops mailbox and (prod's) factory address are placeholders, and who deploys
/// (`deployerArns`) is not committed: a preview warns of each, `up` refuses naming the command
/// that sets it, and with one set it refuses the others. Dev deploys its own factory: only its
/// mailbox is a placeholder.
#[test]
fn placeholder_mailbox_and_factory_warn_in_preview_and_stop_up() {
    let dev = Project::as_committed("dev").ok(&["preview"]).text();
    assert!(
        dev.contains("donut-states:opsEmail")
            && dev.contains("donut-states:repositoryUrl")
            && dev.contains("donut-states:deployerArns is not set")
            && !dev.contains("donut-states:factoryUrl"),
        "{dev}"
    );
    let project = Project::as_committed("prod");
    let preview = project.ok(&["preview"]);
    let text = preview.text();
    assert!(
        text.contains("warning")
            && text.contains("donut-states:opsEmail")
            && text.contains("e-mail nobody")
            && text.contains("donut-states:factoryUrl")
            && text.contains("retried into the DLQ"),
        "{text}"
    );
    let up = project.pulumi(&["up", "--yes", "--skip-preview"]);
    assert!(!up.success, "up passed:\n{}", up.text());
    assert!(
        up.text()
            .contains("pulumi config set donut-states:opsEmail"),
        "{}",
        up.text()
    );
    project.set("donut-states:opsEmail", OPS_EMAIL);
    let up = project.pulumi(&["up", "--yes", "--skip-preview"]);
    assert!(!up.success, "up passed:\n{}", up.text());
    assert!(
        up.text()
            .contains("pulumi config set donut-states:factoryUrl")
            && up
                .text()
                .contains("pulumi config set --path 'donut-states:deployerArns[0]'"),
        "{}",
        up.text()
    );
    project.set("donut-states:factoryUrl", FACTORY_URL);
    // A role session's ARN is not what `aws:PrincipalArn` holds: refused, naming the role's.
    project.set_path(
        "donut-states:deployerArns[0]",
        "arn:aws:sts::123456789012:assumed-role/deployer/ci-run-42",
    );
    let refused = project.pulumi(&["preview"]);
    assert!(
        !refused.success
            && refused.text().contains("donut-states:deployerArns")
            && refused
                .text()
                .contains("arn:aws:iam::<account>:role/deployer"),
        "{}",
        refused.text()
    );
    project.set_path("donut-states:deployerArns[0]", DEPLOYER);
    let ready = project.ok(&["preview"]).text();
    assert!(!ready.contains("donut-states:deployerArns"), "{ready}");
    assert_eq!(project.live_resources(), 0, "nothing deployed");
}

/// Destroy, then deploy again, then destroy again, with prod's settings for what a deletion
/// leaves behind (a final snapshot; a callback secret kept 7 days in its recovery window):
/// nothing the first life left blocks the second — the snapshot's name carries the VPC, the
/// secret's name the provider's random suffix.
#[test]
fn destroy_then_up_then_destroy_again() {
    let project = Project::new("dev");
    project.set("donut-states:dbFinalSnapshot", "true");
    project.set("donut-states:secretRecoveryDays", "7");
    for life in 1..=2 {
        let up = project.pulumi(&["up", "--yes", "--skip-preview"]);
        assert!(up.success, "up #{life}:\n{}", up.text());
        let destroy = project.pulumi(&["destroy", "--yes", "--skip-preview"]);
        assert!(destroy.success, "destroy #{life}:\n{}", destroy.text());
        assert_eq!(project.live_resources(), 0);
        println!(
            "life {life}: up {:.1} s, destroy {:.1} s",
            up.seconds, destroy.seconds
        );
    }
    let account: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.account_file()).unwrap()).unwrap();
    let left: Vec<&String> = account["left_behind"].as_object().unwrap().keys().collect();
    let count = |kind: &str| left.iter().filter(|k| k.starts_with(kind)).count();
    assert_eq!(
        count("db-snapshot "),
        2,
        "a final snapshot per life, each its own name: {left:?}"
    );
    // Three secrets per life (callback key, the functions' and the operators' database logins).
    assert_eq!(count("aws:secretsmanager/secret:Secret "), 6, "{left:?}");
}

/// Prod taken down as docs/deploy.md ("Destroy") says, with prod's committed settings: a plain
/// `pulumi destroy` is refused as AWS refuses it (deletion protection) and leaves the database;
/// `donut-states:teardown` lifts the protection in one `pulumi up` that changes the database
/// and nothing else (a preview says so, and warns); the destroy then leaves nothing but the
/// final snapshot, named as the runbook says and as the state's `jq` line prints it.
#[test]
fn prod_is_taken_down_as_the_runbook_says() {
    let project = Project::new("prod");
    project.ok(&["up", "--yes", "--skip-preview"]);

    project.set("donut-states:teardown", "yes");
    let bad = project.pulumi(&["preview"]);
    assert!(
        !bad.success && bad.text().contains("donut-states:teardown"),
        "{}",
        bad.text()
    );
    project.set("donut-states:teardown", "true");
    let plan = steps_by_op(&project.ok(&["preview", "--json"]).json());
    assert_eq!(
        plan.get("update"),
        Some(&names(&["donut-states-prod-db"])),
        "{plan:?}"
    );
    assert_eq!(plan.len(), 1, "nothing else changes: {plan:?}");
    let warned = project.ok(&["preview"]).text();
    assert!(
        warned.contains("donut-states:teardown is true") && warned.contains("deletion protection"),
        "{warned}"
    );

    // Forgotten: AWS refuses to delete the protected database, so the destroy stops there.
    project.rm("donut-states:teardown");
    let refused = project.pulumi(&["destroy", "--yes", "--skip-preview"]);
    assert!(!refused.success, "destroy passed:\n{}", refused.text());
    assert!(
        refused
            .text()
            .contains("Cannot delete protected DB Instance"),
        "{}",
        refused.text()
    );
    assert!(project.live_resources() > 0, "the database is still there");

    project.set("donut-states:teardown", "true");
    project.ok(&["up", "--yes", "--skip-preview"]);
    let state = project.deployment();
    let db = state.named("donut-states-prod-db");
    assert_eq!(db.inputs["deletionProtection"], false);
    let snapshot = db.inputs["finalSnapshotIdentifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let destroy = project.pulumi(&["destroy", "--yes", "--skip-preview"]);
    assert!(destroy.success, "destroy failed:\n{}", destroy.text());
    assert_eq!(project.live_resources(), 0);
    let account: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.account_file()).unwrap()).unwrap();
    let snapshots: Vec<&str> = account["left_behind"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|k| k.strip_prefix("db-snapshot "))
        .collect();
    assert_eq!(snapshots, [snapshot.as_str()]);

    // The runbook names it as the program makes it: `<prefix><N hex digits>`.
    let runbook = std::fs::read_to_string(root().join("docs/deploy.md")).unwrap();
    let named = runbook
        .split('`')
        .find(|s| s.starts_with("donut-states-prod-db-final-"))
        .expect("docs/deploy.md names prod's final snapshot");
    let (prefix, placeholder) = named.split_once('<').expect("<N hex digits>");
    let digits: usize = placeholder
        .strip_suffix(" hex digits>")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("docs/deploy.md: {named}"));
    let suffix = snapshot
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{snapshot} is not {named}"));
    assert!(
        suffix.len() == digits && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{snapshot} is not {named}"
    );
    assert!(
        runbook.contains("donut-states:teardown true"),
        "the runbook sets the key the program reads"
    );
}

/// What a `pulumi up --json` (engine events, one JSON object a line) changed, in the order it
/// finished them: (op, logical name), "same" left out.
fn changes_in_order(up: &Outcome) -> Vec<(String, String)> {
    up.stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|event| {
            let done = &event["resOutputsEvent"]["metadata"];
            let op = done["op"].as_str()?;
            let urn = done["urn"].as_str()?;
            let name = urn.rsplit("::").next()?;
            // The stack and the default provider are no resource of the program.
            (op != "same" && !urn.contains("::pulumi:")).then(|| (op.to_owned(), name.to_owned()))
        })
        .collect()
}

/// Switching `interfaceEndpoints` on a running stack and off again changes the network and
/// nothing else, in an order that never leaves the functions without a way to the AWS APIs.
/// On: the endpoints are created first, then the functions' two security groups narrow HTTPS
/// to the VPC; no function is touched (a preview cannot tell: their ordering values are unknown
/// until the endpoints exist), and in the state they now wait for the endpoints. Off: the
/// groups open HTTPS through the NAT again, then the endpoints go.
#[test]
fn interface_endpoints_switch_on_and_off_in_an_order_that_keeps_the_functions_connected() {
    let project = Project::new("dev");
    project.ok(&["up", "--yes", "--skip-preview"]);
    let modified = |project: &Project| -> BTreeMap<String, String> {
        project.export()["deployment"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["type"] == "aws:lambda/function:Function")
            .map(|r| {
                (
                    r["urn"].as_str().unwrap().to_owned(),
                    r["modified"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let functions_before = modified(&project);
    let groups = [
        "donut-states-dev-lambda-sg",
        "donut-states-dev-factory-caller-sg",
    ];
    let endpoints = [
        "donut-states-dev-endpoint-sg",
        "donut-states-dev-secretsmanager-endpoint",
        "donut-states-dev-sns-endpoint",
    ];
    let position = |changes: &[(String, String)], op: &str, name: &str| {
        changes
            .iter()
            .position(|(o, n)| o == op && n == name)
            .unwrap_or_else(|| panic!("no {op} of {name}: {changes:?}"))
    };

    project.set("donut-states:interfaceEndpoints", "true");
    let on = changes_in_order(&project.ok(&["up", "--yes", "--skip-preview", "--json"]));
    assert_eq!(
        on.len(),
        5,
        "the endpoints and the two groups, nothing else: {on:?}"
    );
    for group in groups {
        for endpoint in &endpoints[1..] {
            assert!(
                position(&on, "update", group) > position(&on, "create", endpoint),
                "{group} narrowed before {endpoint} existed: {on:?}"
            );
        }
    }
    assert_eq!(modified(&project), functions_before, "no function changed");
    let state = project.deployment();
    for dependent in ["lambda-sg", "factory-caller-sg", "sales-api", "migrate"] {
        let dependencies = &state
            .named(&format!("donut-states-dev-{dependent}"))
            .dependencies;
        for endpoint in ["sns-endpoint", "secretsmanager-endpoint"] {
            assert!(
                dependencies.contains(&format!("donut-states-dev-{endpoint}")),
                "{dependent} does not wait for {endpoint}: {dependencies:?}"
            );
        }
    }

    project.set("donut-states:interfaceEndpoints", "false");
    let off = changes_in_order(&project.ok(&["up", "--yes", "--skip-preview", "--json"]));
    assert_eq!(
        off.len(),
        5,
        "the groups and the endpoints, nothing else: {off:?}"
    );
    for group in groups {
        for endpoint in &endpoints[1..] {
            assert!(
                position(&off, "update", group) < position(&off, "delete", endpoint),
                "{endpoint} deleted before {group} opened the way through the NAT: {off:?}"
            );
        }
    }
    assert_eq!(modified(&project), functions_before, "no function changed");
    assert_eq!(project.live_resources(), resources("dev"));
    project.ok(&["destroy", "--yes", "--skip-preview"]);
    assert_eq!(project.live_resources(), 0);
}

/// Two developers' dev stacks (two backends) in one AWS account: nothing collides.
#[test]
fn two_dev_stacks_share_an_account() {
    let alice = Project::new("dev");
    let bob = Project::new("dev");
    bob.share_account_of(&alice);
    alice.ok(&["up", "--yes", "--skip-preview"]);
    let second = bob.pulumi(&["up", "--yes", "--skip-preview"]);
    assert!(
        second.success,
        "the second dev stack collided:\n{}",
        second.text()
    );
    assert_eq!(alice.live_resources(), 2 * resources("dev"));
    bob.ok(&["destroy", "--yes", "--skip-preview"]);
    assert_eq!(
        alice.live_resources(),
        resources("dev"),
        "bob's destroy took only bob's"
    );
    alice.ok(&["destroy", "--yes", "--skip-preview"]);
}

/// A brand-new AWS account (Lambda concurrency quota 10): with the committed quota (1,000) the
/// first `up` fails as AWS fails it; with the quota `make deploy`'s preflight reads and sets,
/// the functions reserve nothing and `up` succeeds.
#[test]
fn a_new_account_gets_no_reservations_once_its_quota_is_known() {
    let project = Project::new("dev");
    project.with_lambda_quota(10);
    let refused = project.pulumi(&["up", "--yes", "--skip-preview"]);
    assert!(!refused.success);
    assert!(
        refused.text().contains(
            "Specified ReservedConcurrentExecutions for function decreases account's \
             UnreservedConcurrentExecution below its minimum value of [10]."
        ),
        "{}",
        refused.text()
    );
    project.set("donut-states:lambdaConcurrencyQuota", "10");
    project.ok(&["up", "--yes", "--skip-preview"]);
    let run = project.deployment();
    for function in run.of_type("aws:lambda/function:Function") {
        let reserved = function
            .inputs
            .get("reservedConcurrentExecutions")
            .cloned()
            .unwrap_or_default();
        assert!(
            reserved.is_null() || reserved == -1,
            "{}: {reserved}",
            function.outputs["name"]
        );
    }
    project.ok(&["destroy", "--yes", "--skip-preview"]);
}

/// A developer's stack with a 40-character name (and a proxy, the most names): every name
/// the provider makes is within AWS's rules for its type, so `up` succeeds; the stand-in
/// refuses the names AWS refuses (`infra/standin-aws/src/names.rs`).
#[test]
fn a_stack_with_a_forty_character_name_deploys_within_aws_naming_rules() {
    let stack = "feature-checkout-redesign-for-q3-alice-x";
    assert_eq!(stack.len(), 40);
    let project = Project::stack_of("dev", stack);
    project.set("donut-states:dbProxy", "true");
    project.ok(&["up", "--yes", "--skip-preview"]);
    let run = project.deployment();
    let function = run
        .of_type("aws:lambda/function:Function")
        .into_iter()
        .map(|f| f.outputs["name"].as_str().unwrap().to_owned())
        .max_by_key(String::len)
        .unwrap();
    assert!(function.len() <= 64, "{function}");
    assert!(
        function.starts_with("donut-states-feature-ch"),
        "{function}"
    );
    project.ok(&["destroy", "--yes", "--skip-preview"]);
}

/// With `dbProxy`, the functions reach the database through an RDS Proxy that logs in with
/// their logins (the functions' and the operators' function's, read through its own role),
/// speaks TLS only and targets the instance; the migration still connects to the instance
/// itself.
#[test]
fn a_stage_with_a_proxy_points_its_functions_at_it() {
    let project = Project::new("dev");
    project.set("donut-states:dbProxy", "true");
    project.ok(&["up", "--yes", "--skip-preview"]);
    let run = project.deployment();
    let proxy = run.named("donut-states-dev-db-proxy");
    let instance = run.named("donut-states-dev-db");
    let login = run.named("donut-states-dev-app-db-login").outputs["arn"].clone();
    let operator_login = run.named("donut-states-dev-operator-db-login").outputs["arn"].clone();
    assert_eq!(proxy.inputs["auths"][0]["secretArn"], login);
    assert_eq!(proxy.inputs["auths"][1]["secretArn"], operator_login);
    assert_eq!(proxy.inputs["auths"].as_array().unwrap().len(), 2);
    assert_eq!(proxy.inputs["requireTls"], true);
    let policy: serde_json::Value = serde_json::from_str(
        run.named("donut-states-dev-db-proxy-policy").inputs["policy"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(policy["Statement"][0]["Resource"][0], login);
    assert_eq!(policy["Statement"][0]["Resource"][1], operator_login);
    // The logins' resource policies let the proxy's role in; the callback key's does not.
    let proxy_role = run.named("donut-states-dev-db-proxy-role").outputs["arn"].clone();
    for (secret, lets_in) in [
        ("app-db-login", true),
        ("operator-db-login", true),
        ("callback-secret", false),
    ] {
        let doc: serde_json::Value = serde_json::from_str(
            run.named(&format!("donut-states-dev-{secret}-policy"))
                .inputs["policy"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let allowed = &doc["Statement"][0]["Condition"]["StringNotEquals"]["aws:PrincipalArn"];
        assert_eq!(
            allowed.as_array().unwrap().contains(&proxy_role),
            lets_in,
            "{secret}: {allowed}"
        );
    }
    assert_eq!(
        run.named("donut-states-dev-db-proxy-target").inputs["dbInstanceIdentifier"],
        instance.outputs["identifier"]
    );
    for function in donut_config::Function::ALL.map(donut_config::Function::name) {
        let host = &run.named(&format!("donut-states-dev-{function}")).inputs["environment"]["variables"]
            ["DB_HOST"];
        let expected = if function == "migrate" {
            &instance.outputs["address"]
        } else {
            &proxy.outputs["endpoint"]
        };
        assert_eq!(host, expected, "{function}");
    }
    project.ok(&["destroy", "--yes", "--skip-preview"]);
    assert_eq!(project.live_resources(), 0);
}

/// Gradual deploys on the real engine: a second `up` with new code for one aliased function
/// publishes its next version and leaves its `live` alias where it was — in the engine's state
/// and in the account — because the relay registers the alias with `ignoreChanges` on
/// `functionVersion` and `routingConfig` (without them the engine would plan an update of the
/// alias). The plan touches that function and its two canary alarms (they watch the new
/// version) and nothing else; the `releases` output names the new version; a third preview has
/// nothing to do.
#[test]
fn new_code_publishes_a_version_and_leaves_the_alias_where_it_was() {
    let project = Project::new("dev");
    project.ok(&["up", "--yes", "--skip-preview"]);
    let alias_in_account = || -> Vec<serde_json::Value> {
        let account: serde_json::Value =
            serde_json::from_slice(&std::fs::read(project.account_file()).unwrap()).unwrap();
        account["live"]
            .as_object()
            .unwrap()
            .values()
            .filter(|live| live["type"] == "aws:lambda/alias:Alias")
            .filter(|live| {
                live["inputs"]["functionName"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("donut-states-dev-sales-api-")
            })
            .map(|live| live["inputs"]["functionVersion"].clone())
            .collect()
    };
    let first = project.deployment();
    assert_eq!(
        first.named("donut-states-dev-sales-api").outputs["version"],
        "1"
    );
    // The engine recorded each alias's ignoreChanges, as the relay registered it.
    let export = project.export();
    let aliases: Vec<&serde_json::Value> = export["deployment"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == "aws:lambda/alias:Alias")
        .collect();
    assert_eq!(aliases.len(), 3);
    for alias in aliases {
        assert_eq!(
            alias["ignoreChanges"],
            serde_json::json!(["functionVersion", "routingConfig", "description"]),
            "{}",
            alias["urn"]
        );
    }
    assert_eq!(alias_in_account(), vec![serde_json::json!("1")]);

    project.rebuild(
        "sales-api",
        "#!/bin/sh\n# the next release of sales-api\nexit 2\n",
    );
    let preview = project.ok(&["preview", "--json"]).json();
    let plan = steps_by_op(&preview);
    assert_eq!(
        plan.get("update"),
        Some(&names(&[
            "donut-states-dev-sales-api",
            "donut-states-dev-sales-api-canary-5xx",
            "donut-states-dev-sales-api-canary-errors",
        ])),
        "{plan:?}"
    );
    assert_eq!(
        plan.len(),
        1,
        "nothing else changes (the alias neither): {plan:?}"
    );
    project.ok(&["up", "--yes", "--skip-preview"]);

    let second = project.deployment();
    let function = second.named("donut-states-dev-sales-api");
    assert_eq!(function.outputs["version"], "2");
    assert_eq!(
        function.outputs["qualifiedArn"],
        format!("{}:2", function.outputs["arn"].as_str().unwrap())
    );
    let alias = second.named("donut-states-dev-sales-api-live");
    assert_eq!(
        alias.inputs["functionVersion"], "1",
        "the state moved the alias"
    );
    assert_eq!(alias.outputs["functionVersion"], "1");
    assert_eq!(
        alias_in_account(),
        vec![serde_json::json!("1")],
        "the update moved the alias"
    );
    // The others published nothing new.
    for other in ["warehouse-restock", "factory-requester"] {
        assert_eq!(
            second.named(&format!("donut-states-dev-{other}")).outputs["version"],
            "1",
            "{other}"
        );
    }
    let releases = &second.exports[donut_config::outputs::RELEASES];
    assert_eq!(releases["sales-api"]["version"], "2", "{releases}");
    assert_eq!(releases["warehouse-restock"]["version"], "1", "{releases}");
    for name in releases["sales-api"]["canaryAlarms"].as_array().unwrap() {
        let alarm = second
            .of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
            .into_iter()
            .find(|a| a.outputs["name"] == *name)
            .unwrap();
        let dimensions = &alarm.inputs["dimensions"];
        let version = dimensions
            .get("Version")
            .or_else(|| dimensions.get("ExecutedVersion"));
        assert_eq!(version, Some(&serde_json::json!("2")), "{name}");
    }
    let again = project.pulumi(&["preview", "--expect-no-changes", "--diff"]);
    assert!(again.success, "a perpetual diff:\n{}", again.text());
}
