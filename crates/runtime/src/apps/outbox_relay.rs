use donut_contract::settings;
use donut_domain::StoreError;
use donut_domain::ports::RelayReport;
use donut_messaging::SnsPublisher;
use donut_messaging::sweep::{expired_keys_pass, relay_pass};
use donut_warehouse::MySqlWarehouse;

use crate::adapters::{SettingsError, warehouse};
use crate::aws::Aws;

/// λ outbox-relay: one pass of the scheduled sweeper (the outbox, then expired idempotency keys).
pub struct OutboxRelay {
    warehouse: MySqlWarehouse,
    publisher: SnsPublisher,
}

pub fn outbox_relay(
    aws: &Aws,
    s: &settings::OutboxRelay<String>,
) -> Result<OutboxRelay, SettingsError> {
    Ok(OutboxRelay {
        warehouse: warehouse(aws, &s.base.database)?,
        publisher: SnsPublisher::new(aws.sns_client(), &s.stock_out_topic_arn),
    })
}

impl OutboxRelay {
    /// A relay pass, then a sweep of idempotency keys past their window (the same schedule).
    /// A failed sweep does not fail the run (the outbox was relayed); its metric shows it.
    pub async fn run(&self) -> Result<RelayReport, StoreError> {
        // Boxed, as the watchdog's pass: deep futures inside a Lambda handler's future.
        let report = Box::pin(relay_pass(&self.warehouse, &self.publisher)).await?;
        let _ = expired_keys_pass(&self.warehouse).await;
        Ok(report)
    }
}
