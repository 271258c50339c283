//! `donut-cli` runs the shop through the operators' API, signed as the local operator, against
//! a whole local stack (`donut_local::LocalSystem`, as `make up` starts it, its own database,
//! LocalStack resources and ports): the binary creates, sets, adjusts, retires and restores
//! products, reads the audit, applies a catalogue file twice (the second time "nothing to do"),
//! lists, shows and cancels a factory order; each result is checked through the API. The smoke
//! test puts back exactly what it sold.
//!
//! Services: `DONUT_TEST_DB_URL` (MariaDB) and `DONUT_TEST_AWS_ENDPOINT` (LocalStack), as
//! every end-to-end test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use donut_cli::operators::{ApiRefusal, Operators};
use donut_cli::signed::AdminClient;
use donut_config::StageConfig;
use donut_domain::usecases::WatchdogPolicy;
use donut_local::gateway::LOCAL_OPERATOR_ARN;
use donut_local::{LocalSystem, SystemOptions};
use donut_testkit::{Shelf, TestDb};
use factory_sim::Knobs;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn aws_endpoint() -> String {
    std::env::var("DONUT_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

struct Stack {
    system: LocalSystem,
    _db: TestDb,
    stage: StageConfig,
    http: reqwest::Client,
}

impl Stack {
    async fn start(shelves: &[Shelf]) -> Self {
        let db = TestDb::with_shelves(shelves).await;
        let mut stage = StageConfig::from_stack_file("dev", &root().join("Pulumi.dev.yaml"))
            .expect("Pulumi.dev.yaml");
        stage.factory_timeout_ms = 1000;
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let id = uuid::Uuid::new_v4().simple().to_string();
        let options = SystemOptions {
            stage: stage.clone(),
            prefix: format!("cli-{}", &id[..12]),
            database_url: db.url.clone(),
            app_user: format!("fn_{}", &id[..12]),
            operator_user: format!("op_{}", &id[..12]),
            aws_endpoint: aws_endpoint(),
            api_addr: any_port,
            factory_lane_addr: any_port,
            throttled: false,
            factory_addr: any_port,
            factory_knobs: Knobs {
                delay_ms: 300,
                ..Knobs::default()
            },
            factory_seed: Some(42),
            visibility_timeout_seconds: 2,
            alarm_period_seconds: 10,
            relay_interval: Duration::from_millis(250),
            // Nobody chases an order here: the test moves them itself.
            watchdog: WatchdogPolicy {
                deadline: Duration::from_secs(3600),
                open_deadline: Duration::from_secs(3600),
                max_attempts: 3,
            },
            seed_products: false,
        };
        let system = LocalSystem::start(options, &mut |_, _| {})
            .await
            .expect("the stack starts");
        Self {
            system,
            _db: db,
            stage,
            http: reqwest::Client::new(),
        }
    }

    /// The operators' API as the test checks it: the local operator's key, signed.
    fn operators(&self) -> Operators {
        Operators::new(AdminClient::new(&self.system.aws, &self.system.api_url).unwrap())
    }

    async fn product(&self, id: &str) -> donut_api::contract::AdminProduct {
        self.operators().product(id).await.unwrap().value
    }

    /// `donut-cli --api-url <the stack's> <args…>`, signed with LocalStack's key as against
    /// `make up`: whether it succeeded, its standard output, its standard error.
    async fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_donut-cli"))
            .args(["--stage", "dev", "--endpoint", &aws_endpoint()])
            .args(["--api-url", &self.system.api_url])
            .args(args)
            // As an operator runs it, from the repository's root.
            .current_dir(root())
            .env_remove("DONUT_STACK_OUTPUTS")
            .env_remove("DONUT_API_URL")
            .output()
            .await
            .expect("donut-cli runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The command succeeds: its output.
    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.cli(args).await;
        assert!(ok, "donut-cli {args:?} failed:\n{out}{err}");
        out
    }

    /// The command is refused (non-zero exit): what it said.
    async fn refused(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.cli(args).await;
        assert!(!ok, "donut-cli {args:?} succeeded:\n{out}");
        err
    }

    async fn public_status(&self, path: &str) -> u16 {
        self.http
            .get(format!("{}{path}", self.system.api_url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn knobs(&self, knobs: &Knobs) {
        // The simulator's URL takes AWS_IAM: signed as the local functions sign.
        let mut request = self
            .http
            .put(format!("{}/knobs", self.system.factory_url))
            .json(knobs)
            .build()
            .unwrap();
        donut_local::function_url::sign_local(&mut request, &self.stage.region)
            .await
            .unwrap();
        let r = self.http.execute(request).await.unwrap();
        assert_eq!(r.status(), 200);
    }
}

async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {limit:?}");
}

fn write_catalogue(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "donut-catalogue-{}.toml",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_run_the_shop_from_the_command_line() {
    let t = Stack::start(&[]).await;

    // Products: create, set, refused twice, adjusted, audited.
    let out = t
        .ok(&[
            "products",
            "create",
            "cli-cruller",
            "--name",
            "French Cruller",
            "--price-cents",
            "195",
            "--stock",
            "6",
            "--reorder-point",
            "2",
            "--reorder-quantity",
            "12",
            "--factory-product-id",
            "7",
        ])
        .await;
    assert!(
        out.starts_with("created: cli-cruller \"French Cruller\""),
        "{out}"
    );
    let again = t
        .refused(&[
            "products",
            "create",
            "cli-cruller",
            "--name",
            "x",
            "--price-cents",
            "1",
            "--stock",
            "0",
            "--reorder-point",
            "0",
            "--reorder-quantity",
            "1",
            "--factory-product-id",
            "7",
        ])
        .await;
    assert!(again.contains("refused (409 product_exists)"), "{again}");

    let out = t
        .ok(&["products", "set", "cli-cruller", "--price-cents", "210"])
        .await;
    assert!(out.starts_with("changed: cli-cruller"), "{out}");
    assert_eq!(t.product("cli-cruller").await.price_cents, 210);
    let out = t
        .ok(&["products", "set", "cli-cruller", "--price-cents", "210"])
        .await;
    assert!(out.starts_with("already so, nothing changed"), "{out}");
    let nothing = t.refused(&["products", "set", "cli-cruller"]).await;
    assert!(nothing.contains("nothing to set"), "{nothing}");

    let out = t
        .ok(&[
            "stock",
            "adjust",
            "cli-cruller",
            "--delta",
            "-3",
            "--reason",
            "a tray dropped",
        ])
        .await;
    assert!(out.contains("3 in stock"), "{out}");
    let refused = t
        .refused(&[
            "stock",
            "adjust",
            "cli-cruller",
            "--delta",
            "-10",
            "--reason",
            "more than there is",
        ])
        .await;
    assert!(
        refused.contains("refused (409 adjustment_refused): the shelf holds 3"),
        "{refused}"
    );
    let both = t
        .refused(&[
            "stock",
            "adjust",
            "cli-cruller",
            "--delta",
            "1",
            "--count",
            "1",
            "--reason",
            "x",
        ])
        .await;
    assert!(both.contains("cannot be used with"), "{both}");
    t.ok(&[
        "stock",
        "adjust",
        "cli-cruller",
        "--count",
        "20",
        "--reason",
        "counted at closing",
    ])
    .await;
    assert_eq!(t.product("cli-cruller").await.stock, 20);

    // Retired: off sale, listed to operators; restored: on sale.
    let out = t.ok(&["products", "retire", "cli-cruller"]).await;
    assert!(
        out.starts_with("retired (off sale; its stock kept)"),
        "{out}"
    );
    assert_eq!(t.public_status("/products/cli-cruller").await, 404);
    let listed = t.ok(&["products", "list"]).await;
    eprintln!("$ donut-cli products list\n{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("cli-cruller") && l.ends_with("retired")),
        "{listed}"
    );
    t.ok(&["products", "restore", "cli-cruller"]).await;
    assert_eq!(t.public_status("/products/cli-cruller").await, 200);
    let shown = t.ok(&["products", "show", "cli-cruller", "--json"]).await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (shown["stock"].as_u64(), &shown["retired"]),
        (Some(20), &Value::Bool(false))
    );

    let trail = t
        .ok(&["audit", "--product", "cli-cruller", "--limit", "10"])
        .await;
    eprintln!("donut-cli audit --product cli-cruller:\n{trail}");
    let actions: Vec<&str> = trail
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(" cli-cruller "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        actions,
        ["restore", "retire", "adjust", "adjust", "update", "create"]
    );
    assert!(
        trail.contains("stock 6 → 3 — \"a tray dropped\""),
        "{trail}"
    );
    assert!(trail.contains("price_cents 195 → 210"), "{trail}");
    assert!(
        trail.contains("create  cli-cruller              factory_product_id \"7\", name \"French Cruller\", price_cents 195, reorder.point 2, reorder.quantity 12, stock 6"),
        "{trail}"
    );
    assert!(
        trail.contains(&format!("by {LOCAL_OPERATOR_ARN}")),
        "{trail}"
    );
    let tagged = t
        .ok(&[
            "--reference",
            "incident-42",
            "stock",
            "adjust",
            "cli-cruller",
            "--delta",
            "+1",
            "--reason",
            "found one",
        ])
        .await;
    assert!(tagged.contains("21 in stock"), "{tagged}");
    let last = t
        .operators()
        .audit(Some("cli-cruller"), Some(1))
        .await
        .unwrap();
    assert_eq!(
        last.value.entries[0].reference.as_deref(),
        Some("incident-42"),
        "kept beside the correlation id the API made"
    );

    // The catalogue as a file: the dev seed's donuts, applied twice.
    let example = "docs/catalogue.example.toml";
    let first = t.ok(&["catalogue", "apply", example]).await;
    eprintln!("$ donut-cli catalogue apply docs/catalogue.example.toml\n{first}");
    assert!(first.contains(": 5 change(s)"), "{first}");
    assert!(first.contains("  create  original-glazed"), "{first}");
    assert!(first.contains("  leave   cli-cruller"), "{first}");
    assert!(
        first.contains("applied 5 change(s) under reference catalogue-apply-"),
        "{first}"
    );
    let second = t.ok(&["catalogue", "apply", example]).await;
    eprintln!("$ donut-cli catalogue apply docs/catalogue.example.toml  # again\n{second}");
    assert!(
        second
            .trim_end()
            .ends_with("nothing to do: the catalogue matches the file"),
        "{second}"
    );
    assert!(
        second.contains("5 product(s) already as the file says"),
        "{second}"
    );
    let maple = t.product("maple-bar").await;
    assert_eq!((maple.stock, maple.price_cents), (40, 225));
    let created = t.operators().audit(Some("maple-bar"), None).await.unwrap();
    assert_eq!(
        created.value.entries.len(),
        1,
        "the second apply changed nothing"
    );
    assert!(
        created.value.entries[0]
            .reference
            .as_deref()
            .is_some_and(|r| r.starts_with("catalogue-apply-"))
    );

    // A changed file: repriced, one product dropped, one new; retired only when asked.
    let changed = std::fs::read_to_string(root().join("docs/catalogue.example.toml"))
        .unwrap()
        .replace("price_cents = 225", "price_cents = 250")
        .replace("id = \"boston-cream\"", "id = \"cli-old-fashioned\"")
        .replace("name = \"Boston Cream\"", "name = \"Old Fashioned\"");
    let changed = write_catalogue(&changed);
    let changed = changed.to_str().unwrap();
    t.ok(&[
        "stock",
        "adjust",
        "maple-bar",
        "--delta",
        "-5",
        "--reason",
        "sold at the counter",
    ])
    .await;
    let dry = t
        .ok(&[
            "catalogue",
            "apply",
            changed,
            "--retire-missing",
            "--dry-run",
        ])
        .await;
    eprintln!("$ donut-cli catalogue apply <changed> --retire-missing --dry-run\n{dry}");
    for line in [
        "  create  cli-old-fashioned",
        "  change  maple-bar                price_cents 225 → 250",
        "  retire  boston-cream",
        "  retire  cli-cruller",
        "dry run: nothing applied",
    ] {
        assert!(dry.contains(line), "{line:?} in\n{dry}");
    }
    assert_eq!(t.product("maple-bar").await.price_cents, 225, "a dry run");
    t.ok(&["catalogue", "apply", changed, "--retire-missing"])
        .await;
    let maple = t.product("maple-bar").await;
    assert_eq!(
        (maple.price_cents, maple.stock),
        (250, 35),
        "stock is the shelf's"
    );
    assert!(t.product("boston-cream").await.retired);
    assert!(t.product("cli-cruller").await.retired);
    assert_eq!(t.public_status("/products/cli-old-fashioned").await, 200);

    // Back to the example: restored and repriced; the file's stock is not the shelf's.
    let back = t.ok(&["catalogue", "apply", example]).await;
    eprintln!(
        "$ donut-cli catalogue apply docs/catalogue.example.toml  # after the changed file\n{back}"
    );
    assert!(
        back.contains("  restore boston-cream             retired, in the file"),
        "{back}"
    );
    assert!(back.contains("  leave   cli-old-fashioned"), "{back}");
    let maple = t.product("maple-bar").await;
    assert_eq!((maple.price_cents, maple.stock), (225, 35));
    assert!(!t.product("boston-cream").await.retired);
    assert!(
        t.product("cli-cruller").await.retired,
        "not in the file: left as it is"
    );

    // Factory orders: an adjustment at the reorder point opens one; the factory is slow: it
    // waits; listed, shown, cancelled once.
    t.knobs(&Knobs {
        delay_ms: 600_000,
        ..Knobs::default()
    })
    .await;
    let adjusted = t
        .ok(&[
            "stock",
            "adjust",
            "maple-bar",
            "--count",
            "5",
            "--reason",
            "counted: the tray was short",
            "--json",
        ])
        .await;
    let adjusted: Value = serde_json::from_str(&adjusted).unwrap();
    assert_eq!(adjusted["restock"]["opened_now"], true, "{adjusted}");
    let order = adjusted["restock"]["factory_order_id"].as_str().unwrap();
    let listed = t.ok(&["orders", "list"]).await;
    eprintln!("$ donut-cli orders list\n{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(order) && l.contains("maple-bar")),
        "{listed}"
    );
    let shown = t.ok(&["orders", "show", order]).await;
    assert!(
        shown.starts_with(&format!("factory order {order}: 20 × maple-bar")),
        "{shown}"
    );
    let again = t.ok(&["orders", "re-request", order]).await;
    assert!(
        again.contains("re-requested: open again") || again.contains("is still on its way"),
        "{again}"
    );
    let cancelled = t.ok(&["orders", "cancel", order]).await;
    assert!(
        cancelled.contains("cancelled: the product's next stock-out opens a new order"),
        "{cancelled}"
    );
    let again = t.ok(&["orders", "cancel", order]).await;
    assert_eq!(
        again,
        format!("factory order {order} is cancelled: nothing to do\n")
    );
    let late = t.ok(&["orders", "re-request", order]).await;
    assert_eq!(
        late,
        format!("factory order {order} is cancelled: nothing to do\n")
    );
    let shown = t.ok(&["orders", "show", order, "--json"]).await;
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["status"], "cancelled");
    let orders = t.operators().factory_orders().await.unwrap().value;
    assert!(
        orders
            .factory_orders
            .iter()
            .all(|o| o.factory_order_id != order)
    );
    let unknown = t
        .refused(&["orders", "show", &uuid::Uuid::new_v4().to_string()])
        .await;
    assert!(
        unknown.contains("refused (404 unknown_factory_order)"),
        "{unknown}"
    );

    // A key IAM does not know: API Gateway's 403, before any function runs.
    let stranger = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(t.stage.region.clone()))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIASTRANGER", "x", None, None, "test"),
            ),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let err = Operators::new(AdminClient::new(&stranger, &t.system.api_url).unwrap())
        .products()
        .await
        .unwrap_err();
    let refusal = err.downcast_ref::<ApiRefusal>().expect("a refusal");
    assert_eq!((refusal.status, refusal.code.as_deref()), (403, None));
    t.system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smoke_test_puts_back_exactly_what_it_sold() {
    let t = Stack::start(&[Shelf::new("cli-smoke", 12).reorder(4, 20)]).await;
    let target = donut_cli::smoke::Target {
        api_url: t.system.api_url.clone(),
        product: Some("cli-smoke".into()),
        max_quantity: t.stage.max_quantity,
        restock_timeout: Duration::from_secs(60),
        max_units: 500,
    };
    let mut report = donut_cli::smoke::run(&target, None, None).await;
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.sold.get("cli-smoke"), Some(&12));
    // Sold out, then the factory's restock: 20 on the shelf.
    eventually(Duration::from_secs(30), "the restock", || async {
        t.product("cli-smoke").await.stock == 20
    })
    .await;

    assert!(
        donut_cli::smoke::put_back(&t.system.aws, &t.system.api_url, &mut report).await,
        "{}",
        report.render()
    );
    eprintln!("{}", report.render());
    let step = report.steps.last().unwrap();
    assert_eq!(step.name, "put back");
    assert!(
        step.detail
            .starts_with("cli-smoke +12 (now 32): exactly the units it sold"),
        "{}",
        step.detail
    );
    assert_eq!(
        t.product("cli-smoke").await.stock,
        32,
        "what it sold, not what the factory restocked"
    );
    let trail = t.operators().audit(Some("cli-smoke"), None).await.unwrap();
    let entry = &trail.value.entries[0];
    assert_eq!(entry.action, "adjust");
    assert_eq!(
        entry.reason.as_deref(),
        Some(donut_cli::smoke::PUT_BACK_REASON)
    );
    assert_eq!(entry.reference.as_deref(), Some(report.reference.as_str()));
    assert_eq!(entry.actor, LOCAL_OPERATOR_ARN);
    assert_eq!(
        (
            entry.before.as_ref().unwrap()["stock"].as_u64(),
            entry.after["stock"].as_u64()
        ),
        (Some(20), Some(32))
    );

    // Credentials that are not an operator's: a FAIL line naming what to run by hand.
    let stranger = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(t.stage.region.clone()))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("AKIASTRANGER", "x", None, None, "test"),
            ),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let mut refused = donut_cli::smoke::Report {
        sold: [("cli-smoke".to_owned(), 3)].into(),
        reference: "smoke-refused".into(),
        ..Default::default()
    };
    assert!(!donut_cli::smoke::put_back(&stranger, &t.system.api_url, &mut refused).await);
    assert!(!refused.passed());
    let detail = &refused.steps[0].detail;
    assert!(
        detail.starts_with(
            "cli-smoke: 3 unit(s) sold not put back (`donut-cli stock adjust cli-smoke --delta 3 \
             --reason \"smoke test: putting back what it sold\"`): refused (403)"
        ),
        "{detail}"
    );
    assert_eq!(t.product("cli-smoke").await.stock, 32);

    // Nothing sold, nothing put back.
    let mut idle = donut_cli::smoke::Report::default();
    assert!(donut_cli::smoke::put_back(&t.system.aws, &t.system.api_url, &mut idle).await);
    assert_eq!(idle.steps[0].detail, "nothing sold: nothing to put back");
    t.system.stop().await;
}
