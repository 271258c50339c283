//! Donut-States on AWS, declared with Pulumi (pulumi_gestalt 0.0.12).
//!
//! One module per concern, in the order the architecture diagram reads: [`network`] →
//! [`data`] → [`messaging`] → the [`api`]'s gateway (its URL is the factory's callback base) →
//! the legacy [`factory`] (the stage's, or its simulator deployed with the stack) →
//! [`compute`] → who may touch the [`secrets`] → the [`api`]'s routes to the functions →
//! [`alarms`] → [`observability`].
//! Per-stage values come from `Pulumi.<stage>.yaml` through `donut_config` (the same
//! validation the local stack uses); the one secret, `donut-states:callbackSecret`, from
//! the stack's encrypted config.

pub mod alarms;
pub mod api;
pub mod compute;
pub mod data;
pub mod dependencies;
pub mod diagnostics;
pub mod factory;
pub mod iam;
pub mod messaging;
pub mod network;
pub mod observability;
pub mod out;
pub mod secrets;

use anyhow::Context as _;
use donut_config::{StageConfig, outputs};
use pulumi_gestalt_rust::{Context, Output};

/// What every module needs: the engine context and the stage's settings.
pub struct Stack<'a> {
    pub ctx: &'a Context,
    /// The Pulumi stack's name (`dev`, or a developer's own stack of a stage).
    pub stack: String,
    pub config: StageConfig,
    /// The repository root (PULUMI_ROOT_DIRECTORY): where the Lambda zips are.
    pub root: std::path::PathBuf,
    /// The stack is being taken down (`donut-states:teardown`, see [`TEARDOWN`]).
    pub teardown: bool,
}

impl Stack<'_> {
    /// `donut-states-<stage>-<what>`.
    pub fn name(&self, what: &str) -> String {
        self.config.name(what)
    }

    /// The tags every taggable resource carries: who and what it belongs to.
    pub fn tags(&self) -> std::collections::HashMap<String, String> {
        std::collections::HashMap::from([
            ("project".to_owned(), donut_config::PROJECT.to_owned()),
            ("stage".to_owned(), self.config.stage.clone()),
            ("stack".to_owned(), self.stack.clone()),
            ("owner".to_owned(), self.config.owner.clone()),
        ])
    }

    /// The namespace of the metrics the functions emit (EMF): `DonutStates/<stage>`.
    pub fn metrics_namespace(&self) -> String {
        self.config.metrics_namespace()
    }
}

/// The whole program.
pub fn program(ctx: &Context) -> anyhow::Result<()> {
    // The engine hands the stack's config to the program as PULUMI_CONFIG (plain values;
    // secrets are read through the context so they stay secret).
    let config_json = std::env::var("PULUMI_CONFIG").unwrap_or_else(|_| "{}".into());
    let config = StageConfig::from_pulumi_config_json(ctx.get_stack(), &config_json)
        .with_context(|| format!("stack {} is not configured correctly", ctx.get_stack()))?;
    check_placeholders(&config)?;
    let teardown = teardown(&config_json)?;
    let callback_secret = ctx
        .require_config_secret(None, "callbackSecret")
        .context("set it with `pulumi config set --secret donut-states:callbackSecret <32+ random characters>`")?;
    let stack = Stack {
        ctx,
        stack: ctx.get_stack().to_owned(),
        config,
        root: ctx.get_root_directory().into(),
        teardown,
    };

    let network = network::declare(&stack)?;
    // A key rotation in progress: the previous key still verifies the URLs already given to
    // the factory (docs/operate.md, "Rotating the callback key").
    let callback_key = match ctx.require_config_secret(None, "callbackSecretPrevious") {
        Ok(previous) => pulumi_gestalt_rust::pulumi_combine!(callback_secret, previous).map(
            |(current, previous)| {
                serde_json::json!({ "current": current, "previous": previous }).to_string()
            },
        ),
        Err(_) => callback_secret,
    };
    let data = data::declare(&stack, &network, callback_key);
    let messaging = messaging::declare(&stack, &network.account_id);
    let http_api = api::declare_api(&stack);
    let factory_lane = api::declare_factory_lane(&stack);
    // Callback URLs start with the lane's address: the factory's alone.
    let factory = factory::declare(&stack, &factory_lane.endpoint);
    let compute = compute::declare(
        &stack,
        &network,
        &data,
        &messaging,
        &factory_lane.endpoint,
        &factory,
    )?;
    let break_glass_role_arn = secrets::declare(&stack, &network.account_id, &data, &compute);
    let api = api::declare_routes(&stack, http_api, factory_lane, &compute);
    let alarms = alarms::declare(&stack, &messaging, &compute, &api, &data)?;
    let dashboard_url = observability::declare(&stack, &network, &messaging, &api, &compute);

    export(ctx, outputs::API_URL, &api.endpoint);
    export(ctx, outputs::STOCK_OUT_TOPIC_ARN, &messaging.topic_arn);
    export(ctx, outputs::FACTORY_ORDERS_QUEUE_URL, &messaging.queue_url);
    export(ctx, outputs::DEAD_LETTER_QUEUE_URL, &messaging.dlq_url);
    export(ctx, outputs::DB_ENDPOINT, &data.db_endpoint);
    // For the on-call engineer: where to look and what to tail.
    export(ctx, outputs::OPS_TOPIC_ARN, &alarms.ops_topic_arn);
    export(ctx, outputs::DLQ_ALARM_NAME, &alarms.dlq_alarm_name);
    export(ctx, outputs::FACTORY_URL, &factory.url);
    export(ctx, outputs::DASHBOARD_URL, &dashboard_url);
    // For ops: the policy to attach to the role operators sign their calls with.
    export(ctx, outputs::OPERATOR_POLICY_ARN, &api.operator_policy_arn);
    // For the on-call engineer who must reach a secret its policy keeps everyone else from.
    export(ctx, BREAK_GLASS_ROLE_ARN, &break_glass_role_arn);
    // The factory simulator (a stage that deploys it) is listed with the functions.
    let simulator = factory
        .simulator
        .as_ref()
        .map(|deployed| (donut_config::functions::FACTORY_SIMULATOR, deployed));
    let by_function = |pick: fn(&compute::Deployed) -> Output<String>| {
        out::map(
            compute
                .functions
                .iter()
                .map(|(kind, deployed)| (kind.name(), deployed))
                .chain(simulator)
                .map(|(name, deployed)| (name, pick(deployed)))
                .collect(),
        )
    };
    ctx.add_export(outputs::FUNCTION_NAMES, &by_function(|f| f.name.clone()));
    ctx.add_export(outputs::LOG_GROUPS, &by_function(|f| f.log_group.clone()));
    // For the rollout tool: what to release, watching what, at which pace.
    ctx.add_export(outputs::RELEASES, &releases(&stack, &compute, &alarms));
    Ok(())
}

/// A value of a `releases` entry: a name or version, a number, or the alarms' names.
/// (gestalt's `OneOf3` is not `Clone`, which an output's value must be.)
pub type ReleaseValue =
    pulumi_gestalt_rust::OneOf2<String, pulumi_gestalt_rust::OneOf2<i32, Vec<String>>>;

/// The `releases` output: for each aliased function (by its kind's name), the JSON object
/// `donut_config::release::Release` reads — its AWS name, the alias, the version this
/// deployment published, the canary alarms scoped to that version and the stage's release
/// settings.
fn releases(
    stack: &Stack,
    compute: &compute::Compute,
    alarms: &alarms::Alarms,
) -> Output<std::collections::BTreeMap<String, std::collections::BTreeMap<String, ReleaseValue>>> {
    let settings = stack.config.release;
    let entries: Vec<Output<(String, std::collections::BTreeMap<String, ReleaseValue>)>> =
        donut_config::release::ALIASED
            .into_iter()
            .map(|kind| {
                let function = &compute.functions[&kind];
                let canary = out::all(alarms.canary.get(&kind).cloned().unwrap_or_default());
                pulumi_gestalt_rust::pulumi_combine!(
                    function.name.clone(),
                    function.version.clone(),
                    canary
                )
                .map(move |(name, version, canary)| {
                    let text = ReleaseValue::Left;
                    let number =
                        |n: u32| ReleaseValue::Right(pulumi_gestalt_rust::OneOf2::Left(n as i32));
                    let entry = std::collections::BTreeMap::from([
                        ("functionName".to_owned(), text(name)),
                        (
                            "alias".to_owned(),
                            text(donut_config::release::ALIAS.to_owned()),
                        ),
                        ("version".to_owned(), text(version)),
                        (
                            "canaryAlarms".to_owned(),
                            ReleaseValue::Right(pulumi_gestalt_rust::OneOf2::Right(canary)),
                        ),
                        ("canaryPercent".to_owned(), number(settings.canary_percent)),
                        ("canaryMinutes".to_owned(), number(settings.canary_minutes)),
                        ("keepVersions".to_owned(), number(settings.keep_versions)),
                    ]);
                    (kind.name().to_owned(), entry)
                })
            })
            .collect();
    out::all(entries).map(|entries| entries.into_iter().collect())
}

/// The stack output naming the break-glass role (docs/deploy.md, "Who can read the secrets").
pub const BREAK_GLASS_ROLE_ARN: &str = "breakGlassRoleArn";

/// The stack's config key that readies it for `pulumi destroy` (docs/deploy.md, "Destroy"):
/// set to `true` for the one `pulumi up` before the destroy, it lifts the database's deletion
/// protection — the only thing AWS refuses to delete — and nothing else; the final snapshot
/// is still taken where the stage takes one. Any stage, so no `if prod`: the stage's own
/// `dbDeletionProtection` stays what it is (prod's config requires it), and removing the key
/// (or `false`) puts the protection back. Not in the committed stack files: it is an
/// operation, not a setting of the stage.
pub const TEARDOWN: &str = "donut-states:teardown";

/// [`TEARDOWN`] from the engine's config (`PULUMI_CONFIG`): `true`, `false` or absent. While it
/// is `true` every preview and update warns, so a stack is not left unprotected unnoticed.
fn teardown(config_json: &str) -> anyhow::Result<bool> {
    let config: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(config_json).context("PULUMI_CONFIG is not a JSON object")?;
    let on = match config.get(TEARDOWN) {
        None => false,
        Some(value) => match value.as_str().map(str::trim) {
            Some("true") => true,
            Some("false") => false,
            _ => anyhow::bail!(
                "config key {TEARDOWN}: {value} must be true or false (`pulumi config rm {TEARDOWN}` when not taking the stack down)"
            ),
        },
    };
    if on {
        diagnostics::warn(&format!(
            "{TEARDOWN} is true: the database's deletion protection is off so that `pulumi destroy` \
             can delete it (its final snapshot is kept where the stage takes one). Not taking the \
             stack down? `pulumi config rm {TEARDOWN}` and `pulumi up` put the protection back."
        ));
    }
    Ok(on)
}

/// Settings a deployment cannot run with as committed (`opsEmail`, `factoryUrl` on domains
/// reserved for examples): a preview warns of each; a deployment refuses, naming the key and
/// the command that sets it.
fn check_placeholders(config: &StageConfig) -> anyhow::Result<()> {
    let problems: Vec<String> = config
        .deployment_placeholders()
        .into_iter()
        .map(|(_, problem)| problem)
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    if std::env::var("PULUMI_DRY_RUN").as_deref() == Ok("true") {
        for problem in &problems {
            diagnostics::warn(problem);
        }
        Ok(())
    } else {
        anyhow::bail!(problems.join("\n"))
    }
}

fn export(ctx: &Context, key: &str, value: &Output<String>) {
    ctx.add_export(key, value);
}
