//! The seed's load scenario — buy until the shelf is empty, then keep buying — driven by
//! `donut-load` and by a second tool, vegeta (built from its Go module by `make bench`; the
//! seed's k6 is AGPL-licensed, which this project does not take). Both keep 32 requests in
//! flight for the same time against the same stack, each on a shelf of its own.

use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use donut_load::{Scenario, Settings};
use serde_json::{Value, json};

use crate::report::ToolRun;

pub const IN_FLIGHT: usize = 32;
pub const DURATION: Duration = Duration::from_secs(6);
/// Units on each tool's shelf: sold out after a second or two, refused (409) after that.
pub const UNITS: u32 = 3000;

/// donut-load's `rush`: open-loop arrivals far above what the stack serves, capped at
/// [`IN_FLIGHT`], so it runs at capacity like vegeta's workers.
pub async fn donut_load(api: &str, database_url: &str, product: &str) -> anyhow::Result<ToolRun> {
    let report = donut_load::run(&Settings {
        target: api.to_owned(),
        scenario: Scenario::Rush,
        rate: 50_000.0,
        duration: DURATION,
        max_requests: 1_000_000,
        max_in_flight: IN_FLIGHT,
        product: product.to_owned(),
        quantity: 1,
        database_url: Some(database_url.to_owned()),
        progress: false,
    })
    .await?;
    if let Some(failed) = report.checks.iter().find(|c| c.held == Some(false)) {
        anyhow::bail!(
            "invariant broken under donut-load: {}: {}",
            failed.name,
            failed.detail
        );
    }
    let s = &report.summary;
    Ok(ToolRun {
        tool: "donut-load rush (32 in flight)".into(),
        requests: s.requests(),
        rate: s.rate(),
        p95: s.percentile(95.0),
        failure_rate: s.error_rate(),
    })
}

/// vegeta attack at capacity (`-rate=0`, 32 workers), then its JSON report. A failure is what
/// donut-load counts as one: a 5xx or no answer (vegeta's own `success` counts the expected
/// 409s as failures too).
pub async fn vegeta(vegeta: &Path, api: &str, product: &str) -> anyhow::Result<ToolRun> {
    let body = json!({ "product_id": product, "quantity": 1 }).to_string();
    let target = json!({
        "method": "POST",
        "url": format!("{api}/orders"),
        "header": { "Content-Type": ["application/json"] },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
    });
    let results = std::env::temp_dir().join(format!("donut-vegeta-{}.bin", std::process::id()));
    let mut attack = std::process::Command::new(vegeta)
        .args([
            "attack",
            "-format=json",
            "-rate=0",
            &format!("-max-workers={IN_FLIGHT}"),
            &format!("-workers={IN_FLIGHT}"),
            &format!("-duration={}s", DURATION.as_secs()),
            &format!("-output={}", results.display()),
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    attack
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(format!("{target}\n").as_bytes())?;
    let status = tokio::task::spawn_blocking(move || attack.wait()).await??;
    anyhow::ensure!(status.success(), "vegeta attack failed: {status}");
    let report = std::process::Command::new(vegeta)
        .args(["report", "-type=json"])
        .arg(&results)
        .output()?;
    let _ = std::fs::remove_file(&results);
    anyhow::ensure!(report.status.success(), "vegeta report failed");
    let r: Value = serde_json::from_slice(&report.stdout)?;
    let requests = r["requests"].as_u64().unwrap_or(0);
    let answered_well: u64 = r["status_codes"]
        .as_object()
        .map(|codes| {
            codes
                .iter()
                .filter(|(code, _)| code.parse::<u16>().is_ok_and(|c| (1..500).contains(&c)))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0);
    Ok(ToolRun {
        tool: format!("vegeta attack -rate=0 -max-workers={IN_FLIGHT}"),
        requests,
        rate: r["rate"].as_f64().unwrap_or(0.0),
        p95: Duration::from_nanos(r["latencies"]["95th"].as_u64().unwrap_or(0)),
        failure_rate: 1.0 - answered_well as f64 / requests.max(1) as f64,
    })
}
