//! `donut-cli`: what ops need when the alarm e-mail arrives.
//!
//! Against the local stack by default (LocalStack on 127.0.0.1:4566); `--aws` uses the
//! ordinary AWS credential chain instead, in the stack's Region (`aws:region` of
//! `Pulumi.<stage>.yaml`; `--region` overrides).

use anyhow::Context;
use clap::{Parser, Subcommand};
use donut_cli::{Chasing, Queues, after_purge, inbox, list, purge, replay, stack_outputs};
use donut_config::StageConfig;

#[derive(Parser)]
#[command(name = "donut-cli", about = "Donut-States ops toolbox", version)]
struct Cli {
    /// The stage whose resources to act on (reads Pulumi.<stage>.yaml).
    #[arg(long, global = true, default_value = "dev")]
    stage: String,
    /// Talk to real AWS (the credential chain) instead of the local LocalStack, in the stack's
    /// Region (`aws:region` of Pulumi.<stage>.yaml), whatever AWS_REGION or the profile say.
    #[arg(long, global = true)]
    aws: bool,
    /// Call this Region instead of the stack's.
    #[arg(long, global = true)]
    region: Option<String>,
    /// The LocalStack endpoint.
    #[arg(
        long,
        global = true,
        env = "DONUT_AWS_ENDPOINT",
        default_value = "http://127.0.0.1:4566"
    )]
    endpoint: String,
    /// The stack's outputs (`pulumi stack output --json > outputs.json`): its queues are found
    /// by them. With `--aws` and no file, `pulumi stack output --json --stack <stage>` is run.
    /// Without either, the local stack's queues are found by name.
    #[arg(long, global = true, env = "DONUT_STACK_OUTPUTS")]
    outputs: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The dead-letter queue of factory orders.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Factory orders that stopped moving: show one, ask the factory again, or give up on it.
    /// Talks to the warehouse itself (`--database-url`; on AWS from inside the VPC).
    Orders {
        #[command(subcommand)]
        action: OrdersAction,
        /// The warehouse (the local stack's by default).
        #[arg(
            long,
            env = "DONUT_DATABASE_URL",
            default_value = "mysql://donut:donut@127.0.0.1:3307/donut"
        )]
        database_url: String,
    },
    /// Before a deploy: reads the account's Lambda concurrency (quota, what is unreserved, what
    /// the stage's deployed functions reserve) and checks the stage against it: its reservations
    /// must leave 100 unreserved; a refusal names the quota to request. Creates nothing.
    /// `make deploy` runs it.
    Preflight {
        /// Print only the quota (for `pulumi config set donut-states:lambdaConcurrencyQuota`).
        #[arg(long)]
        print_quota: bool,
    },
    /// After a deploy (`make smoke`): buys a product until it is out of stock, sees the 409 and
    /// its factory order, looks an order up, times the restock, checks the dead-letter queue;
    /// one line per step, a non-zero exit on any failure. The API is `--api-url`, else the
    /// stack output `apiUrl` (with `--aws` or `--outputs`), else the local stack's.
    Smoke {
        #[arg(long)]
        api_url: Option<String>,
        /// The product to sell out (default: the one with the least stock).
        #[arg(long)]
        product: Option<String>,
        /// Refuse to sell out a product holding more units than this.
        #[arg(long, default_value_t = 500)]
        max_units: u32,
        /// How long to wait for the restock after the stock-out.
        #[arg(long, default_value_t = 180)]
        restock_timeout_seconds: u64,
        /// The DLQ-depth alarm's name, for the ops path (DLQ → ALARM → OK), which runs where
        /// the factory is the simulator: the local stack (`<project>-<stage>-dlq-depth`), or a
        /// stage that deploys it (the stack output `dlqAlarmName`).
        #[arg(long)]
        alarm_name: Option<String>,
        /// Leave the ops path out.
        #[arg(long)]
        skip_ops: bool,
        /// How long the DLQ alarm may take to go to ALARM, and to clear: 120 s locally, 1200 s
        /// on a deployed stack (SQS sends its metrics to CloudWatch once a minute at best, and
        /// an idle queue's take up to 15 minutes to come back).
        #[arg(long)]
        ops_timeout_seconds: Option<u64>,
        /// How long a metric an alarm watches may take to appear (the last step: every alarm
        /// watches a metric that exists): 30 s locally, 900 s on a deployed stack (CloudWatch
        /// lists a new metric within 15 minutes).
        #[arg(long)]
        alarm_metrics_grace_seconds: Option<u64>,
    },
    /// Ops' side of things.
    Ops {
        #[command(subcommand)]
        action: OpsAction,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// Show what sits in the DLQ: id, age, receive count, a summary of the body.
    List {
        /// Show at most this many messages.
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
    /// Move messages back to the factory-orders queue (send first, then delete: an
    /// interruption may duplicate a message, never lose one; consumers are idempotent).
    Replay {
        #[arg(long, default_value_t = 100)]
        max: usize,
        /// Say what would move, move nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Show what deleting the DLQ's messages would drop, and what becomes of each one's
    /// factory order; with --yes, delete exactly those messages.
    Purge {
        /// Delete them (cannot be undone); without it, only the plan is shown.
        #[arg(long)]
        yes: bool,
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
}

#[derive(Subcommand)]
enum OrdersAction {
    /// A factory order: state, attempts, chases.
    Show { factory_order_id: String },
    /// Back to `open` with its stock-out published again (same id: restocked once). A repeat
    /// within one visibility timeout changes nothing.
    ReRequest { factory_order_id: String },
    /// Give up on it: the product's next stock-out opens a new order.
    Cancel { factory_order_id: String },
}

#[derive(Subcommand)]
enum OpsAction {
    /// The e-mails the local stack captured (alarm notifications and alerts to ops).
    Inbox,
    /// One screen of the metrics the local stack logged (counts, and timings' percentiles).
    Metrics {
        /// The JSON-lines log to read.
        #[arg(long, default_value = ".local/logs/donut-local.jsonl")]
        log: std::path::PathBuf,
    },
}

/// The SDK configuration: AWS (`--aws`) in the stack's Region, or LocalStack.
async fn aws(cli: &Cli, stage: &StageConfig) -> aws_config::SdkConfig {
    let choice = donut_cli::region::choose_region(
        &cli.stage,
        &stage.region,
        cli.region.as_deref(),
        donut_cli::region::env_region()
            .as_deref()
            .filter(|_| cli.aws),
    );
    if let Some(note) = &choice.note {
        eprintln!("donut-cli: {note}");
    }
    if cli.aws {
        donut_cli::region::aws_config(&choice.region).await
    } else {
        donut_local::localstack_config(&cli.endpoint, &choice.region).await
    }
}

fn stage(cli: &Cli) -> anyhow::Result<StageConfig> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    Ok(StageConfig::from_stack_file(
        &cli.stage,
        &root.join(format!("Pulumi.{}.yaml", cli.stage)),
    )?)
}

/// The stack's outputs when acting on a deployed stack (`--outputs` or `--aws`), else none.
fn deployed_outputs(cli: &Cli) -> anyhow::Result<Option<serde_json::Value>> {
    if cli.outputs.is_some() || cli.aws {
        stack_outputs(cli.outputs.as_deref(), &cli.stage).map(Some)
    } else {
        Ok(None)
    }
}

async fn queues(cli: &Cli) -> anyhow::Result<Queues> {
    let stage = stage(cli)?;
    let aws = aws(cli, &stage).await;
    queues_of(&aws, &stage, deployed_outputs(cli)?.as_ref()).await
}

/// A deployed stack's queues by its outputs; the local stack's by name.
async fn queues_of(
    aws: &aws_config::SdkConfig,
    stage: &StageConfig,
    outputs: Option<&serde_json::Value>,
) -> anyhow::Result<Queues> {
    let sqs = aws_sdk_sqs::Client::new(aws);
    match outputs {
        Some(outputs) => Queues::from_outputs(sqs, outputs),
        None => Queues::find(sqs, &stage.prefix()).await,
    }
}

fn print_inbox(messages: &[serde_json::Value]) {
    for m in messages {
        let to = m["Destination"]["ToAddresses"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        println!("── {}  to {to}", m["Timestamp"].as_str().unwrap_or("?"));
        println!("   subject: {}", m["Subject"].as_str().unwrap_or(""));
        let text = m["Body"]["text_part"]
            .as_str()
            .or(m["Body"].as_str())
            .unwrap_or("");
        match serde_json::from_str::<serde_json::Value>(text) {
            // A CloudWatch alarm notification: say what it means.
            Ok(alarm) if alarm.get("AlarmName").is_some() => {
                println!(
                    "   {} → {}: {} ({})",
                    alarm["OldStateValue"].as_str().unwrap_or("?"),
                    alarm["NewStateValue"].as_str().unwrap_or("?"),
                    alarm["AlarmName"].as_str().unwrap_or("?"),
                    alarm["NewStateReason"].as_str().unwrap_or(""),
                );
                println!("   {}", alarm["AlarmDescription"].as_str().unwrap_or(""));
                println!("   at {}", alarm["StateChangeTime"].as_str().unwrap_or("?"));
            }
            _ => text.lines().take(12).for_each(|line| println!("   {line}")),
        }
    }
    println!("{} e-mail(s)", messages.len());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Ops {
            action: OpsAction::Inbox,
        } => print_inbox(&inbox(&cli.endpoint).await?),
        Command::Ops {
            action: OpsAction::Metrics { log },
        } => {
            let text = std::fs::read_to_string(log)
                .map_err(|e| anyhow::anyhow!("{}: {e}", log.display()))?;
            println!(
                "{:<24} {:>8} {:>14} {:>10} {:>10} {:>10}",
                "metric", "points", "sum", "p50", "p99", "max"
            );
            for m in donut_cli::metrics_summary(&text) {
                if m.unit == "Milliseconds" {
                    println!(
                        "{:<24} {:>8} {:>14} {:>8.1}ms {:>8.1}ms {:>8.1}ms",
                        m.name, m.points, "", m.p50, m.p99, m.max
                    );
                } else {
                    println!("{:<24} {:>8} {:>14.0}", m.name, m.points, m.sum);
                }
            }
        }
        Command::Orders {
            action,
            database_url,
        } => orders(&cli, action, database_url).await?,
        Command::Smoke {
            api_url,
            product,
            max_units,
            restock_timeout_seconds,
            alarm_name,
            skip_ops,
            ops_timeout_seconds,
            alarm_metrics_grace_seconds,
        } => {
            let stage = stage(&cli)?;
            let aws = aws(&cli, &stage).await;
            let outputs = deployed_outputs(&cli)?;
            let api_url = match (api_url, &outputs) {
                (Some(url), _) => url.clone(),
                (None, Some(o)) => o[donut_config::outputs::API_URL]
                    .as_str()
                    .context("the stack outputs name no apiUrl")?
                    .to_owned(),
                (None, None) => format!("http://127.0.0.1:{}", donut_local::API_PORT),
            };
            // Without the queues (no AWS access from here), the other steps still run.
            let queues = match queues_of(&aws, &stage, outputs.as_ref()).await {
                Ok(q) => Some(q),
                Err(e) => {
                    eprintln!("smoke: the dead-letter queue is not checked: {e:#}");
                    None
                }
            };
            let target = donut_cli::smoke::Target {
                api_url,
                product: product.clone(),
                max_quantity: stage.max_quantity,
                restock_timeout: std::time::Duration::from_secs(*restock_timeout_seconds),
                max_units: *max_units,
            };
            // The local stack always runs the simulator; a deployed stage when its config says so.
            let simulated = match &outputs {
                None => true,
                Some(_) => matches!(stage.factory, donut_config::LegacyFactory::Simulator(_)),
            };
            let alarm_name = match (alarm_name, &outputs) {
                (Some(name), _) => Some(name.clone()),
                (None, Some(o)) => o[donut_config::outputs::DLQ_ALARM_NAME]
                    .as_str()
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned),
                (None, None) => Some(donut_local::provision::dlq_alarm_name(&stage.prefix())),
            };
            let ops = match alarm_name {
                Some(alarm_name) if simulated && !*skip_ops => Some(donut_cli::smoke::Ops {
                    alarm_name,
                    cloudwatch: aws_sdk_cloudwatch::Client::new(&aws),
                    timeout: std::time::Duration::from_secs(
                        ops_timeout_seconds.unwrap_or(if outputs.is_some() { 1200 } else { 120 }),
                    ),
                }),
                _ => {
                    eprintln!(
                        "smoke: the ops path (DLQ → ALARM → OK) is not checked (skipped, no \
                         factory simulator in this stage, or no dlqAlarmName output)"
                    );
                    None
                }
            };
            let alarm_metrics = donut_cli::smoke::AlarmMetrics::of_stage(
                aws_sdk_cloudwatch::Client::new(&aws),
                &stage,
                outputs.as_ref(),
                std::time::Duration::from_secs(
                    alarm_metrics_grace_seconds.unwrap_or(if outputs.is_some() { 900 } else { 30 }),
                ),
            );
            let mut report = donut_cli::smoke::run(&target, queues.as_ref(), ops.as_ref()).await;
            donut_cli::smoke::alarm_metrics(&alarm_metrics, &mut report).await;
            print!("{}", report.render());
            if !report.passed() {
                std::process::exit(1);
            }
        }
        Command::Preflight { print_quota } => {
            let stage = stage(&cli)?;
            let aws = aws(&cli, &stage).await;
            let region = aws.region().map(ToString::to_string).unwrap_or_default();
            // The stage's deployed functions, by the stack's outputs (none before the first
            // deploy; not known when the outputs cannot be read, which only refuses more).
            let functions = deployed_outputs(&cli)
                .map(|o| {
                    o.as_ref()
                        .map(donut_cli::function_names)
                        .unwrap_or_default()
                })
                .map_err(|e| format!("{e:#}"));
            let lambda = aws_sdk_lambda::Client::new(&aws);
            let account = donut_cli::preflight::read_account(&lambda, &region, functions).await?;
            match donut_cli::preflight(&stage, &account) {
                Ok(cleared) => {
                    for line in &cleared.lines {
                        eprintln!("preflight: {line}");
                    }
                    if *print_quota {
                        println!("{}", account.quota.concurrent_executions);
                    }
                }
                Err(refusal) => {
                    anyhow::bail!(
                        "preflight refused the {} stage:\n{}",
                        stage.stage,
                        refusal.to_string().trim_end()
                    )
                }
            }
        }
        Command::Dlq { action } => {
            let q = queues(&cli).await?;
            match action {
                DlqAction::List { max } => {
                    let letters = list(&q, *max).await?;
                    println!("{:<38} {:>8} {:>8}  body", "message id", "age", "receives");
                    for l in &letters {
                        let age = l
                            .age_seconds
                            .map(|s| format!("{s}s"))
                            .unwrap_or_else(|| "?".into());
                        println!(
                            "{:<38} {age:>8} {:>8}  {}",
                            l.message_id, l.receive_count, l.summary
                        );
                    }
                    println!("{} message(s)", letters.len());
                }
                DlqAction::Replay { max, dry_run } => {
                    let verb = if *dry_run {
                        "would replay"
                    } else {
                        "replaying"
                    };
                    let moved = replay(&q, *max, *dry_run, |s| println!("{verb} {s}")).await?;
                    println!(
                        "{moved} message(s) {}",
                        if *dry_run {
                            "would be replayed"
                        } else {
                            "replayed"
                        }
                    );
                }
                DlqAction::Purge { yes, max } => {
                    let stage = stage(&cli)?;
                    let chasing = Chasing {
                        open_deadline_minutes: stage.open_order_deadline_minutes(),
                        max_attempts: stage.factory_max_attempts,
                    };
                    let letters = list(&q, *max).await?;
                    for l in &letters {
                        println!("{}  {}", l.message_id, l.summary);
                        println!("    then: {}", after_purge(l, chasing));
                    }
                    if !*yes {
                        println!(
                            "{} message(s) would be deleted (cannot be undone): add --yes",
                            letters.len()
                        );
                        return Ok(());
                    }
                    let ids = letters.iter().map(|l| l.message_id.clone()).collect();
                    let deleted = purge(&q, &ids).await?;
                    println!(
                        "deleted {deleted} of {} message(s) from {}",
                        letters.len(),
                        q.dlq
                    );
                }
            }
        }
    }
    Ok(())
}

async fn orders(cli: &Cli, action: &OrdersAction, database_url: &str) -> anyhow::Result<()> {
    use donut_domain::{FactoryOrderId, FactoryOrderOps, FactoryOrders, OpsOutcome};
    let parse = |raw: &str| {
        FactoryOrderId::parse(raw).map_err(|e| anyhow::anyhow!("factory order id {raw:?}: {e}"))
    };
    let config = donut_warehouse::DbConfig::from_url(database_url)
        .map_err(|e| anyhow::anyhow!("--database-url: {e}"))?;
    let warehouse = donut_warehouse::MySqlWarehouse::new(&config);
    let outcome = match action {
        OrdersAction::Show { factory_order_id } => {
            let id = parse(factory_order_id)?;
            match warehouse.factory_order(id).await? {
                Some(o) => println!(
                    "factory order {}: {} × {} (factory product {}), {}; factory request {}, \
                     {} request(s), {} chase(s); correlation id {}",
                    o.id,
                    o.quantity,
                    o.product_id,
                    o.factory_product_id,
                    o.status,
                    o.factory_request_id.as_deref().unwrap_or("(none)"),
                    o.request_attempts,
                    o.chases,
                    o.correlation_id
                ),
                None => anyhow::bail!("no factory order {id}"),
            }
            return Ok(());
        }
        OrdersAction::ReRequest { factory_order_id } => {
            let id = parse(factory_order_id)?;
            let stage = stage(cli)?;
            let not_within =
                std::time::Duration::from_secs(stage.queue.visibility_timeout_seconds.into());
            let outcome =
                donut_domain::services::re_request_order(&warehouse, id, not_within).await?;
            (
                id,
                outcome,
                "re-requested: open again, its stock-out published again",
            )
        }
        OrdersAction::Cancel { factory_order_id } => {
            let id = parse(factory_order_id)?;
            let outcome = warehouse.cancel(id).await?;
            (
                id,
                outcome,
                "cancelled: the product's next stock-out opens a new order",
            )
        }
    };
    let (id, outcome, done) = outcome;
    match outcome {
        OpsOutcome::Done { was } => println!("factory order {id} (was {was}) {done}"),
        OpsOutcome::Unchanged(status) => println!("factory order {id} is {status}: nothing to do"),
        OpsOutcome::InFlight(since) => println!(
            "factory order {id} was asked for {} s ago and is still on its way: nothing done",
            since.as_secs()
        ),
        OpsOutcome::UnknownOrder => anyhow::bail!("no factory order {id}"),
    }
    warehouse.close().await;
    Ok(())
}
