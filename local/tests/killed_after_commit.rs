//! The sales API's process is killed after its purchase committed and before its reply left
//! (`SIGKILL`, as when a Lambda instance dies past its commit): the buyer sees a dropped
//! connection, retries with its `Idempotency-Key` once the API is back, and gets the original
//! order; the stock fell once.
//!
//! "After the commit, before the reply" is made exact by a proxy between the API and MariaDB
//! that withholds the database's answers once armed: the purchase's procedure commits, its result
//! never reaches the API, the test sees the order row committed (on its own connection), then
//! kills the process. `donut-local up` is the process: the same handler and warehouse the Lambda
//! runs, behind the local API Gateway.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A TCP proxy to MariaDB; `hold` set, whatever the server sends is kept back.
async fn proxy(upstream: SocketAddr, hold: watch::Receiver<bool>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(upstream).await else {
                continue;
            };
            let (mut client_rx, mut client_tx) = client.into_split();
            let (mut server_rx, mut server_tx) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_rx, &mut server_tx).await;
            });
            let mut hold = hold.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server_rx.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    // Bytes read while held are kept back for good.
                    if hold.wait_for(|held| !held).await.is_err() {
                        return;
                    }
                    if client_tx.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// `donut-local up` on its own ports, with its database at `database_url`.
async fn start_api(
    database_url: &str,
    api_port: u16,
    dir: &std::path::Path,
    keep: bool,
) -> tokio::process::Child {
    let localstack = env("DONUT_TEST_AWS_ENDPOINT", "http://127.0.0.1:4576");
    let localstack_port = localstack.rsplit(':').next().unwrap().to_owned();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_donut-local"));
    command
        .arg("up")
        .env("DONUT_LOCAL_DIR", dir)
        .env("DONUT_STAGE", "dev")
        .env("DATABASE_URL", database_url)
        .env("DONUT_API_PORT", api_port.to_string())
        .env("DONUT_FACTORY_PORT", free_port().to_string())
        .env("DONUT_LOCALSTACK_PORT", localstack_port)
        .env("DONUT_QUIET", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if keep {
        command.env("DONUT_KEEP_DATA", "1");
    }
    command.spawn().expect("donut-local starts")
}

async fn ready(client: &reqwest::Client, api: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(120) {
        if let Ok(r) = client.get(format!("{api}/products")).send().await
            && r.status() == 200
        {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("donut-local did not answer at {api} within 120 s");
}

async fn buy(
    client: &reqwest::Client,
    api: &str,
    key: Option<&str>,
    quantity: u32,
) -> reqwest::Result<(u16, Option<String>, Value)> {
    let mut request = client
        .post(format!("{api}/orders"))
        .json(&json!({"product_id": "kill-glazed", "quantity": quantity}));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let reply = request.send().await?;
    let status = reply.status().as_u16();
    let replayed = reply
        .headers()
        .get("idempotent-replayed")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok((status, replayed, reply.json().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_commit_the_retry_with_its_key_gets_the_original_order() {
    let server = env("DONUT_TEST_DB_URL", "mysql://donut:donut@127.0.0.1:3317");
    let upstream: SocketAddr = server
        .rsplit('@')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .expect("DONUT_TEST_DB_URL ends with host:port");
    let name = format!("t_kill_{}", uuid::Uuid::new_v4().simple());
    let (hold, held) = watch::channel(false);
    let through_proxy = format!("mysql://donut:donut@{}/{name}", proxy(upstream, held).await);
    let direct = format!("{}/{name}", server.trim_end_matches('/'));
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir).unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}");

    let mut first = start_api(&through_proxy, api_port, &dir, false).await;
    let started_in = ready(&client, &api).await;
    let mut db = mysql_async::Conn::from_url(direct.as_str()).await.unwrap();
    db.query_drop(
        "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, \
         factory_product_id) VALUES ('kill-glazed', 'Glazed', 150, 100, 0, 10, 'f-glazed')",
    )
    .await
    .unwrap();
    // Purchases warm the API's connection (the held one must be pooled) and prepare their
    // statements on it: a keyed sale's statement is not an unkeyed one's, and a PREPARE whose
    // answer is held would keep the purchase from ever reaching its commit.
    let (status, _, _) = buy(&client, &api, None, 1).await.unwrap();
    assert_eq!(status, 200);
    let (status, _, _) = buy(&client, &api, Some("k-warm"), 1).await.unwrap();
    assert_eq!(status, 200);

    hold.send_replace(true);
    let kill_client = client.clone();
    let kill_api = api.clone();
    let lost = tokio::spawn(async move { buy(&kill_client, &kill_api, Some("k-kill"), 2).await });
    let committed_at = Instant::now();
    let order_id = loop {
        let row: Option<String> = db
            .query_first("SELECT order_id FROM orders WHERE idempotency_key = 'k-kill'")
            .await
            .unwrap();
        if let Some(id) = row {
            break id;
        }
        assert!(
            committed_at.elapsed() < Duration::from_secs(20),
            "the purchase never committed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        !lost.is_finished(),
        "the reply must not have left before the kill"
    );
    first.kill().await.unwrap();
    let seen = lost.await.unwrap();
    assert!(seen.is_err(), "the buyer sees a lost reply, not {seen:?}");
    hold.send_replace(false);

    let restarted = Instant::now();
    let _second = start_api(&direct, api_port, &dir, true).await;
    let back_in = ready(&client, &api).await;
    let (status, replayed, body) = buy(&client, &api, Some("k-kill"), 2).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["order_id"], order_id.as_str(), "the original order");
    assert_eq!(body["remaining"], 96);
    assert_eq!(replayed.as_deref(), Some("true"));
    let stock: Option<u32> = db
        .query_first("SELECT qty FROM products WHERE product_id = 'kill-glazed'")
        .await
        .unwrap();
    assert_eq!(stock, Some(96), "100 - 2 (warm-ups) - 2 (once)");
    let orders: Option<u64> = db
        .query_first("SELECT COUNT(*) FROM orders WHERE idempotency_key = 'k-kill'")
        .await
        .unwrap();
    assert_eq!(orders, Some(1));
    eprintln!(
        "killed after commit: first start {} ms, restart to ready {} ms, retry answered after {} ms",
        started_in.as_millis(),
        back_in.as_millis(),
        restarted.elapsed().as_millis()
    );
    db.query_drop(format!("DROP DATABASE `{name}`"))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
