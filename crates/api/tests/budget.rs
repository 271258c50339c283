//! Above the connection budget: more Lambda-like instances (each with its own pool of one
//! connection, serving one request at a time) than the database's `max_connections` allows.
//! Buyers get 200, 409 or 503 with `Retry-After` and a JSON body — never a 500, never a hang.

use std::time::{Duration, Instant};

use donut_api::{Limits, SalesApi};
use donut_apigw::{HttpCall, HttpReply, to_lambda_request};
use donut_testkit::{PrivateMariaDb, Shelf, TestDb};
use donut_warehouse::{DbConfig, MySqlWarehouse};

/// How long one instance waits for a connection before answering 503.
const ACQUIRE: Duration = Duration::from_millis(1500);

async fn buy(api: &SalesApi<MySqlWarehouse>) -> HttpReply {
    let body = br#"{"product_id":"budget-glazed","quantity":1}"#;
    let call = HttpCall {
        method: "POST",
        path: "/orders",
        raw_query: "",
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body,
        source_ip: "127.0.0.1",
    };
    api.handle(to_lambda_request(&call).unwrap()).await.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_connection_budget_buyers_get_503_never_500() {
    let server = PrivateMariaDb::start().await;
    let url = server.url();
    let server_url = url.trim_end_matches("/donut");
    let db = TestDb::new_on(server_url).await;
    db.add_shelves(&[Shelf::new("budget-glazed", 150).reorder(0, 10)])
        .await;
    // The budget: 8 connections (plus the one MariaDB keeps for an administrator).
    db.exec("SET GLOBAL max_connections = 8", ()).await;
    db.warehouse.clone().close().await;

    const INSTANCES: usize = 24;
    const REQUESTS: usize = 15;
    let answers: Vec<(u16, Duration, HttpReply)> =
        futures::future::join_all((0..INSTANCES).map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move {
                let config = DbConfig::from_url(&url)
                    .unwrap()
                    .with_max_connections(1)
                    .with_acquire_timeout(ACQUIRE)
                    .with_idle_timeout(Duration::from_millis(200));
                let api = SalesApi::new(MySqlWarehouse::new(&config), Limits::default());
                let mut answers = Vec::new();
                for _ in 0..REQUESTS {
                    let started = Instant::now();
                    let reply = buy(&api).await;
                    answers.push((reply.status, started.elapsed(), reply));
                }
                answers
            })
        }))
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();

    let count = |status: u16| answers.iter().filter(|(s, _, _)| *s == status).count();
    let longest = answers.iter().map(|(_, d, _)| *d).max().unwrap();
    println!(
        "{} answers from {INSTANCES} instances over 8 connections: {} × 200, {} × 409, {} × 503, {} × 500; longest {} ms",
        answers.len(),
        count(200),
        count(409),
        count(503),
        count(500),
        longest.as_millis()
    );
    assert_eq!(
        count(200) + count(409) + count(503),
        answers.len(),
        "only 200/409/503"
    );
    assert!(
        count(503) > 0,
        "the budget was exceeded: some buyers must have been told to retry"
    );
    assert!(count(200) > 0, "the instances inside the budget sold");
    assert!(
        longest < ACQUIRE + Duration::from_secs(2),
        "no hung request: {longest:?}"
    );
    for (_, _, reply) in answers.iter().filter(|(s, _, _)| *s == 503) {
        assert_eq!(reply.header("retry-after"), Some("1"));
        assert_eq!(reply.json()["error"]["code"], "warehouse_unavailable");
    }
    // Nothing sold twice or lost: every 200 is one unit gone.
    assert_eq!(db.stock("budget-glazed").await, 150 - count(200) as i64);
}
