//! The functions' own database user: the master user (held by the `migrate` function only)
//! creates it with exactly what the functions' statements need, table by table ([`APP_GRANTS`]),
//! and EXECUTE of the warehouse's procedures; no DDL, nothing on other databases or tables
//! (`schema_migrations` is the migrate function's).
//!
//! Account statements take no placeholders for names, so every value that goes into them is
//! checked against a strict pattern first and only then quoted into the text.

use donut_domain::StoreError;
use mysql_async::prelude::*;

use crate::MySqlWarehouse;
use crate::pool::map_err;

/// What the functions' statements need on each table, and nothing more — each line names the
/// statements that need it. Every procedure is `SQL SECURITY INVOKER`, so a `CALL` runs with
/// these rights too: its statements are counted here.
pub const APP_GRANTS: &[(&str, &str)] = &[
    // Read by the API and every purchase; the purchase's conditional UPDATE, the restock's
    // `qty + ?`, the shelf's open-order pointer (sell, open factory order, cancel).
    ("products", "SELECT, UPDATE"),
    // A sale inserts its order (donut_sell_v6, donut_sell_keyed_v6; the previous release's
    // donut_sell_v5 during a deploy); GET /orders/{id} reads it. Orders are never changed or
    // removed.
    ("orders", "SELECT, INSERT"),
    // Opened by a purchase, moved on by the requester, the watchdog, ops and the restock.
    ("factory_orders", "SELECT, INSERT, UPDATE"),
    // Written with the stock-out; claimed, settled and released by the relays. Published rows
    // stay (the audit of what was sent).
    ("outbox", "SELECT, INSERT, UPDATE"),
    // The one table with DELETE: a key whose purchase was refused records nothing
    // (donut_sell_shelf_v6, as donut_sell_v5, deletes the row the sale wrote first), a key past its window is taken again (deleted, then
    // written), and the outbox-relay sweeps expired keys.
    ("idempotency_keys", "SELECT, INSERT, UPDATE, DELETE"),
];

/// What the functions may run besides [`APP_GRANTS`]: the warehouse's procedures, all
/// `SQL SECURITY INVOKER` (so EXECUTE adds no right beyond the tables' grants).
pub const APP_ROUTINE_PRIVILEGES: &str = "EXECUTE";

/// The operators' function (admin-api) has a user of its own: what its statements need.
pub const OPERATOR_GRANTS: &[(&str, &str)] = &[
    // The catalogue: products created, changed, retired; stock adjusted under the row lock.
    ("products", "SELECT, INSERT, UPDATE"),
    // Every change's audit row; the trail read back. Never changed or removed.
    ("catalogue_audit", "SELECT, INSERT"),
    // An adjustment that leaves a shelf low opens one (donut_open_factory_order_v3); ops
    // re-request and cancel; the unfinished are listed.
    ("factory_orders", "SELECT, INSERT, UPDATE"),
    // The stock-out of an order opened or re-requested, published at once (claimed, settled).
    ("outbox", "SELECT, INSERT, UPDATE"),
    // A keyed change's key and answer, in its transaction; an expired key deleted when met.
    ("operator_keys", "SELECT, INSERT, UPDATE, DELETE"),
];

/// A database user's rights: table by table, and on the procedures.
#[derive(Debug, Clone, Copy)]
pub struct Grants {
    pub tables: &'static [(&'static str, &'static str)],
    pub routines: &'static str,
}

/// The serving functions' user.
pub const APP: Grants = Grants {
    tables: APP_GRANTS,
    routines: APP_ROUTINE_PRIVILEGES,
};

/// The operators' function's user.
pub const OPERATOR: Grants = Grants {
    tables: OPERATOR_GRANTS,
    routines: APP_ROUTINE_PRIVILEGES,
};

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
    /// host pattern: on AWS the VPC's range, `10.40.0.0/255.255.0.0`), and leaves it exactly
    /// [`APP_GRANTS`] and [`APP_ROUTINE_PRIVILEGES`] on this warehouse's database: what it is
    /// granted first, then what it held beyond that is revoked (an earlier release's grant on
    /// the whole database, say), so the functions are never without a right they use.
    /// Accounts of the same user for other hosts (`'%'`, what earlier releases made) are
    /// dropped. Run as the master user; idempotent.
    pub async fn ensure_app_user(
        &self,
        user: &str,
        password: &str,
        hosts: &str,
    ) -> Result<(), StoreError> {
        self.ensure_user(user, password, hosts, &APP).await
    }

    /// [`MySqlWarehouse::ensure_app_user`] with other grants (the operators' function's user:
    /// [`OPERATOR`]).
    pub async fn ensure_user(
        &self,
        user: &str,
        password: &str,
        hosts: &str,
        grants: &Grants,
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
            format!("GRANT {} ON `{database}`.* TO {account}", grants.routines),
        ]);
        for (table, privileges) in grants.tables {
            statements.push(format!(
                "GRANT {privileges} ON `{database}`.`{table}` TO {account}"
            ));
        }
        for statement in statements {
            conn.query_drop(statement).await.map_err(map_err)?;
        }
        for statement in revocations(&mut conn, &account, database, grants).await? {
            conn.query_drop(statement).await.map_err(map_err)?;
        }
        Ok(())
    }

    /// The functions' user's privileges on this warehouse's database as the server holds them:
    /// `(table, privilege)`, the table `None` for the whole database, sorted.
    pub async fn app_user_privileges(
        &self,
        user: &str,
        hosts: &str,
    ) -> Result<Vec<(Option<String>, String)>, StoreError> {
        let mut conn = self.conn().await?;
        let grantee = format!("'{user}'@'{hosts}'");
        let mut held = held_privileges(&mut conn, &grantee).await?;
        held.sort();
        Ok(held)
    }
}

/// `(table or None for the database, privilege)` the grantee holds on the connection's database.
async fn held_privileges(
    conn: &mut mysql_async::Conn,
    grantee: &str,
) -> Result<Vec<(Option<String>, String)>, StoreError> {
    let schema: Vec<String> = conn
        .exec(
            "SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES \
             WHERE GRANTEE = ? AND TABLE_SCHEMA = DATABASE()",
            (grantee,),
        )
        .await
        .map_err(map_err)?;
    let tables: Vec<(String, String)> = conn
        .exec(
            "SELECT TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES \
             WHERE GRANTEE = ? AND TABLE_SCHEMA = DATABASE()",
            (grantee,),
        )
        .await
        .map_err(map_err)?;
    Ok(schema
        .into_iter()
        .map(|p| (None, p))
        .chain(tables.into_iter().map(|(t, p)| (Some(t), p)))
        .collect())
}

/// The REVOKE statements that take from `account` what it holds beyond `grants` on `database`.
async fn revocations(
    conn: &mut mysql_async::Conn,
    account: &str,
    database: &str,
    grants: &Grants,
) -> Result<Vec<String>, StoreError> {
    let wanted = |table: Option<&str>, privilege: &str| match table {
        None => privilege == grants.routines,
        Some(table) => grants
            .tables
            .iter()
            .any(|(t, ps)| *t == table && ps.split(", ").any(|p| p == privilege)),
    };
    let mut out = Vec::new();
    for (table, privilege) in held_privileges(conn, account).await? {
        if wanted(table.as_deref(), &privilege) {
            continue;
        }
        let privilege = checked(
            "privilege",
            &privilege,
            |c| c.is_ascii_uppercase() || c == ' ',
            1..=32,
        )?;
        let on = match &table {
            None => format!("`{database}`.*"),
            Some(table) => {
                let table = checked(
                    "table",
                    table,
                    |c| c.is_ascii_alphanumeric() || c == '_',
                    1..=64,
                )?;
                format!("`{database}`.`{table}`")
            }
        };
        out.push(format!("REVOKE {privilege} ON {on} FROM {account}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_idempotency_keys_may_be_deleted_from() {
        // Keys past their window: buyers' (the relay's sweep, as the app user) and operators'
        // (the operators' function, as its user). Nothing else is ever deleted.
        let deletable: Vec<&str> = APP_GRANTS
            .iter()
            .chain(OPERATOR_GRANTS)
            .filter(|(_, ps)| ps.contains("DELETE"))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(
            deletable,
            ["idempotency_keys", "operator_keys"],
            "the functions' keys alone"
        );
        assert!(
            APP_GRANTS.iter().chain(OPERATOR_GRANTS).all(|(_, ps)| ps
                .split(", ")
                .all(|p| ["SELECT", "INSERT", "UPDATE", "DELETE"].contains(&p))),
            "table privileges are DML only"
        );
    }
}
