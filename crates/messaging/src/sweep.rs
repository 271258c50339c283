//! Periodic work for hosts without a scheduler (the local stack): the outbox relay and the
//! factory-order watchdog. In AWS an EventBridge schedule invokes the same functions.

use std::future::Future;
use std::time::Duration;

use donut_domain::services::{WatchdogPolicy, watchdog_sweep};
use donut_domain::{Alerts, EventPublisher, FactoryApi, OutboxStore, Warehouse};

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

/// One relay pass, logged.
pub async fn relay_pass<S: OutboxStore, P: EventPublisher>(store: &S, publisher: &P) {
    match relay_until_drained(store, publisher, 40).await {
        Ok(r) if r.published + r.failed > 0 => {
            tracing::info!(published = r.published, failed = r.failed, "outbox sweep")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "outbox sweep failed; retrying next tick"),
    }
}

/// One watchdog pass, logged; the count of overdue orders is also a metric line.
pub async fn watchdog_pass<W: Warehouse, F: FactoryApi, A: Alerts>(
    warehouse: &W,
    factory: &F,
    alerts: &A,
    policy: WatchdogPolicy,
) {
    let result = watchdog_sweep(warehouse, factory, alerts, policy).await;
    if let Ok(r) = &result
        && r.overdue > 0
    {
        donut_metrics::count("FactoryOrdersOverdue", r.overdue as u64);
    }
    match result {
        Ok(r) if r.overdue > 0 => tracing::warn!(
            overdue = r.overdue,
            re_requested = r.re_requested,
            surfaced = r.surfaced,
            failed = r.failed,
            "factory orders overdue"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "watchdog pass failed; retrying next tick"),
    }
}
