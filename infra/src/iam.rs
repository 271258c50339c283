//! IAM: one role per function, with an inline policy naming only the actions it uses on
//! only the resources it touches. No `*` action anywhere.

use pulumi_gestalt_rust::Output;
use serde_json::json;

use crate::Stack;
use crate::out::{all, known};
use donut_infra_aws::iam::{role, role_policy};

/// Allow `actions` on `resources`.
pub struct Statement {
    pub actions: &'static [&'static str],
    pub resources: Vec<Output<String>>,
}

impl Statement {
    pub fn new(actions: &'static [&'static str], resources: Vec<Output<String>>) -> Self {
        Self { actions, resources }
    }
}

/// An IAM policy document as JSON.
pub fn document(statements: Vec<Statement>) -> Output<String> {
    let parts: Vec<Output<serde_json::Value>> = statements
        .into_iter()
        .map(|s| {
            let actions = s.actions;
            all(s.resources).map(move |resources| json!({ "Effect": "Allow", "Action": actions, "Resource": resources }))
        })
        .collect();
    all(parts)
        .map(|statements| json!({ "Version": "2012-10-17", "Statement": statements }).to_string())
}

/// A role's trust policy: `service` (e.g. `lambda.amazonaws.com`) may assume it.
pub fn trust(service: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{ "Effect": "Allow", "Principal": { "Service": service }, "Action": "sts:AssumeRole" }]
    })
    .to_string()
}

/// A function's role. `arn` is known only once the policy is attached, so whatever uses
/// the role (the function) is created after its permissions exist.
pub struct FunctionRole {
    pub arn: Output<String>,
    pub policy: Output<String>,
}

pub fn function_role(stack: &Stack, function: &str, statements: Vec<Statement>) -> FunctionRole {
    let role = role::create(
        stack.ctx,
        &stack.name(&format!("{function}-role")),
        role::RoleArgs::builder()
            .tags(stack.tags())
            .description(format!(
                "Runs the {function} Lambda of donut-states ({})",
                stack.config.stage
            ))
            .assume_role_policy(trust("lambda.amazonaws.com"))
            .build_struct(),
    );
    let policy = document(statements);
    let attached = role_policy::create(
        stack.ctx,
        &stack.name(&format!("{function}-policy")),
        role_policy::RolePolicyArgs::builder()
            .name(format!("{function}-least-privilege"))
            .role(role.id.clone())
            .policy(policy.clone())
            .build_struct(),
    );
    FunctionRole {
        arn: crate::out::after(&role.arn, &attached.id),
        policy,
    }
}

/// A function in the VPC manages its network interfaces (AWS allows no narrower resource
/// than `*` for these actions).
pub fn vpc_access() -> Statement {
    Statement::new(
        &[
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ],
        vec![known("*".to_owned())],
    )
}

/// What an SQS event source mapping polls a queue with, on the function's role (the managed
/// policy AWSLambdaSQSQueueExecutionRole grants these three).
pub fn queue_consumer(queue_arn: &Output<String>) -> Statement {
    Statement::new(
        &[
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ],
        vec![queue_arn.clone()],
    )
}

/// Every function writes traces (no narrower resource than `*` either).
pub fn tracing() -> Statement {
    Statement::new(
        &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        vec![known("*".to_owned())],
    )
}
