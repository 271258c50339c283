//! Metrics, as tracing events of target [`TARGET`] with fields `metric`, `value`, `unit`.
//!
//! In Lambda, `donut_runtime::telemetry` turns each into a CloudWatch Embedded Metric Format
//! line (namespace `DonutStates/<stage>`); locally they are ordinary JSON log lines, which
//! `donut-cli ops metrics` sums up. Code that counts things depends on nothing but this.

/// The tracing target of metric events.
pub const TARGET: &str = "donut_metric";

/// Every metric the code emits: the handlers emit them, the dashboard and the alarms watch
/// them by the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    OrdersSold,
    OrdersRefused,
    StockOuts,
    FactoryOrdersRequested,
    FactoryCallFailures,
    FactoryCallLatency,
    FactoryOrdersFulfilled,
    RestockLatency,
    BatchItemFailures,
    FactoryOrdersOverdue,
    OutboxOldestAge,
    UnfinishedOrderOldestAge,
    CallbacksRefused,
    ColdStarts,
    /// How long the oldest idempotency key still stored has been past its window (0: none);
    /// the outbox-relay measures it after each sweep, so a sweep that fails shows as growth.
    ExpiredKeyOldestAge,
}

/// How a metric is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

impl Metric {
    pub const ALL: [Metric; 15] = [
        Metric::OrdersSold,
        Metric::OrdersRefused,
        Metric::StockOuts,
        Metric::FactoryOrdersRequested,
        Metric::FactoryCallFailures,
        Metric::FactoryCallLatency,
        Metric::FactoryOrdersFulfilled,
        Metric::RestockLatency,
        Metric::BatchItemFailures,
        Metric::FactoryOrdersOverdue,
        Metric::OutboxOldestAge,
        Metric::UnfinishedOrderOldestAge,
        Metric::CallbacksRefused,
        Metric::ColdStarts,
        Metric::ExpiredKeyOldestAge,
    ];

    /// The CloudWatch metric name.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::OrdersSold => "OrdersSold",
            Metric::OrdersRefused => "OrdersRefused",
            Metric::StockOuts => "StockOuts",
            Metric::FactoryOrdersRequested => "FactoryOrdersRequested",
            Metric::FactoryCallFailures => "FactoryCallFailures",
            Metric::FactoryCallLatency => "FactoryCallLatency",
            Metric::FactoryOrdersFulfilled => "FactoryOrdersFulfilled",
            Metric::RestockLatency => "RestockLatency",
            Metric::BatchItemFailures => "BatchItemFailures",
            Metric::FactoryOrdersOverdue => "FactoryOrdersOverdue",
            Metric::OutboxOldestAge => "OutboxOldestAge",
            Metric::UnfinishedOrderOldestAge => "UnfinishedOrderOldestAge",
            Metric::CallbacksRefused => "CallbacksRefused",
            Metric::ColdStarts => "ColdStarts",
            Metric::ExpiredKeyOldestAge => "ExpiredKeyOldestAge",
        }
    }

    pub const fn unit(self) -> Unit {
        match self {
            Metric::FactoryCallLatency
            | Metric::RestockLatency
            | Metric::OutboxOldestAge
            | Metric::UnfinishedOrderOldestAge
            | Metric::ExpiredKeyOldestAge => Unit::Milliseconds,
            _ => Unit::Count,
        }
    }
}

/// Adds `value` to a count metric (`OrdersSold`, `StockOuts`, …).
pub fn count(metric: Metric, value: u64) {
    debug_assert_eq!(metric.unit(), Unit::Count, "{metric:?} is not a count");
    tracing::info!(target: TARGET, metric = metric.name(), value = value as f64, unit = metric.unit().as_str());
}

/// Records a duration metric, in milliseconds (`FactoryCallLatency`, `RestockLatency`, …).
pub fn millis(metric: Metric, duration: std::time::Duration) {
    debug_assert_eq!(
        metric.unit(),
        Unit::Milliseconds,
        "{metric:?} is not a duration"
    );
    tracing::info!(target: TARGET, metric = metric.name(), value = duration.as_secs_f64() * 1000.0, unit = metric.unit().as_str());
}
