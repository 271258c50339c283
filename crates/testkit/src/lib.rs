//! Test support: every test gets a database of its own on the local MariaDB, migrated and
//! seeded with exactly the products it asks for, so tests run in parallel without sharing
//! state (the zero2prod `spawn_app` pattern).
//!
//! The server is the one `scripts/services.sh start` runs; `DONUT_TEST_DB_URL` points
//! elsewhere (`mysql://donut:donut@127.0.0.1:3307` by default). Tests that need a warehouse
//! but not a database take [`MemWarehouse`].

pub mod conformance;
pub mod memory;

pub use memory::MemWarehouse;

use donut_warehouse::{DbConfig, MySqlWarehouse};
use mysql_async::prelude::*;

pub fn server_url() -> String {
    std::env::var("DONUT_TEST_DB_URL")
        .unwrap_or_else(|_| "mysql://donut:donut@127.0.0.1:3307".into())
}

/// `url` with another user and password.
fn with_login(url: &str, user: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a mysql:// URL");
    let (_, host) = rest.split_once('@').expect("a URL with a login");
    format!("{scheme}://{user}:{password}@{host}")
}

/// The variable that hands a test database's schema to another release's code:
/// `DONUT_TEST_SCHEMA_COMMAND=<path of this release's donut-test-schema>` makes every [`TestDb`]
/// migrated and its users granted by that program instead of by the code under test. That is
/// how `scripts/schema-compat.sh` runs the previous release's warehouse tests (the statements
/// its functions run) against this release's schema and grants, as a canary's old version
/// meets them.
pub const SCHEMA_COMMAND: &str = "DONUT_TEST_SCHEMA_COMMAND";

/// A test database's two users, made as the migrate function makes them.
pub struct Users<'a> {
    pub app: &'a str,
    pub operator: &'a str,
    pub password: &'a str,
}

impl Users<'_> {
    /// This release's migrations, then the functions' and the operators' users with this
    /// release's grants.
    pub async fn made_here(&self, master: &MySqlWarehouse) {
        master.migrate().await.expect("migrations apply");
        master
            .ensure_app_user(self.app, self.password, APP_USER_HOSTS)
            .await
            .expect("the functions' user (the test server's user needs GRANT OPTION)");
        master
            .ensure_user(
                self.operator,
                self.password,
                APP_USER_HOSTS,
                &donut_warehouse::OPERATOR,
            )
            .await
            .expect("the operators' function's user");
    }

    /// The schema and users made by `command` (another release's `donut-test-schema`): its
    /// arguments are the master URL of the database, then the two users and their password.
    async fn made_by(&self, command: &str, url: &str) {
        let status = tokio::process::Command::new(command)
            .args([url, self.app, self.operator, self.password])
            .status()
            .await
            .unwrap_or_else(|e| panic!("{SCHEMA_COMMAND}={command} cannot run: {e}"));
        assert!(status.success(), "{SCHEMA_COMMAND}={command}: {status}");
    }
}

/// A product row for a test's own shelf.
#[derive(Debug, Clone)]
pub struct Shelf {
    pub product_id: &'static str,
    pub qty: u32,
    pub reorder_point: u32,
    pub reorder_qty: u32,
}

impl Shelf {
    pub fn new(product_id: &'static str, qty: u32) -> Self {
        Self {
            product_id,
            qty,
            reorder_point: 0,
            reorder_qty: 10,
        }
    }

    pub fn reorder(mut self, point: u32, quantity: u32) -> Self {
        self.reorder_point = point;
        self.reorder_qty = quantity;
        self
    }
}

/// One migrated database, private to the test that made it, and a functions' user of its own
/// with exactly the grants the deployed functions have (`ensure_app_user`, as the migrate
/// function makes it): what a test does through [`TestDb::warehouse`] runs as AWS runs it.
pub struct TestDb {
    pub name: String,
    /// The master user's URL (as `migrate` logs in): fixtures and assertions.
    pub url: String,
    /// The functions' user's URL: a warehouse a test builds itself logs in with this.
    pub app_url: String,
    /// The functions' user: `app_<12 hex>`, connecting from loopback only.
    pub app_user: String,
    /// The warehouse as the functions reach it: the functions' user.
    pub warehouse: MySqlWarehouse,
    /// The warehouse as the operators' function reaches it: a user of its own with its grants
    /// (`donut_warehouse::OPERATOR`).
    pub operator: MySqlWarehouse,
    /// The warehouse as the migrate function reaches it: the master user.
    pub master: MySqlWarehouse,
}

/// Where the tests' functions' users may connect from (on AWS: the VPC's range).
pub const APP_USER_HOSTS: &str = "127.0.0.0/255.0.0.0";

impl TestDb {
    /// A new, migrated, empty database.
    pub async fn new() -> Self {
        Self::new_on(&server_url()).await
    }

    /// A new, migrated, empty database on the server at `server` (`mysql://user:pass@host:port`).
    pub async fn new_on(server: &str) -> Self {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let server = server.to_owned();
        let admin = mysql_async::Pool::new(server.as_str());
        let mut conn = admin.get_conn().await.unwrap_or_else(|e| {
            panic!("no MariaDB at {server} ({e}); start it with `scripts/services.sh start-db`")
        });
        conn.query_drop(format!("CREATE DATABASE `{name}`"))
            .await
            .expect("create test database");
        drop(conn);
        admin.disconnect().await.ok();

        let url = format!("{}/{}", server.trim_end_matches('/'), name);
        // Generous: on a busy CI machine a queue for a connection must not fail a test.
        let pool = |url: &str| {
            let config = DbConfig::from_url(url)
                .expect("test database URL")
                .with_max_connections(32)
                .with_acquire_timeout(std::time::Duration::from_secs(30));
            MySqlWarehouse::new(&config)
        };
        let master = pool(&url);
        let app_user = format!("app_{}", &name[2..14]);
        let operator_user = format!("op_{}", &name[2..14]);
        let password = format!("{}", uuid::Uuid::new_v4().simple());
        let users = Users {
            app: &app_user,
            operator: &operator_user,
            password: &password,
        };
        match std::env::var(SCHEMA_COMMAND) {
            Ok(command) => users.made_by(&command, &url).await,
            Err(_) => users.made_here(&master).await,
        }
        let app_url = with_login(&url, &app_user, &password);
        Self {
            name,
            warehouse: pool(&app_url),
            operator: pool(&with_login(&url, &operator_user, &password)),
            url,
            app_url,
            app_user,
            master,
        }
    }

    /// A new database holding exactly these products.
    pub async fn with_shelves(shelves: &[Shelf]) -> Self {
        let db = Self::new().await;
        db.add_shelves(shelves).await;
        db
    }

    pub async fn add_shelves(&self, shelves: &[Shelf]) {
        let db = self;
        for s in shelves {
            db.exec(
                "INSERT INTO products (product_id, name, price_cents, qty, reorder_point, reorder_qty, \
                 factory_product_id) VALUES (?, ?, 150, ?, ?, ?, ?)",
                (s.product_id, s.product_id, s.qty, s.reorder_point, s.reorder_qty, format!("f-{}", s.product_id)),
            )
            .await;
        }
    }

    /// A raw connection for assertions and fixtures.
    pub async fn conn(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.url.as_str())
            .await
            .expect("connect to test database")
    }

    pub async fn exec<P: Into<mysql_async::Params> + Send>(&self, sql: &str, params: P) {
        self.conn().await.exec_drop(sql, params).await.expect(sql);
    }

    /// The first column of the first row of `sql`, as a number.
    pub async fn count<P: Into<mysql_async::Params> + Send>(&self, sql: &str, params: P) -> i64 {
        let v: Option<i64> = self.conn().await.exec_first(sql, params).await.expect(sql);
        v.unwrap_or_default()
    }

    pub async fn stock(&self, product_id: &str) -> i64 {
        self.count(
            "SELECT qty FROM products WHERE product_id = ?",
            (product_id,),
        )
        .await
    }
}

/// A MariaDB server of a test's own, to kill and restart (fault tests). Its data directory
/// lives in a temporary folder and survives restarts.
pub struct PrivateMariaDb {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
    /// Server options beyond ours (TLS, say).
    options: Vec<String>,
}

impl PrivateMariaDb {
    pub async fn start() -> Self {
        Self::start_with(Vec::new()).await
    }

    /// A server started with these extra `mariadbd` options.
    pub async fn start_with(options: Vec<String>) -> Self {
        let dir =
            std::env::temp_dir().join(format!("donut-mariadb-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let status = std::process::Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--user={user}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("mariadb-install-db runs");
        assert!(status.success(), "mariadb-install-db failed");
        let mut db = Self {
            port,
            dir,
            child: None,
            options,
        };
        db.resume().await;
        let mut root = mysql_async::Conn::new(
            mysql_async::OptsBuilder::default()
                .socket(Some(db.socket()))
                .user(Some(user)),
        )
        .await
        .expect("root over the socket");
        root.query_drop(
            "CREATE USER 'donut'@'127.0.0.1' IDENTIFIED BY 'donut'; \
             GRANT ALL PRIVILEGES ON *.* TO 'donut'@'127.0.0.1' WITH GRANT OPTION; \
             CREATE DATABASE donut",
        )
        .await
        .expect("set up the test user");
        db
    }

    fn tmp_dir(&self) -> std::path::PathBuf {
        let dir = self.dir.join("tmp");
        std::fs::create_dir_all(&dir).expect("the server's temp folder");
        dir
    }

    fn socket(&self) -> String {
        self.dir.join("mariadb.sock").display().to_string()
    }

    pub fn url(&self) -> String {
        format!("mysql://donut:donut@127.0.0.1:{}/donut", self.port)
    }

    /// Kills the server at once (SIGKILL): no clean shutdown.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts (again) on the same data and port, and waits until it answers.
    pub async fn resume(&mut self) {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let child = std::process::Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", self.dir.join("data").display()))
            .arg(format!("--socket={}", self.socket()))
            .arg(format!("--port={}", self.port))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .args(&self.options)
            .arg(format!("--user={user}"))
            .arg(format!(
                "--log-error={}",
                self.dir.join("error.log").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("mariadbd.pid").display()
            ))
            // A temp folder of its own: mariadbd deletes every `#sql*` file in its tmpdir when it
            // starts, and in the shared /tmp those are other servers' live temporary tables (the
            // test server's information_schema queries failed with "Error on delete of
            // '/tmp/#sql-temptable-…'" when a private server started beside them).
            .arg(format!("--tmpdir={}", self.tmp_dir().display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        self.child = Some(child);
        // Both listeners: mariadbd opens its TCP port a moment before its socket (a start that
        // waited for the port alone lost the race to the socket 2 times in 50).
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && std::os::unix::net::UnixStream::connect(self.socket()).is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the private MariaDB did not come up on port {}", self.port);
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
