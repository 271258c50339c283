//! The legacy Factory API edge.
//!
//! * [`contract`]: the factory's wire format, exactly as the legacy service speaks it.
//! * `client`: our HTTP client, implementing the domain's `FactoryApi` port (feature `client`:
//!   only the functions that call the factory link reqwest).
//! * [`token`]: capability tokens for the callback URL (the factory cannot sign anything).

#[cfg(feature = "client")]
pub mod client;
pub mod contract;
pub mod token;

#[cfg(feature = "client")]
pub use client::{FactoryClient, FactoryClientConfig};
pub use contract::{ManufactureAccepted, ManufactureRequest};
pub use token::{
    CallbackKeys, CallbackQuery, CallbackSecret, CallbackSigner, KeysUnavailable, Refusal,
    keys_from_secret_string,
};
