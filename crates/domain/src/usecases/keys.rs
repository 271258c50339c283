//! Buyers' idempotency keys past their window, swept on the relay's schedule.

use std::time::Duration;

use crate::{ExpiredKeys, StoreError};

/// Expired keys deleted per statement, and statements per sweep.
pub const KEY_SWEEP_BATCH: u32 = 1000;
pub const KEY_SWEEP_BATCHES: u32 = 50;

/// One sweep: keys past their window deleted (a bounded number of statements); how many went.
pub async fn sweep_expired_keys<K: ExpiredKeys>(keys: &K) -> Result<u64, StoreError> {
    keys.sweep_expired_keys(KEY_SWEEP_BATCH, KEY_SWEEP_BATCHES)
        .await
}

/// How long the oldest key still stored has been past its window (`None`: none is).
pub async fn oldest_expired_key<K: ExpiredKeys>(keys: &K) -> Result<Option<Duration>, StoreError> {
    keys.oldest_expired_key().await
}
