//! Input validation against the AWS schema subset the program's bindings are generated from
//! (`infra/schema/aws-subset.json`, built from the pinned pulumi-aws wheel): what the real
//! provider's `Check` would refuse before anything reaches AWS.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::wire::UNKNOWN;

/// The committed schema subset, compiled in so the binary checks what the program was
/// generated from.
const SCHEMA: &str = include_str!("../../schema/aws-subset.json");
/// The enum values some properties take, generated beside the schema from the same wheel.
const ENUMS: &str = include_str!("../../schema/aws-enums.json");

/// One refused input: the property path (as the engine prints it) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub property: String,
    pub reason: String,
}

pub struct Schema {
    resources: Map<String, Value>,
    types: Map<String, Value>,
    /// Enum token → allowed values.
    enums: Map<String, Value>,
    /// Resource or type token → property → enum token.
    enum_properties: Map<String, Value>,
}

impl Schema {
    /// The schema document itself (GetSchema).
    pub fn text(&self) -> &'static str {
        SCHEMA
    }

    pub fn has_input(&self, type_token: &str, key: &str) -> bool {
        self.resources
            .get(type_token)
            .and_then(|r| r["inputProperties"].get(key))
            .is_some()
    }

    /// Every resource type of the schema subset.
    #[cfg(test)]
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.resources.keys().map(String::as_str)
    }

    pub fn has_output(&self, type_token: &str, key: &str) -> bool {
        self.resources
            .get(type_token)
            .and_then(|r| r["properties"].get(key))
            .is_some()
    }
}

impl Schema {
    pub fn load() -> Self {
        let schema: Value = serde_json::from_str(SCHEMA).expect("the schema subset is JSON");
        let enums: Value = serde_json::from_str(ENUMS).expect("the enums file is JSON");
        let part = |doc: &Value, key: &str| doc[key].as_object().cloned().unwrap_or_default();
        Schema {
            resources: part(&schema, "resources"),
            types: part(&schema, "types"),
            enums: part(&enums, "enums"),
            enum_properties: part(&enums, "properties"),
        }
    }

    /// The input properties of a resource type, with which of them are required.
    fn inputs_of(&self, type_token: &str) -> Option<(&Map<String, Value>, Vec<&str>)> {
        let resource = self.resources.get(type_token)?;
        let properties = resource["inputProperties"].as_object()?;
        let required = strings(&resource["requiredInputs"]);
        Some((properties, required))
    }

    /// Everything wrong with `inputs` for a resource of `type_token`; empty when they are valid.
    /// Unknown values (preview) are not judged; `null` means "unset".
    pub fn check(&self, type_token: &str, inputs: &Map<String, Value>) -> Vec<Failure> {
        let Some((properties, required)) = self.inputs_of(type_token) else {
            return vec![Failure {
                property: String::new(),
                reason: format!("{type_token} is not a resource type of this provider's schema"),
            }];
        };
        let mut failures = Vec::new();
        self.check_object(type_token, properties, &required, inputs, "", &mut failures);
        failures
    }

    fn check_object(
        &self,
        owner: &str,
        properties: &Map<String, Value>,
        required: &[&str],
        value: &Map<String, Value>,
        path: &str,
        failures: &mut Vec<Failure>,
    ) {
        let at = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        for key in required {
            if value.get(*key).is_none_or(Value::is_null) {
                failures.push(Failure {
                    property: at(key),
                    reason: format!("Missing required property '{key}'"),
                });
            }
        }
        let known: BTreeMap<&str, &Value> =
            properties.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for (key, item) in value {
            match known.get(key.as_str()) {
                None => failures.push(Failure {
                    property: at(key),
                    reason: format!(
                        "unknown property '{key}'{}",
                        closest(key, known.keys().copied())
                            .map(|c| format!(" (did you mean '{c}'?)"))
                            .unwrap_or_default()
                    ),
                }),
                Some(spec) => {
                    self.check_value(spec, item, &at(key), failures);
                    self.check_enum_of(owner, key, item, &at(key), failures);
                }
            }
        }
    }

    fn check_value(&self, spec: &Value, value: &Value, path: &str, failures: &mut Vec<Failure>) {
        if value.is_null() || value.as_str() == Some(UNKNOWN) {
            return;
        }
        let mut fail = |reason: String| {
            failures.push(Failure {
                property: path.to_owned(),
                reason,
            })
        };
        if let Some(reference) = spec["$ref"].as_str() {
            let name = reference.trim_start_matches("#/types/");
            let Some(declared) = self.types.get(name) else {
                return fail(format!("the schema has no type {name}"));
            };
            if let Some(allowed) = declared["enum"].as_array() {
                return check_enum(allowed, value, fail);
            }
            let Some(object) = value.as_object() else {
                return fail(format!("expected an object ({name}), got {}", kind(value)));
            };
            let properties = declared["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let required = strings(&declared["required"]);
            return self.check_object(name, &properties, &required, object, path, failures);
        }
        if let Some(allowed) = spec["enum"].as_array() {
            return check_enum(allowed, value, fail);
        }
        match spec["type"].as_str().unwrap_or("string") {
            "string" if !value.is_string() => {
                fail(format!("expected a string, got {}", kind(value)))
            }
            "boolean" if !value.is_boolean() => {
                fail(format!("expected a boolean, got {}", kind(value)))
            }
            "number" if !value.is_number() => {
                fail(format!("expected a number, got {}", kind(value)))
            }
            "integer" => match value.as_f64() {
                Some(n) if n.fract() == 0.0 => {}
                _ => fail(format!("expected an integer, got {}", kind(value))),
            },
            "array" => match value.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_value(&spec["items"], item, &format!("{path}[{i}]"), failures);
                    }
                }
                None => fail(format!("expected a list, got {}", kind(value))),
            },
            "object" => match value.as_object() {
                Some(entries) => {
                    for (key, item) in entries {
                        self.check_value(
                            &spec["additionalProperties"],
                            item,
                            &format!("{path}.{key}"),
                            failures,
                        );
                    }
                }
                None => fail(format!("expected a map, got {}", kind(value))),
            },
            _ => {}
        }
    }
}

impl Schema {
    /// The value of an enum-typed property (or each item of a list of them) is one of the
    /// enum's values.
    fn check_enum_of(
        &self,
        owner: &str,
        key: &str,
        value: &Value,
        path: &str,
        failures: &mut Vec<Failure>,
    ) {
        let Some(allowed) = self
            .enum_properties
            .get(owner)
            .and_then(|p| p.get(key))
            .and_then(Value::as_str)
            .and_then(|token| self.enums.get(token))
            .and_then(Value::as_array)
        else {
            return;
        };
        let values: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for value in values
            .into_iter()
            .filter(|v| v.is_string() && v.as_str() != Some(UNKNOWN))
        {
            check_enum(allowed, value, |reason| {
                failures.push(Failure {
                    property: path.to_owned(),
                    reason,
                })
            });
        }
    }
}

fn check_enum(allowed: &[Value], value: &Value, fail: impl FnOnce(String)) {
    let allowed: Vec<&Value> = allowed
        .iter()
        .map(|a| a.get("value").unwrap_or(a))
        .collect();
    if !allowed.contains(&value) {
        let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        fail(format!(
            "{value} is not one of the allowed values: {}",
            list.join(", ")
        ));
    }
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The known property closest to a misspelt one (same letters ignoring case, or one edit).
fn closest<'a>(wanted: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(&wanted.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(type_token: &str, inputs: Value) -> Vec<Failure> {
        Schema::load().check(type_token, inputs.as_object().unwrap())
    }

    #[test]
    fn a_valid_queue_passes_and_nulls_are_unset() {
        assert_eq!(
            check(
                "aws:sqs/queue:Queue",
                json!({"name": "q", "visibilityTimeoutSeconds": 30, "policy": null})
            ),
            vec![]
        );
    }

    #[test]
    fn a_misspelt_property_is_named_with_a_suggestion() {
        let failures = check(
            "aws:sqs/queue:Queue",
            json!({"visibilityTimeoutSecond": 30}),
        );
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].property, "visibilityTimeoutSecond");
        assert!(
            failures[0]
                .reason
                .contains("did you mean 'visibilityTimeoutSeconds'")
        );
    }

    #[test]
    fn wrong_types_missing_required_and_nested_objects_are_refused() {
        let failures = check(
            "aws:lambda/function:Function",
            json!({"memorySize": 128.5, "architectures": "arm64",
                   "vpcConfig": {"subnetIds": [1], "securityGroupIdz": []}}),
        );
        let properties: Vec<&str> = failures.iter().map(|f| f.property.as_str()).collect();
        assert!(properties.contains(&"role"), "{failures:?}");
        assert!(properties.contains(&"memorySize"), "{failures:?}");
        assert!(properties.contains(&"architectures"), "{failures:?}");
        assert!(
            properties.contains(&"vpcConfig.subnetIds[0]"),
            "{failures:?}"
        );
        assert!(
            properties.contains(&"vpcConfig.securityGroupIdz"),
            "{failures:?}"
        );
    }

    /// A stage's per-route settings as the provider declares them (`StageRouteSetting`: a
    /// route key required, the burst a whole number, the rate a number).
    #[test]
    fn a_stages_route_settings_are_checked_item_by_item() {
        let ok = check(
            "aws:apigatewayv2/stage:Stage",
            json!({"apiId": "a", "routeSettings": [
                {"routeKey": "ANY /admin/audit", "throttlingRateLimit": 5.0, "throttlingBurstLimit": 10}
            ]}),
        );
        assert_eq!(ok, vec![]);
        let failures = check(
            "aws:apigatewayv2/stage:Stage",
            json!({"apiId": "a", "routeSettings": [
                {"throttlingRateLimit": "5", "throttlingBurstLimit": 10.5, "throttlingBurst": 1}
            ]}),
        );
        let properties: Vec<&str> = failures.iter().map(|f| f.property.as_str()).collect();
        assert_eq!(
            properties,
            [
                "routeSettings[0].routeKey",
                "routeSettings[0].throttlingBurst",
                "routeSettings[0].throttlingBurstLimit",
                "routeSettings[0].throttlingRateLimit"
            ],
            "{failures:?}"
        );
    }

    #[test]
    fn unknowns_are_not_judged_and_unknown_types_are_refused() {
        assert_eq!(
            check("aws:sqs/queue:Queue", json!({"delaySeconds": UNKNOWN})),
            vec![]
        );
        assert_eq!(check("aws:sqs/queue:Nope", json!({})).len(), 1);
    }

    #[test]
    fn enum_properties_take_only_their_values() {
        let ok = check(
            "aws:lambda/function:Function",
            json!({"role": "r", "runtime": "provided.al2023"}),
        );
        assert_eq!(ok, vec![]);
        let failures = check(
            "aws:lambda/function:Function",
            json!({"role": "r", "runtime": "provided.al2O23"}),
        );
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].property, "runtime");
        assert!(failures[0].reason.contains("\"provided.al2023\""));
        let failures = check(
            "aws:rds/instance:Instance",
            json!({"instanceClass": "db.t4g.mikro"}),
        );
        assert!(
            failures.iter().any(|f| f.property == "instanceClass"),
            "{failures:?}"
        );
    }

    #[test]
    fn enums_refuse_other_values() {
        let allowed = [json!({"value": "arm64"}), json!({"value": "x86_64"})];
        let mut failed = None;
        check_enum(&allowed, &json!("arm"), |r| failed = Some(r));
        assert!(failed.unwrap().contains("\"arm64\""));
        check_enum(&allowed, &json!("arm64"), |_| panic!("arm64 is allowed"));
    }
}
