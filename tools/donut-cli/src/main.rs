//! `donut-cli`: what ops need when the alarm e-mail arrives.
//!
//! Against the local stack by default (LocalStack on 127.0.0.1:4566); `--aws` uses the
//! ordinary AWS credential chain and region instead.

use anyhow::Context;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use clap::{Parser, Subcommand};
use donut_config::StageConfig;

#[derive(Parser)]
#[command(name = "donut-cli", about = "Donut-States ops toolbox", version)]
struct Cli {
    /// The stage whose resources to act on (reads Pulumi.<stage>.yaml).
    #[arg(long, global = true, default_value = "dev")]
    stage: String,
    /// Talk to real AWS (credential chain, region) instead of the local LocalStack.
    #[arg(long, global = true)]
    aws: bool,
    /// The LocalStack endpoint.
    #[arg(
        long,
        global = true,
        env = "DONUT_AWS_ENDPOINT",
        default_value = "http://127.0.0.1:4566"
    )]
    endpoint: String,
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
    /// Delete every message in the DLQ.
    Purge {
        /// Required: purging cannot be undone.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum OpsAction {
    /// The e-mails the local stack captured (alarm notifications to ops).
    Inbox,
}

struct Queues {
    sqs: aws_sdk_sqs::Client,
    source: String,
    dlq: String,
}

async fn queues(cli: &Cli) -> anyhow::Result<Queues> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let stage =
        StageConfig::from_stack_file(&cli.stage, &root.join(format!("Pulumi.{}.yaml", cli.stage)))?;
    let aws = if cli.aws {
        aws_config::load_from_env().await
    } else {
        donut_local::localstack_config(&cli.endpoint, &stage.region).await
    };
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let url = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_url()
                .queue_name(&name)
                .send()
                .await
                .with_context(|| format!("queue {name} not found (is the stack up?)"))?
                .queue_url
                .context("queue URL")
        }
    };
    Ok(Queues {
        source: url(stage.name("factory-orders")).await?,
        dlq: url(stage.name("factory-orders-dlq")).await?,
        sqs,
    })
}

fn summary(body: &str) -> String {
    match donut_domain::StockOutEvent::from_json(body) {
        Ok(e) => format!(
            "stock-out {} → factory order {} ({} units, correlation {})",
            e.product_id, e.factory_order_id, e.quantity, e.correlation_id
        ),
        Err(_) => {
            let clipped: String = body.chars().take(80).collect();
            format!("unreadable: {clipped:?}")
        }
    }
}

async fn list(q: &Queues, max: usize) -> anyhow::Result<()> {
    // Peek: a zero visibility timeout leaves every message where it is.
    let mut seen = std::collections::HashSet::new();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    println!("{:<38} {:>8} {:>8}  body", "message id", "age", "receives");
    for _ in 0..10 {
        let out = q
            .sqs
            .receive_message()
            .queue_url(&q.dlq)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await?;
        let mut fresh = 0;
        for m in out.messages.unwrap_or_default() {
            let id = m.message_id.clone().unwrap_or_default();
            if seen.len() >= max || !seen.insert(id.clone()) {
                continue;
            }
            fresh += 1;
            let attrs = m.attributes.unwrap_or_default();
            let sent = attrs
                .get(&MessageSystemAttributeName::SentTimestamp)
                .and_then(|t| t.parse::<i64>().ok())
                .map(|ms| format!("{}s", now - ms / 1000))
                .unwrap_or_else(|| "?".into());
            let receives = attrs
                .get(&MessageSystemAttributeName::ApproximateReceiveCount)
                .cloned()
                .unwrap_or_default();
            println!(
                "{id:<38} {sent:>8} {receives:>8}  {}",
                summary(m.body.as_deref().unwrap_or(""))
            );
        }
        if fresh == 0 {
            break;
        }
    }
    println!("{} message(s)", seen.len());
    Ok(())
}

async fn replay(q: &Queues, max: usize, dry_run: bool) -> anyhow::Result<()> {
    let mut moved = 0;
    while moved < max {
        let out = q
            .sqs
            .receive_message()
            .queue_url(&q.dlq)
            .max_number_of_messages(10.min((max - moved) as i32))
            .visibility_timeout(if dry_run { 0 } else { 60 })
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body.clone().unwrap_or_default();
            println!(
                "{} {}",
                if dry_run { "would replay" } else { "replaying" },
                summary(&body)
            );
            if !dry_run {
                q.sqs
                    .send_message()
                    .queue_url(&q.source)
                    .message_body(&body)
                    .set_message_attributes(m.message_attributes.clone())
                    .send()
                    .await
                    .context("send back to the source queue (the message stays in the DLQ)")?;
                q.sqs
                    .delete_message()
                    .queue_url(&q.dlq)
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .send()
                    .await
                    .context(
                        "delete from the DLQ (the message was replayed; it may be replayed twice)",
                    )?;
            }
            moved += 1;
        }
        if dry_run {
            break;
        }
    }
    println!(
        "{moved} message(s) {}",
        if dry_run {
            "would be replayed"
        } else {
            "replayed"
        }
    );
    Ok(())
}

async fn inbox(endpoint: &str) -> anyhow::Result<()> {
    let url = format!("{}/_aws/ses", endpoint.trim_end_matches('/'));
    let body: serde_json::Value = reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?
        .json()
        .await?;
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    for m in &messages {
        let to = m["Destination"]["ToAddresses"].as_array().map(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        });
        println!(
            "── {}  to {}",
            m["Timestamp"].as_str().unwrap_or("?"),
            to.unwrap_or_default()
        );
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
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Ops {
            action: OpsAction::Inbox,
        } => inbox(&cli.endpoint).await,
        Command::Dlq { action } => {
            let q = queues(&cli).await?;
            match action {
                DlqAction::List { max } => list(&q, *max).await,
                DlqAction::Replay { max, dry_run } => replay(&q, *max, *dry_run).await,
                DlqAction::Purge { yes } => {
                    anyhow::ensure!(*yes, "purging the DLQ cannot be undone: add --yes");
                    q.sqs.purge_queue().queue_url(&q.dlq).send().await?;
                    println!("purged {}", q.dlq);
                    Ok(())
                }
            }
        }
    }
}
