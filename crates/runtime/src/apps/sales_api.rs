use donut_api::{Limits, SalesApi};
use donut_contract::settings;
use donut_messaging::SnsPublisher;
use donut_warehouse::MySqlWarehouse;

use super::relay_now::{RelayNow, key_window, relay_now};
use crate::adapters::{SettingsError, warehouse};
use crate::aws::Aws;

pub type SalesHandler = SalesApi<MySqlWarehouse, RelayNow<SnsPublisher>>;

/// λ sales-api: orders and stock levels; a stock-out's event published right after the sale.
pub fn sales_api(aws: &Aws, s: &settings::SalesApi<String>) -> Result<SalesHandler, SettingsError> {
    let warehouse =
        warehouse(aws, &s.base.database)?.with_key_window(key_window(s.idempotency_key_hours));
    let limits = Limits {
        max_quantity: s.max_quantity,
        max_body_bytes: s.max_body_bytes as usize,
    };
    let relay = relay_now(aws, &warehouse, &s.stock_out_topic_arn);
    Ok(SalesApi::new(warehouse, limits).with_after_stock_out(relay))
}
