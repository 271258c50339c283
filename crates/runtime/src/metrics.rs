//! CloudWatch Embedded Metric Format: a JSON line on stdout that CloudWatch Logs turns into
//! metrics (no API call from the function).

use serde_json::{Map, Value, json};

/// The EMF line for `values` (name, value, unit) in `namespace`, no dimensions.
pub fn line(namespace: &str, values: &[(&str, f64, &str)], timestamp_ms: i64) -> String {
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit }))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{ "Namespace": namespace, "Dimensions": [[]], "Metrics": metrics }],
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
    }
}
