//! The warehouse on MySQL (RDS in AWS, MariaDB locally), through `mysql_async`.
//!
//! Every statement is parameterised. A purchase is one conditional `UPDATE` whose affected-row
//! count decides; the stock-out it may cause (factory order + outbox row) is written in the
//! same transaction.

mod migrations;
mod outbox;
mod pool;
mod store;

pub use migrations::{MIGRATIONS, Migration};
pub use pool::{Credentials, DbConfig, Login, MySqlWarehouse};
