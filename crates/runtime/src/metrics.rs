//! CloudWatch Embedded Metric Format: one JSON line on stdout per batch of counts, which
//! CloudWatch Logs turns into metrics (no API call from the function).

use serde_json::{Map, Value, json};

/// The EMF line for `values` in `namespace` (no dimensions), at `timestamp_ms`.
pub fn line(namespace: &str, values: &[(&str, f64)], timestamp_ms: i64) -> String {
    let metrics: Vec<Value> = values
        .iter()
        .map(|(name, _)| json!({ "Name": name, "Unit": "Count" }))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{ "Namespace": namespace, "Dimensions": [[]], "Metrics": metrics }],
        }),
    );
    for (name, value) in values {
        doc.insert((*name).to_owned(), json!(value));
    }
    Value::Object(doc).to_string()
}

/// Prints the EMF line for `values` now.
pub fn emit(namespace: &str, values: &[(&str, f64)]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    println!("{}", line(namespace, values, now.as_millis() as i64));
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_names_every_metric_and_carries_its_value() {
        let l: serde_json::Value = serde_json::from_str(&super::line(
            "DonutStates/dev",
            &[("FactoryOrdersOverdue", 2.0)],
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
            "FactoryOrdersOverdue"
        );
        assert_eq!(l["FactoryOrdersOverdue"], 2.0);
    }
}
