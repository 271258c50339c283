//! Donut-States on AWS, declared with Pulumi (pulumi_gestalt 0.0.12).
//!
//! One module per concern, in the order the architecture diagram reads:
//! [`network`] → [`data`] → [`messaging`] → [`compute`] → [`api`] → [`alarms`].
//! Per-stage values come from `Pulumi.<stage>.yaml` through `donut_config` (the same
//! validation the local stack uses); the one secret, `donut-states:callbackSecret`, from
//! the stack's encrypted config.

pub mod alarms;
pub mod api;
pub mod compute;
pub mod data;
pub mod dependencies;
pub mod iam;
pub mod messaging;
pub mod network;
pub mod observability;
pub mod out;

use anyhow::Context as _;
use donut_config::StageConfig;
use pulumi_gestalt_rust::{Context, Output};

/// What every module needs: the engine context and the stage's settings.
pub struct Stack<'a> {
    pub ctx: &'a Context,
    pub config: StageConfig,
    /// The repository root (PULUMI_ROOT_DIRECTORY): where the Lambda zips are.
    pub root: std::path::PathBuf,
}

impl Stack<'_> {
    /// `donut-states-<stage>-<what>`.
    pub fn name(&self, what: &str) -> String {
        self.config.name(what)
    }

    /// The namespace of the metrics the functions emit (EMF): `DonutStates/<stage>`.
    pub fn metrics_namespace(&self) -> String {
        self.config.metrics_namespace()
    }

    pub fn is_prod(&self) -> bool {
        self.config.stage == "prod"
    }
}

/// The whole program.
pub fn program(ctx: &Context) -> anyhow::Result<()> {
    // The engine hands the stack's config to the program as PULUMI_CONFIG (plain values;
    // secrets are read through the context so they stay secret).
    let config_json = std::env::var("PULUMI_CONFIG").unwrap_or_else(|_| "{}".into());
    let config = StageConfig::from_pulumi_config_json(ctx.get_stack(), &config_json)
        .with_context(|| format!("stack {} is not configured correctly", ctx.get_stack()))?;
    let callback_secret = ctx
        .require_config_secret(None, "callbackSecret")
        .context("set it with `pulumi config set --secret donut-states:callbackSecret <32+ random characters>`")?;
    let stack = Stack {
        ctx,
        config,
        root: ctx.get_root_directory().into(),
    };

    let network = network::declare(&stack);
    let data = data::declare(&stack, &network, callback_secret);
    let messaging = messaging::declare(&stack);
    let api = api::declare_api(&stack);
    let compute = compute::declare(&stack, &network, &data, &messaging, &api);
    api::declare_routes(&stack, &api, &compute);
    alarms::declare(&stack, &messaging, &compute, &api);
    observability::declare(&stack, &api, &compute);

    export(ctx, "apiUrl", &api.endpoint);
    export(ctx, "stockOutTopicArn", &messaging.topic_arn);
    export(ctx, "factoryOrdersQueueUrl", &messaging.queue_url);
    export(ctx, "deadLetterQueueUrl", &messaging.dlq_url);
    export(ctx, "dbEndpoint", &data.db_endpoint);
    Ok(())
}

fn export(ctx: &Context, key: &str, value: &Output<String>) {
    ctx.add_export(key, value);
}
