//! `donut-load`: load for the local Sales API, with a k6-style summary and thresholds.
//!
//! ```text
//! donut-load rush --rate 200 --duration 10s --threshold 'p99<50ms' --threshold 'errors<1%'
//! ```
//! Exits non-zero when a threshold or an invariant is broken.

use std::time::Duration;

use clap::Parser;
use donut_load::{Scenario, Settings, Threshold, run};

#[derive(Parser)]
#[command(
    name = "donut-load",
    version,
    about = "Load for the Donut-States Sales API (loopback only)"
)]
struct Cli {
    #[arg(value_enum)]
    scenario: Scenario,
    /// The API (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Arrivals per second.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// How long to send, e.g. 10s, 500ms.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Requests at most (bounds the run whatever the rate).
    #[arg(long, default_value_t = 100_000)]
    max_requests: u64,
    /// Requests in flight at most; arrivals beyond are dropped and counted.
    #[arg(long, default_value_t = 256)]
    buyers: usize,
    #[arg(long, default_value = "original-glazed")]
    product: String,
    /// Units per order (stockout: the largest order the API accepts).
    #[arg(long, default_value_t = 1)]
    quantity: u32,
    /// The warehouse, for the invariant checks.
    #[arg(long, default_value = "mysql://donut:donut@127.0.0.1:3307/donut")]
    database_url: String,
    /// Skip the invariant checks.
    #[arg(long)]
    no_invariants: bool,
    /// e.g. 'p99<50ms', 'p95<20ms', 'max<1s', 'errors<1%', 'rate>100'
    #[arg(long = "threshold")]
    thresholds: Vec<Threshold>,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let (n, unit) = raw.split_at(
        raw.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(raw.len()),
    );
    let n: f64 = n.parse().map_err(|_| format!("not a duration: {raw}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("unit of {raw} must be ms, s or m")),
    };
    if !(0.0..=600.0).contains(&secs) {
        return Err("a run lasts at most 10 minutes".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings {
        target: cli.target,
        scenario: cli.scenario,
        rate: cli.rate,
        duration: cli.duration,
        max_requests: cli.max_requests,
        max_in_flight: cli.buyers,
        product: cli.product,
        quantity: cli.quantity,
        database_url: (!cli.no_invariants).then_some(cli.database_url),
        progress: true,
    };
    eprintln!(
        "{:?} against {} for {:?} at {}/s, at most {} requests",
        settings.scenario, settings.target, settings.duration, settings.rate, settings.max_requests
    );
    let report = run(&settings).await?;
    println!("\nrun {}\n{}", report.run_id, report.summary);
    if report.dropped > 0 {
        println!(
            "  dropped_iterations........: {} (all {} buyers busy)",
            report.dropped, settings.max_in_flight
        );
    }
    if let Some(latency) = report.restock_latency {
        println!(
            "  stock-out → restock.......: {:.0}ms",
            latency.as_secs_f64() * 1000.0
        );
    }
    let mut failed = false;
    println!("\n  thresholds");
    for t in &cli.thresholds {
        let (held, measured) = t.check(&report.summary);
        failed |= !held;
        println!("    {} {t:?}: {measured}", if held { "✓" } else { "✗" });
    }
    println!("\n  invariants");
    for c in &report.checks {
        let mark = match c.held {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "-",
        };
        failed |= c.held == Some(false);
        println!("    {mark} {}: {}", c.name, c.detail);
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
