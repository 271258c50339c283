//! The deploy preflight: the account as it is — the Lambda quota, what is unreserved, what the
//! stage's own functions reserve now — against what the stage reserves.
//!
//! The decision runs on every case from numbers (quota 10, 50, 120, 1 000 with others' and the
//! stage's own reservations); the read path runs against LocalStack's Lambda API with the
//! unmodified SDK, in an account of its own per test (LocalStack takes a 12-digit access key
//! id as the account). `make test`'s LocalStack is a new account (quota 10, which holds no
//! reservation); against `make up`'s (1 000) the reservation cases run on LocalStack too.

use std::process::Command;

use donut_cli::preflight::{Account, LambdaQuota, OwnFunctions, Reason, preflight};
use donut_config::StageConfig;

fn stage(name: &str) -> StageConfig {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    StageConfig::from_stack_file(name, &root.join(format!("Pulumi.{name}.yaml"))).unwrap()
}

fn account(quota: u32, unreserved: u32, own: &[(&str, u32)]) -> Account {
    Account {
        region: "eu-west-1".into(),
        quota: LambdaQuota {
            concurrent_executions: quota,
            unreserved,
        },
        own: OwnFunctions::Deployed(own.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()),
    }
}

/// dev's functions reserving what dev reserves (38 in all).
fn dev_reserving() -> Vec<(&'static str, u32)> {
    stage("dev").reservations()
}

const DEV_RESERVES: &str = "38 (sales-api 20, warehouse-restock 5, factory-requester 3, \
                            outbox-relay 1, migrate 1, factory-watchdog 1, admin-api 2, \
                            factory-simulator 5)";

#[test]
fn a_fresh_standard_account_holds_the_reservations() {
    let cleared = preflight(&stage("dev"), &account(1000, 1000, &[])).unwrap();
    assert!(cleared.stage.reserves_concurrency());
    assert_eq!(
        cleared.lines,
        [
            "Lambda in eu-west-1: a quota of 1000 concurrent executions, 1000 unreserved; other \
             functions reserve 0, dev's own: none deployed yet"
                .to_owned(),
            format!(
                "reserved concurrency: {DEV_RESERVES}, leaving 962 unreserved (Lambda keeps at \
                 least 100)"
            ),
            budget_line(&cleared.stage),
        ]
    );
}

/// The connection budget's line (its numbers are the stage config's).
fn budget_line(stage: &StageConfig) -> String {
    let budget = stage.connection_budget().unwrap();
    format!(
        "database connections, worst case: {} of {} (db.t4g.micro)",
        budget.worst_case, budget.max_connections
    )
}

#[test]
fn reservations_other_functions_hold_are_counted_and_the_quota_to_request_adds_them() {
    // Another function reserves 880 of 1 000: dev's 38 would leave 82.
    let refused = preflight(&stage("dev"), &account(1000, 120, &[])).unwrap_err();
    assert_eq!(refused.reason, Reason::Reservations { left: 82 });
    assert_eq!(refused.quota_needed, Some(1018));
    assert_eq!(
        refused.to_string(),
        format!(
            "Lambda in eu-west-1: a quota of 1000 concurrent executions, 120 unreserved; other \
             functions reserve 880, dev's own: none deployed yet\n\
             dev reserves {DEV_RESERVES}, which would leave 82 unreserved: Lambda refuses any \
             reservation that leaves fewer than 100, so `pulumi up` would fail half way.\n\
             Request a quota of at least 1018 (880 reserved by other functions + 38 + 100 \
             unreserved): Service Quotas → AWS Lambda → \"Concurrent executions\" (L-B99A9384),\n  \
             aws service-quotas request-service-quota-increase --region eu-west-1 --service-code \
             lambda --quota-code L-B99A9384 --desired-value 1018\n\
             or have the other functions release 18 of the 880 they reserve.\n"
        )
    );
    // 900 of 1 000 reserved elsewhere.
    let refused = preflight(&stage("dev"), &account(1000, 100, &[])).unwrap_err();
    assert_eq!(
        (refused.reason, refused.quota_needed),
        (Reason::Reservations { left: 62 }, Some(1038))
    );
    // prod beside a deployed dev (38) in the same account: 962 unreserved, prod's 91 fit.
    let cleared = preflight(&stage("prod"), &account(1000, 962, &[])).unwrap();
    assert!(
        cleared.lines[1].ends_with("leaving 871 unreserved (Lambda keeps at least 100)"),
        "{:?}",
        cleared.lines
    );
}

#[test]
fn a_redeploy_counts_its_own_reservations_as_its_own() {
    // dev deployed and reserving its 38: 962 unreserved; redeploying replaces them.
    let cleared = preflight(&stage("dev"), &account(1000, 962, &dev_reserving())).unwrap();
    assert_eq!(
        cleared.lines[0],
        "Lambda in eu-west-1: a quota of 1000 concurrent executions, 962 unreserved; other \
         functions reserve 0, dev's own: 38 now (sales-api 20, warehouse-restock 5, \
         factory-requester 3, outbox-relay 1, migrate 1, factory-watchdog 1, admin-api 2, \
         factory-simulator 5), which the deploy replaces"
    );
    assert!(
        cleared.lines[1].ends_with("leaving 962 unreserved (Lambda keeps at least 100)"),
        "{:?}",
        cleared.lines
    );
    // The same with another function's 880 beside it: 82 unreserved, 82 after: refused.
    let refused = preflight(&stage("dev"), &account(1000, 82, &dev_reserving())).unwrap_err();
    assert_eq!(
        (refused.reason, refused.quota_needed),
        (Reason::Reservations { left: 82 }, Some(1018))
    );
}

#[test]
fn a_new_accounts_quota_of_10_deploys_without_reservations_and_says_what_to_request() {
    let cleared = preflight(&stage("dev"), &account(10, 10, &[])).unwrap();
    assert!(!cleared.stage.reserves_concurrency());
    assert_eq!(
        cleared.lines[1..],
        [
            format!(
                "reserved concurrency: none. dev would reserve {DEV_RESERVES}, and Lambda refuses \
                 any reservation that leaves fewer than 100 unreserved: that takes a quota of at \
                 least 138. With 10, the functions share the account's unreserved executions \
                 with every other function, and the quota bounds how many instances run."
            ),
            "to reserve, request a quota of at least 138: Service Quotas → AWS Lambda → \
             \"Concurrent executions\" (L-B99A9384): aws service-quotas \
             request-service-quota-increase --region eu-west-1 --service-code lambda \
             --quota-code L-B99A9384 --desired-value 138"
                .to_owned(),
            budget_line(&cleared.stage),
        ]
    );
}

#[test]
fn a_quota_of_50_is_refused_with_the_quota_to_request_and_why() {
    let refused = preflight(&stage("dev"), &account(50, 50, &[])).unwrap_err();
    assert_eq!(refused.quota_needed, Some(138));
    let Reason::Unreserved { problem } = &refused.reason else {
        panic!("{refused:?}")
    };
    assert!(problem.contains("db.t4g.micro allows 66"), "{problem}");
    let text = refused.to_string();
    assert!(
        text.contains(&format!(
            "dev reserves {DEV_RESERVES} where the account can hold it, and Lambda refuses any \
             reservation that leaves fewer than 100 unreserved: a quota of 50 holds none. \
             Without reservations the stage config refuses dev: "
        )),
        "{text}"
    );
    assert!(
        text.contains("--quota-code L-B99A9384 --desired-value 138"),
        "{text}"
    );
    // Between the two (120): the same answer.
    let refused = preflight(&stage("dev"), &account(120, 120, &[])).unwrap_err();
    assert_eq!(refused.quota_needed, Some(138));
    // What other functions reserve counts in the quota to request (30 of 120 here).
    let refused = preflight(&stage("dev"), &account(120, 90, &[])).unwrap_err();
    assert_eq!(refused.quota_needed, Some(168));
}

#[test]
fn functions_not_known_are_counted_as_reserving_nothing_and_said() {
    let mut unknown = account(1000, 120, &[]);
    unknown.own = OwnFunctions::Unknown("`pulumi stack output` failed".into());
    let text = preflight(&stage("dev"), &unknown).unwrap_err().to_string();
    assert!(
        text.contains("(dev's own functions were not counted: `pulumi stack output` failed."),
        "{text}"
    );
}

// ── Against LocalStack ──────────────────────────────────────────────────────────────────

fn endpoint() -> String {
    std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

/// The quota the LocalStack under test was started with.
fn localstack_quota() -> u32 {
    std::env::var("DONUT_TEST_LAMBDA_QUOTA")
        .ok()
        .and_then(|q| q.parse().ok())
        .unwrap_or(1000)
}

/// An account of the test's own: LocalStack takes a 12-digit access key id as the account.
fn fresh_account() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 900_000_000_000 + 100_000_000_000;
    n.to_string()
}

async fn lambda_in(account: &str, region: &str) -> aws_sdk_lambda::Client {
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(account, "test", None, None, "test"))
        .load()
        .await;
    aws_sdk_lambda::Client::new(&config)
}

/// Creates a function (an empty zip: LocalStack never runs it).
async fn create_function(lambda: &aws_sdk_lambda::Client, account: &str, name: &str) {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, Runtime};
    let empty_zip = [&b"PK\x05\x06"[..], &[0u8; 18]].concat();
    lambda
        .create_function()
        .function_name(name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(format!("arn:aws:iam::{account}:role/test"))
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(empty_zip))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "create {name}: {}",
                aws_sdk_lambda::error::DisplayErrorContext(e)
            )
        });
}

async fn reserve(lambda: &aws_sdk_lambda::Client, name: &str, n: u32) -> Result<(), String> {
    lambda
        .put_function_concurrency()
        .function_name(name)
        .reserved_concurrent_executions(n as i32)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_lambda::error::DisplayErrorContext(e).to_string())
}

/// dev's functions deployed as the provider names them (kind, `<prefix>-<kind>-<suffix>`),
/// with the stack outputs' `functionNames` that lists them.
async fn deploy_dev_functions(
    lambda: &aws_sdk_lambda::Client,
    account: &str,
) -> (Vec<(String, String)>, serde_json::Value) {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..7];
    let mut functions = Vec::new();
    for (kind, _) in dev_reserving() {
        let name = format!("donut-states-dev-{kind}-{suffix}");
        create_function(lambda, account, &name).await;
        functions.push((kind.to_owned(), name));
    }
    let outputs = serde_json::json!({
        donut_config::outputs::FUNCTION_NAMES: functions
            .iter()
            .map(|(k, n)| (k.clone(), serde_json::Value::from(n.clone())))
            .collect::<serde_json::Map<_, _>>(),
    });
    assert_eq!(donut_cli::function_names(&outputs), {
        let mut sorted = functions.clone();
        sorted.sort();
        sorted
    });
    (functions, outputs)
}

/// The read path: GetAccountSettings and each deployed function's reservation, as the
/// preflight reads them; where LocalStack's quota allows reservations, the cases with another
/// function reserving 880 of 1 000 and dev's own already reserved, and LocalStack (as Lambda)
/// refusing the reservations the preflight refuses.
#[tokio::test]
async fn the_account_is_read_as_it_is() {
    let quota = localstack_quota();
    let id = fresh_account();
    let lambda = lambda_in(&id, "eu-west-1").await;
    let (functions, _) = deploy_dev_functions(&lambda, &id).await;

    let read = donut_cli::preflight::read_account(&lambda, "eu-west-1", Ok(functions.clone()))
        .await
        .expect("LocalStack answers GetAccountSettings and GetFunctionConcurrency");
    assert_eq!(
        read.quota,
        LambdaQuota {
            concurrent_executions: quota,
            unreserved: quota
        }
    );
    let none: Vec<(String, u32)> = functions.iter().map(|(k, _)| (k.clone(), 0)).collect();
    assert_eq!(read.own, OwnFunctions::Deployed(none));

    if quota < 138 {
        // A new account: Lambda (LocalStack alike) refuses any reservation; dev deploys without.
        let refused = reserve(&lambda, &functions[0].1, 1).await.unwrap_err();
        assert!(
            refused.contains("below its minimum value of [100]"),
            "{refused}"
        );
        // 10 deploys without; 50 is refused (its budget); either names the quota to request.
        match preflight(&stage("dev"), &read) {
            Ok(cleared) => {
                assert!(!cleared.stage.reserves_concurrency(), "{:?}", cleared.lines);
                assert!(
                    cleared.lines[2].contains("--desired-value 138"),
                    "{:?}",
                    cleared.lines
                );
                println!("{}", cleared.lines.join("\n"));
            }
            Err(refused) => {
                assert_eq!(refused.quota_needed, Some(138), "{refused}");
                println!("{refused}");
            }
        }
        return;
    }

    // dev's own functions already reserve (a redeploy): they count as its own.
    for (kind, n) in dev_reserving() {
        let name = &functions.iter().find(|(k, _)| k == kind).unwrap().1;
        reserve(&lambda, name, n).await.unwrap();
    }
    let redeploy = donut_cli::preflight::read_account(&lambda, "eu-west-1", Ok(functions.clone()))
        .await
        .unwrap();
    assert_eq!(redeploy.quota.unreserved, quota - 38);
    assert_eq!(redeploy.own_reserved(), 38);
    let cleared = preflight(&stage("dev"), &redeploy).unwrap();
    println!("{}", cleared.lines.join("\n"));

    // Another account: another function reserves all but 120; dev's 38 would leave 82.
    let id = fresh_account();
    let lambda = lambda_in(&id, "eu-west-1").await;
    create_function(&lambda, &id, "someone-elses").await;
    reserve(&lambda, "someone-elses", quota - 120)
        .await
        .unwrap();
    let (functions, _) = deploy_dev_functions(&lambda, &id).await;
    let crowded = donut_cli::preflight::read_account(&lambda, "eu-west-1", Ok(functions.clone()))
        .await
        .unwrap();
    assert_eq!(crowded.quota.unreserved, 120);
    let refused = preflight(&stage("dev"), &crowded).unwrap_err();
    assert_eq!(refused.reason, Reason::Reservations { left: 82 });
    assert_eq!(refused.quota_needed, Some(quota + 18));
    println!("{refused}");
    // What `pulumi up` would meet: Lambda refuses part way through dev's reservations.
    let mut refusals = Vec::new();
    for (kind, n) in dev_reserving() {
        let name = &functions.iter().find(|(k, _)| k == kind).unwrap().1;
        if let Err(e) = reserve(&lambda, name, n).await {
            refusals.push(e);
        }
    }
    assert!(
        refusals
            .iter()
            .any(|e| e.contains("below its minimum value of [100]")),
        "{refusals:?}"
    );
}

fn cli(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_donut-cli"));
    command
        .args(args)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_PROFILE")
        .env_remove("DONUT_STACK_OUTPUTS")
        .env("AWS_CONFIG_FILE", "/nonexistent/donut-cli-test")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/donut-cli-test")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in envs {
        command.env(k, v);
    }
    let out = command.output().expect("donut-cli runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--aws` with no Region anywhere in the environment (the SDK alone would fail: no signing
/// Region) reads the stack's Region, eu-west-1, where dev's functions are; an AWS_REGION
/// naming another Region is not used, and said so; `--region` overrides.
#[tokio::test]
async fn aws_commands_call_the_stacks_region_whatever_the_environment_says() {
    let id = fresh_account();
    let lambda = lambda_in(&id, "eu-west-1").await;
    let (_, outputs) = deploy_dev_functions(&lambda, &id).await;
    let dir = std::env::temp_dir().join(format!("donut-cli-preflight-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let outputs_file = dir.join("outputs.json");
    std::fs::write(&outputs_file, outputs.to_string()).unwrap();
    let outputs_file = outputs_file.to_str().unwrap();
    let endpoint = endpoint();
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let quota = localstack_quota();
    let args = [
        "--aws",
        "--stage",
        "dev",
        "--outputs",
        outputs_file,
        "preflight",
        "--print-quota",
    ];

    // Whether this LocalStack's quota clears dev (10 and 1 000 do, 50 does not): the same
    // account line either way.
    let clears = preflight(&stage("dev"), &account(quota, quota, &[])).is_ok();
    let (ok, stdout, stderr) = cli(&args, &env);
    assert_eq!(ok, clears, "{stdout}{stderr}");
    if clears {
        assert_eq!(stdout.trim(), quota.to_string());
    }
    assert!(
        stderr.contains(&format!(
            "Lambda in eu-west-1: a quota of {quota} concurrent executions"
        )),
        "{stderr}"
    );
    // Its own functions were found where the stack lives: eu-west-1.
    assert!(
        stderr.contains("dev's own: 8 deployed, none reserving"),
        "{stderr}"
    );
    println!("{stderr}");

    let mut elsewhere = env.to_vec();
    elsewhere.push(("AWS_REGION", "us-east-1"));
    let (ok, _, stderr) = cli(&args, &elsewhere);
    assert_eq!(ok, clears, "{stderr}");
    assert!(
        stderr.contains(
            "donut-cli: AWS_REGION=us-east-1 is not used: the dev stack lives in eu-west-1 \
             (aws:region in Pulumi.dev.yaml); --region overrides"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("dev's own: 8 deployed, none reserving"),
        "{stderr}"
    );

    // --region: us-east-1 as asked, where none of dev's functions are.
    let mut overridden = args.to_vec();
    overridden.splice(0..0, ["--region", "us-east-1"]);
    let (ok, _, stderr) = cli(&overridden, &env);
    assert_eq!(ok, clears, "{stderr}");
    assert!(stderr.contains("Lambda in us-east-1"), "{stderr}");
    assert!(stderr.contains("dev's own: none deployed yet"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
