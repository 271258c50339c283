//! Schema migrations, applied in order, each once, under a database-wide lock so that
//! concurrent starters do not race.

use donut_domain::StoreError;
use mysql_async::prelude::*;

use crate::MySqlWarehouse;
use crate::pool::map_err;

pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "warehouse",
        sql: include_str!("../migrations/001_warehouse.sql"),
    },
    Migration {
        version: 2,
        name: "factory watchdog",
        sql: include_str!("../migrations/002_factory_watchdog.sql"),
    },
    Migration {
        version: 3,
        name: "purchase procedure",
        sql: include_str!("../migrations/003_purchase_procedure.sql"),
    },
    Migration {
        version: 4,
        name: "outbox claims",
        sql: include_str!("../migrations/004_outbox_claims.sql"),
    },
    Migration {
        version: 5,
        name: "unfinished orders",
        sql: include_str!("../migrations/005_unfinished_orders.sql"),
    },
    Migration {
        version: 6,
        name: "open order on the shelf",
        sql: include_str!("../migrations/006_open_order_on_the_shelf.sql"),
    },
    Migration {
        version: 7,
        name: "purchase decided by the domain",
        sql: include_str!("../migrations/007_purchase_decided_by_the_domain.sql"),
    },
    Migration {
        version: 8,
        name: "idempotency keys",
        sql: include_str!("../migrations/008_idempotency_keys.sql"),
    },
    Migration {
        version: 9,
        name: "idempotency keys first",
        sql: include_str!("../migrations/009_keys_first.sql"),
    },
    Migration {
        version: 10,
        name: "operators",
        sql: include_str!("../migrations/010_operators.sql"),
    },
    Migration {
        version: 11,
        name: "operator keys",
        sql: include_str!("../migrations/011_operator_keys.sql"),
    },
    Migration {
        version: 12,
        name: "buyers",
        sql: include_str!("../migrations/012_buyers.sql"),
    },
    Migration {
        version: 13,
        name: "sale from one update",
        sql: include_str!("../migrations/013_sale_from_one_update.sql"),
    },
];

/// "Duplicate column", "duplicate key name" and "can't drop, check that it exists": the
/// statement ran before (MySQL commits DDL at once, so a crash may leave a migration
/// half-applied); running it again is a no-op.
const ALREADY_APPLIED: &[u16] = &[1060, 1061, 1091];

const SEED: &str = include_str!("../migrations/seed.sql");

/// Splits a migration file into statements: `;` at a line's end closes one, except inside a
/// `CREATE PROCEDURE`, which only an unindented `END;` line closes; `--` lines are comments.
/// The files are ours, so this need not be a full SQL lexer.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        let closes = if current.starts_with("CREATE PROCEDURE") {
            line.trim_end() == "END;"
        } else {
            trimmed.ends_with(';')
        };
        if closes {
            out.push(current.trim().trim_end_matches(';').to_owned());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out
}

impl MySqlWarehouse {
    /// Applies every migration not applied yet. Safe to run on every start, from several
    /// processes at once. Returns the versions it applied.
    pub async fn migrate(&self) -> Result<Vec<u32>, StoreError> {
        let mut conn = self.conn().await?;
        let locked: Option<i64> = conn
            .exec_first("SELECT GET_LOCK(CONCAT(DATABASE(), '.migrate'), ?)", (30,))
            .await
            .map_err(map_err)?;
        if locked != Some(1) {
            return Err(StoreError::Unavailable(
                "another process holds the migration lock".into(),
            ));
        }
        let result = apply(&mut conn).await;
        let _ = conn
            .query_drop("DO RELEASE_LOCK(CONCAT(DATABASE(), '.migrate'))")
            .await;
        result
    }

    /// Loads the dev seed (a handful of donuts); existing products are left as they are.
    pub async fn seed(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        for statement in statements(SEED) {
            conn.query_drop(statement).await.map_err(map_err)?;
        }
        Ok(())
    }
}

async fn apply(conn: &mut mysql_async::Conn) -> Result<Vec<u32>, StoreError> {
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INT UNSIGNED NOT NULL PRIMARY KEY,
            name       VARCHAR(128) NOT NULL,
            applied_at DATETIME(6)  NOT NULL
        ) ENGINE = InnoDB",
    )
    .await
    .map_err(map_err)?;
    let done: Vec<u32> = conn
        .query("SELECT version FROM schema_migrations")
        .await
        .map_err(map_err)?;
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        // MySQL commits DDL implicitly: a crash half-way through leaves some statements
        // applied; the next run skips those (CREATE … IF NOT EXISTS, ALREADY_APPLIED).
        for statement in statements(m.sql) {
            match conn.query_drop(statement).await {
                Err(mysql_async::Error::Server(e)) if ALREADY_APPLIED.contains(&e.code) => {
                    tracing::warn!(
                        version = m.version,
                        code = e.code,
                        "statement had been applied already"
                    );
                }
                other => other.map_err(map_err)?,
            }
        }
        conn.exec_drop(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))",
            (m.version, m.name),
        )
        .await
        .map_err(map_err)?;
        tracing::info!(version = m.version, name = m.name, "migration applied");
        applied.push(m.version);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_drops_comments() {
        let s = statements("-- c\nCREATE TABLE a (\n x INT\n);\n\nINSERT INTO a VALUES (1);\n");
        assert_eq!(
            s,
            vec!["CREATE TABLE a (\n x INT\n)", "INSERT INTO a VALUES (1)"]
        );
        assert_eq!(statements(MIGRATIONS[0].sql).len(), 4);
        let procedure = statements(MIGRATIONS[2].sql);
        assert_eq!(
            procedure.len(),
            2,
            "DROP PROCEDURE, then CREATE PROCEDURE whole"
        );
        assert!(procedure[1].starts_with("CREATE PROCEDURE donut_purchase("));
        assert!(procedure[1].ends_with("END"));
        assert_eq!(statements(SEED).len(), 1);
    }
}
