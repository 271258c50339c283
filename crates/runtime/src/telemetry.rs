//! Lambda logging: one JSON object per line on stdout (CloudWatch Logs), carrying the current
//! span's fields (the correlation id); and metric events (`donut_metrics`) as CloudWatch
//! Embedded Metric Format lines in `METRICS_NAMESPACE`.

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{LevelFilter, filter_fn};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

use crate::metrics;

/// For Lambda. `RUST_LOG` (directives, e.g. `debug` or `donut_api=trace`) overrides the level,
/// INFO. Without it no directive is parsed: parsing compiles a regex, time a cold start pays.
pub fn init(service: &'static str) {
    let filter: Box<dyn Layer<_> + Send + Sync> = match EnvFilter::try_from_default_env() {
        Ok(directives) => Box::new(directives),
        Err(_) => Box::new(LevelFilter::INFO),
    };
    let json = json_lines()
        .without_time()
        .with_filter(filter_fn(|m| m.target() != donut_metrics::TARGET));
    let emf = std::env::var(donut_contract::settings::METRICS_NAMESPACE)
        .ok()
        .map(|namespace| Emf {
            namespace,
            out: Box::new(|line| println!("{line}")),
        });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(emf)
        .try_init();
    tracing::info!(service, "starting");
    donut_metrics::count(donut_metrics::Metric::ColdStarts, 1);
}

/// The log line format everywhere (Lambda's stdout, the local stack's file): one JSON object a
/// line, the current span's fields (the correlation id) and the event's flattened into it.
pub fn json_lines<S>() -> tracing_subscriber::fmt::Layer<S, JsonFields, Format<Json>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
}

/// Writes each metric event as an EMF line (stdout in Lambda).
struct Emf {
    namespace: String,
    out: Box<dyn Fn(String) + Send + Sync>,
}

#[derive(Default)]
struct MetricFields {
    metric: Option<String>,
    unit: Option<String>,
    value: Option<f64>,
}

impl Visit for MetricFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "metric" => self.metric = Some(value.to_owned()),
            "unit" => self.unit = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "value" {
            self.value = Some(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: tracing::Subscriber> Layer<S> for Emf {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != donut_metrics::TARGET {
            return;
        }
        let mut fields = MetricFields::default();
        event.record(&mut fields);
        if let (Some(metric), Some(value)) = (fields.metric, fields.value) {
            let unit = fields.unit.unwrap_or_else(|| "Count".into());
            (self.out)(metrics::line(
                &self.namespace,
                &[(&metric, value, &unit)],
                metrics::now_ms(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn metric_events_become_emf_lines_and_nothing_else_does() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let emf = Emf {
            namespace: "DonutStates/test".into(),
            out: Box::new(move |l| sink.lock().unwrap().push(l)),
        };
        let subscriber = tracing_subscriber::registry().with(emf);
        tracing::subscriber::with_default(subscriber, || {
            donut_metrics::count(donut_metrics::Metric::OrdersSold, 3);
            donut_metrics::millis(
                donut_metrics::Metric::RestockLatency,
                std::time::Duration::from_millis(1500),
            );
            tracing::info!("an ordinary log line");
        });
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 2);
        let sold: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(sold["OrdersSold"], 3.0);
        assert_eq!(
            sold["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "DonutStates/test"
        );
        let latency: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(latency["RestockLatency"], 1500.0);
        assert_eq!(
            latency["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Milliseconds"
        );
    }
}
