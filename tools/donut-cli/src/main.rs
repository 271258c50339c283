//! `donut-cli`: what ops need to run the shop, and when the alarm e-mail arrives.
//!
//! Against the local stack by default (LocalStack on 127.0.0.1:4566, the local API on
//! 127.0.0.1:8080, signed with LocalStack's `test`/`test`, the local operator's key); `--aws`
//! uses the ordinary AWS credential chain instead, in the stack's Region (`aws:region` of
//! `Pulumi.<stage>.yaml`; `--region` overrides), and the stack's outputs (`apiUrl`, the queues).

use anyhow::Context;
use clap::{ArgGroup, Parser, Subcommand};
use donut_api::contract::{NewProductRequest, ProductPatch, StockCount, StockDelta, StockRequest};
use donut_cli::operators::{self, Operators};
use donut_cli::signed::AdminClient;
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
    /// The API (the operators' commands and the smoke test): else the stack output `apiUrl`
    /// (with `--aws` or `--outputs`), else the local stack's (http://127.0.0.1:8080).
    #[arg(long, global = true, env = "DONUT_API_URL")]
    api_url: Option<String>,
    /// Your reference for the operators' commands' changes (an incident's or a ticket's id:
    /// letters, digits and `- _ . : / @ #`, at most 64), sent as `x-correlation-id`: the audit
    /// keeps it beside the correlation id the API makes (`catalogue apply`: one for the whole
    /// apply unless given).
    #[arg(long, global = true, alias = "correlation-id")]
    reference: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The catalogue, through the operators' API (signed; every change audited with the
    /// caller's IAM identity): list (retired ones too), show, create, set, retire, restore.
    Products {
        #[command(subcommand)]
        action: ProductsAction,
        /// Print the API's answer as it came (JSON).
        #[arg(long, global = true)]
        json: bool,
    },
    /// A shelf's stock, through the operators' API: adjusted by a delta or to a count, with a
    /// reason (audited). An adjustment that leaves it at or below the reorder point opens its
    /// factory order, as a sale does.
    Stock {
        #[command(subcommand)]
        action: StockAction,
        /// Print the API's answer as it came (JSON).
        #[arg(long, global = true)]
        json: bool,
    },
    /// The audit trail of catalogue and stock changes, newest first: who, when, what, why.
    Audit {
        /// Only this product's changes.
        #[arg(long)]
        product: Option<String>,
        /// At most this many (1–500; the API's default 100).
        #[arg(long)]
        limit: Option<u32>,
        /// Print the API's answer as it came (JSON).
        #[arg(long)]
        json: bool,
    },
    /// Factory orders, through the operators' API: the unfinished ones; one order; ask the
    /// factory again; give up on it.
    Orders {
        #[command(subcommand)]
        action: OrdersAction,
        /// Print the API's answer as it came (JSON).
        #[arg(long, global = true)]
        json: bool,
    },
    /// The catalogue as a committed file (TOML `[[product]]` tables; see
    /// docs/catalogue.example.toml).
    Catalogue {
        #[command(subcommand)]
        action: CatalogueAction,
    },
    /// The dead-letter queue of factory orders.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
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
    /// stack output `apiUrl` (with `--aws` or `--outputs`), else the local stack's. At the end
    /// it puts back, through the operators' API (signed: operator's credentials), exactly the
    /// units it sold.
    Smoke {
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
        /// A deployed stage whose factory is the real one (no simulator: a shop selling to real
        /// buyers) is refused unless this is given: the smoke test buys real units there (up to
        /// `--max-units`, put back afterwards) and the real factory makes real donuts.
        #[arg(long)]
        real_shop: bool,
    },
    /// A buyer's token for the local stack of a stage with `buyerAuth`: signed by the local
    /// issuer (a test-only key the local gateway trusts, nothing on AWS does), the stage's issuer
    /// and first audience. Print it, then `curl -H "Authorization: Bearer $(donut-cli buyer-token
    /// --sub ann)" …`.
    BuyerToken {
        /// The buyer (the token's `sub`).
        #[arg(long)]
        sub: String,
        /// How long it is good for.
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: u64,
    },
    /// After `pulumi up`: each function's new version goes live through its `live` alias —
    /// as a canary (`canaryPercent` % for `canaryMinutes`, watched by its canary alarms, then
    /// all) or all at once (0 %) — and old versions beyond `keepVersions` are deleted. Reads the
    /// stack output `releases` (`--releases FILE`, else `pulumi stack output --json releases
    /// --stack <stage>` with `--aws`). Safe to run again at any time: the alias is its state
    /// (a canary resumes, a rollback stays). Exit: 0 live, 3 rolled back by a canary alarm
    /// (named), 4 rolled back for too little canary traffic, 1 anything else (run again).
    Release {
        /// The `releases` output as JSON (`pulumi stack output --json releases > r.json`; the
        /// local stack provides the same object).
        #[arg(long)]
        releases: Option<std::path::PathBuf>,
        /// The Lambda API (the local stack's stand-in; without `--aws`, required).
        #[arg(long, env = "DONUT_LAMBDA_ENDPOINT")]
        lambda_endpoint: Option<String>,
        /// Invocations the canary must serve before it is promoted.
        #[arg(long, default_value_t = 10)]
        min_invocations: u64,
        /// Without them, the hold goes on up to this many times `canaryMinutes`, then the
        /// canary is rolled back.
        #[arg(long, default_value_t = 3)]
        max_hold_factor: u32,
        /// Release a version again although it was rolled back (wait for its canary alarms
        /// to be OK first: one still in ALARM rolls it back at once).
        #[arg(long)]
        retry: bool,
        /// How often the canary alarms are read.
        #[arg(long, default_value_t = 5)]
        poll_seconds: u64,
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
enum ProductsAction {
    /// Every product, retired ones too.
    List,
    /// One product.
    Show { product_id: String },
    /// A new product, on sale at once.
    Create {
        product_id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        price_cents: i64,
        /// The shelf's stock to start with.
        #[arg(long)]
        stock: u32,
        /// At or below this stock, a factory order is opened.
        #[arg(long)]
        reorder_point: u32,
        /// How many one factory order asks for.
        #[arg(long)]
        reorder_quantity: u32,
        /// The product's id in the legacy factory's catalogue.
        #[arg(long)]
        factory_product_id: String,
    },
    /// Changes a product's fields (those given; the others stay). Stock is not one of them:
    /// `stock adjust`.
    Set {
        product_id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        price_cents: Option<i64>,
        #[arg(long)]
        reorder_point: Option<u32>,
        #[arg(long)]
        reorder_quantity: Option<u32>,
        #[arg(long)]
        factory_product_id: Option<String>,
    },
    /// Takes a product off sale: buyers no longer see it nor buy it (404); its stock is kept.
    Retire { product_id: String },
    /// Brings a retired product back on sale.
    Restore { product_id: String },
}

#[derive(Subcommand)]
enum StockAction {
    /// Adds or takes units (`--delta`, e.g. `--delta -3` for breakage, `--delta 24` for a
    /// delivery) or sets the counted stock (`--count`), with a reason the audit keeps.
    #[command(group(ArgGroup::new("change").required(true).args(["delta", "count"])))]
    Adjust {
        product_id: String,
        /// Units added (positive) or taken away (negative).
        #[arg(long, allow_negative_numbers = true)]
        delta: Option<i64>,
        /// The shelf was counted: it holds this many.
        #[arg(long)]
        count: Option<u32>,
        /// Why (1–512 characters; the audit keeps it).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum OrdersAction {
    /// The factory orders neither fulfilled nor cancelled, oldest first.
    List,
    /// A factory order: state, attempts, chases.
    Show { factory_order_id: String },
    /// Back to `open` with its stock-out published again (same id: restocked once). A repeat
    /// within one visibility timeout changes nothing.
    ReRequest { factory_order_id: String },
    /// Give up on it: the product's next stock-out opens a new order.
    Cancel { factory_order_id: String },
}

#[derive(Subcommand)]
enum CatalogueAction {
    /// Makes the live catalogue match FILE: prints the plan (create, change, restore, retire),
    /// then applies it. Never sets an existing product's stock (`stock adjust` does, with a
    /// reason); a file's `stock` is a new product's only.
    Apply {
        /// The catalogue (TOML; JSON of the same shape when it ends in .json).
        file: std::path::PathBuf,
        /// Also retire the products on sale that the file does not list.
        #[arg(long)]
        retire_missing: bool,
        /// Print the plan, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
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

/// The API: `--api-url`, else the stack output `apiUrl` (a deployed stack), else the local one.
fn api_url(cli: &Cli, outputs: Option<&serde_json::Value>) -> anyhow::Result<String> {
    Ok(match (&cli.api_url, outputs) {
        (Some(url), _) => url.clone(),
        (None, Some(o)) => o[donut_config::outputs::API_URL]
            .as_str()
            .context("the stack outputs name no apiUrl")?
            .to_owned(),
        (None, None) => format!("http://127.0.0.1:{}", donut_local::API_PORT),
    })
}

/// The operators' API, signed: LocalStack's key against the local stack, the SDK's credential
/// chain in the stack's Region with `--aws`.
async fn operators(cli: &Cli, default_reference: Option<String>) -> anyhow::Result<Operators> {
    let stage = stage(cli)?;
    let aws = aws(cli, &stage).await;
    let url = match &cli.api_url {
        Some(url) => url.clone(),
        None => api_url(cli, deployed_outputs(cli)?.as_ref())?,
    };
    let mut client = AdminClient::new(&aws, &url)?;
    if let Some(reference) = cli.reference.clone().or(default_reference) {
        if donut_domain::ClientReference::clean(&reference)
            .is_none_or(|kept| kept.as_str() != reference)
        {
            anyhow::bail!(
                "--reference {reference:?}: letters, digits and - _ . : / @ # only, at most {}",
                donut_domain::ClientReference::MAX_LEN
            );
        }
        client = client.with_reference(reference);
    }
    Ok(Operators::new(client))
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

/// A failure (an API's refusal among them) is one line on stderr, its causes after colons, and
/// exit code 1.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("donut-cli: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::BuyerToken { sub, ttl_seconds } => {
            let stage = stage(&cli)?;
            anyhow::ensure!(
                !cli.aws && cli.outputs.is_none(),
                "buyer-token mints for the local stack only: on AWS a buyer's token is the \
                 identity provider's"
            );
            let auth = stage.buyer_auth.as_ref().with_context(|| {
                format!(
                    "stage {} has no buyerAuth: its buyers are anonymous",
                    stage.stage
                )
            })?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            println!(
                "{}",
                donut_apigw::jwt::local_issuer::mint(&serde_json::json!({
                    "iss": auth.issuer,
                    "aud": auth.audience.first(),
                    "sub": sub,
                    "iat": now,
                    "exp": now + ttl_seconds,
                }))
            );
        }
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
        Command::Products { action, json } => {
            let api = operators(&cli, None).await?;
            print!("{}", products(&api, action, *json).await?);
        }
        Command::Stock { action, json } => {
            let api = operators(&cli, None).await?;
            print!("{}", stock(&api, action, *json).await?);
        }
        Command::Audit {
            product,
            limit,
            json,
        } => {
            let api = operators(&cli, None).await?;
            let answer = api.audit(product.as_deref(), *limit).await?;
            print!(
                "{}",
                if *json {
                    operators::json(&answer.raw)
                } else {
                    operators::render_audit(&answer.value.entries)
                }
            );
        }
        Command::Orders { action, json } => {
            let api = operators(&cli, None).await?;
            print!("{}", orders(&api, action, *json).await?);
        }
        Command::Catalogue {
            action:
                CatalogueAction::Apply {
                    file,
                    retire_missing,
                    dry_run,
                },
        } => {
            let run = uuid::Uuid::new_v4().simple().to_string();
            let api = operators(&cli, Some(format!("catalogue-apply-{run}"))).await?;
            donut_cli::catalogue::apply_file(&api, file, *retire_missing, *dry_run, &mut |line| {
                println!("{line}")
            })
            .await?;
        }
        Command::Smoke {
            product,
            max_units,
            restock_timeout_seconds,
            alarm_name,
            skip_ops,
            ops_timeout_seconds,
            alarm_metrics_grace_seconds,
            real_shop,
        } => {
            let stage = stage(&cli)?;
            let aws = aws(&cli, &stage).await;
            let outputs = deployed_outputs(&cli)?;
            let real_factory = !matches!(stage.factory, donut_config::LegacyFactory::Simulator(_));
            if outputs.is_some() && real_factory && !*real_shop {
                anyhow::bail!(
                    "stage {} calls the real factory: the smoke test would buy up to {max_units} \
                     real units from its shop (put back afterwards) and have the factory make \
                     real donuts. Run it there on purpose: `make smoke STAGE={} \
                     SMOKE_FLAGS=--real-shop` (and `--max-units` to bound it)",
                    stage.stage,
                    stage.stage
                );
            }
            let api_url = api_url(&cli, outputs.as_ref())?;
            // Without the queues (no AWS access from here), the other steps still run.
            let queues = match queues_of(&aws, &stage, outputs.as_ref()).await {
                Ok(q) => Some(q),
                Err(e) => {
                    eprintln!("smoke: the dead-letter queue is not checked: {e:#}");
                    None
                }
            };
            let target = donut_cli::smoke::Target {
                api_url: api_url.clone(),
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
                    aws: aws.clone(),
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
            // The shop as the smoke found it (but for the factory's restocks), before the
            // alarm-metrics step's wait.
            donut_cli::smoke::put_back(&aws, &api_url, &mut report).await;
            donut_cli::smoke::alarm_metrics(&alarm_metrics, &mut report).await;
            print!("{}", report.render());
            if !report.passed() {
                std::process::exit(1);
            }
        }
        Command::Release {
            releases,
            lambda_endpoint,
            min_invocations,
            max_hold_factor,
            retry,
            poll_seconds,
        } => {
            let stage = stage(&cli)?;
            let aws = aws(&cli, &stage).await;
            let json: serde_json::Value = match releases {
                Some(path) => serde_json::from_str(
                    &std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                )
                .context("the releases file is not JSON")?,
                None if cli.aws => donut_cli::stack_outputs(None, &cli.stage)?
                    .get(donut_config::outputs::RELEASES)
                    .cloned()
                    .context(
                        "the stack has no `releases` output (deployed before gradual releases?)",
                    )?,
                None => anyhow::bail!("give --releases FILE (the local stack's releases)"),
            };
            let releases = donut_cli::release::parse_releases(&json)?;
            let mut lambda = aws_sdk_lambda::config::Builder::from(&aws);
            match (lambda_endpoint, cli.aws) {
                (Some(endpoint), _) => lambda = lambda.endpoint_url(endpoint),
                (None, true) => {}
                (None, false) => {
                    anyhow::bail!("give --lambda-endpoint (the local stack's Lambda API)")
                }
            }
            let lambda = donut_cli::release::aws::SdkLambda(aws_sdk_lambda::Client::from_conf(
                lambda.build(),
            ));
            let watch = donut_cli::release::aws::SdkWatch(aws_sdk_cloudwatch::Client::new(&aws));
            let policy = donut_cli::release::Policy {
                min_invocations: *min_invocations,
                max_hold_factor: *max_hold_factor,
                retry: *retry,
            };
            let pace = donut_cli::release::Pace {
                poll: std::time::Duration::from_secs((*poll_seconds).max(1)),
                ..Default::default()
            };
            let (code, outcomes) = donut_cli::release::roll_out_all(
                std::sync::Arc::new(lambda),
                std::sync::Arc::new(watch),
                &releases,
                policy,
                pace,
            )
            .await;
            for (name, outcome) in &outcomes {
                match outcome {
                    Ok(o) => println!("release {name}: {o:?}"),
                    Err(e) => eprintln!("release {name}: failed: {e:#}"),
                }
            }
            std::process::exit(code);
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

/// `products …`: what to print.
async fn products(api: &Operators, action: &ProductsAction, json: bool) -> anyhow::Result<String> {
    let change = |done: &'static str, answer: operators::Answer<_>| {
        if json {
            operators::json(&answer.raw)
        } else {
            operators::render_change(done, &answer.value)
        }
    };
    Ok(match action {
        ProductsAction::List => {
            let answer = api.products().await?;
            if json {
                operators::json(&answer.raw)
            } else {
                operators::render_products(&answer.value.products)
            }
        }
        ProductsAction::Show { product_id } => {
            let answer = api.product(product_id).await?;
            if json {
                operators::json(&answer.raw)
            } else {
                operators::render_product(&answer.value)
            }
        }
        ProductsAction::Create {
            product_id,
            name,
            price_cents,
            stock,
            reorder_point,
            reorder_quantity,
            factory_product_id,
        } => {
            let request = NewProductRequest {
                product_id: product_id.clone(),
                name: name.clone(),
                price_cents: *price_cents,
                stock: *stock,
                reorder_point: *reorder_point,
                reorder_quantity: *reorder_quantity,
                factory_product_id: factory_product_id.clone(),
            };
            change("created", api.create(&request).await?)
        }
        ProductsAction::Set {
            product_id,
            name,
            price_cents,
            reorder_point,
            reorder_quantity,
            factory_product_id,
        } => {
            let patch = ProductPatch {
                name: name.clone(),
                price_cents: *price_cents,
                reorder_point: *reorder_point,
                reorder_quantity: *reorder_quantity,
                factory_product_id: factory_product_id.clone(),
                retired: None,
            };
            anyhow::ensure!(
                patch.name.is_some()
                    || patch.price_cents.is_some()
                    || patch.reorder_point.is_some()
                    || patch.reorder_quantity.is_some()
                    || patch.factory_product_id.is_some(),
                "nothing to set: give at least one of --name, --price-cents, --reorder-point, \
                 --reorder-quantity, --factory-product-id (stock: `stock adjust`)"
            );
            change("changed", api.update(product_id, &patch).await?)
        }
        ProductsAction::Retire { product_id } => {
            let patch = ProductPatch {
                retired: Some(true),
                ..ProductPatch::default()
            };
            change(
                "retired (off sale; its stock kept)",
                api.update(product_id, &patch).await?,
            )
        }
        ProductsAction::Restore { product_id } => {
            let patch = ProductPatch {
                retired: Some(false),
                ..ProductPatch::default()
            };
            change("restored (on sale)", api.update(product_id, &patch).await?)
        }
    })
}

/// `stock adjust`: what to print.
async fn stock(api: &Operators, action: &StockAction, json: bool) -> anyhow::Result<String> {
    let StockAction::Adjust {
        product_id,
        delta,
        count,
        reason,
    } = action;
    let request = match (delta, count) {
        (Some(delta), None) => StockRequest::By(StockDelta {
            delta: *delta,
            reason: reason.clone(),
        }),
        (None, Some(count)) => StockRequest::To(StockCount {
            count: *count,
            reason: reason.clone(),
        }),
        _ => anyhow::bail!("give one of --delta and --count"),
    };
    let answer = api.adjust(product_id, &request).await?;
    Ok(if json {
        operators::json(&answer.raw)
    } else {
        operators::render_change("adjusted", &answer.value)
    })
}

/// `orders …`: what to print.
async fn orders(api: &Operators, action: &OrdersAction, json: bool) -> anyhow::Result<String> {
    let action_text = |answer: operators::Answer<_>, done: &str| {
        if json {
            operators::json(&answer.raw)
        } else {
            operators::render_action(&answer.value, done)
        }
    };
    Ok(match action {
        OrdersAction::List => {
            let answer = api.factory_orders().await?;
            if json {
                operators::json(&answer.raw)
            } else {
                operators::render_factory_orders(&answer.value.factory_orders)
            }
        }
        OrdersAction::Show { factory_order_id } => {
            let answer = api.factory_order(factory_order_id).await?;
            if json {
                operators::json(&answer.raw)
            } else {
                operators::render_factory_order(&answer.value)
            }
        }
        OrdersAction::ReRequest { factory_order_id } => action_text(
            api.re_request(factory_order_id).await?,
            "re-requested: open again, its stock-out published again",
        ),
        OrdersAction::Cancel { factory_order_id } => action_text(
            api.cancel(factory_order_id).await?,
            "cancelled: the product's next stock-out opens a new order",
        ),
    })
}
