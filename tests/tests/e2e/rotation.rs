//! The database password rotated while purchases flow, as RDS does every 7 days: the secret
//! in (LocalStack's) Secrets Manager and the password in MariaDB both change. Each
//! Lambda-like instance (its own pool of one, connections closed when idle) re-reads the
//! secret when the database refuses its login, rebuilds its pool once and retries: buyers see
//! at most one 503 per instance, never a 500.

use std::sync::Arc;
use std::time::{Duration, Instant};

use donut_api::{Limits, SalesApi};
use donut_apigw::{HttpCall, HttpReply, to_lambda_request};
use donut_config::settings::APP_DB_USER;
use donut_e2e::*;
use donut_runtime::RdsSecret;
use donut_testkit::{Shelf, TestDb};
use donut_warehouse::{DbConfig, MySqlWarehouse};

async fn buy(api: &SalesApi<MySqlWarehouse>) -> HttpReply {
    let call = HttpCall {
        method: "POST",
        path: "/orders",
        raw_query: "",
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: br#"{"product_id":"rotate-glazed","quantity":1}"#,
        source_ip: "127.0.0.1",
    };
    api.handle(to_lambda_request(&call).unwrap()).await.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_password_costs_at_most_one_503_per_instance() {
    let db = TestDb::with_shelves(&[Shelf::new("rotate-glazed", 10_000)]).await;
    let user = format!("rot_{}", &db.name[2..14]);
    // The functions' user as the migrate function makes it: exactly the functions' grants.
    const FIRST: &str = "firstPassword0123456789abcdef";
    const SECOND: &str = "secondPassword0123456789abcdef";
    db.master
        .ensure_app_user(&user, FIRST, "127.0.0.1")
        .await
        .unwrap();
    let aws = donut_local::stack::localstack_config(&aws_endpoint(), "eu-west-1").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let login =
        |password: &str| serde_json::json!({"username": user, "password": password}).to_string();
    let arn = secrets
        .create_secret()
        .name(format!("rotation-{}", db.name))
        .secret_string(login(FIRST))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();

    const INSTANCES: usize = 4;
    let url = db
        .url
        .replacen("donut:donut", &format!("{user}:{FIRST}"), 1);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A quiet moment (as between a Lambda's invocations): long enough for the pools to close
    // their idle connections, so the next request logs in again.
    let quiet = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pause = |quiet: Arc<std::sync::atomic::AtomicBool>| async move {
        if quiet.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(2200)).await;
        }
    };
    let instances: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let config = DbConfig::from_url(&url)
                .unwrap()
                .with_max_connections(1)
                .with_acquire_timeout(Duration::from_secs(2))
                .with_idle_timeout(Duration::from_millis(100));
            let secret = Arc::new(RdsSecret::new(&aws, arn.clone()));
            let api = SalesApi::new(
                MySqlWarehouse::with_credentials(&config, secret),
                Limits::default(),
            );
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    answers.push((Instant::now(), buy(&api).await.status));
                    // Idle long enough, now and then, for the pool to close its connection:
                    // the next request opens a new one, as a Lambda thawed later would.
                    tokio::time::sleep(Duration::from_millis(if answers.len() % 5 == 0 {
                        150
                    } else {
                        5
                    }))
                    .await;
                }
                answers
            })
        })
        .collect();

    // The control: an instance that never re-reads the secret, as the functions were before.
    let stale = {
        let config = DbConfig::from_url(&url)
            .unwrap()
            .with_max_connections(1)
            .with_acquire_timeout(Duration::from_secs(2))
            .with_idle_timeout(Duration::from_millis(100));
        let api = SalesApi::new(MySqlWarehouse::new(&config), Limits::default());
        let (stop, quiet) = (stop.clone(), quiet.clone());
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut paused = false;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                answers.push(buy(&api).await.status);
                tokio::time::sleep(Duration::from_millis(50)).await;
                if !paused && quiet.load(std::sync::atomic::Ordering::SeqCst) {
                    paused = true;
                    pause(quiet.clone()).await;
                }
            }
            answers
        })
    };

    tokio::time::sleep(Duration::from_millis(800)).await;
    quiet.store(true, std::sync::atomic::Ordering::SeqCst);
    // Rotate: the secret first, then the database, as RDS's managed rotation does.
    let rotated = Instant::now();
    secrets
        .put_secret_value()
        .secret_id(&arn)
        .secret_string(login(SECOND))
        .send()
        .await
        .unwrap();
    db.exec(
        &format!("ALTER USER '{user}'@'127.0.0.1' IDENTIFIED BY '{SECOND}'"),
        (),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);

    let mut per_instance = Vec::new();
    for instance in instances {
        per_instance.push(instance.await.unwrap());
    }
    let all: Vec<u16> = per_instance.iter().flatten().map(|(_, s)| *s).collect();
    let count = |status: u16| all.iter().filter(|s| **s == status).count();
    let recovered = per_instance
        .iter()
        .flatten()
        .filter(|(at, status)| *at > rotated && *status == 200)
        .map(|(at, _)| at.duration_since(rotated))
        .min();
    println!(
        "{} purchases across the rotation: {} × 200, {} × 503, {} × 500; first sale after it {} ms later",
        all.len(),
        count(200),
        count(503),
        count(500),
        recovered.map_or(-1, |d| d.as_millis() as i64)
    );
    assert_eq!(
        count(200) + count(503),
        all.len(),
        "only 200 and 503: {all:?}"
    );
    for answers in &per_instance {
        let refused = answers.iter().filter(|(_, s)| *s == 503).count();
        assert!(refused <= 1, "an instance answered 503 {refused} times");
        assert!(
            answers
                .iter()
                .any(|(at, s)| *at > rotated + Duration::from_millis(300) && *s == 200),
            "every instance sells again after the rotation"
        );
    }
    let stale = stale.await.unwrap();
    println!(
        "control without re-reading the secret: {} × 200 then {} × 503",
        stale.iter().filter(|s| **s == 200).count(),
        stale.iter().filter(|s| **s == 503).count()
    );
    assert!(
        stale.iter().rev().take(3).all(|s| *s == 503),
        "without re-reading the secret an instance stays locked out: {stale:?}"
    );
    let stale_sold = stale.iter().filter(|s| **s == 200).count() as i64;
    assert_eq!(
        db.stock("rotate-glazed").await,
        10_000 - count(200) as i64 - stale_sold
    );
}

/// The functions' login is made once (a random password, stored in its secret) and then read.
#[tokio::test]
async fn the_application_login_is_made_once_then_kept() {
    let aws = donut_local::stack::localstack_config(&aws_endpoint(), "eu-west-1").await;
    let secrets = aws_sdk_secretsmanager::Client::new(&aws);
    let arn = secrets
        .create_secret()
        .name(format!("app-login-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let secret = RdsSecret::new(&aws, arn.clone());
    assert!(
        secret.read().await.is_err(),
        "a new secret has no login yet"
    );
    let (user, password) = secret.login_made_once(APP_DB_USER).await.unwrap();
    assert_eq!(user, APP_DB_USER);
    assert!(password.len() >= 32 && password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        secret.login_made_once(APP_DB_USER).await.unwrap(),
        (user.clone(), password.clone()),
        "kept"
    );
    assert_eq!(
        secret.read().await.unwrap(),
        (user, password),
        "what the functions read"
    );
}
