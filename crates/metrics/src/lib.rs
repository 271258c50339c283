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
    /// One per answer with a 5xx status from an HTTP function (sales-api, warehouse-restock,
    /// admin-api): what a release's canary alarm watches, per version.
    ServerErrors,
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
    pub const ALL: [Metric; 16] = [
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
        Metric::ServerErrors,
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
            Metric::ServerErrors => "ServerErrors",
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

/// Where the metrics of one invocation also go, besides the tracing event: the local stack
/// runs every published version of a function in one process, so the version a metric belongs
/// to cannot come from the environment as it does in Lambda (`AWS_LAMBDA_FUNCTION_VERSION`);
/// the local stand-in of Lambda runs each invocation in [`scoped`] with its version's sink.
pub trait Sink: Send + Sync {
    fn record(&self, metric: Metric, value: f64);
}

tokio::task_local! {
    static SCOPE: std::sync::Arc<dyn Sink>;
}

/// Runs `f` with every metric it records (on its own task) also given to `sink`.
pub async fn scoped<F: std::future::Future>(sink: std::sync::Arc<dyn Sink>, f: F) -> F::Output {
    SCOPE.scope(sink, f).await
}

fn emit(metric: Metric, value: f64) {
    tracing::info!(target: TARGET, metric = metric.name(), value, unit = metric.unit().as_str());
    let _ = SCOPE.try_with(|sink| sink.record(metric, value));
}

/// Adds `value` to a count metric (`OrdersSold`, `StockOuts`, …).
pub fn count(metric: Metric, value: u64) {
    debug_assert_eq!(metric.unit(), Unit::Count, "{metric:?} is not a count");
    emit(metric, value as f64);
}

/// Records a duration metric, in milliseconds (`FactoryCallLatency`, `RestockLatency`, …).
pub fn millis(metric: Metric, duration: std::time::Duration) {
    debug_assert_eq!(
        metric.unit(),
        Unit::Milliseconds,
        "{metric:?} is not a duration"
    );
    emit(metric, duration.as_secs_f64() * 1000.0);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    struct Seen(Mutex<Vec<(Metric, f64)>>);

    impl Sink for Seen {
        fn record(&self, metric: Metric, value: f64) {
            self.0.lock().unwrap().push((metric, value));
        }
    }

    #[tokio::test]
    async fn a_scope_sees_its_own_metrics_and_no_others() {
        let seen = Arc::new(Seen(Mutex::new(Vec::new())));
        count(Metric::ServerErrors, 7); // outside any scope: nobody's
        scoped(seen.clone(), async {
            count(Metric::ServerErrors, 1);
            millis(Metric::RestockLatency, std::time::Duration::from_millis(5));
        })
        .await;
        count(Metric::OrdersSold, 1);
        assert_eq!(
            *seen.0.lock().unwrap(),
            vec![(Metric::ServerErrors, 1.0), (Metric::RestockLatency, 5.0)]
        );
    }

    #[test]
    fn every_metric_is_listed_once_with_a_distinct_name() {
        let names: std::collections::HashSet<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::ServerErrors.unit(), Unit::Count);
    }
}
