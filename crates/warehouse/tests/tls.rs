//! TLS to the database: the client verifies the server's certificate against the CA it is
//! given (RDS: its CA bundle), refuses a server whose certificate does not chain to it, and a
//! server that requires secure transport refuses a client without TLS. The CAs and the server
//! certificate are made here with openssl.

use std::path::{Path, PathBuf};
use std::process::Command;

use donut_testkit::PrivateMariaDb;
use donut_warehouse::{DbConfig, MySqlWarehouse};

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA (`<name>-ca.pem`) and, for `serve`, a server certificate it signed for 127.0.0.1.
fn certificates(dir: &Path) -> (PathBuf, PathBuf) {
    for ca in ["rds", "other"] {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN=test {ca} CA"),
                "-keyout",
                &format!("{ca}-ca.key"),
                "-out",
                &format!("{ca}-ca.pem"),
            ],
        );
    }
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "rds-ca.pem",
            "-CAkey",
            "rds-ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    (dir.join("rds-ca.pem"), dir.join("other-ca.pem"))
}

#[tokio::test]
async fn tls_verifies_the_server_and_the_server_requires_it() {
    let dir = std::env::temp_dir().join(format!("donut-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (rds_ca, other_ca) = certificates(&dir);
    let server = PrivateMariaDb::start_with(vec![
        format!("--ssl-ca={}", rds_ca.display()),
        format!("--ssl-cert={}", dir.join("server.pem").display()),
        format!("--ssl-key={}", dir.join("server.key").display()),
        "--require-secure-transport=ON".into(),
    ])
    .await;
    let config = |tls: Option<&Path>| {
        let config = DbConfig::from_url(&server.url())
            .unwrap()
            .with_acquire_timeout(std::time::Duration::from_secs(5));
        match tls {
            Some(ca) => config.with_tls(ca),
            None => config,
        }
    };

    // The right CA: connected, encrypted.
    let warehouse = MySqlWarehouse::new(&config(Some(&rds_ca)));
    warehouse.ping().await.expect("TLS with the server's CA");
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from(
        mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&server.url()).unwrap())
            .ssl_opts(mysql_async::SslOpts::default().with_root_certs(vec![rds_ca.clone().into()])),
    ))
    .await
    .unwrap();
    use mysql_async::prelude::Queryable;
    let cipher: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    assert!(
        cipher.is_some_and(|(_, c)| !c.is_empty()),
        "the session is encrypted"
    );

    // A certificate that does not chain to the CA we trust: refused by the client.
    let refused = MySqlWarehouse::new(&config(Some(&other_ca))).ping().await;
    assert!(
        refused.is_err(),
        "a server certificate from another CA must be refused"
    );

    // No TLS at all: refused by the server (require_secure_transport).
    let plain = MySqlWarehouse::new(&config(None)).ping().await;
    assert!(plain.is_err(), "the server requires secure transport");
    let _ = std::fs::remove_dir_all(&dir);
}
