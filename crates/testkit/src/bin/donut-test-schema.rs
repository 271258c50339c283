//! `donut-test-schema <master URL of a database> <functions' user> <operators' user> <password>`:
//! migrates the database with this release's migrations and makes the two users with this
//! release's grants, as the migrate function does on a deploy. Another release's tests call it
//! through `DONUT_TEST_SCHEMA_COMMAND` (see `donut_testkit::SCHEMA_COMMAND`).
//!
//! With `DONUT_TEST_SCHEMA_LOG` set, each database it made is appended to that file, so the
//! caller can tell the other release's tests really ran on this schema.

use std::io::Write as _;

use donut_testkit::Users;
use donut_warehouse::{DbConfig, MySqlWarehouse};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, app, operator, password] = args.as_slice() else {
        eprintln!(
            "usage: donut-test-schema <master URL of a database> <functions' user> <operators' user> <password>"
        );
        std::process::exit(2);
    };
    let config = DbConfig::from_url(url).unwrap_or_else(|e| {
        eprintln!("donut-test-schema: {url} is not a database URL: {e}");
        std::process::exit(2);
    });
    let master = MySqlWarehouse::new(&config);
    Users {
        app,
        operator,
        password,
    }
    .made_here(&master)
    .await;
    if let Ok(log) = std::env::var("DONUT_TEST_SCHEMA_LOG") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("DONUT_TEST_SCHEMA_LOG={log}: {e}"));
        let database = url.rsplit('/').next().unwrap_or(url);
        writeln!(file, "{database}").expect("the schema log is writable");
    }
}
