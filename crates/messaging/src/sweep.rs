//! Periodic work for hosts without a scheduler (the local stack): the outbox relay and the
//! factory-order watchdog. In AWS an EventBridge schedule invokes the same functions.

use std::future::Future;
use std::time::Duration;

use donut_domain::ports::RelayReport;
use donut_domain::services::{WatchdogPolicy, WatchdogReport, watchdog_sweep};
use donut_domain::{Alerts, EventPublisher, FactoryApi, Outbox, OverdueOrders, StoreError};

use crate::relay::relay_until_drained;

/// Runs `pass` every `interval` until `shutdown` resolves.
pub async fn every<F, Fut>(interval: Duration, shutdown: impl Future<Output = ()>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => pass().await,
        }
    }
}

/// One relay pass, logged: the scheduled Lambda and the local sweep both run this. It ends
/// with the age of the oldest stock-out still unpublished, the `OutboxOldestAge` metric the
/// outbox alarm watches (a relay that keeps failing still returns Ok: the metric is how a
/// stuck outbox becomes visible).
pub async fn relay_pass<S: Outbox, P: EventPublisher>(
    store: &S,
    publisher: &P,
) -> Result<RelayReport, StoreError> {
    let result = relay_until_drained(store, publisher, 40).await;
    match &result {
        Ok(r) if r.published + r.failed > 0 => {
            tracing::info!(published = r.published, failed = r.failed, "outbox sweep")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "outbox sweep failed; retrying next tick"),
    }
    match store.pending().await {
        Ok(pending) => donut_metrics::millis(
            donut_metrics::Metric::OutboxOldestAge,
            pending.oldest.unwrap_or_default(),
        ),
        Err(e) => tracing::warn!(error = %e, "outbox age unknown"),
    }
    result
}

/// One watchdog pass, logged: the scheduled Lambda and the local sweep both run this. The
/// orders it gave up on (no progress after `factoryMaxAttempts` requests or chases; ops were
/// e-mailed) are the `FactoryOrdersOverdue` metric the overdue alarm watches — an order merely
/// past its first deadline is asked again, not alarmed. Every pass ends with the age of the
/// oldest unfinished order, `UnfinishedOrderOldestAge`, which the unfinished-order alarm
/// watches (0 when there is none).
pub async fn watchdog_pass<W: OverdueOrders, F: FactoryApi, A: Alerts>(
    warehouse: &W,
    factory: &F,
    alerts: &A,
    policy: WatchdogPolicy,
) -> Result<WatchdogReport, StoreError> {
    let result = watchdog_sweep(warehouse, factory, alerts, policy).await;
    match &result {
        Ok(r) => {
            if r.surfaced > 0 {
                donut_metrics::count(
                    donut_metrics::Metric::FactoryOrdersOverdue,
                    r.surfaced as u64,
                );
            }
            donut_metrics::millis(
                donut_metrics::Metric::UnfinishedOrderOldestAge,
                r.oldest_unfinished.unwrap_or_default(),
            );
            if r.overdue > 0 {
                tracing::warn!(
                    overdue = r.overdue,
                    re_requested = r.re_requested,
                    republished = r.republished,
                    surfaced = r.surfaced,
                    failed = r.failed,
                    "factory orders overdue"
                )
            }
        }
        Err(e) => tracing::warn!(error = %e, "watchdog pass failed; retrying next tick"),
    }
    result
}
