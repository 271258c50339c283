//! Relays racing over the outbox against a real MariaDB, with purchases writing stock-outs
//! while they claim: every row published exactly once, no relay error, nothing left behind.
//!
//! `make test` runs a few rounds; `make stress` runs the same race 200 rounds
//! (`DONUT_RELAY_ROUNDS`), outside the suite.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use donut_domain::ports::Due;
use donut_domain::usecases::relay_once;
use donut_domain::*;
use donut_testkit::TestDb;

/// Relays racing in each round, and the batch each claims.
const RELAY_BATCHES: [usize; 8] = [1, 2, 3, 5, 8, 13, 25, 25];
/// Stock-outs written per round.
const STOCK_OUTS: usize = 200;
/// A round that has not drained its outbox by then has failed.
const ROUND_DEADLINE: Duration = Duration::from_secs(60);

fn rounds() -> usize {
    std::env::var("DONUT_RELAY_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// Counts what each event id was published as; a slow publish now and then, as SNS has.
#[derive(Default)]
struct Tally {
    published: Mutex<HashMap<uuid::Uuid, usize>>,
}

impl EventPublisher for Tally {
    async fn publish(&self, event: &StockOutEvent) -> Result<(), PublishError> {
        if event.event_id.as_u128().is_multiple_of(7) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        *self
            .published
            .lock()
            .unwrap()
            .entry(event.event_id)
            .or_default() += 1;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct RoundFigures {
    relay_errors: usize,
    published_twice: usize,
    unpublished: i64,
    passes: usize,
}

async fn one_round(db: &TestDb, round: usize) -> RoundFigures {
    // Every product's previous episode is over: each purchase below opens a new factory order.
    db.exec(
        "UPDATE factory_orders SET status = 'fulfilled', open_product_id = NULL, \
         fulfilled_at = UTC_TIMESTAMP(6)",
        (),
    )
    .await;
    let tally = Arc::new(Tally::default());
    let buyers_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let buyers = {
        let w = db.warehouse.clone();
        let done = buyers_done.clone();
        tokio::spawn(async move {
            let buys = (0..STOCK_OUTS).map(|i| {
                let w = w.clone();
                async move {
                    let request = PurchaseRequest {
                        product_id: ProductId::parse(&format!("race-{i}")).unwrap(),
                        quantity: Quantity::parse(1, 10).unwrap(),
                        correlation_id: CorrelationId::new(),
                        idempotency_key: None,
                        buyer: None,
                    };
                    w.purchase(&request).await
                }
            });
            let outcomes = futures::future::join_all(buys).await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            outcomes
        })
    };
    let relays: Vec<_> = RELAY_BATCHES
        .iter()
        .map(|&batch| {
            let w = db.warehouse.clone();
            let tally = tally.clone();
            let done = buyers_done.clone();
            tokio::spawn(async move {
                let (mut errors, mut passes) = (0, 0);
                let deadline = Instant::now() + ROUND_DEADLINE;
                while Instant::now() < deadline {
                    passes += 1;
                    match relay_once(&w, tally.as_ref(), Due::Oldest(batch), None).await {
                        Ok(r) if r.published > 0 => continue,
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!("relay error: {e}");
                            errors += 1;
                        }
                    }
                    let drained = done.load(std::sync::atomic::Ordering::SeqCst)
                        && w.pending().await.map(|p| p.rows == 0).unwrap_or(false);
                    if drained {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                (errors, passes)
            })
        })
        .collect();
    for outcome in buyers.await.unwrap() {
        assert!(
            matches!(outcome, Ok(PurchaseOutcome::OutOfStock(_))),
            "round {round}: {outcome:?}"
        );
    }
    let mut figures = RoundFigures::default();
    for relay in relays {
        let (errors, passes) = relay.await.unwrap();
        figures.relay_errors += errors;
        figures.passes += passes;
    }
    let published = tally.published.lock().unwrap().clone();
    figures.published_twice = published.values().filter(|&&n| n > 1).count();
    figures.unpublished = db
        .count("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL", ())
        .await;
    assert_eq!(
        published.len(),
        STOCK_OUTS,
        "round {round}: every stock-out published"
    );
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_relays_publish_every_stock_out_exactly_once() {
    let db = TestDb::new().await;
    let mut values = Vec::new();
    for i in 0..STOCK_OUTS {
        values.push(format!("('race-{i}', 'race {i}', 100, 0, 0, 5, 'f{i}')"));
    }
    db.exec(
        &format!(
            "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, \
             factory_product_id) VALUES {}",
            values.join(", ")
        ),
        (),
    )
    .await;
    let rounds = rounds();
    let started = Instant::now();
    let mut total = RoundFigures::default();
    for round in 0..rounds {
        let f = one_round(&db, round).await;
        assert_eq!(
            (f.relay_errors, f.published_twice, f.unpublished),
            (0, 0, 0),
            "round {round}: relay errors, rows published twice, rows left unpublished"
        );
        total.passes += f.passes;
    }
    println!(
        "{rounds} rounds × {} relays × {STOCK_OUTS} stock-outs: 0 relay errors, 0 published twice, \
         0 left unpublished; {} relay passes; {:.1} s",
        RELAY_BATCHES.len(),
        total.passes,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM outbox", ()).await,
        (rounds * STOCK_OUTS) as i64
    );
}
