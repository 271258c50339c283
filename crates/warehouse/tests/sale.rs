//! The sale of migration 013 (`donut_sell_v6`, `donut_sell_keyed_v6`) at the edges of what its
//! packed answer carries, and beside the previous release's `donut_sell_v5`, which a canary's
//! old functions keep calling on the new schema. Every call runs as the functions' user.

use donut_domain::*;
use donut_testkit::{Shelf, TestDb};
use mysql_async::prelude::*;

fn buy(product: &str, quantity: i64, key: Option<&str>) -> PurchaseRequest {
    PurchaseRequest {
        product_id: ProductId::parse(product).unwrap(),
        quantity: Quantity::parse(quantity, 1000).unwrap(),
        correlation_id: CorrelationId::new(),
        idempotency_key: key.map(|k| IdempotencyKey::parse(k).unwrap()),
        buyer: None,
    }
}

async fn sold(db: &TestDb, request: &PurchaseRequest) -> Sale {
    match db.warehouse.purchase(request).await.unwrap() {
        PurchaseOutcome::Sold(sale) => sale,
        other => panic!("{}: expected a sale, got {other:?}", request.product_id),
    }
}

/// A connection as the functions' user, set up as the warehouse's pool sets its own.
async fn as_functions(db: &TestDb) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::from_opts(
        mysql_async::Opts::from_url(&db.app_url).expect("the app URL"),
    )
    .init(vec![
        "SET time_zone = '+00:00'",
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    ]);
    mysql_async::Conn::new(opts)
        .await
        .expect("connect as the functions' user")
}

/// `donut_sell_v5` as the previous release calls it: (step, stock, replayed order id).
async fn sell_v5(
    conn: &mut mysql_async::Conn,
    product: &str,
    order_id: &str,
    key: Option<&str>,
) -> (String, Option<u32>, Option<String>) {
    let row: mysql_async::Row = conn
        .exec_first(
            "CALL donut_sell_v5(?, ?, ?, ?, ?, ?, ?, ?)",
            (
                product,
                1,
                order_id,
                "corr-v5",
                key,
                format!("{product} 1"),
                3600,
                None::<String>,
            ),
        )
        .await
        .expect("donut_sell_v5 runs on the new schema")
        .expect("one row");
    assert_eq!(row.len(), 12, "donut_sell_v5 answers its twelve columns");
    (
        row.get::<String, _>("step").unwrap(),
        row.get::<Option<u32>, _>("stock").unwrap(),
        row.get::<Option<String>, _>("replay_order_id").unwrap(),
    )
}

#[tokio::test]
async fn prices_and_stock_at_the_edges_of_the_packing_reach_the_order() {
    let db = TestDb::new().await;
    // (product, price in cents): the catalogue's range, the largest the packing carries, and
    // beyond it — the sentinel itself, more, and less than zero (rows the catalogue never
    // writes, but the column holds) — which the sale reads from the row.
    let prices: [(&'static str, i64); 7] = [
        ("free", 0),
        ("plain", 150),
        ("catalogue-max", 100_000_000),
        ("packed-max", 1_073_741_822),
        ("sentinel", 1_073_741_823),
        ("huge", 5_000_000_000),
        ("negative", -5),
    ];
    for (product, price) in prices {
        db.add_shelves(&[Shelf::new(product, 50)]).await;
        db.exec(
            "UPDATE products SET price_cents = ? WHERE product_id = ?",
            (price, product),
        )
        .await;
        for key in [None, Some(format!("key-{product}"))] {
            let sale = sold(&db, &buy(product, 2, key.as_deref())).await;
            let order = db
                .warehouse
                .order(sale.order_id)
                .await
                .unwrap()
                .expect("the order row");
            assert_eq!(
                order.unit_price_cents, price,
                "{product} (key {key:?}): the order keeps the price as sold"
            );
            assert_eq!(order.quantity.get(), 2);
        }
        assert_eq!(db.stock(product).await, 46, "{product}");
    }

    // The largest stock an INT UNSIGNED holds, with the largest packed price: every bit of
    // the packed number in use.
    db.add_shelves(&[Shelf::new("full", 0)]).await;
    db.exec(
        "UPDATE products SET qty = 4294967295, price_cents = 1073741822 WHERE product_id = 'full'",
        (),
    )
    .await;
    let sale = sold(&db, &buy("full", 1, None)).await;
    assert_eq!(sale.remaining, 4_294_967_294);
    assert_eq!(db.stock("full").await, 4_294_967_294);
    let order = db.warehouse.order(sale.order_id).await.unwrap().unwrap();
    assert_eq!(order.unit_price_cents, 1_073_741_822);
}

#[tokio::test]
async fn the_previous_release_sells_beside_this_one() {
    let db = TestDb::with_shelves(&[
        Shelf::new("glazed", 100).reorder(0, 0),
        Shelf::new("cruller", 100).reorder(0, 0),
    ])
    .await;
    let mut old = as_functions(&db).await;

    // An unkeyed sale by the old function: stock, order row and price as before.
    let old_order = OrderId::new().to_string();
    assert_eq!(
        sell_v5(&mut old, "glazed", &old_order, None).await,
        ("done".into(), Some(99), None)
    );
    let order = db
        .warehouse
        .order(OrderId::parse(&old_order).unwrap())
        .await
        .unwrap()
        .expect("the old release's order, read by the new one");
    assert_eq!((order.unit_price_cents, order.quantity.get()), (150, 1));

    // The new release sells on: the shelves are one.
    let sale = sold(&db, &buy("glazed", 1, None)).await;
    assert_eq!(sale.remaining, 98);

    // A key the old release sold under replays in the new one, and the other way round.
    let old_keyed = OrderId::new().to_string();
    assert_eq!(
        sell_v5(&mut old, "cruller", &old_keyed, Some("cart-old")).await,
        ("done".into(), Some(99), None)
    );
    let PurchaseOutcome::Replayed(replayed) = db
        .warehouse
        .purchase(&buy("cruller", 1, Some("cart-old")))
        .await
        .unwrap()
    else {
        panic!("the new release replays the old one's key")
    };
    assert_eq!(
        (replayed.order_id.to_string(), replayed.remaining),
        (old_keyed, 99)
    );

    let new_sale = sold(&db, &buy("cruller", 1, Some("cart-new"))).await;
    assert_eq!(new_sale.remaining, 98);
    let (step, stock, order) = sell_v5(
        &mut old,
        "cruller",
        &OrderId::new().to_string(),
        Some("cart-new"),
    )
    .await;
    assert_eq!(
        (step.as_str(), stock, order),
        ("replay", Some(98), Some(new_sale.order_id.to_string())),
        "the old release replays the new one's key with the stock it left"
    );
    assert_eq!(db.stock("cruller").await, 98, "no replay sold anything");
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM orders WHERE product_id = 'cruller'",
            ()
        )
        .await,
        2
    );
}
