use donut_api::RestockApi;
use donut_contract::settings;
use donut_warehouse::MySqlWarehouse;

use crate::adapters::{SettingsError, callback_keys, warehouse};
use crate::aws::Aws;

/// λ warehouse-restock: the factory's signed callback.
pub fn warehouse_restock(
    aws: &Aws,
    s: &settings::WarehouseRestock<String>,
) -> Result<RestockApi<MySqlWarehouse>, SettingsError> {
    Ok(RestockApi::new(
        warehouse(aws, &s.base.database)?,
        callback_keys(aws, &s.callback),
        s.max_body_bytes as usize,
    ))
}
