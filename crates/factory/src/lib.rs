//! The legacy Factory API edge.
//!
//! * [`contract`]: the factory's wire format, exactly as the legacy service speaks it.
//! * `client`: our HTTP client, implementing the domain's `FactoryApi` port (feature `client`:
//!   only the functions that call the factory link reqwest).
//! * `signing`: how a call proves who makes it — unsigned for the legacy factory, SigV4 for a
//!   function URL with `AWS_IAM` (the simulator's), with the function's own role credentials.
//! * [`token`]: capability tokens for the callback URL (the factory cannot sign anything).

#[cfg(feature = "client")]
pub mod client;
pub mod contract;
#[cfg(feature = "client")]
pub mod signing;
pub mod token;

#[cfg(feature = "client")]
pub use client::{FactoryClient, FactoryClientConfig};
pub use contract::{ManufactureAccepted, ManufactureRequest};
#[cfg(feature = "client")]
pub use signing::{CallAuth, SigV4Signer};
pub use token::{
    CallbackKeys, CallbackQuery, CallbackSecret, CallbackSigner, KeysUnavailable, Refusal,
    keys_from_secret_string,
};
