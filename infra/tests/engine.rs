//! The real Pulumi engine (built by `make engine`) runs the program: preview, up, a second
//! preview with no changes, one config change, destroy — and refuses bad config. The stand-in
//! AWS provider checks every input against the schema subset and refuses, like AWS, to delete
//! what something else still uses, so a destroy in the wrong order fails here.

mod support;

use std::collections::BTreeMap;

use support::*;

/// Resources per stack besides the stack itself and the default provider
/// (`program.rs` checks them type by type).
const RESOURCES: usize = 84;

/// The outputs the README documents.
const OUTPUTS: [&str; 5] = [
    "apiUrl",
    "stockOutTopicArn",
    "factoryOrdersQueueUrl",
    "deadLetterQueueUrl",
    "dbEndpoint",
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
        assert_eq!(steps["create"].len(), RESOURCES, "{stage}");
        println!(
            "{stage}: preview planned {RESOURCES} resources in {:.1} s",
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
    assert_eq!(project.live_resources(), RESOURCES);

    let outputs = project.ok(&["stack", "output", "--json"]).json();
    for key in OUTPUTS {
        let value = outputs[key]
            .as_str()
            .unwrap_or_else(|| panic!("output {key}: {outputs}"));
        assert!(!value.is_empty(), "{key}");
    }
    assert!(outputs["apiUrl"].as_str().unwrap().starts_with("https://"));

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
    assert_eq!(preview["changeSummary"]["same"], RESOURCES);
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
