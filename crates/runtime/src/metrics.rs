//! CloudWatch Embedded Metric Format: a JSON line on stdout that CloudWatch Logs turns into
//! metrics (no API call from the function).

use serde_json::{Map, Value, json};

/// The function and version a metric belongs to, from what Lambda sets in every function's
/// environment (`AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION`: the version, not the
/// alias, that serves); `None` outside Lambda (unit tests).
pub fn version_from_env() -> Option<&'static (String, String)> {
    static VERSION: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            let get = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
            Some((
                get("AWS_LAMBDA_FUNCTION_NAME")?,
                get("AWS_LAMBDA_FUNCTION_VERSION")?,
            ))
        })
        .as_ref()
}

/// The EMF line for `values` (name, value, unit) in `namespace`: the function's totals
/// (no dimension) and, in Lambda, per function and version (dimensions `Function`, `Version`),
/// which a release's canary alarms watch.
pub fn line(namespace: &str, values: &[(&str, f64, &str)], timestamp_ms: i64) -> String {
    line_for(
        namespace,
        values,
        timestamp_ms,
        version_from_env().map(|(f, v)| (f.as_str(), v.as_str())),
    )
}

/// [`line`] for `version` (function name, version) rather than the environment's.
pub fn line_for(
    namespace: &str,
    values: &[(&str, f64, &str)],
    timestamp_ms: i64,
    version: Option<(&str, &str)>,
) -> String {
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut doc = Map::new();
    let dimensions = match version {
        Some((function, version)) => {
            doc.insert("Function".into(), json!(function));
            doc.insert("Version".into(), json!(version));
            json!([[], ["Function", "Version"]])
        }
        None => json!([[]]),
    };
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{ "Namespace": namespace, "Dimensions": dimensions, "Metrics": metrics }],
        }),
    );
    for (name, value, _) in values {
        doc.insert((*name).to_owned(), json!(value));
    }
    Value::Object(doc).to_string()
}

pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_millis() as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_names_every_metric_and_carries_its_value() {
        let l: serde_json::Value = serde_json::from_str(&super::line(
            "DonutStates/dev",
            &[("RestockLatency", 12.5, "Milliseconds")],
            7,
        ))
        .unwrap();
        assert_eq!(l["_aws"]["Timestamp"], 7);
        assert_eq!(
            l["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "DonutStates/dev"
        );
        assert_eq!(
            l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "RestockLatency"
        );
        assert_eq!(
            l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Milliseconds"
        );
        assert_eq!(l["RestockLatency"], 12.5);
        assert_eq!(
            l["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([[]])
        );
        assert!(l.get("Version").is_none());
    }

    /// In Lambda: the totals and the same values per function and version, the dimensions'
    /// values as members of the line (EMF's rule: every dimension name is a member).
    #[test]
    fn a_versioned_line_has_both_dimension_sets() {
        let l: serde_json::Value = serde_json::from_str(&super::line_for(
            "DonutStates/prod",
            &[("ServerErrors", 1.0, "Count")],
            7,
            Some(("donut-states-prod-sales-api-1a2b", "12")),
        ))
        .unwrap();
        let cw = &l["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(
            cw["Dimensions"],
            serde_json::json!([[], ["Function", "Version"]])
        );
        assert_eq!(l["Function"], "donut-states-prod-sales-api-1a2b");
        assert_eq!(l["Version"], "12");
        assert_eq!(l["ServerErrors"], 1.0);
    }
}
