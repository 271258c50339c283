//! The handler baseline: the least a sales Lambda does on the same runtime as ours —
//! `lambda_http`, the JSON body read and written with serde, one `CALL` of the minimal
//! purchase (`bench_minimal`: conditional UPDATE + order row, one transaction) on one
//! connection, and JSON log lines at INFO, one per purchase. `make bench` runs it as a Lambda
//! instance beside sales-api and reports the CPU time each spends per purchase.
//!
//! `DONUT_MINIMAL_DB_URL`: the database (the functions' user); `DONUT_MINIMAL_DB_CA`: its CA
//! (TLS, as sales-api reaches it).

use lambda_http::{Body, Error, Request, Response, service_fn};
use mysql_async::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Order {
    product_id: String,
    quantity: u32,
}

#[derive(Serialize)]
struct Sold<'a> {
    order_id: &'a str,
    product_id: &'a str,
    quantity: u32,
}

fn json(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(body))
        .expect("a status and a header are a response")
}

async fn sell(pool: &mysql_async::Pool, request: Request) -> Response<Body> {
    let Ok(order) = serde_json::from_slice::<Order>(request.body()) else {
        return json(400, r#"{"error":"bad_request"}"#.into());
    };
    let order_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let sold: Result<Option<u8>, _> = async {
        pool.get_conn()
            .await?
            .exec_first(
                "CALL bench_minimal(?, ?, ?, ?)",
                (
                    &order.product_id,
                    order.quantity,
                    &order_id,
                    &correlation_id,
                ),
            )
            .await
    }
    .await;
    match sold {
        Ok(Some(1)) => {
            tracing::info!(product_id = %order.product_id, %order_id, %correlation_id, "sold");
            let body = Sold {
                order_id: &order_id,
                product_id: &order.product_id,
                quantity: order.quantity,
            };
            json(200, serde_json::to_string(&body).unwrap_or_default())
        }
        Ok(_) => json(409, r#"{"error":"out_of_stock"}"#.into()),
        Err(e) => {
            tracing::error!(error = %e, "purchase failed");
            json(500, r#"{"error":"internal"}"#.into())
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .with_max_level(tracing::Level::INFO)
        .init();
    let url = std::env::var("DONUT_MINIMAL_DB_URL")?;
    let ca = std::path::PathBuf::from(std::env::var("DONUT_MINIMAL_DB_CA")?);
    let opts = mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&url)?)
        .ssl_opts(mysql_async::SslOpts::default().with_root_certs(vec![ca.into()]))
        .init(vec![
            "SET time_zone = '+00:00'",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ])
        // One connection, kept between events with its prepared statement and session (as
        // ours keeps its one: mysql_async would otherwise reset it on every return to the
        // pool, a round trip and a prepare more per purchase).
        .pool_opts(
            mysql_async::PoolOpts::default()
                .with_constraints(mysql_async::PoolConstraints::new(1, 1).expect("1 ≤ 1"))
                .with_reset_connection(false),
        );
    let pool = &mysql_async::Pool::new(opts);
    lambda_http::run(service_fn(move |request| async move {
        Ok::<_, Error>(sell(pool, request).await)
    }))
    .await
}
