//! Periodic work for hosts without a scheduler (the local stack): the outbox relay and the
//! factory-order watchdog. In AWS an EventBridge schedule invokes the same functions.

use std::future::Future;
use std::time::Duration;

use donut_domain::ports::RelayReport;
use donut_domain::usecases::{
    WatchdogPolicy, WatchdogReport, oldest_expired_key, relay_until_drained, sweep_expired_keys,
    watchdog_sweep,
};
use donut_domain::{
    Alerts, EventPublisher, ExpiredKeys, FactoryApi, Outbox, OverdueOrders, StoreError,
};

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

/// One sweep of idempotency keys past their window, logged: the scheduled outbox-relay runs it
/// after its relay pass. It ends with how long the oldest key still stored has been past its
/// window, the `ExpiredKeyOldestAge` metric the expired-keys alarm watches (0 when none): a
/// sweep that keeps failing — the database refusing the DELETE, say — is seen there, not only
/// in a warning. Returns the keys deleted.
pub async fn expired_keys_pass<K: ExpiredKeys>(keys: &K) -> Result<u64, StoreError> {
    let result = sweep_expired_keys(keys).await;
    match &result {
        Ok(0) => {}
        Ok(swept) => tracing::info!(swept, "idempotency keys past their window deleted"),
        Err(e) => tracing::error!(error = %e, "idempotency key sweep failed; next run"),
    }
    match oldest_expired_key(keys).await {
        Ok(oldest) => donut_metrics::millis(
            donut_metrics::Metric::ExpiredKeyOldestAge,
            oldest.unwrap_or_default(),
        ),
        Err(e) => tracing::warn!(error = %e, "expired key age unknown"),
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
