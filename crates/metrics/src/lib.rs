//! Metrics, as tracing events of target [`TARGET`] with fields `metric`, `value`, `unit`.
//!
//! In Lambda, `donut_runtime::telemetry` turns each into a CloudWatch Embedded Metric Format
//! line (namespace `DonutStates/<stage>`); locally they are ordinary JSON log lines, which
//! `donut-cli ops metrics` sums up. Code that counts things depends on nothing but this.

/// The tracing target of metric events.
pub const TARGET: &str = "donut_metric";

/// Adds `value` to a count (`OrdersSold`, `StockOuts`, …).
pub fn count(metric: &'static str, value: u64) {
    tracing::info!(target: TARGET, metric, value = value as f64, unit = "Count");
}

/// Records a duration, in milliseconds (`FactoryCallLatency`, `RestockLatency`, …).
pub fn millis(metric: &'static str, duration: std::time::Duration) {
    tracing::info!(target: TARGET, metric, value = duration.as_secs_f64() * 1000.0, unit = "Milliseconds");
}

/// Every metric the code emits, and its unit: the dashboard and the alarms use these names.
pub const ALL: &[(&str, &str)] = &[
    ("OrdersSold", "Count"),
    ("OrdersRefused", "Count"),
    ("StockOuts", "Count"),
    ("FactoryOrdersRequested", "Count"),
    ("FactoryCallFailures", "Count"),
    ("FactoryCallLatency", "Milliseconds"),
    ("FactoryOrdersFulfilled", "Count"),
    ("RestockLatency", "Milliseconds"),
    ("BatchItemFailures", "Count"),
    ("FactoryOrdersOverdue", "Count"),
    ("OutboxOldestAge", "Milliseconds"),
    ("ColdStarts", "Count"),
];
