//! The legacy Factory API edge.
//!
//! * [`contract`]: the factory's wire format, exactly as the legacy service speaks it.
//! * [`client`]: our HTTP client, implementing the domain's `FactoryApi` port.
//! * [`token`]: capability tokens for the callback URL (the factory cannot sign anything).

pub mod client;
pub mod contract;
pub mod token;

pub use client::{FactoryClient, FactoryClientConfig};
pub use contract::{ManufactureAccepted, ManufactureRequest};
pub use token::{
    CallbackKeys, CallbackQuery, CallbackSecret, CallbackSigner, KeysUnavailable, Refusal,
    keys_from_secret_string,
};
