//! On AWS the provider suffixes every name it makes (`…-factory-orders-3f2a9c1`), so the ops
//! toolbox finds a deployed stack's queues by the stack's outputs. Against LocalStack, queues
//! named the way the provider names them: `donut-cli --outputs` lists and replays their dead
//! letter, and says what is wrong with outputs it cannot use.

use std::process::Command;

fn endpoint() -> String {
    std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4576".into())
}

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_donut-cli"))
        .args(["--stage", "dev", "--endpoint", &endpoint()])
        .args(args)
        .env_remove("DONUT_STACK_OUTPUTS")
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

#[tokio::test]
async fn the_toolbox_finds_suffixed_queues_by_the_stack_outputs() {
    let stage = {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        donut_config::StageConfig::from_stack_file("dev", &root.join("Pulumi.dev.yaml")).unwrap()
    };
    let aws = donut_local::localstack_config(&endpoint(), &stage.region).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..7];
    let make = |name: String| {
        let sqs = sqs.clone();
        async move {
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .unwrap()
                .queue_url
                .unwrap()
        }
    };
    // The provider's form: the logical name, a dash, seven random hex characters.
    let source = make(format!("{}-factory-orders-{suffix}", stage.prefix())).await;
    let dlq = make(format!("{}-factory-orders-dlq-{suffix}", stage.prefix())).await;
    let sent = sqs
        .send_message()
        .queue_url(&dlq)
        .message_body(r#"{"not":"a stock-out"}"#)
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();
    let outputs = std::env::temp_dir().join(format!("donut-outputs-{suffix}.json"));
    std::fs::write(
        &outputs,
        serde_json::json!({
            "apiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
            donut_config::outputs::FACTORY_ORDERS_QUEUE_URL: source,
            donut_config::outputs::DEAD_LETTER_QUEUE_URL: dlq,
        })
        .to_string(),
    )
    .unwrap();
    let outputs = outputs.to_str().unwrap();

    let (ok, listed) = cli(&["--outputs", outputs, "dlq", "list"]);
    assert!(ok && listed.contains(&sent), "{listed}");
    let (ok, replayed) = cli(&["--outputs", outputs, "dlq", "replay"]);
    assert!(ok, "{replayed}");
    let moved = sqs
        .receive_message()
        .queue_url(&source)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(moved.len(), 1, "{replayed}");
    assert_eq!(moved[0].body(), Some(r#"{"not":"a stock-out"}"#));

    let (ok, missing) = cli(&["--outputs", "/nonexistent/outputs.json", "dlq", "list"]);
    assert!(
        !ok && missing.contains("reading the stack outputs"),
        "{missing}"
    );
    std::fs::write(
        std::env::temp_dir().join(format!("donut-outputs-{suffix}-bad.json")),
        "{}",
    )
    .unwrap();
    let bad = std::env::temp_dir().join(format!("donut-outputs-{suffix}-bad.json"));
    let (ok, incomplete) = cli(&["--outputs", bad.to_str().unwrap(), "dlq", "list"]);
    assert!(
        !ok && incomplete.contains("factoryOrdersQueueUrl"),
        "{incomplete}"
    );
    for url in [source, dlq] {
        sqs.delete_queue().queue_url(url).send().await.unwrap();
    }
}
