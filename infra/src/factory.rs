//! The legacy factory the functions call: the stage's `factoryUrl`, or — a stage option
//! (`factorySimulator: "true"`, dev's default; the config refuses it in prod) — the factory
//! simulator deployed with the stack, so a dev stack is complete on its own.
//!
//! The simulator is `tools/factory-sim` as a Lambda (`lambdas/factory-simulator`) behind a
//! function URL with IAM authorization (only the stack's factory callers, which sign, get
//! through): the legacy HTTP contract, its knobs the stage's `factorySim*` keys. An
//! accepted order waits in a delay queue (SQS `DelaySeconds`, at most 15 minutes) — no
//! function sleeps — and the queue hands it back to the same function, which calls the
//! stack's callback route and nothing else.

use pulumi_gestalt_rust::Output;

use crate::Stack;
use crate::compute::{Deployed, Lambda, declare_lambda};
use crate::iam::{self, Statement};
use crate::out::known;
use donut_config::LegacyFactory;
use donut_config::capacity::SIMULATOR_CALLBACK_CONCURRENCY;
use donut_config::functions::FACTORY_SIMULATOR;
use donut_config::settings::{self, Contract};
use donut_infra_aws::lambda::{event_source_mapping, function_url};
use donut_infra_aws::sqs::queue;
use donut_infra_aws::types::lambda::EventSourceMappingScalingConfig;

pub struct Factory {
    /// Where the functions call the factory (the stack output `factoryUrl`).
    pub url: Output<String>,
    /// The simulator's function, when the stage deploys it.
    pub simulator: Option<Deployed>,
}

/// `api_url`: the stack's API, the only place the simulator calls back.
pub fn declare(stack: &Stack, api_url: &Output<String>) -> Factory {
    let knobs = match &stack.config.factory {
        LegacyFactory::At(url) => {
            return Factory {
                url: known(url.clone()),
                simulator: None,
            };
        }
        LegacyFactory::Simulator(knobs) => *knobs,
    };
    let ctx = stack.ctx;
    let delay_queue = queue::create(
        ctx,
        &stack.name("factory-sim-callbacks"),
        queue::QueueArgs::builder()
            .tags(stack.tags())
            .sqs_managed_sse_enabled(true)
            // A callback is due within 15 minutes; one that cannot be made in an hour is lost,
            // as the legacy factory's were.
            .message_retention_seconds(3600)
            .visibility_timeout_seconds(
                SIMULATOR_TIMEOUT_SECONDS * donut_config::VISIBILITY_PER_CONSUMER_TIMEOUT as i32,
            )
            .build_struct(),
    );
    let settings = settings::FactorySimulator {
        knobs,
        delay_queue_url: delay_queue.url.clone(),
        callback_base_url: api_url.clone(),
    };
    let plain = |value: String| known(value);
    let function = declare_lambda(
        stack,
        Lambda {
            name: FACTORY_SIMULATOR,
            description: "The legacy factory, simulated (dev stages): orders by function URL, delayed callbacks by queue",
            timeout_seconds: SIMULATOR_TIMEOUT_SECONDS,
            env: settings::FactorySimulator::to_env(&settings, &plain),
            statements: vec![
                Statement::new(&["sqs:SendMessage"], vec![delay_queue.arn.clone()]),
                iam::queue_consumer(&delay_queue.arn),
            ],
            // The legacy factory stands outside the stack's network: so does its simulator.
            vpc: None,
            waits_for: Vec::new(),
            reserved: stack
                .config
                .declared_simulator_reservation()
                .map(|n| n as i32),
        },
    );
    event_source_mapping::create(
        ctx,
        &stack.name("factory-sim-callbacks-due"),
        event_source_mapping::EventSourceMappingArgs::builder()
            .tags(stack.tags())
            .event_source_arn(delay_queue.arn.clone())
            .function_name(function.arn.clone())
            .batch_size(10)
            .scaling_config(
                EventSourceMappingScalingConfig::builder()
                    .maximum_concurrency(SIMULATOR_CALLBACK_CONCURRENCY as i32)
                    .build_struct(),
            )
            .build_struct(),
    );
    // IAM-authorized: Lambda refuses (403) any request not signed with SigV4 by a principal
    // allowed to invoke it before the function runs, so a stranger's flood takes none of the
    // simulator's reserved instances and cannot make the requester's calls fail. Its callers
    // (factory-requester, watchdog) sign with their roles, whose policies allow
    // lambda:InvokeFunctionUrl and lambda:InvokeFunction on this function alone
    // (`caller_statement`; a same-account principal needs them in its identity policy or the
    // function's resource policy: https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html,
    // "Using the AWS_IAM auth type"). Callbacks go only to the stack.
    let url = function_url::create(
        ctx,
        &stack.name("factory-simulator-url"),
        function_url::FunctionUrlArgs::builder()
            .function_name(function.name.clone())
            .authorization_type(SIMULATOR_URL_AUTHORIZATION)
            .build_struct(),
    );
    Factory {
        // The function URL ends in `/`; the requester appends `/api/manufactures`.
        url: url.function_url.map(|u| u.trim_end_matches('/').to_owned()),
        simulator: Some(function),
    }
}

/// The simulator's function URL's authorization type: its callers sign
/// (`donut_contract::settings::FactoryAuth::AwsIam`, which `donut_config::contracts` gives the
/// callers of a stage that deploys the simulator).
pub const SIMULATOR_URL_AUTHORIZATION: &str = "AWS_IAM";

/// What a function that calls the simulator's URL must be allowed: since October 2025 a
/// function URL with `AWS_IAM` needs both `lambda:InvokeFunctionUrl` and
/// `lambda:InvokeFunction` ("Starting in October 2025, new function URLs will require both …",
/// <https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html>), on the simulator's function
/// and nothing else. Not added: a `lambda:InvokedViaFunctionUrl` condition on InvokeFunction —
/// AWS documents that key in the function's resource-based policy (`add-permission
/// --invoked-via-function-url`); whether an identity policy's condition on it holds for a URL
/// call is UNCONFIRMED, and a condition that does not would refuse every order.
pub fn caller_statement(simulator_arn: &Output<String>) -> Statement {
    Statement::new(
        &["lambda:InvokeFunctionUrl", "lambda:InvokeFunction"],
        vec![simulator_arn.clone()],
    )
}

/// `donut_config::capacity::SIMULATOR_TIMEOUT_SECONDS`, as the function takes it.
const SIMULATOR_TIMEOUT_SECONDS: i32 = donut_config::capacity::SIMULATOR_TIMEOUT_SECONDS as i32;
