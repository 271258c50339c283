//! The functions' own database user: the master user (held by the `migrate` function only)
//! creates it with exactly the statements the functions run — SELECT, INSERT and UPDATE on the
//! warehouse's tables and EXECUTE of its procedures (the purchase); no DDL, no DELETE, nothing
//! on other databases.
//!
//! Account statements take no placeholders for names, so every value that goes into them is
//! checked against a strict pattern first and only then quoted into the text.

use donut_domain::StoreError;
use mysql_async::prelude::*;

use crate::MySqlWarehouse;
use crate::pool::map_err;

/// What the functions may do, and nothing else.
pub const APP_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, EXECUTE";

fn checked<'a>(
    what: &str,
    value: &'a str,
    ok: impl Fn(char) -> bool,
    lengths: std::ops::RangeInclusive<usize>,
) -> Result<&'a str, StoreError> {
    if lengths.contains(&value.len()) && value.chars().all(ok) {
        Ok(value)
    } else {
        Err(StoreError::Internal(format!(
            "refusing an application {what} that is not {lengths:?} plain characters"
        )))
    }
}

impl MySqlWarehouse {
    /// Creates (or updates the password of) `user`, who may connect only from `hosts` (a MySQL
    /// host pattern: on AWS the VPC's range, `10.40.0.0/255.255.0.0`), and grants it
    /// [`APP_PRIVILEGES`] on this warehouse's database. Accounts of the same user for other
    /// hosts (`'%'`, what earlier releases made) are dropped. Run as the master user; idempotent.
    pub async fn ensure_app_user(
        &self,
        user: &str,
        password: &str,
        hosts: &str,
    ) -> Result<(), StoreError> {
        let user = checked(
            "user",
            user,
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_',
            1..=32,
        )?;
        let password = checked(
            "password",
            password,
            |c| c.is_ascii_alphanumeric(),
            24..=128,
        )?;
        let mut conn = self.conn().await?;
        let database: Option<String> = conn
            .query_first("SELECT DATABASE()")
            .await
            .map_err(map_err)?;
        let database =
            database.ok_or_else(|| StoreError::Internal("no database selected".into()))?;
        let database = checked(
            "database",
            &database,
            |c| c.is_ascii_alphanumeric() || c == '_',
            1..=64,
        )?;
        let hosts = checked(
            "hosts",
            hosts,
            |c| c.is_ascii_digit() || c == '.' || c == '/' || c == '%',
            1..=31,
        )?;
        let account = format!("'{user}'@'{hosts}'");
        // The same user for other hosts (`'%'`, what earlier releases made; an older range)
        // goes: the user connects from `hosts` only.
        let elsewhere: Vec<String> = conn
            .exec(
                "SELECT Host FROM mysql.user WHERE User = ? AND Host <> ?",
                (user, hosts),
            )
            .await
            .map_err(map_err)?;
        let mut statements = Vec::new();
        for other in &elsewhere {
            let other = checked(
                "host",
                other,
                |c| c.is_ascii_alphanumeric() || ".:/%-_".contains(c),
                1..=255,
            )?;
            statements.push(format!("DROP USER IF EXISTS '{user}'@'{other}'"));
        }
        statements.extend([
            format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{password}'"),
            format!("ALTER USER {account} IDENTIFIED BY '{password}'"),
            format!("GRANT {APP_PRIVILEGES} ON `{database}`.* TO {account}"),
        ]);
        for statement in statements {
            conn.query_drop(statement).await.map_err(map_err)?;
        }
        Ok(())
    }
}
