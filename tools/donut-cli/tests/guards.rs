//! What `donut-cli` refuses to do by mistake. `make smoke` against a deployed stage whose
//! factory is the real one (a shop selling to real buyers) unless told on purpose: it would buy
//! real units and have the factory make real donuts (its stack outputs are read from a file, so
//! nothing is called). `buyer-token` anywhere but the local stack of a stage with `buyerAuth`.

use std::process::Command;

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_donut-cli"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .expect("donut-cli runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn smoke(stage: &str, extra: &[&str]) -> (bool, String) {
    let outputs = std::env::temp_dir().join(format!("donut-outputs-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &outputs,
        r#"{"apiUrl": "http://127.0.0.1:9", "dlqAlarmName": "", "factoryOrdersQueueUrl": "http://127.0.0.1:9/q", "deadLetterQueueUrl": "http://127.0.0.1:9/d"}"#,
    )
    .unwrap();
    let outputs = outputs.to_string_lossy().into_owned();
    let mut args = vec!["--stage", stage, "--outputs", &outputs];
    args.extend(["smoke", "--restock-timeout-seconds", "1", "--skip-ops"]);
    args.extend(extra);
    let answer = cli(&args);
    let _ = std::fs::remove_file(&outputs);
    answer
}

#[test]
fn a_real_shop_is_smoke_tested_only_on_purpose() {
    let (ok, said) = smoke("prod", &[]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("calls the real factory") && said.contains("SMOKE_FLAGS=--real-shop"),
        "{said}"
    );
    // Told on purpose, it goes on (and fails here only at reaching the API, which is nowhere).
    let (ok, said) = smoke("prod", &["--real-shop"]);
    assert!(!ok);
    assert!(!said.contains("calls the real factory"), "{said}");
    // Dev's factory is the simulator: no flag needed.
    let (_, said) = smoke("dev", &[]);
    assert!(!said.contains("calls the real factory"), "{said}");
}

#[test]
fn a_buyer_token_is_minted_only_for_a_local_stage_with_buyer_auth() {
    let (ok, said) = cli(&["--stage", "dev", "buyer-token", "--sub", "ann"]);
    assert!(!ok && said.contains("has no buyerAuth"), "{said}");
    let (ok, said) = cli(&["--stage", "dev", "--aws", "buyer-token", "--sub", "ann"]);
    assert!(!ok && said.contains("local stack only"), "{said}");
}
