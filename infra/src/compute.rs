//! The functions: one Rust `bootstrap` per handler (provided.al2023, arm64, from the zips
//! `make lambdas` builds), each with its own role, log group, and only the settings it
//! reads. The factory-requester is fed by the queue (partial batch failures, bounded
//! concurrency); the outbox relay runs on a schedule; the migrate function runs on every
//! deployment whose migrations or code changed, before the API serves.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context as _;
use donut_config::Deployment;
use donut_config::Function;
use donut_config::settings::{self, Contract, Database};

use pulumi_gestalt_rust::Output;
use serde_json::json;

use crate::Stack;
use crate::data::{DB_NAME, DB_PORT, Data, Secret};
use crate::iam::{self, Statement, function_role};
use crate::messaging::Messaging;
use crate::network::Network;
use crate::out::{known, map};
use donut_infra_aws::cloudwatch::{event_rule, event_target, log_group};
use donut_infra_aws::lambda::{
    alias, event_source_mapping, function, function_event_invoke_config, invocation, permission,
};
use donut_infra_aws::types::lambda::{
    EventSourceMappingScalingConfig, FunctionEnvironment, FunctionLoggingConfig,
    FunctionTracingConfig, FunctionVpcConfig,
};

/// Where `make lambdas` puts the RDS CA bundle in each function's package.
pub const RDS_CA_IN_PACKAGE: &str = "/var/task/rds-ca.pem";

/// The functions the sweep schedule invokes.
pub const SCHEDULED: [Function; 2] = [Function::OutboxRelay, Function::FactoryWatchdog];

/// The stack's secrets each function reads: its role may read them, and each secret's
/// resource policy lets in the roles of exactly these functions (`crate::secrets`). Migrate
/// also keeps both logins and reads the RDS-managed master secret.
pub fn secrets_read_by(function: Function) -> &'static [Secret] {
    match function {
        Function::SalesApi | Function::OutboxRelay => &[Secret::AppLogin],
        Function::AdminApi => &[Secret::OperatorLogin],
        Function::WarehouseRestock | Function::FactoryRequester | Function::FactoryWatchdog => {
            &[Secret::AppLogin, Secret::CallbackKey]
        }
        Function::Migrate => &[Secret::AppLogin, Secret::OperatorLogin],
    }
}

/// What a scheduled run leaves of its period unused: the time EventBridge and Lambda's event
/// queue may take to deliver the next run.
const SCHEDULE_MARGIN_SECONDS: u32 = 10;

/// The timeout of a scheduled function: its run ends before the next one is due (the period
/// less [`SCHEDULE_MARGIN_SECONDS`]), so a long run does not take the instance the next run
/// needs (each reserves one), and never more than a minute.
pub fn sweep_timeout_seconds(config: &donut_config::StageConfig) -> u32 {
    (config.relay_schedule_minutes * 60 - SCHEDULE_MARGIN_SECONDS).min(60)
}

/// Pulumi's wire form of a FileArchive (see infra/schema/gen_aws_schema.py on why a map).
const ARCHIVE_SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
const FILE_ARCHIVE_SIG: &str = "0def7320c3a5731c473e5ecbe6d01bc7";

pub struct Deployed {
    pub name: Output<String>,
    pub arn: Output<String>,
    /// Its role's ARN (what `aws:PrincipalArn` names its calls by), once its policy exists.
    pub role_arn: Output<String>,
    /// The function's log group, once it exists.
    pub log_group: Output<String>,
    /// The version this deployment published (`$LATEST` for a function that publishes none:
    /// those not in `donut_config::release::ALIASED`).
    pub version: Output<String>,
}

/// An aliased function's `live` alias (`donut_config::release::ALIAS`): what its triggers
/// invoke.
pub struct Alias {
    /// `arn:aws:lambda:<region>:<account>:function:<name>:live`: the API integrations' URI,
    /// the event source mapping's function.
    pub arn: Output<String>,
    /// The alias's name, once it exists: the API permissions' qualifier.
    pub name: Output<String>,
}

pub struct Compute {
    /// Every function, in `Function::ALL` order.
    pub functions: BTreeMap<Function, Deployed>,
    /// Known once the migrations ran: the routes wait for it, so nothing serves an old schema.
    pub migrated: Output<String>,
    /// The `live` alias of each function in `donut_config::release::ALIASED`.
    pub aliases: BTreeMap<Function, Alias>,
}

struct Spec {
    function: Function,
    description: &'static str,
    timeout_seconds: i32,
    env: Vec<(&'static str, Output<String>)>,
    statements: Vec<Statement>,
}

fn file_archive(path: String) -> HashMap<String, String> {
    HashMap::from([
        (ARCHIVE_SIG_KEY.to_owned(), FILE_ARCHIVE_SIG.to_owned()),
        ("path".to_owned(), path),
    ])
}

/// The fingerprint of some files' bytes: the migrate function's trigger. A file that cannot
/// be read stops the program (a silent empty hash would never trigger the migration).
fn fingerprint(paths: &[std::path::PathBuf]) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    for path in paths {
        bytes.extend(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    }
    Ok(crate::out::fnv_hex(&bytes))
}

/// A function's package, as `make lambdas` builds it.
fn package(stack: &Stack, name: &str) -> std::path::PathBuf {
    stack
        .root
        .join("target/lambda")
        .join(name)
        .join("bootstrap.zip")
}

fn declare_function(stack: &Stack, network: &Network, spec: Spec) -> Deployed {
    let kind = spec.function;
    // Only the functions that call the factory may reach the internet beyond the AWS APIs.
    let calls_factory = matches!(kind, Function::FactoryRequester | Function::FactoryWatchdog);
    let (sg, sg_arn) = if calls_factory {
        (
            &network.factory_caller_sg_id,
            &network.factory_caller_sg_arn,
        )
    } else {
        (&network.lambda_sg_id, &network.lambda_sg_arn)
    };
    // Lambda makes the function's network interfaces in its subnets with its security group.
    let mut statements = spec.statements;
    statements.extend(iam::vpc_access(
        &stack.config.region,
        &network.account_id,
        &network.private_subnet_arns,
        sg_arn,
    ));
    let vpc = pulumi_gestalt_rust::pulumi_combine!(network.private_subnet_ids.clone(), sg.clone())
        .map(|(subnets, sg)| {
            FunctionVpcConfig::builder()
                .subnet_ids(subnets)
                .security_group_ids(vec![sg])
                .build_struct()
        });
    declare_lambda_as(
        stack,
        Lambda {
            name: kind.name(),
            description: spec.description,
            timeout_seconds: spec.timeout_seconds,
            env: spec.env,
            statements,
            vpc: Some(vpc),
            // Its calls leave the VPC by routes that must exist before it runs (a first `up`
            // runs the migration as soon as migrate exists).
            waits_for: network.routes_for(calls_factory),
            reserved: stack.config.declared_reservation(kind).map(|n| n as i32),
        },
        donut_config::release::is_aliased(kind),
    )
}

/// A Lambda function of the stack, with its log group and its role.
pub struct Lambda {
    /// Its package's name under `target/lambda/` and the resources' (`<prefix>-<name>…`).
    pub name: &'static str,
    pub description: &'static str,
    pub timeout_seconds: i32,
    pub env: Vec<(&'static str, Output<String>)>,
    /// What its role allows (a function in the VPC: with [`iam::vpc_access`]'s statements).
    pub statements: Vec<Statement>,
    /// In the stack's VPC (its subnets and security group), or on Lambda's own network.
    pub vpc: Option<Output<FunctionVpcConfig>>,
    /// What the function must not be created before, besides its role's policy (ids): the
    /// routes its calls take out of the VPC.
    pub waits_for: Vec<Output<String>>,
    pub reserved: Option<i32>,
}

/// The memory of the function packaged as `name`: the stage's size for it (the factory
/// simulator, not one of the shop's functions, takes the stage's `lambdaMemoryMb`).
fn memory_mb(stack: &Stack, name: &str) -> u32 {
    Function::ALL
        .into_iter()
        .find(|f| f.name() == name)
        .map_or(stack.config.lambda_memory_mb, |f| stack.config.memory_mb(f))
}

pub fn declare_lambda(stack: &Stack, spec: Lambda) -> Deployed {
    declare_lambda_as(stack, spec, false)
}

/// [`declare_lambda`], publishing a version on every change of its code or configuration when
/// `publish` (the provider's `publish`: the function's `version` output is the new one).
fn declare_lambda_as(stack: &Stack, spec: Lambda, publish: bool) -> Deployed {
    let ctx = stack.ctx;
    let name = spec.name;
    // Names are the provider's (logical name + a random suffix), so two stacks of one stage
    // share an account without colliding; the function logs to its group by configuration.
    let logs = log_group::create(
        ctx,
        &stack.name(&format!("{name}-logs")),
        log_group::LogGroupArgs::builder()
            .tags(stack.tags())
            .retention_in_days(stack.config.log_retention_days as i32)
            .build_struct(),
    );
    let mut statements = spec.statements;
    statements.push(Statement::new(
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![logs.arn.map(|arn| format!("{arn}:*"))],
    ));
    statements.push(iam::tracing());
    let role = function_role(stack, name, statements);
    let zip = package(stack, name);
    let created = function::create(
        ctx,
        &stack.name(name),
        function::FunctionArgs::builder()
            .tags(stack.tags())
            .description(spec.description)
            .role(crate::out::after_all(&role.arn, &spec.waits_for))
            .runtime("provided.al2023")
            .handler("bootstrap")
            .architectures(vec!["arm64"])
            .code(file_archive(zip.display().to_string()))
            .memory_size(memory_mb(stack, spec.name) as i32)
            .maybe_reserved_concurrent_executions(spec.reserved)
            .timeout(spec.timeout_seconds)
            .environment(map(spec.env).map(|vars| {
                FunctionEnvironment::builder()
                    .variables(vars)
                    .build_struct()
            }))
            .maybe_vpc_config(spec.vpc)
            .logging_config(logs.name.map(|group| {
                FunctionLoggingConfig::builder()
                    .log_format("Text".to_owned())
                    .log_group(group)
                    .build_struct()
            }))
            .tracing_config(
                FunctionTracingConfig::builder()
                    .mode("Active".to_owned())
                    .build_struct(),
            )
            .maybe_publish(publish.then_some(true))
            .build_struct(),
    );
    Deployed {
        name: created.name,
        arn: created.arn,
        role_arn: role.arn,
        log_group: logs.name,
        version: created.version,
    }
}

/// The `live` alias of each aliased function, created at the version the first deployment
/// published. Later deployments publish new versions and leave the alias where it is: its
/// `functionVersion`, `routingConfig` and `description` (where the rollout tool records the
/// release) are the provider's `ignoreChanges` (`crate::dependencies::IGNORED_CHANGES`, which
/// the engine relay adds, as gestalt cannot); the rollout tool moves it to the version in the
/// `releases` output. Keep its other inputs as they are: a change of one makes the provider
/// update the alias with the version and routing the state holds — the first version, unless a
/// `pulumi refresh` has read where the rollout tool put it since.
fn declare_aliases(
    stack: &Stack,
    functions: &BTreeMap<Function, Deployed>,
) -> BTreeMap<Function, Alias> {
    donut_config::release::ALIASED
        .into_iter()
        .map(|kind| {
            let function = &functions[&kind];
            let created = alias::create(
                stack.ctx,
                &stack.name(&format!("{}-{}", kind.name(), donut_config::release::ALIAS)),
                alias::AliasArgs::builder()
                    .function_name(function.name.clone())
                    .function_version(function.version.clone())
                    .name(donut_config::release::ALIAS)
                    .description(format!(
                        "What every trigger of {} invokes: the rollout tool moves it from one published version to the next",
                        kind.name()
                    ))
                    .build_struct(),
            );
            (
                kind,
                Alias {
                    arn: created.arn,
                    name: created.name,
                },
            )
        })
        .collect()
}

/// Every function and what feeds it, in the order a deployment needs them: the migrate
/// function and its run, then the functions that serve (configured after the migration, so
/// new code never meets an old schema), the queue feeding the requester, the sweep schedule.
pub fn declare(
    stack: &Stack,
    network: &Network,
    data: &Data,
    messaging: &Messaging,
    callback_base_url: &Output<String>,
    factory: &crate::factory::Factory,
) -> anyhow::Result<Compute> {
    let factory_url = &factory.url;
    let c = &stack.config;
    // Every function's settings are its contract (donut_contract::settings), made from the
    // stage config and this deployment (donut_config::contracts, as the local stack makes
    // them), written here and read by the function. Each reaches the database as the
    // application user — only `migrate` logs in as the master user, and always at the
    // instance; the others through the proxy when there is one — with its share of the
    // connection budget (donut_config::capacity).
    let database = |function: Function| {
        let (login, host) = match function {
            Function::Migrate => (&data.db_secret_arn, &data.db_address),
            // The operators' function logs in as its own user (its own grants), by the same way.
            Function::AdminApi => (&data.operator_db_secret_arn, &data.serving_address),
            _ => (&data.app_db_secret_arn, &data.serving_address),
        };
        Database {
            secret_arn: login.clone(),
            host: host.clone(),
            port: DB_PORT as u16,
            name: DB_NAME.to_owned(),
            // TLS, the server verified against the RDS CA bundle `make lambdas` packs.
            tls_ca: Some(RDS_CA_IN_PACKAGE.to_owned()),
            pool_size: c.db_connections_per_instance(function),
            idle_seconds: u64::from(c.capacity.db_idle_seconds),
        }
    };
    let deployment = Deployment {
        database: &database,
        stock_out_topic_arn: messaging.topic_arn.clone(),
        ops_topic_arn: messaging.ops_topic_arn.clone(),
        callback_base_url: callback_base_url.clone(),
        callback_secret_arn: data.callback_secret_arn.clone(),
        callback_key_version: data.callback_key_version.clone(),
        factory_url: factory_url.clone(),
    };
    let plain = |value: String| known(value);
    // The secrets a serving function reads (`secrets_read_by`).
    let its_secrets = |function: Function| {
        Statement::new(
            &["secretsmanager:GetSecretValue"],
            secrets_read_by(function)
                .iter()
                .map(|secret| data.arn_of(*secret))
                .collect(),
        )
    };
    // The functions that call the factory (requester, watchdog) sign their calls to the
    // simulator's IAM-authorized URL, where the stage deploys it: allowed on it alone.
    let calls_simulator = || {
        factory
            .simulator
            .as_ref()
            .map(|simulator| crate::factory::caller_statement(&simulator.arn))
    };
    let publish = || Statement::new(&["sns:Publish"], vec![messaging.topic_arn.clone()]);
    // Publishing to an encrypted topic uses its key.
    let topic_key = || {
        Statement::new(
            &["kms:GenerateDataKey", "kms:Decrypt"],
            vec![messaging.topic_key_arn.clone()],
        )
    };

    let migrate = declare_function(
        stack,
        network,
        Spec {
            function: Function::Migrate,
            description: "Applies the warehouse schema migrations, keeps the functions' and the operators' database users (and the dev seed)",
            timeout_seconds: 120,
            env: settings::Migrate::to_env(
                &c.migrate(
                    &deployment,
                    data.app_db_secret_arn.clone(),
                    data.operator_db_secret_arn.clone(),
                    crate::network::VPC_MYSQL_HOSTS,
                ),
                &plain,
            ),
            statements: vec![
                Statement::new(
                    &["secretsmanager:GetSecretValue"],
                    vec![data.db_secret_arn.clone()],
                ),
                // The functions' login and the operators' function's: each made once, kept in its
                // own secret.
                Statement::new(
                    &[
                        "secretsmanager:GetSecretValue",
                        "secretsmanager:PutSecretValue",
                    ],
                    secrets_read_by(Function::Migrate)
                        .iter()
                        .map(|secret| data.arn_of(*secret))
                        .collect(),
                ),
                // GetRandomPassword has no resource to name.
                Statement::new(
                    &["secretsmanager:GetRandomPassword"],
                    vec![known("*".to_owned())],
                ),
            ],
        },
    );
    let migrated = migrate_on_deploy(stack, &migrate)?;

    let serving = vec![
        Spec {
            function: Function::SalesApi,
            description: "Sales API: orders and stock levels",
            timeout_seconds: 10,
            env: settings::SalesApi::to_env(&c.sales_api(&deployment), &plain),
            statements: vec![its_secrets(Function::SalesApi), publish(), topic_key()],
        },
        Spec {
            function: Function::AdminApi,
            description: "The operators' API (/admin/…, IAM-authorized): the catalogue, stock adjustments, factory orders",
            timeout_seconds: 10,
            env: settings::AdminApi::to_env(&c.admin_api(&deployment), &plain),
            // Its own login only (never the functions'); an adjustment's stock-out is published
            // at once, as a sale's is.
            statements: vec![its_secrets(Function::AdminApi), publish(), topic_key()],
        },
        Spec {
            function: Function::WarehouseRestock,
            description: "The legacy factory's signed callback: restocks once per factory order",
            timeout_seconds: 10,
            env: settings::WarehouseRestock::to_env(&c.warehouse_restock(&deployment), &plain),
            statements: vec![its_secrets(Function::WarehouseRestock)],
        },
        Spec {
            function: Function::FactoryRequester,
            description: "Stock-out events from SQS to the legacy Factory API",
            timeout_seconds: c.queue.requester_timeout_seconds as i32,
            env: settings::FactoryRequester::to_env(&c.factory_requester(&deployment), &plain),
            statements: vec![
                its_secrets(Function::FactoryRequester),
                // A failed message's visibility runs out by itself. `infra/tests/least_privilege.rs`
                // holds the calls seen to these.
                iam::queue_consumer(&messaging.queue_arn),
            ]
            .into_iter()
            .chain(calls_simulator())
            .collect(),
        },
        Spec {
            function: Function::OutboxRelay,
            description: "Publishes stock-out events the outbox still holds",
            timeout_seconds: sweep_timeout_seconds(c) as i32,
            env: settings::OutboxRelay::to_env(&c.outbox_relay(&deployment), &plain),
            statements: vec![its_secrets(Function::OutboxRelay), publish(), topic_key()],
        },
        Spec {
            function: Function::FactoryWatchdog,
            description: "Chases factory orders that stopped moving (asks again, republishes stalled stock-outs); then alerts ops",
            timeout_seconds: sweep_timeout_seconds(c) as i32,
            env: settings::FactoryWatchdog::to_env(&c.factory_watchdog(&deployment), &plain),
            statements: vec![
                its_secrets(Function::FactoryWatchdog),
                Statement::new(&["sns:Publish"], vec![messaging.ops_topic_arn.clone()]),
                topic_key(),
            ]
            .into_iter()
            .chain(calls_simulator())
            .collect(),
        },
    ];
    let mut functions: BTreeMap<Function, Deployed> = serving
        .into_iter()
        .map(|mut spec| {
            // The deploy's migration result: a function's configuration changes only once the
            // migration it needs has run.
            spec.env.push(("SCHEMA_MIGRATION", migrated.clone()));
            (spec.function, declare_function(stack, network, spec))
        })
        .collect();
    functions.insert(Function::Migrate, migrate);
    let aliases = declare_aliases(stack, &functions);
    feed_requester_from_queue(stack, messaging, &aliases[&Function::FactoryRequester]);
    sweep_on_schedule(stack, &functions);
    Ok(Compute {
        functions,
        migrated,
        aliases,
    })
}

/// The factory-requester consumes the queue: batches, partial failures, bounded concurrency.
/// The mapping invokes its `live` alias, so the alias's weights split the batches too.
fn feed_requester_from_queue(stack: &Stack, messaging: &Messaging, requester: &Alias) {
    let c = &stack.config;
    event_source_mapping::create(
        stack.ctx,
        &stack.name("factory-orders-to-requester"),
        event_source_mapping::EventSourceMappingArgs::builder()
            .tags(stack.tags())
            .event_source_arn(messaging.queue_arn.clone())
            .function_name(requester.arn.clone())
            .batch_size(c.queue.batch_size as i32)
            .function_response_types(vec!["ReportBatchItemFailures"])
            .scaling_config(
                EventSourceMappingScalingConfig::builder()
                    .maximum_concurrency(c.queue.max_concurrency as i32)
                    .build_struct(),
            )
            .build_struct(),
    );
}

/// The sweep: every `relayScheduleMinutes`, the outbox relay and the factory-order watchdog.
///
/// One run per period, each within it: the schedule invokes asynchronously, and Lambda would
/// run a failed run again one and two minutes later (its default two retries), on top of the
/// next scheduled runs, so that a sweep that fails by timing out would need three instances
/// where it reserves one and throttle itself. A failed sweep is not retried — the next
/// scheduled run is its retry — and an event older than the period is dropped (the next run
/// does its work).
fn sweep_on_schedule(stack: &Stack, functions: &BTreeMap<Function, Deployed>) {
    let ctx = stack.ctx;
    let period_seconds = stack.config.relay_schedule_minutes as i32 * 60;
    let schedule = event_rule::create(
        ctx,
        &stack.name("sweep"),
        event_rule::EventRuleArgs::builder()
            .tags(stack.tags())
            .description("Publishes what the outbox still holds; chases overdue factory orders")
            .schedule_expression(match stack.config.relay_schedule_minutes {
                1 => "rate(1 minute)".to_owned(),
                n => format!("rate({n} minutes)"),
            })
            .build_struct(),
    );
    for scheduled in SCHEDULED {
        let (key, function) = (scheduled.name(), &functions[&scheduled]);
        let allowed = permission::create(
            ctx,
            &stack.name(&format!("{key}-schedule-invoke")),
            permission::PermissionArgs::builder()
                .action("lambda:InvokeFunction")
                .function(function.name.clone())
                .principal("events.amazonaws.com")
                .source_arn(schedule.arn.clone())
                .build_struct(),
        );
        let one_run_per_period = function_event_invoke_config::create(
            ctx,
            &stack.name(&format!("{key}-async")),
            function_event_invoke_config::FunctionEventInvokeConfigArgs::builder()
                .function_name(function.name.clone())
                .maximum_retry_attempts(0)
                // Lambda's least (60 s): the next run is at most a period away.
                .maximum_event_age_in_seconds(period_seconds.max(60))
                .build_struct(),
        );
        event_target::create(
            ctx,
            &stack.name(&format!("{key}-schedule")),
            event_target::EventTargetArgs::builder()
                .rule(schedule.name.clone())
                .target_id(key)
                // Invoked once it may, and runs once per event.
                .arn(crate::out::after_all(
                    &function.arn,
                    &[allowed.id, one_run_per_period.id],
                ))
                .build_struct(),
        );
    }
}

/// Runs the migrate function on every deployment whose migrations or migrate code changed;
/// its result is known once the schema is current.
fn migrate_on_deploy(stack: &Stack, migrate: &Deployed) -> anyhow::Result<Output<String>> {
    let migrations_dir = stack.root.join("crates/warehouse/migrations");
    let mut migration_files: Vec<_> = std::fs::read_dir(&migrations_dir)
        .with_context(|| format!("reading the migrations in {}", migrations_dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    migration_files.sort();
    let migrate_zip = package(stack, Function::Migrate.name());
    let triggers = HashMap::from([
        ("migrations".to_owned(), fingerprint(&migration_files)?),
        (
            "code".to_owned(),
            fingerprint(&[migrate_zip]).context("build the functions first: `make lambdas`")?,
        ),
    ]);
    let migration = invocation::create(
        stack.ctx,
        &stack.name("migrate-on-deploy"),
        invocation::InvocationArgs::builder()
            .function_name(migrate.name.clone())
            .input(json!({ "seed": stack.config.seed_products }).to_string())
            .triggers(triggers)
            .build_struct(),
    );
    Ok(migration.result)
}
