use std::time::Duration;

use donut_contract::settings;
use donut_domain::StoreError;
use donut_domain::usecases::{WatchdogPolicy, WatchdogReport};
use donut_factory::FactoryClient;
use donut_messaging::SnsAlerts;
use donut_messaging::sweep::watchdog_pass;
use donut_warehouse::MySqlWarehouse;

use crate::adapters::{SettingsError, callback_keys, factory_client, warehouse};
use crate::aws::Aws;

/// λ factory-watchdog: one pass over the factory orders that stopped moving.
pub struct FactoryWatchdog {
    warehouse: MySqlWarehouse,
    factory: FactoryClient,
    alerts: SnsAlerts,
    /// From the settings; the local stack shortens it, as it shortens the queue's timeout.
    pub policy: WatchdogPolicy,
}

pub fn factory_watchdog(
    aws: &Aws,
    s: &settings::FactoryWatchdog<String>,
) -> Result<FactoryWatchdog, SettingsError> {
    Ok(FactoryWatchdog {
        warehouse: warehouse(aws, &s.base.database)?,
        factory: factory_client(aws, &s.factory, callback_keys(aws, &s.callback)),
        alerts: SnsAlerts::new(aws.sns_client(), &s.ops_topic_arn, &s.overdue_runbook_url),
        policy: WatchdogPolicy {
            deadline: Duration::from_secs(60 * s.deadline_minutes),
            open_deadline: Duration::from_secs(60 * s.open_deadline_minutes),
            max_attempts: s.max_attempts,
        },
    })
}

impl FactoryWatchdog {
    pub async fn run(&self) -> Result<WatchdogReport, StoreError> {
        // Boxed: inside a Lambda handler's future, the pass's future nests deeper than the
        // compiler's default recursion limit allows for its layout.
        Box::pin(watchdog_pass(
            &self.warehouse,
            &self.factory,
            &self.alerts,
            self.policy,
        ))
        .await
    }
}
