//! Memory size by measurement: one instance of sales-api and of warehouse-restock (their
//! release binaries, `runtime_api`) held to the CPU share Lambda gives each memory size
//! (`CpuQuota`), serving events back to back as a busy instance does; per size the latency
//! percentiles, the CPU per event, the billed duration (each event rounded up to 1 ms, as
//! Lambda bills) and what a million events cost.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use donut_config::Function;
use donut_config::settings::Callback;
use donut_domain::FactoryOrderId;
use donut_factory::ManufactureRequest;
use donut_load::Summary;
use donut_local::LocalSystem;
use mysql_async::prelude::*;

use crate::cgroup::CpuQuota;
use crate::handler_cpu::{FactoryCall, Lambdas, Process, Request};
use crate::lambda_shape::{Instance, drive};

/// The sizes measured: Lambda's smallest, the stages' sizes, and one vCPU.
pub const SIZES: [u32; 5] = [128, 256, 512, 1024, 1769];
/// Lambda's list prices in eu-west-1 (Europe, Ireland), the stages' Region, for Arm (the
/// functions' architecture), first tier, as published on aws.amazon.com/lambda/pricing/ and
/// known on 2026-12-07 (not fetched live): duration per GB-second, and requests.
pub const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
pub const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
/// Events per size, after [`WARM_UP`] (the login, prepared statements, the keys' first read).
pub const EVENTS: u64 = 500;
pub const WARM_UP: u64 = 20;
/// Where the restock's factory orders are.
const RESTOCK_PRODUCT: &str = "bench-mem-restock";
const SALES_PRODUCT: &str = "bench-mem-sales";

/// One function at one memory size.
pub struct MemoryRow {
    pub function: Function,
    pub memory_mb: u32,
    pub summary: Summary,
    pub cpu_per_event: Duration,
    /// Mean billed duration per event, ms (each event rounded up to the next millisecond).
    pub billed_ms: f64,
}

impl MemoryRow {
    /// Dollars per million events: duration (GB-seconds) and requests.
    pub fn cost_per_million(&self) -> f64 {
        let gb_seconds = self.billed_ms / 1000.0 * f64::from(self.memory_mb) / 1024.0;
        1e6 * gb_seconds * PRICE_PER_GB_SECOND + PRICE_PER_MILLION_REQUESTS
    }
}

/// Mean of each event's latency rounded up to the millisecond.
fn billed_ms(summary: &Summary) -> f64 {
    let (mut total, mut count) = (0u64, 0u64);
    for v in summary.latency_us.iter_recorded() {
        let ms = v.value_iterated_to().div_ceil(1000).max(1);
        total += ms * v.count_at_value();
        count += v.count_at_value();
    }
    total as f64 / count.max(1) as f64
}

/// The products the table sells and restocks, and the factory orders for every callback.
pub async fn prepare(pool: &mysql_async::Pool) -> anyhow::Result<()> {
    let mut conn = pool.get_conn().await?;
    for (id, qty) in [(SALES_PRODUCT, 1_000_000), (RESTOCK_PRODUCT, 0)] {
        conn.exec_drop(
            "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, factory_product_id) \
             VALUES (?, ?, 100, ?, 0, 0, '9')",
            (id, id, qty),
        )
        .await?;
    }
    Ok(())
}

/// `count` factory orders of one unit each, as the requester leaves them once the factory has
/// accepted them; each one's callback (path, query, body) signed with the stage's callback
/// key, as the factory would call it.
async fn callbacks(
    pool: &mysql_async::Pool,
    stack: &LocalSystem,
    count: u64,
) -> anyhow::Result<Vec<FactoryCall>> {
    let aws = donut_runtime::Aws::ready(stack.aws.clone());
    let keys = donut_runtime::adapters::callback_keys(
        &aws,
        &Callback {
            base_url: stack.factory_lane_url.clone(),
            secret_arn: stack.resources.callback_secret_arn.clone(),
            key_version: "local".into(),
            token_ttl_seconds: 3600,
        },
    );
    let signer = keys
        .signer()
        .await
        .map_err(|e| anyhow::anyhow!("the callback keys: {}", e.0))?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let mut conn = pool.get_conn().await?;
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let id = FactoryOrderId::new();
        conn.exec_drop(
            "INSERT INTO factory_orders (factory_order_id, product_id, factory_product_id, quantity, \
             status, correlation_id, created_at, request_attempts, factory_request_id, requested_at) \
             VALUES (?, ?, '9', 1, 'requested', ?, UTC_TIMESTAMP(6), 1, ?, UTC_TIMESTAMP(6))",
            (
                id.to_string(),
                RESTOCK_PRODUCT,
                uuid::Uuid::new_v4().to_string(),
                uuid::Uuid::new_v4().to_string(),
            ),
        )
        .await?;
        let path = format!("/factory/callback/{id}");
        let body = serde_json::to_vec(&ManufactureRequest {
            message_group_id: RESTOCK_PRODUCT.into(),
            message_attribute_product_id: "9".into(),
            message_attribute_product_cnt: "0".into(),
            order_stock_cnt: 1,
            callback_url: format!("{}{path}", stack.factory_lane_url),
        })?;
        out.push(FactoryCall {
            query: signer.query_at(id, 1, now),
            path,
            body,
        });
    }
    Ok(out)
}

/// Every function at every size. `pool`: the master's (it writes the factory orders). Fails
/// with [`crate::cgroup::NoCgroup`] where no quota can be set (not root).
pub async fn table(
    lambdas: &Lambdas<'_>,
    pool: &mysql_async::Pool,
) -> anyhow::Result<Vec<MemoryRow>> {
    let mut rows = Vec::new();
    for function in [Function::SalesApi, Function::WarehouseRestock] {
        for memory_mb in SIZES {
            let quota = CpuQuota::for_memory(memory_mb)?;
            let request = match function {
                Function::WarehouseRestock => Request::Callbacks(Arc::new(Mutex::new(
                    callbacks(pool, lambdas.stack, WARM_UP + EVENTS).await?,
                ))),
                _ => Request::Order {
                    product: SALES_PRODUCT.into(),
                    keyed: false,
                },
            };
            let env = lambdas.env(function, memory_mb)?;
            let process = Process::start(
                lambdas.bin_dir,
                function.name(),
                &env,
                Some(&quota),
                request,
            )
            .await?;
            let (instances, _) = drive(vec![process], WARM_UP).await;
            let before: Option<Duration> = instances.iter().map(Process::cpu).sum();
            let (instances, summary) = drive(instances, EVENTS).await;
            let after: Option<Duration> = instances.iter().map(Process::cpu).sum();
            let last_error = instances.iter().find_map(Instance::last_error);
            for p in instances {
                p.stop().await;
            }
            anyhow::ensure!(
                summary.statuses.get(&200) == Some(&EVENTS),
                "{} at {memory_mb} MB: not every event succeeded: {:?} (last error: {})",
                function.name(),
                summary.statuses,
                last_error.as_deref().unwrap_or("none")
            );
            let spent = after
                .zip(before)
                .and_then(|(after, before)| after.checked_sub(before))
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} at {memory_mb} MB: its CPU time could not be read",
                        function.name()
                    )
                })?;
            rows.push(MemoryRow {
                function,
                memory_mb,
                cpu_per_event: spent / EVENTS as u32,
                billed_ms: billed_ms(&summary),
                summary,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(memory_mb: u32, latencies_us: &[u64]) -> MemoryRow {
        let mut summary = Summary::default();
        for &us in latencies_us {
            summary.record(Duration::from_micros(us), Some(200), 1);
        }
        MemoryRow {
            function: Function::SalesApi,
            memory_mb,
            cpu_per_event: Duration::ZERO,
            billed_ms: billed_ms(&summary),
            summary,
        }
    }

    #[test]
    fn each_event_is_billed_rounded_up_to_the_millisecond() {
        // 0.3 ms → 1 ms, 1.2 ms → 2 ms, 2.0 ms → 2 ms.
        assert_eq!(row(128, &[300, 1200, 2000]).billed_ms, 5.0 / 3.0);
    }

    #[test]
    fn a_million_events_cost_their_gb_seconds_and_their_requests() {
        // 1 ms at 1 GB: 1 000 GB-seconds per million, $0.0133334, and $0.20 of requests.
        let cost = row(1024, &[1000]).cost_per_million();
        assert!((cost - 0.213_333_4).abs() < 1e-9, "{cost}");
        // The same millisecond at 128 MB costs an eighth of the duration.
        let cost = row(128, &[1000]).cost_per_million();
        assert!((cost - (0.2 + 0.013_333_4 / 8.0)).abs() < 1e-9, "{cost}");
    }
}
