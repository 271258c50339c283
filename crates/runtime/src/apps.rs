//! Each function assembled from its settings — the one path every Lambda `main` and the local
//! stack take, in the spirit of zero-to-production's `Application::build`. A `main` reads its
//! settings from the environment and runs what its builder returns; the local stack makes the
//! same settings from the stage config (`donut_config::contracts`, as the infra program does)
//! and serves what the same builders return.
//!
//! One module per function, behind the function's feature (Cargo.toml): a Lambda enables its
//! own, and its binary links only what that function calls.

#[cfg(feature = "sales-api")]
mod sales_api;
#[cfg(feature = "sales-api")]
pub use sales_api::{SalesHandler, sales_api};

#[cfg(feature = "admin-api")]
mod admin_api;
#[cfg(feature = "admin-api")]
pub use admin_api::{AdminHandler, admin_api};

/// What the two HTTP APIs that sell share: a stock-out published right after its sale.
#[cfg(any(feature = "sales-api", feature = "admin-api"))]
mod relay_now;
#[cfg(any(feature = "sales-api", feature = "admin-api"))]
pub use relay_now::{RELAY_AFTER_STOCK_OUT, RelayNow};

#[cfg(feature = "warehouse-restock")]
mod warehouse_restock;
#[cfg(feature = "warehouse-restock")]
pub use warehouse_restock::warehouse_restock;

#[cfg(feature = "factory-requester")]
mod factory_requester;
#[cfg(feature = "factory-requester")]
pub use factory_requester::factory_requester;

#[cfg(feature = "outbox-relay")]
mod outbox_relay;
#[cfg(feature = "outbox-relay")]
pub use outbox_relay::{OutboxRelay, outbox_relay};

#[cfg(feature = "factory-watchdog")]
mod factory_watchdog;
#[cfg(feature = "factory-watchdog")]
pub use factory_watchdog::{FactoryWatchdog, factory_watchdog};

#[cfg(feature = "migrate")]
mod migrate;
#[cfg(feature = "migrate")]
pub use migrate::{Migrate, MigrateError, Migrated, migrate};
