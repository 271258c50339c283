//! The warehouse on MySQL (RDS in AWS, MariaDB locally), through `mysql_async`.
//!
//! Every statement is parameterised (account statements, which take no placeholders, only
//! ever carry values checked against a strict pattern: `app_user`). A purchase is one conditional `UPDATE` whose affected-row
//! count decides; the stock-out it may cause (factory order + outbox row) is written in the
//! same transaction.

mod app_user;
mod catalogue;
mod migrations;
mod outbox;
mod pool;
mod store;

pub use app_user::{APP, APP_GRANTS, APP_ROUTINE_PRIVILEGES, Grants, OPERATOR, OPERATOR_GRANTS};
pub use migrations::{MIGRATIONS, Migration};
pub use pool::{Credentials, DEFAULT_KEY_WINDOW, DbConfig, Login, MySqlWarehouse};
