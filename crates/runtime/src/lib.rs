//! Wiring shared by every Lambda `main` and by the local stack: settings from the
//! environment, secrets from Secrets Manager, the adapters built from them, JSON logs.
//!
//! A Lambda `main` is: `telemetry::init`, read its settings, build its handler, run it. Each
//! function's builder sits behind the function's own feature (Cargo.toml), so a Lambda links
//! only what its function calls.

pub mod adapters;
pub mod apps;
pub mod aws;
pub mod metrics;
pub mod telemetry;

pub use adapters::{RdsSecret, SettingsError, warehouse};
pub use aws::Aws;
