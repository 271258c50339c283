//! The deploy preflight: the account's Lambda quota, read from LocalStack's Lambda API (the
//! unmodified SDK), decides the stage's reservations; a new account's quota deploys with none,
//! a quota in between is refused with the quota to request.

use donut_cli::{LambdaQuota, lambda_quota, preflight};
use donut_config::StageConfig;

fn dev() -> StageConfig {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    StageConfig::from_stack_file("dev", &root.join("Pulumi.dev.yaml")).unwrap()
}

fn quota(n: u32) -> LambdaQuota {
    LambdaQuota {
        concurrent_executions: n,
        unreserved: n,
    }
}

#[test]
fn a_standard_account_reserves_a_new_one_does_not_and_one_between_is_refused() {
    let (standard, lines) = preflight(&dev(), quota(1000)).unwrap();
    assert!(standard.reserves_concurrency());
    assert!(
        lines[1].starts_with("reserved concurrency: 36"),
        "{lines:?}"
    );
    let (new_account, lines) = preflight(&dev(), quota(10)).unwrap();
    assert!(!new_account.reserves_concurrency());
    assert!(lines[1].contains("none"), "{lines:?}");
    assert!(lines[2].contains("of 66"), "{lines:?}");
    let refused = preflight(&dev(), quota(120)).unwrap_err();
    assert!(
        refused.contains("lambdaConcurrencyQuota") && refused.contains("at least 136"),
        "{refused}"
    );
}

/// Against LocalStack's Lambda API: `make test` starts it as a new account
/// (`LAMBDA_LIMITS_CONCURRENT_EXECUTIONS`, `DONUT_TEST_LAMBDA_QUOTA`).
#[tokio::test]
async fn the_quota_is_read_from_the_lambda_api() {
    let endpoint =
        std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into());
    let aws = donut_local::localstack_config(&endpoint, "eu-west-1").await;
    let read = lambda_quota(&aws_sdk_lambda::Client::new(&aws))
        .await
        .expect("LocalStack answers GetAccountSettings");
    let expected: u32 = std::env::var("DONUT_TEST_LAMBDA_QUOTA")
        .ok()
        .and_then(|q| q.parse().ok())
        .unwrap_or(1000);
    assert_eq!(read.concurrent_executions, expected);
    let (stage, lines) = preflight(&dev(), read).unwrap();
    assert_eq!(stage.reserves_concurrency(), expected >= 136, "{lines:?}");
    println!("{}", lines.join("\n"));
}
