use std::time::Duration;

use donut_api::AdminApi;
use donut_contract::settings;
use donut_messaging::SnsPublisher;
use donut_warehouse::MySqlWarehouse;

use super::relay_now::{RelayNow, key_window, relay_now};
use crate::adapters::{SettingsError, warehouse};
use crate::aws::Aws;

pub type AdminHandler = AdminApi<MySqlWarehouse, RelayNow<SnsPublisher>>;

/// λ admin-api: the operators' door, logged in as the operators' own database user.
pub fn admin_api(aws: &Aws, s: &settings::AdminApi<String>) -> Result<AdminHandler, SettingsError> {
    let warehouse =
        warehouse(aws, &s.base.database)?.with_key_window(key_window(s.idempotency_key_hours));
    let relay = relay_now(aws, &warehouse, &s.stock_out_topic_arn);
    Ok(AdminApi::new(
        warehouse,
        s.max_body_bytes as usize,
        Duration::from_secs(s.re_request_not_within_seconds),
    )
    .with_after_stock_out(relay))
}
