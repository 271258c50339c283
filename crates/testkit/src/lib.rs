//! Test support: every test gets a database of its own on the local MariaDB, migrated and
//! seeded with exactly the products it asks for, so tests run in parallel without sharing
//! state (the zero2prod `spawn_app` pattern).
//!
//! The server is the one `scripts/services.sh start` runs; `DONUT_TEST_DB_URL` points
//! elsewhere (`mysql://donut:donut@127.0.0.1:3307` by default).

use donut_warehouse::{DbConfig, MySqlWarehouse};
use mysql_async::prelude::*;

pub fn server_url() -> String {
    std::env::var("DONUT_TEST_DB_URL")
        .unwrap_or_else(|_| "mysql://donut:donut@127.0.0.1:3307".into())
}

/// A product row for a test's own shelf.
#[derive(Debug, Clone)]
pub struct Shelf {
    pub product_id: &'static str,
    pub qty: u32,
    pub reorder_point: u32,
    pub reorder_qty: u32,
}

impl Shelf {
    pub fn new(product_id: &'static str, qty: u32) -> Self {
        Self {
            product_id,
            qty,
            reorder_point: 0,
            reorder_qty: 10,
        }
    }

    pub fn reorder(mut self, point: u32, quantity: u32) -> Self {
        self.reorder_point = point;
        self.reorder_qty = quantity;
        self
    }
}

/// One migrated database, private to the test that made it.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub warehouse: MySqlWarehouse,
}

impl TestDb {
    /// A new, migrated, empty database.
    pub async fn new() -> Self {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let server = server_url();
        let admin = mysql_async::Pool::new(server.as_str());
        let mut conn = admin.get_conn().await.unwrap_or_else(|e| {
            panic!("no MariaDB at {server} ({e}); start it with `scripts/services.sh start-db`")
        });
        conn.query_drop(format!("CREATE DATABASE `{name}`"))
            .await
            .expect("create test database");
        drop(conn);
        admin.disconnect().await.ok();

        let url = format!("{}/{}", server.trim_end_matches('/'), name);
        // Generous: on a busy CI machine a queue for a connection must not fail a test.
        let config = DbConfig::from_url(&url)
            .expect("test database URL")
            .with_max_connections(32)
            .with_acquire_timeout(std::time::Duration::from_secs(30));
        let warehouse = MySqlWarehouse::new(&config);
        warehouse.migrate().await.expect("migrations apply");
        Self {
            name,
            url,
            warehouse,
        }
    }

    /// A new database holding exactly these products.
    pub async fn with_shelves(shelves: &[Shelf]) -> Self {
        let db = Self::new().await;
        for s in shelves {
            db.exec(
                "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, \
                 factory_product_id) VALUES (?, ?, 150, ?, ?, ?, ?)",
                (s.product_id, s.product_id, s.qty, s.reorder_point, s.reorder_qty, format!("f-{}", s.product_id)),
            )
            .await;
        }
        db
    }

    /// A raw connection for assertions and fixtures.
    pub async fn conn(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.url.as_str())
            .await
            .expect("connect to test database")
    }

    pub async fn exec<P: Into<mysql_async::Params> + Send>(&self, sql: &str, params: P) {
        self.conn().await.exec_drop(sql, params).await.expect(sql);
    }

    /// The first column of the first row of `sql`, as a number.
    pub async fn count<P: Into<mysql_async::Params> + Send>(&self, sql: &str, params: P) -> i64 {
        let v: Option<i64> = self.conn().await.exec_first(sql, params).await.expect(sql);
        v.unwrap_or_default()
    }

    pub async fn stock(&self, product_id: &str) -> i64 {
        self.count(
            "SELECT qty FROM products WHERE product_id = ?",
            (product_id,),
        )
        .await
    }
}
