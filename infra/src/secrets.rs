//! Who may touch the stack's secrets, beyond what IAM grants: each secret's resource policy
//! denies every principal (`secretsmanager:*`) but the roles of the functions that read it
//! ([`crate::compute::secrets_read_by`]; the database proxy's role for the logins it connects
//! with), the break-glass role, and the identities that deploy the stack (`deployerArns`): one
//! `Deny` of `secretsmanager:*` to every principal whose `aws:PrincipalArn` is not among those
//! (for a role session the key holds the role's ARN). AWS services acting with their own
//! service principals (no `aws:PrincipalArn`) are left to IAM (`aws:PrincipalIsAWSService`), so
//! the deny cannot catch one by the key being absent.
//!
//! The deployers are in the list because an explicit deny in a resource policy overrides every
//! IAM allow, the account's administrators' included: without the identity that runs `pulumi
//! up`, the next update could neither change nor delete these secrets (docs/deploy.md, "Who can
//! read the secrets"). If the list is wrong after all, the break-glass role — assumable by the
//! account's principals with MFA — may still read and write the secrets and put their policies
//! right.
//!
//! The RDS-managed master secret (`rds!db-…`) gets none: RDS made it and rotates it with its own
//! service principal, and the stack does not manage it as a resource.

use pulumi_gestalt_rust::Output;
use serde_json::json;

use crate::Stack;
use crate::compute::{Compute, secrets_read_by};
use crate::data::{Data, Secret};
use crate::iam::{Statement, document};
use crate::out::all;
use donut_config::Function;
use donut_infra_aws::iam::{role, role_policy};
use donut_infra_aws::secretsmanager::secret_policy;

/// What the break-glass role may do on the stack's secrets: read and write their values, and
/// read and repair their resource policies.
pub const BREAK_GLASS_ACTIONS: &[&str] = &[
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:DeleteResourcePolicy",
];

/// The longest a break-glass session lasts (IAM's least maximum session duration, an hour).
pub const BREAK_GLASS_SESSION_SECONDS: i32 = 3600;

/// The break-glass role's trust: any principal of the account whose own IAM policy allows
/// `sts:AssumeRole` on it, signed in with MFA within the last hour.
pub fn break_glass_trust(account_id: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:aws:iam::{account_id}:root") },
            "Action": "sts:AssumeRole",
            "Condition": {
                "Bool": { "aws:MultiFactorAuthPresent": "true" },
                "NumericLessThan": { "aws:MultiFactorAuthAge": BREAK_GLASS_SESSION_SECONDS.to_string() }
            }
        }]
    })
    .to_string()
}

/// A secret's resource policy: every principal but `allowed` (`aws:PrincipalArn`) is denied
/// every action on it; AWS services calling as themselves are left to IAM.
pub fn only_these(allowed: &[String]) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OnlyItsReadersTheBreakGlassRoleAndTheDeployers",
            "Effect": "Deny",
            "Principal": { "AWS": "*" },
            "Action": "secretsmanager:*",
            "Resource": "*",
            "Condition": {
                "StringNotEquals": { "aws:PrincipalArn": allowed },
                "BoolIfExists": { "aws:PrincipalIsAWSService": "false" }
            }
        }]
    })
    .to_string()
}

/// The break-glass role and each secret's resource policy; returns the role's ARN.
pub fn declare(
    stack: &Stack,
    account_id: &Output<String>,
    data: &Data,
    compute: &Compute,
) -> Output<String> {
    let ctx = stack.ctx;
    let glass = role::create(
        ctx,
        &stack.name("break-glass"),
        role::RoleArgs::builder()
            .tags(stack.tags())
            .description(format!(
                "Break-glass access to the donut-states secrets ({}): assume with MFA (docs/deploy.md)",
                stack.config.stage
            ))
            .max_session_duration(BREAK_GLASS_SESSION_SECONDS)
            .assume_role_policy(account_id.map(|account| break_glass_trust(&account)))
            .build_struct(),
    );
    let allowed = role_policy::create(
        ctx,
        &stack.name("break-glass-policy"),
        role_policy::RolePolicyArgs::builder()
            .name("the-stacks-secrets")
            .role(glass.id.clone())
            .policy(document(vec![Statement::new(
                BREAK_GLASS_ACTIONS,
                Secret::ALL.iter().map(|s| data.arn_of(*s)).collect(),
            )]))
            .build_struct(),
    );
    let glass_arn = crate::out::after(&glass.arn, &allowed.id);
    for secret in Secret::ALL {
        let mut principals: Vec<Output<String>> = Function::ALL
            .iter()
            .filter(|f| secrets_read_by(**f).contains(&secret))
            .map(|f| compute.functions[f].role_arn.clone())
            .collect();
        if secret != Secret::CallbackKey
            && let Some(proxy) = &data.proxy_role_arn
        {
            principals.push(proxy.clone());
        }
        principals.push(glass_arn.clone());
        let deployers = stack.config.deployers.clone();
        secret_policy::create(
            ctx,
            &stack.name(&format!("{}-policy", secret.name())),
            secret_policy::SecretPolicyArgs::builder()
                .secret_arn(data.arn_of(secret))
                .block_public_policy(true)
                .policy(all(principals).map(move |mut principals| {
                    principals.extend(deployers.iter().cloned());
                    only_these(&principals)
                }))
                .build_struct(),
        );
    }
    glass_arn
}
