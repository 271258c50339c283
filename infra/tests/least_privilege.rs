//! Least privilege, proven sufficient: every AWS call the functions were seen to make while
//! the end-to-end tests ran (recorded by the local stack, `local/src/aws_calls.rs`, into
//! `DONUT_AWS_CALLS`) is allowed by that function's role as the real engine deploys it — the
//! action, on the resource of the kind the call named. And every action a role grants that no
//! function was seen to call is listed, each with why it stays.
//!
//! `make test` runs it after the workspace's tests (it needs their recording):
//! `cargo test -p donut-infra --test least_privilege -- --ignored`.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::*;

/// Actions granted that the local stack cannot show a function calling, and why each stays.
fn why_unseen(action: &str) -> Option<&'static str> {
    Some(match action {
        "logs:CreateLogStream" | "logs:PutLogEvents" => {
            "the Lambda service writes the function's logs with its role"
        }
        a if a.starts_with("ec2:") => {
            "the Lambda service manages the function's network interfaces in the VPC with its role"
        }
        a if a.starts_with("xray:") => "Lambda's active tracing sends segments with the role",
        "kms:GenerateDataKey" | "kms:Decrypt" => {
            "SNS encrypts the published message with the topic's key on the caller's behalf"
        }
        "sqs:GetQueueAttributes" => {
            "the event source mapping reads the queue's attributes when it starts polling"
        }
        "lambda:InvokeFunctionUrl" | "lambda:InvokeFunction" => {
            "a signed HTTP call to the factory simulator's function URL (AWS_IAM), not an SDK \
             call: the local simulator's IAM check refuses it unless signed"
        }
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Call {
    function: String,
    action: String,
    resource: String,
}

fn recorded() -> Vec<Call> {
    let path = std::env::var("DONUT_AWS_CALLS")
        .expect("DONUT_AWS_CALLS names the recording of the end-to-end run (make test sets it)");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let calls: BTreeSet<Call> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| Call {
            function: v["function"].as_str().unwrap_or_default().to_owned(),
            action: v["action"].as_str().unwrap_or_default().to_owned(),
            resource: v["resource"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    calls.into_iter().collect()
}

/// A policy element that is a string or a list of strings, as a list.
fn one_or_many(value: &Value) -> Vec<String> {
    match value {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            text.starts_with(head) && text.len() >= head.len() + tail.len() && text.ends_with(tail)
        }
    }
}

#[test]
#[ignore = "needs the end-to-end run's recording: make test runs it after the workspace"]
fn every_aws_call_a_function_makes_is_allowed_by_its_role() {
    let calls = recorded();
    assert!(!calls.is_empty(), "no call recorded");
    let project = Project::new("dev");
    project.ok(&["up", "--yes", "--skip-preview"]);
    let run = project.deployment();
    // The kind of each deployed resource: its logical name after the stack's prefix.
    let prefix = "donut-states-dev-";
    let mut kind_of: BTreeMap<String, String> = BTreeMap::new();
    for r in &run.resources {
        let kind = r.name.strip_prefix(prefix).unwrap_or(&r.name).to_owned();
        // The first resource to answer to an ARN or id is its kind: a resource made after it
        // that takes its id (a secret's policy, `id` = the secret's ARN) does not rename it.
        for key in ["arn", "id", "url"] {
            if let Some(v) = r.outputs.get(key).and_then(Value::as_str) {
                kind_of.entry(v.to_owned()).or_insert_with(|| kind.clone());
            }
        }
        // The master login's secret is RDS's, named by the instance; the local stack keeps it
        // as `db-master-login`.
        if let Some(arn) = r
            .outputs
            .get("masterUserSecrets")
            .and_then(|s| s[0]["secretArn"].as_str())
        {
            kind_of.insert(arn.to_owned(), "db-master-login".to_owned());
        }
    }
    let mut table = Vec::new();
    let mut refused = Vec::new();
    let mut unexplained = Vec::new();
    for function in donut_config::Function::ALL.map(donut_config::Function::name) {
        let policy: Value = serde_json::from_str(
            run.named(&format!("{prefix}{function}-policy")).inputs["policy"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        // (action, resource pattern) granted.
        let mut granted: Vec<(String, String)> = Vec::new();
        for statement in policy["Statement"].as_array().unwrap() {
            let (actions, resources) = (
                one_or_many(&statement["Action"]),
                one_or_many(&statement["Resource"]),
            );
            for a in &actions {
                for r in &resources {
                    granted.push((a.clone(), r.clone()));
                }
            }
        }
        let seen: Vec<&Call> = calls.iter().filter(|c| c.function == function).collect();
        for call in &seen {
            let allowed = granted.iter().any(|(action, resource)| {
                action == &call.action
                    && (resource == "*"
                        || kind_of
                            .iter()
                            .any(|(arn, kind)| kind == &call.resource && glob(resource, arn)))
            });
            if !allowed {
                refused.push(format!("{function}: {} on {}", call.action, call.resource));
            }
        }
        let seen_actions: BTreeSet<&str> = seen.iter().map(|c| c.action.as_str()).collect();
        let granted_actions: BTreeSet<&str> = granted.iter().map(|(a, _)| a.as_str()).collect();
        let unused: Vec<&str> = granted_actions.difference(&seen_actions).copied().collect();
        for action in &unused {
            if why_unseen(action).is_none() {
                unexplained.push(format!("{function}: {action}"));
            }
        }
        table.push(format!(
            "| {function} | {} | {} | {} |",
            seen.iter()
                .map(|c| format!("{} ({})", c.action, c.resource))
                .collect::<Vec<_>>()
                .join(", "),
            granted_actions.len(),
            unused.join(", ")
        ));
    }
    println!("| function | calls seen | actions granted | granted but unused |");
    println!("|---|---|---|---|");
    for row in &table {
        println!("{row}");
    }
    let mut reasons: BTreeSet<(&str, &str)> = BTreeSet::new();
    for row in &table {
        for action in row.rsplit('|').nth(1).unwrap_or_default().split(", ") {
            let action = action.trim();
            if let Some(why) = why_unseen(action) {
                reasons.insert((action, why));
            }
        }
    }
    for (action, why) in reasons {
        println!("- {action}: {why}");
    }
    project.ok(&["destroy", "--yes", "--skip-preview"]);
    assert!(
        refused.is_empty(),
        "calls the roles refuse:\n{}",
        refused.join("\n")
    );
    assert!(
        unexplained.is_empty(),
        "granted, never called, no reason to keep:\n{}",
        unexplained.join("\n")
    );
}
