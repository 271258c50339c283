//! The business invariants, checked in the warehouse after a run: every unit the API said
//! it sold has an order row; stock moved by exactly sales and restocks; never below zero;
//! at most one factory order open at a time per product (one per stock-out episode).

use mysql_async::prelude::*;

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    /// None: not checked.
    pub held: Option<bool>,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, held: bool, detail: String) -> Self {
        Self {
            name,
            held: Some(held),
            detail,
        }
    }

    pub fn skipped(name: &'static str, detail: &str) -> Self {
        Self {
            name,
            held: None,
            detail: detail.to_owned(),
        }
    }
}

/// The state before the run, to compare with after it.
pub struct Window {
    pool: mysql_async::Pool,
    product: String,
    started_at: String,
    stock_before: i64,
}

impl Window {
    pub async fn open(url: &str, product: &str) -> anyhow::Result<Self> {
        let pool = mysql_async::Pool::new(url);
        let mut conn = pool.get_conn().await?;
        let started_at: String = conn
            .query_first("SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%d %H:%i:%s.%f')")
            .await?
            .unwrap_or_default();
        let stock_before: i64 = conn
            .exec_first("SELECT qty FROM products WHERE product_id = ?", (product,))
            .await?
            .unwrap_or_default();
        Ok(Self {
            pool,
            product: product.to_owned(),
            started_at,
            stock_before,
        })
    }

    pub async fn close(self, run_id: &str, sold_by_api: u64) -> anyhow::Result<Vec<Check>> {
        // Let in-flight restocks settle into one consistent read.
        let mut conn = self.pool.get_conn().await?;
        let pattern = format!("load-{run_id}-%");
        let recorded: i64 = conn
            .exec_first(
                "SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE idempotency_key LIKE ?",
                (&pattern,),
            )
            .await?
            .unwrap_or_default();
        let (stock_after, sold_since, restocked_since): (i64, i64, i64) = conn
            .exec_first(
                "SELECT p.qty, \
                   (SELECT COALESCE(SUM(o.quantity), 0) FROM orders o WHERE o.product_id = p.product_id AND o.created_at >= ?), \
                   (SELECT COALESCE(SUM(f.quantity), 0) FROM factory_orders f WHERE f.product_id = p.product_id AND f.fulfilled_at >= ?) \
                 FROM products p WHERE p.product_id = ?",
                (&self.started_at, &self.started_at, &self.product),
            )
            .await?
            .unwrap_or_default();
        // Every logical purchase carries its key: none may have sold twice.
        let sold_twice: i64 = conn
            .exec_first(
                "SELECT COUNT(*) FROM (SELECT idempotency_key FROM orders \
                 WHERE idempotency_key LIKE ? GROUP BY idempotency_key HAVING COUNT(*) > 1) t",
                (&pattern,),
            )
            .await?
            .unwrap_or_default();
        let lowest: i64 = conn
            .query_first("SELECT COALESCE(MIN(qty), 0) FROM products")
            .await?
            .unwrap_or_default();
        let opened: i64 = conn
            .exec_first(
                "SELECT COUNT(*) FROM factory_orders WHERE product_id = ? AND created_at >= ?",
                (&self.product, &self.started_at),
            )
            .await?
            .unwrap_or_default();
        // Two factory orders of one product open at once: the second began before the first ended.
        let overlapping: i64 = conn
            .exec_first(
                "SELECT COUNT(*) FROM factory_orders a JOIN factory_orders b \
                   ON a.product_id = b.product_id AND b.created_at > a.created_at \
                  AND (a.fulfilled_at IS NULL OR b.created_at < a.fulfilled_at) \
                 WHERE a.product_id = ? AND b.created_at >= ?",
                (&self.product, &self.started_at),
            )
            .await?
            .unwrap_or_default();
        drop(conn);
        self.pool.disconnect().await.ok();
        let expected_after = self.stock_before - sold_since + restocked_since;
        Ok(vec![
            Check::new(
                "every unit sold has an order row",
                recorded == sold_by_api as i64,
                format!("API sold {sold_by_api}, orders hold {recorded}"),
            ),
            Check::new(
                "stock moved by sales and restocks only",
                stock_after == expected_after,
                format!(
                    "{} before − {sold_since} sold + {restocked_since} restocked = {expected_after}; stock is {stock_after}",
                    self.stock_before
                ),
            ),
            Check::new(
                "one sale per idempotency key",
                sold_twice == 0,
                format!("{sold_twice} key(s) with more than one order"),
            ),
            Check::new(
                "stock never negative",
                lowest >= 0,
                format!("lowest stock {lowest}"),
            ),
            Check::new(
                "one factory order per stock-out episode",
                overlapping == 0,
                format!("{opened} factory order(s) opened, {overlapping} overlapping"),
            ),
        ])
    }
}
