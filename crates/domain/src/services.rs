//! The few pieces of behaviour that span more than one port.

use std::time::Duration;

use crate::{
    Alerts, FactoryApi, FactoryError, FactoryOrderId, FactoryOrderOps, FactoryOrderStatus,
    FactoryOrders, FactoryReceipt, FactoryRequest, OpsOutcome, OverdueOrders, StockOutEvent,
    StoreError,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The factory took the order; its id is recorded.
    Requested(FactoryReceipt),
    /// A redelivery: the order was requested (or fulfilled) already, the factory was not called.
    AlreadyDone(FactoryOrderStatus),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Factory(#[from] FactoryError),
    #[error("stock-out event names factory order {0}, which the warehouse does not know")]
    UnknownOrder(crate::FactoryOrderId),
    #[error("another consumer is calling the factory for order {0}")]
    Busy(crate::FactoryOrderId),
}

/// Turns one stock-out event into one factory request, once per factory order however often
/// (and however concurrently) the event is delivered. `lease` bounds how long one consumer
/// may hold the order while it calls the factory; keep it above the factory call's timeout.
pub async fn request_from_factory<W: FactoryOrders, F: FactoryApi>(
    warehouse: &W,
    factory: &F,
    event: &StockOutEvent,
    lease: Duration,
) -> Result<RequestOutcome, RequestError> {
    let order = warehouse
        .factory_order(event.factory_order_id)
        .await?
        .ok_or(RequestError::UnknownOrder(event.factory_order_id))?;
    if !order.status.needs_request() {
        return Ok(RequestOutcome::AlreadyDone(order.status));
    }
    if !warehouse.claim_factory_request(order.id, lease).await? {
        // Either it was requested a moment ago, or a concurrent delivery is on it; a retry
        // after the visibility timeout will find it requested.
        return Err(RequestError::Busy(order.id));
    }
    let request = FactoryRequest {
        factory_order_id: order.id,
        factory_product_id: order.factory_product_id,
        quantity: order.quantity,
        stock_left: event.stock_left,
        correlation_id: order.correlation_id,
    };
    let receipt = match factory.request(&request).await {
        Ok(receipt) => receipt,
        Err(e) => {
            warehouse.release_factory_claim(order.id).await?;
            return Err(e.into());
        }
    };
    warehouse.record_factory_request(order.id, &receipt).await?;
    Ok(RequestOutcome::Requested(receipt))
}

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
/// - past those: ops are alerted and the order is theirs ([`re_request_order`], or
///   [`FactoryOrderOps::cancel`]).
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

/// Ops: ask the factory again for an unfinished order (`donut-cli orders re-request`). It goes
/// back to `open` and its stock-out is published again; repeated within `not_within`, it
/// changes nothing (that request is still on its way).
pub async fn re_request_order<W: FactoryOrders + FactoryOrderOps>(
    warehouse: &W,
    id: FactoryOrderId,
    not_within: Duration,
) -> Result<OpsOutcome, StoreError> {
    let Some(order) = warehouse.factory_order(id).await? else {
        return Ok(OpsOutcome::UnknownOrder);
    };
    if !order.status.unfinished() {
        return Ok(OpsOutcome::Unchanged(order.status));
    }
    let event = order.stock_out_again(uuid::Uuid::new_v4(), time::OffsetDateTime::now_utc());
    warehouse.re_request(id, not_within, &event).await
}

/// A factory order as its callback finds it (locked, in the restock's transaction).
#[derive(Debug, Clone, Copy)]
pub struct CallbackTarget<'a> {
    pub product_id: &'a crate::ProductId,
    pub correlation_id: &'a crate::CorrelationId,
    pub status: crate::FactoryOrderStatus,
    pub quantity: u32,
    pub request_attempts: u32,
    pub factory_request_id: Option<&'a str>,
}

/// Why the factory's callback for `order`, for `asked` units, adds nothing — or `None`: it
/// restocks the quantity *we ordered*, once. Every warehouse decides by this.
pub fn restock_refusal(
    order: &CallbackTarget<'_>,
    asked: u32,
) -> Option<crate::ports::RestockOutcome> {
    use crate::ports::RestockOutcome;
    if !order.status.accepts_restock() {
        Some(RestockOutcome::AlreadyFulfilled {
            product_id: order.product_id.clone(),
            correlation_id: order.correlation_id.clone(),
        })
    } else if !order
        .status
        .was_sent(order.request_attempts, order.factory_request_id)
    {
        Some(RestockOutcome::NotRequested {
            correlation_id: order.correlation_id.clone(),
        })
    } else if asked != order.quantity {
        Some(RestockOutcome::QuantityMismatch {
            ordered: order.quantity,
            correlation_id: order.correlation_id.clone(),
        })
    } else {
        None
    }
}

/// How long the outbox waits before publishing a row again after `attempts` failures:
/// 1 s, 2 s, 4 s … capped at 5 minutes.
pub fn publish_retry_delay(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(8)).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_backoff_grows_and_caps() {
        assert_eq!(publish_retry_delay(1), Duration::from_secs(1));
        assert_eq!(publish_retry_delay(2), Duration::from_secs(2));
        assert_eq!(publish_retry_delay(4), Duration::from_secs(8));
        assert_eq!(publish_retry_delay(50), Duration::from_secs(256));
    }
}
