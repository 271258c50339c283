use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use donut_domain::StoreError;
use mysql_async::{Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};

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
    /// How long a statement waits for a row lock before the server gives up (1205, answered
    /// as "unavailable": the buyer's 503 says retry). Set on each connection as
    /// `innodb_lock_wait_timeout`, whose server default (50 s) outlasts the sales function's
    /// 10 s timeout; it also bounds how long a retry waits for a purchase in flight with the
    /// same idempotency key before it is told 409. Whole seconds, at least one (the server's
    /// unit and least value).
    pub lock_wait_timeout: Duration,
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
            lock_wait_timeout: Duration::from_secs(3),
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

    /// Encrypts the connection and verifies the server's certificate — chain and host name —
    /// against the CA certificates in the PEM file `ca` (RDS: its CA bundle). A server whose
    /// certificate does not chain to them is refused.
    pub fn with_tls(mut self, ca: &std::path::Path) -> Self {
        let tls = SslOpts::default().with_root_certs(vec![ca.to_path_buf().into()]);
        self.opts = OptsBuilder::from_opts(self.opts).ssl_opts(tls).into();
        self
    }

    /// The same database as another user or with another password.
    pub fn with_login(&self, user: &str, password: &str) -> Self {
        Self {
            opts: OptsBuilder::from_opts(self.opts.clone())
                .user(Some(user))
                .pass(Some(password))
                .into(),
            ..self.clone()
        }
    }
}

/// A login being fetched: `(user, password)`.
pub type Login<'a> =
    Pin<Box<dyn Future<Output = Result<(String, String), StoreError>> + Send + 'a>>;

/// Where the current login comes from when the database refuses the one in use — RDS rotates
/// its managed password every 7 days, and a warm function must follow.
pub trait Credentials: Send + Sync {
    /// The current `(user, password)`.
    fn current(&self) -> Login<'_>;
}

/// The warehouse store; cheap to clone (one shared pool).
#[derive(Clone)]
pub struct MySqlWarehouse {
    /// The pool, and how many times it was rebuilt with fresh credentials.
    pool: Arc<RwLock<(u64, Pool)>>,
    config: DbConfig,
    login: LoginSource,
    /// One re-login at a time.
    relogin: Arc<tokio::sync::Mutex<()>>,
    acquire_timeout: Duration,
    /// How long a purchase's idempotency key is kept (the stage's `idempotencyKeyHours`).
    key_window: Duration,
}

/// How long idempotency keys are kept when nothing else is set: a day, both stages' value.
pub const DEFAULT_KEY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Where the warehouse's database login comes from.
#[derive(Clone)]
enum LoginSource {
    /// The config's, for good (local runs, tests).
    Fixed,
    /// The config's; when the database refuses it, read again from the credentials.
    Renewable(Arc<dyn Credentials>),
    /// None yet: read from the credentials on the first connection, and again when refused.
    Deferred(Arc<dyn Credentials>),
}

impl LoginSource {
    fn credentials(&self) -> Option<&Arc<dyn Credentials>> {
        match self {
            LoginSource::Fixed => None,
            LoginSource::Renewable(c) | LoginSource::Deferred(c) => Some(c),
        }
    }
}

const ACCESS_DENIED: u16 = 1045;

/// Why no connection came.
enum NoConnection {
    Refused(mysql_async::Error),
    TimedOut,
}

impl NoConnection {
    fn into_store_error(self, waited: Duration) -> StoreError {
        match self {
            NoConnection::Refused(e) => map_err(e),
            NoConnection::TimedOut => StoreError::Unavailable(format!(
                "no database connection within {} ms",
                waited.as_millis()
            )),
        }
    }

    fn is_access_denied(&self) -> bool {
        matches!(self, NoConnection::Refused(mysql_async::Error::Server(s)) if s.code == ACCESS_DENIED)
    }
}

impl MySqlWarehouse {
    /// Builds the pool; connections are opened lazily, so this succeeds while the database is
    /// down and the first query reports [`StoreError::Unavailable`].
    pub fn new(config: &DbConfig) -> Self {
        Self {
            pool: Arc::new(RwLock::new((0, Self::pool(config)))),
            config: config.clone(),
            login: LoginSource::Fixed,
            relogin: Arc::default(),
            acquire_timeout: config.acquire_timeout,
            key_window: DEFAULT_KEY_WINDOW,
        }
    }

    /// Keeps purchases' idempotency keys for `window`.
    pub fn with_key_window(mut self, window: Duration) -> Self {
        self.key_window = window;
        self
    }

    pub(crate) fn key_window(&self) -> Duration {
        self.key_window
    }

    /// Like [`MySqlWarehouse::new`]; when the database refuses the login, the pool is rebuilt
    /// once with what `credentials` says now, and the connection tried again.
    pub fn with_credentials(config: &DbConfig, credentials: Arc<dyn Credentials>) -> Self {
        Self {
            login: LoginSource::Renewable(credentials),
            ..Self::new(config)
        }
    }

    /// Like [`MySqlWarehouse::with_credentials`], with no login known yet: the first caller
    /// that needs a connection fetches it (a cold function reads its secret when it first
    /// serves, not while it starts).
    pub fn with_deferred_login(config: &DbConfig, credentials: Arc<dyn Credentials>) -> Self {
        Self {
            login: LoginSource::Deferred(credentials),
            ..Self::new(config)
        }
    }

    fn pool(config: &DbConfig) -> Pool {
        // mysql_async keeps at most `min` idle connections unless an idle TTL is set: with
        // `min` 0 and no TTL, every request would open a connection of its own (1 ms and a
        // login each). Without an idle timeout every connection is kept.
        let min = match config.idle_timeout {
            Some(_) => 0,
            None => config.max_connections,
        };
        let constraints = PoolConstraints::new(min, config.max_connections)
            .expect("min <= max_connections, checked in with_max_connections");
        let mut pool_opts = PoolOpts::default()
            .with_constraints(constraints)
            // No session state to wipe, and a reset would drop the prepared-statement cache.
            .with_reset_connection(false);
        if let Some(idle) = config.idle_timeout {
            pool_opts = pool_opts
                .with_inactive_connection_ttl(idle)
                // mysql_async checks at most once a second (a shorter interval means 30 s).
                .with_ttl_check_interval(
                    idle.clamp(Duration::from_secs(1), Duration::from_secs(30)),
                );
        }
        let opts = OptsBuilder::from_opts(config.opts.clone())
            .pool_opts(pool_opts)
            .stmt_cache_size(64)
            .init(vec![
                "SET time_zone = '+00:00'".to_owned(),
                // No gap locks on reads and updates; one product's purchases serialise on
                // its row lock. (A unique index's duplicate check still locks a gap: the
                // tables purchases insert into have none, see migration 006.)
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED".to_owned(),
                format!(
                    "SET SESSION innodb_lock_wait_timeout = {}",
                    config.lock_wait_timeout.as_secs().max(1)
                ),
            ]);
        Pool::new(opts)
    }

    fn current(&self) -> (u64, Pool) {
        self.pool
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn get(&self, pool: &Pool) -> Result<Conn, NoConnection> {
        match tokio::time::timeout(self.acquire_timeout, pool.get_conn()).await {
            Ok(conn) => conn.map_err(NoConnection::Refused),
            Err(_) => Err(NoConnection::TimedOut),
        }
    }

    pub(crate) async fn conn(&self) -> Result<Conn, StoreError> {
        if let LoginSource::Deferred(credentials) = &self.login
            && self.current().0 == 0
        {
            self.log_in_again(credentials, 0).await?;
        }
        let (generation, pool) = self.current();
        let first = match self.get(&pool).await {
            Ok(conn) => return Ok(conn),
            Err(e) => e,
        };
        let credentials = match self.login.credentials() {
            Some(credentials) if first.is_access_denied() => credentials,
            _ => return Err(first.into_store_error(self.acquire_timeout)),
        };
        self.log_in_again(credentials, generation).await?;
        let (_, pool) = self.current();
        self.get(&pool)
            .await
            .map_err(|e| e.into_store_error(self.acquire_timeout))
    }

    /// Re-reads the credentials and replaces the pool of `refused_generation`, unless another
    /// caller already did.
    async fn log_in_again(
        &self,
        credentials: &Arc<dyn Credentials>,
        refused_generation: u64,
    ) -> Result<(), StoreError> {
        let _one = self.relogin.lock().await;
        if self.current().0 != refused_generation {
            return Ok(());
        }
        let (user, password) = credentials.current().await?;
        let fresh = Self::pool(&self.config.with_login(&user, &password));
        let (_, old) = std::mem::replace(
            &mut *self.pool.write().unwrap_or_else(PoisonError::into_inner),
            (refused_generation + 1, fresh),
        );
        if matches!(self.login, LoginSource::Deferred(_)) && refused_generation == 0 {
            tracing::info!("database login read");
        } else {
            tracing::warn!("the database refused the login: credentials re-read, pool rebuilt");
        }
        tokio::spawn(async move {
            let _ = old.disconnect().await;
        });
        Ok(())
    }

    /// Answers when the database does.
    pub async fn ping(&self) -> Result<(), StoreError> {
        use mysql_async::prelude::Queryable;
        let mut conn = self.conn().await?;
        conn.ping().await.map_err(map_err)
    }

    /// Closes every connection (tests, graceful shutdown).
    pub async fn close(self) {
        let _ = self.current().1.disconnect().await;
    }
}

/// Server error codes that mean "try again later" rather than "the code is wrong".
const TRANSIENT_SERVER_ERRORS: &[u16] = &[
    1040, // too many connections
    1053, // server shutdown in progress
    1205, // lock wait timeout
    1213, // deadlock
    1927, // connection killed (MariaDB)
    // "Index for table … is corrupt": MariaDB 10.11 answered it for ~10 ms to purchases that
    // arrived while it finished crash recovery after a SIGKILL (1 of 50 runs of
    // `the_database_dies_under_load_and_nothing_confirmed_is_lost`), then served again. The
    // buyer is told to retry (503); the log line keeps the server's words, and damage that
    // stays keeps answering 503, which the API 5xx alarm reports.
    1034, 3024, // query execution interrupted, max statement time (MySQL)
];

pub(crate) const DEADLOCK: u16 = 1213;
pub(crate) const LOCK_WAIT_TIMEOUT: u16 = 1205;

pub(crate) fn map_err(e: mysql_async::Error) -> StoreError {
    use mysql_async::Error;
    match e {
        Error::Io(e) => StoreError::Unavailable(format!("database I/O: {e}")),
        Error::Driver(e) => StoreError::Unavailable(format!("database driver: {e}")),
        Error::Server(e) if e.code == ACCESS_DENIED => {
            StoreError::Unavailable(format!("database refused the login ({})", e.code))
        }
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

/// A statement that lost a lock — chosen as a deadlock's victim (its transaction was rolled
/// back) or timed out waiting — and may simply run again.
pub(crate) fn lost_a_lock(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == DEADLOCK || s.code == LOCK_WAIT_TIMEOUT)
}

/// How many times a statement (or a short transaction) that lost a lock is run in all.
pub(crate) const LOCK_ATTEMPTS: u32 = 5;

/// Waits a little before attempt `attempt + 1`: a few milliseconds, growing, with jitter so
/// that two losers do not meet again at once.
pub(crate) async fn lock_backoff(attempt: u32) {
    let jitter = u64::from(uuid::Uuid::new_v4().as_u128() as u8 % 8);
    tokio::time::sleep(std::time::Duration::from_millis(
        (2 << attempt.min(5)) + jitter,
    ))
    .await;
}

/// Runs one autocommitted statement, again when it lost a lock (at most [`LOCK_ATTEMPTS`]).
pub(crate) async fn exec_retrying(
    conn: &mut mysql_async::Conn,
    sql: &str,
    params: mysql_async::Params,
) -> Result<u64, mysql_async::Error> {
    use mysql_async::prelude::Queryable;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match conn.exec_drop(sql, params.clone()).await {
            Ok(()) => return Ok(conn.affected_rows()),
            Err(e) if lost_a_lock(&e) && attempt < LOCK_ATTEMPTS => {
                tracing::debug!(attempt, error = %e, "statement lost a lock; again");
                lock_backoff(attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
}
