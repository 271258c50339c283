//! JSON logs: one object per line, with the current span's fields (the correlation id).

use tracing_subscriber::EnvFilter;

/// For Lambda: JSON lines on stdout (CloudWatch Logs). `RUST_LOG` overrides the level.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .without_time()
        .try_init();
    tracing::info!(service, "starting");
}
