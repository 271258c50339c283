//! The committed `openapi.json` is the one the types generate, and it documents exactly the
//! routes the gateway and the infra program serve.

use donut_api::contract;

/// The dev stage's document, the one committed.
fn openapi_json() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dev =
        donut_config::StageConfig::from_stack_file("dev", &root.join("Pulumi.dev.yaml")).unwrap();
    contract::openapi_json(dev.max_quantity)
}

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")
}

#[test]
fn the_committed_spec_is_the_generated_one() {
    let generated = openapi_json();
    if std::env::var_os("DONUT_UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is stale: regenerate it with `DONUT_UPDATE_OPENAPI=1 cargo test -p donut-api --test openapi`"
    );
}

#[test]
fn the_spec_documents_exactly_the_served_routes() {
    let spec: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths: std::collections::BTreeSet<String> =
        spec["paths"].as_object().unwrap().keys().cloned().collect();
    let routes: std::collections::BTreeSet<String> = donut_api::ROUTES
        .iter()
        .map(|(key, _)| key.split_once(' ').unwrap().1.to_owned())
        .collect();
    assert_eq!(paths, routes);
    for path in &paths {
        assert!(
            donut_api::route_for(&path.replace('{', "x").replace('}', "")).is_some(),
            "{path} is routed"
        );
    }
    // Every operation documents its success and its JSON error body; an operators' route, the
    // 403 API Gateway's IAM authorization answers before any function runs.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("200") || responses.contains_key("201"),
                "{method} {path}"
            );
            let function = donut_api::route_for(&path.replace('{', "x").replace('}', "")).unwrap();
            assert_eq!(
                responses.contains_key("403") && op["tags"][0] == "operators",
                donut_contract::routes::requires_iam(function),
                "{method} {path}: the operators' routes, and only they, answer 403 unsigned"
            );
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('4') || s.starts_with('5')),
                "{method} {path}"
            );
        }
    }
}
