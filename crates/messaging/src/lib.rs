//! Messaging edges: stock-out events out to SNS, and in from SQS to the factory.

pub mod alerts;
pub mod requester;
pub mod sns;
pub mod sweep;

pub use alerts::SnsAlerts;
pub use requester::FactoryRequester;
pub use sns::{SnsClient, SnsPublisher};
