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

/// A role's trust policy for a service that assumes it on behalf of resources of this account
/// only (the confused-deputy guard AWS documents for service roles): `service` may assume it
/// when the request comes from `account` (`aws:SourceAccount`) and from a resource whose ARN
/// matches `source_arn` (`aws:SourceArn`, IAM wildcards).
pub fn trust_from(service: &str, account: &str, source_arn: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": { "aws:SourceAccount": account },
                "ArnLike": { "aws:SourceArn": source_arn }
            }
        }]
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

/// What Lambda does with a VPC function's role: it creates, describes and deletes the
/// function's network interfaces in its subnets with its security group ("Lambda uses your
/// function's permissions to create and manage network interfaces", the Lambda developer guide,
/// "Giving Lambda functions access to resources in an Amazon VPC"). Scoped as far as IAM allows
/// (the Service Authorization Reference for EC2):
///
/// - `ec2:DescribeNetworkInterfaces` has no resource type: `*` only (the Lambda guide: "This
///   action only works if it's allowed on all resources");
/// - `ec2:CreateNetworkInterface` needs the new `network-interface` and the `subnet` (both
///   required resource types) and checks the `security-group` the request names: the account's
///   network interfaces in the stack's Region, the stack's private subnets, the function's
///   security group;
/// - `ec2:DeleteNetworkInterface`, `ec2:AssignPrivateIpAddresses`,
///   `ec2:UnassignPrivateIpAddresses` act on a `network-interface` alone: the account's network
///   interfaces in the Region (the Lambda guide: "Either specify a unique resource ID, or include
///   all resource IDs"; Lambda makes the interfaces, so their ids are not known beforehand).
pub fn vpc_access(
    region: &str,
    account_id: &Output<String>,
    subnet_arns: &Output<Vec<String>>,
    security_group_arn: &Output<String>,
) -> Vec<Statement> {
    let region = region.to_owned();
    let interfaces = account_id
        .map(move |account| format!("arn:aws:ec2:{region}:{account}:network-interface/*"));
    let subnets: Vec<Output<String>> = (0..crate::network::PRIVATE_SUBNETS)
        .map(|i| subnet_arns.map(move |arns| arns.get(i).cloned().unwrap_or_default()))
        .collect();
    let mut create = vec![interfaces.clone()];
    create.extend(subnets);
    create.push(security_group_arn.clone());
    vec![
        Statement::new(
            &["ec2:DescribeNetworkInterfaces"],
            vec![known("*".to_owned())],
        ),
        Statement::new(&["ec2:CreateNetworkInterface"], create),
        Statement::new(
            &[
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            vec![interfaces],
        ),
    ]
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
