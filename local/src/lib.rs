//! The local stack: Donut-States on one machine, on loopback only.
//!
//! MariaDB stands in for RDS, LocalStack for SNS/SQS/CloudWatch/Secrets Manager/SES;
//! this crate adds what neither plays: the API Gateway front ([`gateway`]), the SQS event
//! source mapping ([`event_source`]), the factory simulator's function URL with its IAM
//! authorization ([`function_url`]), the provisioning of the AWS resources ([`provision`])
//! and the wiring of the same handlers the Lambdas run ([`stack`], `LocalSystem`); and a
//! recorder of each function's AWS calls ([`aws_calls`]).

pub mod aws_calls;
pub mod event_source;
pub mod function_url;
pub mod gateway;
pub mod lambda;
pub mod provision;
pub mod stack;
pub mod telemetry;

pub use stack::{LocalSystem, SystemOptions, localstack_config};

/// Where `make up` serves the sales API, the factory's lane (its callback route) and the factory
/// simulator on 127.0.0.1 (each can be moved: `DONUT_API_PORT`, `DONUT_FACTORY_LANE_PORT`,
/// `DONUT_FACTORY_PORT`).
pub const API_PORT: u16 = 8080;
pub const FACTORY_LANE_PORT: u16 = 8081;
pub const FACTORY_PORT: u16 = 8090;
