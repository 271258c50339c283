//! Local logs: JSON lines into a file (the same objects Lambda writes to CloudWatch), and a
//! compact human-readable form on the terminal.

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init(json_file: &Path, terminal: bool) -> std::io::Result<()> {
    if let Some(dir) = json_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(json_file)?;
    let json = donut_runtime::telemetry::json_lines().with_writer(Mutex::new(file));
    // Metric events go to the JSON file only (`make metrics` reads them), not to the terminal.
    let human = terminal.then(|| {
        tracing_subscriber::fmt::layer()
            .compact()
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_filter(filter_fn(|m| m.target() != donut_metrics::TARGET))
    });
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,aws=warn,hyper=warn"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(human)
        .try_init();
    Ok(())
}
