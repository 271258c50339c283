//! Messaging edges: stock-out events out to SNS, and in from SQS to the factory.

pub mod relay;
pub mod requester;
pub mod sns;

pub use relay::{RelayLoop, relay_until_drained};
pub use requester::FactoryRequester;
pub use sns::SnsPublisher;
