//! The factory-order watchdog: every unfinished order chased, or surfaced to ops.

use std::time::Duration;

use crate::{Alerts, FactoryApi, FactoryRequest, OverdueOrders, StoreError};

/// When a factory order is not progressing, and how long the watchdog chases it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogPolicy {
    /// An order requested this long ago and not fulfilled is overdue.
    pub deadline: Duration,
    /// An `open` order whose stock-out was published this long ago is stalled: its message
    /// has had the time to be retried into the DLQ (at least `maxReceiveCount` × the
    /// visibility timeout, and never less than `deadline`).
    pub open_deadline: Duration,
    /// Requests per order (the first included), or chases of an open order, before ops are
    /// told instead.
    pub max_attempts: u32,
}

/// What one watchdog pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchdogReport {
    /// Overdue orders found (requested and never called back, or open and stalled).
    pub overdue: usize,
    /// Asked of the factory again, with the same factory order id.
    pub re_requested: usize,
    /// Open orders whose stock-out was published again.
    pub republished: usize,
    /// Given up on and reported to ops.
    pub surfaced: usize,
    /// Re-requests the factory refused or never answered; tried again next pass.
    pub failed: usize,
    /// How long the oldest unfinished order has waited (the alarm on unfinished orders).
    pub oldest_unfinished: Option<Duration>,
}

/// The factory-order watchdog. Every unfinished order is chased or surfaced:
/// - `requested` and no callback after `deadline` (the legacy factory loses callbacks): asked
///   again (same id: the restock stays exactly-once), up to `max_attempts` requests;
/// - `open` and its stock-out published more than `open_deadline` ago (its message
///   dead-lettered, purged or expired): its stock-out published again, up to `max_attempts`
///   times;
/// - past those: ops are alerted and the order is theirs ([`super::re_request_order`], or
///   [`super::cancel_order`]).
pub async fn watchdog_sweep<W: OverdueOrders, F: FactoryApi, A: Alerts>(
    warehouse: &W,
    factory: &F,
    alerts: &A,
    policy: WatchdogPolicy,
) -> Result<WatchdogReport, StoreError> {
    let mut report = WatchdogReport::default();
    for order in warehouse
        .overdue_factory_orders(policy.deadline, 50)
        .await?
    {
        report.overdue += 1;
        if order.request_attempts >= policy.max_attempts {
            surface(warehouse, alerts, &order, &mut report).await?;
            continue;
        }
        if !warehouse.claim_overdue(order.id, policy.deadline).await? {
            continue;
        }
        let request = FactoryRequest {
            factory_order_id: order.id,
            factory_product_id: order.factory_product_id.clone(),
            quantity: order.quantity,
            stock_left: 0,
            correlation_id: order.correlation_id.clone(),
        };
        match factory.request(&request).await {
            Ok(_) => report.re_requested += 1,
            Err(_) => report.failed += 1,
        }
    }
    for order in warehouse
        .stalled_open_orders(policy.open_deadline, 50)
        .await?
    {
        report.overdue += 1;
        if order.chases >= policy.max_attempts {
            surface(warehouse, alerts, &order, &mut report).await?;
            continue;
        }
        let event = order.stock_out_again(uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
        if warehouse
            .chase_open_order(order.id, policy.open_deadline, &event)
            .await?
        {
            report.republished += 1;
        }
    }
    report.oldest_unfinished = warehouse.oldest_unfinished().await?;
    Ok(report)
}

/// Tells ops about an order the watchdog gives up on; marks it only once they were told.
async fn surface<W: OverdueOrders, A: Alerts>(
    warehouse: &W,
    alerts: &A,
    order: &crate::FactoryOrder,
    report: &mut WatchdogReport,
) -> Result<(), StoreError> {
    match alerts.factory_order_overdue(order).await {
        Ok(()) => {
            warehouse.mark_surfaced(order.id).await?;
            report.surfaced += 1;
        }
        // Not marked: the next pass alerts again.
        Err(_) => report.failed += 1,
    }
    Ok(())
}
