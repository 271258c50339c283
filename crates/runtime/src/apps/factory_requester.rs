use std::time::Duration;

use donut_contract::settings;
use donut_factory::FactoryClient;
use donut_messaging::FactoryRequester;
use donut_warehouse::MySqlWarehouse;

use crate::adapters::{SettingsError, callback_keys, factory_client, warehouse};
use crate::aws::Aws;

/// λ factory-requester: stock-out events from the queue to the legacy factory.
pub fn factory_requester(
    aws: &Aws,
    s: &settings::FactoryRequester<String>,
) -> Result<FactoryRequester<MySqlWarehouse, FactoryClient>, SettingsError> {
    let factory = factory_client(aws, &s.factory, callback_keys(aws, &s.callback));
    // The claim on a factory order outlives one factory call, timeouts included.
    let lease = Duration::from_millis(2 * s.factory.timeout_ms);
    Ok(FactoryRequester::new(
        warehouse(aws, &s.base.database)?,
        factory,
        lease,
    ))
}
