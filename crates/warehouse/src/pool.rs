use std::time::Duration;

use donut_domain::StoreError;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts};

/// How to reach the database. Build it from a URL (`mysql://user:pass@host:port/db`) or from
/// parts (e.g. an RDS secret).
#[derive(Clone)]
pub struct DbConfig {
    opts: Opts,
    /// How long a caller waits for a connection before the warehouse counts as unavailable.
    pub acquire_timeout: Duration,
    pub max_connections: usize,
    /// A pooled connection idle this long is closed (none: kept).
    pub idle_timeout: Option<Duration>,
}

impl std::fmt::Debug for DbConfig {
    // The password must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("host", &self.opts.ip_or_hostname())
            .field("port", &self.opts.tcp_port())
            .field("database", &self.opts.db_name())
            .field("user", &self.opts.user())
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl DbConfig {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let opts = Opts::from_url(url).map_err(|_| {
            StoreError::Internal("the database URL is not a valid mysql:// URL".into())
        })?;
        Ok(Self::from_opts(opts))
    }

    pub fn from_parts(host: &str, port: u16, user: &str, password: &str, database: &str) -> Self {
        let opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(user))
            .pass(Some(password))
            .db_name(Some(database));
        Self::from_opts(opts.into())
    }

    fn from_opts(opts: Opts) -> Self {
        Self {
            opts,
            acquire_timeout: Duration::from_secs(2),
            max_connections: 16,
            idle_timeout: None,
        }
    }

    /// Closes connections idle for `t`: a Lambda instance keeps only what it uses.
    pub fn with_idle_timeout(mut self, t: Duration) -> Self {
        self.idle_timeout = Some(t);
        self
    }

    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    pub fn with_acquire_timeout(mut self, t: Duration) -> Self {
        self.acquire_timeout = t;
        self
    }

    pub fn database(&self) -> Option<&str> {
        self.opts.db_name()
    }
}

/// The warehouse store; cheap to clone (one shared pool).
#[derive(Clone)]
pub struct MySqlWarehouse {
    pub(crate) pool: Pool,
    acquire_timeout: Duration,
}

impl MySqlWarehouse {
    /// Builds the pool; connections are opened lazily, so this succeeds while the database is
    /// down and the first query reports [`StoreError::Unavailable`].
    pub fn new(config: &DbConfig) -> Self {
        let constraints = PoolConstraints::new(0, config.max_connections)
            .expect("0 <= max_connections, checked in with_max_connections");
        let mut pool_opts = PoolOpts::default()
            .with_constraints(constraints)
            // No session state to wipe, and a reset would drop the prepared-statement cache.
            .with_reset_connection(false);
        if let Some(idle) = config.idle_timeout {
            pool_opts = pool_opts
                .with_inactive_connection_ttl(idle)
                .with_ttl_check_interval(idle.min(Duration::from_secs(30)));
        }
        let opts = OptsBuilder::from_opts(config.opts.clone())
            .pool_opts(pool_opts)
            .stmt_cache_size(64)
            .init(vec![
                "SET time_zone = '+00:00'",
                // No gap locks: two products' stock-outs must not deadlock on the
                // factory_orders index; one product's purchases serialise on its row lock.
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            ]);
        Self {
            pool: Pool::new(opts),
            acquire_timeout: config.acquire_timeout,
        }
    }

    pub(crate) async fn conn(&self) -> Result<Conn, StoreError> {
        match tokio::time::timeout(self.acquire_timeout, self.pool.get_conn()).await {
            Ok(conn) => conn.map_err(map_err),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no database connection within {} ms",
                self.acquire_timeout.as_millis()
            ))),
        }
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use mysql_async::prelude::Queryable;
        let mut conn = self.conn().await?;
        conn.ping().await.map_err(map_err)
    }

    /// Closes every connection (tests, graceful shutdown).
    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }
}

/// Server error codes that mean "try again later" rather than "the code is wrong".
const TRANSIENT_SERVER_ERRORS: &[u16] = &[
    1040, // too many connections
    1053, // server shutdown in progress
    1205, // lock wait timeout
    1213, // deadlock
    1927, // connection killed (MariaDB)
    3024, // query execution interrupted, max statement time (MySQL)
];

pub(crate) const DEADLOCK: u16 = 1213;

pub(crate) fn map_err(e: mysql_async::Error) -> StoreError {
    use mysql_async::Error;
    match e {
        Error::Io(e) => StoreError::Unavailable(format!("database I/O: {e}")),
        Error::Driver(e) => StoreError::Unavailable(format!("database driver: {e}")),
        Error::Server(e) if TRANSIENT_SERVER_ERRORS.contains(&e.code) => {
            StoreError::Unavailable(format!("database busy ({}): {}", e.code, e.message))
        }
        Error::Server(e) => {
            StoreError::Internal(format!("database error {}: {}", e.code, e.message))
        }
        Error::Url(_) => StoreError::Internal("invalid database URL".into()),
        other => StoreError::Internal(format!("database: {other}")),
    }
}

pub(crate) fn is_deadlock(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == DEADLOCK)
}
