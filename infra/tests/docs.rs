//! The user docs (README.md, docs/) held to the code: every make target, file, link, stage
//! key and per-stage value they name, the local stack's ports and defaults, the connection
//! budget, and — off the engine's state after `pulumi up` of dev and prod — the resources,
//! alarms, outputs, dashboard widgets and costs they count. A claim that drifts from the code
//! fails here, naming the page and the claim. (The runbook links of the alarms are held by
//! `program.rs`, `every_alarm_links_to_a_runbook_section_that_exists`.)

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};

use donut_config::StageConfig;
use serde_json::Value;
use support::*;

/// The pages a user reads. docs/performance.md is `make bench`'s report (its figures are a
/// run's): its links, files and make targets are checked like the others', not what it measured.
fn pages() -> Vec<(String, String)> {
    let mut pages = vec![("README.md".to_owned(), read("README.md"))];
    let mut names: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".md"))
        .collect();
    names.sort();
    for name in names {
        let path = format!("docs/{name}");
        let text = read(&path);
        pages.push((path, text));
    }
    pages
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn page(path: &str) -> String {
    pages()
        .into_iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("no page {path}"))
        .1
}

/// The text outside fenced code blocks, and the lines inside them.
fn prose_and_code(text: &str) -> (String, Vec<String>) {
    let (mut prose, mut code, mut fenced) = (String::new(), Vec::new(), false);
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push(line.to_owned());
        } else {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    (prose, code)
}

/// The inline code spans of the prose (`…`).
fn spans(text: &str) -> Vec<String> {
    let (prose, _) = prose_and_code(text);
    prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|span| span.replace('\n', " "))
        .collect()
}

/// A heading's anchor as the forge makes it.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let (prose, _) = prose_and_code(text);
    prose
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

/// `[text](target)` links of the prose.
fn links(text: &str) -> Vec<String> {
    let (prose, _) = prose_and_code(text);
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            out.push(rest[..end].to_owned());
        }
    }
    out
}

/// The Makefile's targets.
fn make_targets() -> BTreeSet<String> {
    read("Makefile")
        .lines()
        .filter(|l| !l.starts_with(['\t', ' ', '#', '.']))
        .filter_map(|l| l.split_once(':').map(|(t, _)| t.trim().to_owned()))
        .filter(|t| !t.is_empty() && !t.contains(['=', '$', ' ']))
        .collect()
}

/// Every `make <target>` a page names (in prose code spans and in code blocks) is a target of
/// the Makefile.
#[test]
fn the_docs_name_only_make_targets_that_exist() {
    let targets = make_targets();
    let mut checked = 0;
    for (path, text) in pages() {
        let (_, code) = prose_and_code(&text);
        let commands = spans(&text).into_iter().chain(
            code.into_iter()
                .map(|l| l.trim().trim_start_matches("$ ").to_owned()),
        );
        for command in commands {
            let Some(rest) = command.strip_prefix("make ") else {
                continue;
            };
            for word in rest.split_whitespace() {
                if word.contains('=') {
                    continue;
                }
                if word.starts_with('#') || word.starts_with('-') {
                    break;
                }
                assert!(
                    targets.contains(word),
                    "{path}: `make {word}` is not a Makefile target ({targets:?})"
                );
                checked += 1;
                break;
            }
        }
    }
    assert!(checked > 10, "only {checked} make commands found");
}

/// The repository's top-level entries (what a path a page names may start with).
fn top_level() -> BTreeSet<String> {
    std::fs::read_dir(root())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && name != "target")
        .collect()
}

/// Every file or folder of the repository a page names as a code span (`infra/src/alarms.rs`,
/// `Pulumi.dev.yaml`) exists, and every relative link reaches a file and, with an anchor, a
/// heading of it.
#[test]
fn the_docs_name_only_files_that_exist_and_link_only_sections_that_exist() {
    let top = top_level();
    let mut checked = 0;
    for (path, text) in pages() {
        for span in spans(&text) {
            // A command's first word (`scripts/checkov.sh install`), or the whole span.
            let first_word = span.split_whitespace().next().unwrap_or_default();
            let candidate = first_word.trim_end_matches([',', '.', ':']);
            let candidate = candidate
                .split_once(['#', ':'])
                .map_or(candidate, |(p, _)| p);
            if candidate.contains([' ', '<', '>', '…', '*', '{', '$', '|', '='])
                || candidate.starts_with('/')
            {
                continue;
            }
            let first = candidate.split('/').next().unwrap_or_default();
            let is_path =
                top.contains(first) && (candidate.contains('/') || candidate.contains('.'));
            if !is_path {
                continue;
            }
            assert!(
                root().join(candidate).exists(),
                "{path}: `{span}` names a file that does not exist"
            );
            checked += 1;
        }
        let dir = std::path::Path::new(&path)
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .to_owned();
        for link in links(&text) {
            if link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with("mailto:")
            {
                continue;
            }
            let (file, anchor) = link
                .split_once('#')
                .map_or((link.as_str(), None), |(f, a)| (f, Some(a)));
            let target = if file.is_empty() {
                path.clone()
            } else {
                dir.join(file).to_string_lossy().replace("docs/../", "")
            };
            assert!(
                root().join(&target).exists(),
                "{path}: the link ({link}) reaches no file ({target})"
            );
            if let Some(anchor) = anchor {
                assert!(
                    anchors(&read(&target)).contains(anchor),
                    "{path}: the link ({link}): {target} has no section #{anchor}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} paths and links found");
}

/// Every key the stage config reads: the quoted keys of `crates/config/src` and the keys of
/// the committed stack files.
fn config_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for stage in ["dev", "prod"] {
        for key in donut_config::stack_file_values(&root().join(format!("Pulumi.{stage}.yaml")))
            .unwrap()
            .keys()
        {
            keys.insert(key.trim_start_matches("donut-states:").to_owned());
        }
    }
    // What the program reads itself: its secrets (`require_config_secret(None, "…")`) and
    // the keys it names whole (`"donut-states:teardown"`).
    for entry in std::fs::read_dir(root().join("infra/src")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for piece in source.split("(None, \"").skip(1) {
            keys.insert(piece.split('"').next().unwrap().to_owned());
        }
        for piece in source.split("\"donut-states:").skip(1) {
            keys.insert(piece.split('"').next().unwrap().to_owned());
        }
    }
    for entry in std::fs::read_dir(root().join("crates/config/src")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for quoted in source.split('"').skip(1).step_by(2) {
            let camel = quoted.len() > 2
                && quoted.starts_with(|c: char| c.is_ascii_lowercase())
                && quoted.chars().all(|c| c.is_ascii_alphanumeric())
                && quoted.chars().any(|c| c.is_ascii_uppercase());
            if camel {
                keys.insert(quoted.to_owned());
            }
        }
    }
    keys
}

/// A stage's committed value of `key`, as the stack file writes it.
fn committed(stage: &str, key: &str) -> Option<String> {
    donut_config::stack_file_values(&root().join(format!("Pulumi.{stage}.yaml")))
        .unwrap()
        .get(&format!("donut-states:{key}"))
        .cloned()
}

/// Every `donut-states:<key>` a page names is a key the stage config reads, and every
/// per-stage value written `` `key` (dev X, prod Y) `` or `` `key`: dev X, prod Y `` is what
/// the committed stack files say.
#[test]
fn the_docs_name_only_stage_keys_the_config_reads_with_their_committed_values() {
    let keys = config_keys();
    let (mut named, mut valued) = (0, 0);
    for (path, text) in pages() {
        let (_, code) = prose_and_code(&text);
        let everything = format!("{text}\n{}", code.join("\n"));
        for (i, _) in everything.match_indices("donut-states:") {
            let key: String = everything[i + "donut-states:".len()..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if key.is_empty() || key == "owner" && everything[..i].ends_with('(') {
                continue;
            }
            assert!(
                keys.contains(&key),
                "{path}: donut-states:{key} is not a key the stage config reads"
            );
            named += 1;
        }
        let (prose, _) = prose_and_code(&text);
        let pieces: Vec<&str> = prose.split('`').collect();
        for pair in pieces.windows(2).skip(1).step_by(2) {
            let (key, after) = (pair[0], pair[1]);
            let Some(rest) = after
                .strip_prefix(" (dev ")
                .or_else(|| after.strip_prefix(": dev "))
            else {
                continue;
            };
            let Some((dev, rest)) = rest.split_once(", prod ") else {
                continue;
            };
            let prod: String = rest
                .chars()
                .take_while(|c| !matches!(c, ')' | ';' | ',' | '\n'))
                .collect();
            for (stage, claimed) in [("dev", dev), ("prod", prod.as_str())] {
                let claimed = claimed.split_whitespace().next().unwrap_or_default();
                let value = committed(stage, key).unwrap_or_else(|| {
                    panic!("{path}: `{key}` is not a key of Pulumi.{stage}.yaml")
                });
                assert_eq!(
                    claimed.trim_matches('`'),
                    value,
                    "{path}: `{key}` in {stage} is {value:?}, the page says {claimed:?}"
                );
                valued += 1;
            }
        }
    }
    assert!(
        named > 10 && valued >= 4,
        "{named} keys, {valued} values found"
    );
}

/// What `local/src` sets a constant to (`pub const API_PORT: u16 = 8080;`).
fn local_constant(name: &str) -> String {
    for entry in std::fs::read_dir(root().join("local/src")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in source.lines() {
            if let Some(rest) = line.trim().strip_prefix(&format!("pub const {name}:")) {
                return rest
                    .split_once('=')
                    .unwrap()
                    .1
                    .trim()
                    .trim_end_matches(';')
                    .to_owned();
            }
        }
    }
    panic!("local/src has no constant {name}")
}

/// The local stack's environment variables and their defaults (`env_or("NAME", default)` of
/// `local/src/main.rs`).
fn local_defaults() -> BTreeMap<String, String> {
    let source = read("local/src/main.rs")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = BTreeMap::new();
    for piece in source.split("env_or").skip(1) {
        let Some(rest) = piece.split_once("(\"").map(|(_, r)| r) else {
            continue;
        };
        let Some((name, rest)) = rest.split_once("\",") else {
            continue;
        };
        let rest = rest.trim_start();
        let default = if let Some(quoted) = rest.strip_prefix('"') {
            quoted.split('"').next().unwrap().to_owned()
        } else {
            let raw = rest.split([')', ',']).next().unwrap().trim();
            match raw.strip_prefix("donut_local::") {
                Some(constant) => local_constant(constant),
                None => raw.to_owned(),
            }
        };
        out.insert(name.to_owned(), default);
    }
    out
}

/// Where the README gives a local stack variable's default (`` `DONUT_API_PORT` (8080 ``), it
/// is the one `local/src/main.rs` falls back to.
#[test]
fn the_readme_gives_the_local_stacks_defaults() {
    let defaults = local_defaults();
    assert!(defaults.len() >= 6, "{defaults:?}");
    let readme = page("README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut checked = 0;
    for (name, default) in &defaults {
        for (i, _) in readme.match_indices(&format!("`{name}` (")) {
            let claimed: String = readme[i + name.len() + 4..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert_eq!(
                &claimed, default,
                "README.md: {name} defaults to {default}, the README says {claimed}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} defaults found in the README");
}

/// The number written between `before` and `after` on a page, e.g. "dev declares " … " resources".
fn number_between(text: &str, before: &str, after: &str) -> u32 {
    let i = text
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} … {after:?}"))
        + before.len();
    let (n, _) = text[i..]
        .split_once(after)
        .unwrap_or_else(|| panic!("no {before:?} … {after:?}"));
    n.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{before:?}{n}{after:?} is not a number"))
}

fn stage(stage: &str) -> StageConfig {
    StageConfig::from_stack_file(stage, &root().join(format!("Pulumi.{stage}.yaml"))).unwrap()
}

/// The connection budget table and the reservations of docs/deploy.md are the config's:
/// each stage's worst case and limit, what its functions reserve, and the quota that holds it.
#[test]
fn the_connection_budget_and_reservations_are_the_configs() {
    let deploy = page("docs/deploy.md");
    let (dev, prod) = (stage("dev"), stage("prod"));
    let (dev_budget, prod_budget) = (
        dev.connection_budget().unwrap(),
        prod.connection_budget().unwrap(),
    );
    let row = deploy
        .lines()
        .find(|l| l.contains("**worst case"))
        .expect("docs/deploy.md: the budget's worst-case row");
    assert!(
        row.contains(&format!(
            "**{} ≤ {}** | **{} ≤ {}**",
            dev_budget.worst_case,
            dev_budget.max_connections,
            prod_budget.worst_case,
            prod_budget.max_connections
        )),
        "docs/deploy.md: {row}\n{dev_budget:?}\n{prod_budget:?}"
    );
    let minimum = |c: &StageConfig| c.reserved_total() + 100;
    let simulator = dev.simulator_reservation().unwrap_or(0);
    let reserve = format!(
        "The functions reserve concurrency (dev {} with its factory simulator's {simulator}, prod ",
        dev.reserved_total()
    );
    assert!(deploy.contains(&reserve), "docs/deploy.md: no {reserve:?}");
    assert_eq!(
        number_between(&deploy, &reserve, " in all)"),
        prod.reserved_total()
    );
    let ask = format!(
        "at least the reservations + 100 (dev {}, prod {})",
        minimum(&dev),
        minimum(&prod)
    );
    assert!(deploy.contains(&ask), "docs/deploy.md: no {ask:?}");
    // The worked example: another function reserving 880 of 1 000.
    let flat_deploy = deploy.split_whitespace().collect::<Vec<_>>().join(" ");
    let r = dev.reserved_total();
    for said in [
        format!("dev's {r} would leave {}", 1000 - 880 - r),
        format!("(880 + {r} + 100 = {})", 880 + r + 100),
        format!(
            "names the quota that would let them reserve (dev {})",
            minimum(&dev)
        ),
    ] {
        assert!(flat_deploy.contains(&said), "docs/deploy.md: no {said:?}");
    }
    // A new account's quota of 10: nothing reserved, the quota bounds the instances.
    let new_account = dev.clone().with_lambda_concurrency_quota(10).unwrap();
    assert!(!new_account.reserves_concurrency());
    let budget = new_account.connection_budget().unwrap();
    let flat = deploy.split_whitespace().collect::<Vec<_>>().join(" ");
    for said in [
        format!(
            "(dev: {} of the micro instance's {} connections)",
            budget.worst_case, budget.max_connections
        ),
        format!(
            "(dev on a quota of 10: {} + 10 + {} = {} ≤ {})",
            dev.queue.max_concurrency * dev.queue.batch_size,
            dev.capacity.db_connection_headroom,
            budget.worst_case,
            budget.max_connections
        ),
    ] {
        assert!(flat.contains(&said), "docs/deploy.md: no {said:?}");
    }
}

fn deployed(stage: &str) -> Deployment {
    let project = Project::new(stage);
    project.ok(&["up", "--yes", "--skip-preview"]);
    project.deployment()
}

fn dev() -> &'static Deployment {
    static RUN: OnceLock<Deployment> = OnceLock::new();
    RUN.get_or_init(|| deployed("dev"))
}

fn prod() -> &'static Deployment {
    static RUN: OnceLock<Deployment> = OnceLock::new();
    RUN.get_or_init(|| deployed("prod"))
}

/// The resources a stack manages in AWS (the engine's own bookkeeping left out).
fn managed(run: &Deployment) -> u32 {
    run.resources.iter().filter(|r| r.custom).count() as u32
}

const ALARM: &str = "aws:cloudwatch/metricAlarm:MetricAlarm";

/// The metrics an alarm reads (CloudWatch bills per metric: a metric-math alarm per metric
/// it reads).
fn alarm_metrics(run: &Deployment) -> u32 {
    run.of_type(ALARM)
        .iter()
        .map(
            |a| match a.inputs.get("metricQueries").and_then(Value::as_array) {
                Some(queries) => {
                    queries.iter().filter(|q| q.get("metric").is_some()).count() as u32
                }
                None => 1,
            },
        )
        .sum()
}

/// The line of `path` starting with `starts` must be `line`, what the code says. With
/// `DONUT_UPDATE_DOCS=1` it is rewritten to it instead (`DONUT_UPDATE_DOCS=1 cargo test -p
/// donut-infra --test docs`), as `DONUT_UPDATE_OPENAPI` regenerates the OpenAPI document.
fn line_is(path: &str, starts: &str, line: &str) {
    static WRITING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let text = read(path);
    let found = text
        .lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("{path}: no line starting {starts:?}"));
    if found == line {
        return;
    }
    if std::env::var("DONUT_UPDATE_DOCS").as_deref() == Ok("1") {
        std::fs::write(root().join(path), text.replacen(found, line, 1)).unwrap();
        return;
    }
    panic!(
        "{path}: the line\n  {found}\nis not what the code says:\n  {line}\n\
         (`DONUT_UPDATE_DOCS=1 cargo test -p donut-infra --test docs` rewrites it)"
    );
}

/// architecture.md's counts of what each stage declares — resources and alarms — are the
/// engine's after `pulumi up`.
#[test]
fn the_architecture_counts_are_the_deployed_stacks() {
    let (dev, prod) = (dev(), prod());
    line_is(
        "docs/architecture.md",
        "- `pulumi up` of dev makes ",
        &format!(
            "- `pulumi up` of dev makes {} resources, of prod {}:",
            managed(dev),
            managed(prod)
        ),
    );
    line_is(
        "docs/architecture.md",
        "- alarms: ",
        &format!(
            "- alarms: {} in dev, {} in prod.",
            dev.of_type(ALARM).len(),
            prod.of_type(ALARM).len()
        ),
    );
}

/// The stack outputs architecture.md lists are exactly the stacks' outputs.
#[test]
fn the_outputs_the_docs_list_are_the_stacks_outputs() {
    let outputs: BTreeSet<String> = dev().exports.keys().cloned().collect();
    let prod_outputs: BTreeSet<String> = prod().exports.keys().cloned().collect();
    assert_eq!(outputs, prod_outputs, "dev and prod have the same outputs");
    let listed: Vec<String> = outputs.iter().map(|o| format!("`{o}`")).collect();
    line_is(
        "docs/architecture.md",
        "Stack outputs: ",
        &format!("Stack outputs: {}.", listed.join(", ")),
    );
}

/// The dashboard widgets operate.md names are the deployed dashboard's, in its order.
#[test]
fn the_dashboard_widgets_the_docs_name_are_the_dashboards() {
    let dashboard = &dev().of_type("aws:cloudwatch/dashboard:Dashboard")[0];
    let body: Value =
        serde_json::from_str(dashboard.inputs["dashboardBody"].as_str().unwrap()).unwrap();
    let titles: Vec<String> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| format!("\"{}\"", w["properties"]["title"].as_str().unwrap()))
        .collect();
    line_is(
        "docs/operate.md",
        "Its widgets: ",
        &format!("Its widgets: {}.", titles.join(", ")),
    );
}

/// A cell of the cost table: `$12.34`, `≈ $1` (a usage estimate), `—` (none).
fn dollars(cell: &str) -> f64 {
    let cell = cell
        .trim()
        .trim_matches('*')
        .trim_start_matches("≈ ")
        .trim();
    if cell == "—" {
        return 0.0;
    }
    cell.trim_start_matches('$')
        .parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a price"))
}

/// A cost cell as the table writes it.
fn cell(dollars: f64) -> String {
    if dollars == 0.0 {
        "—".to_owned()
    } else {
        format!("${dollars:.2}")
    }
}

/// The cost table of docs/deploy.md is the deployed stacks' resources at its unit prices:
/// NAT gateways, interface endpoints (per endpoint per AZ), secrets (the RDS-managed one too),
/// KMS keys, alarms (per metric), dashboards; each stage's total is the sum of its column, and
/// getting-started.md's figure is dev's.
#[test]
fn the_costs_are_the_deployed_resources_at_the_listed_prices() {
    const HOURS: f64 = 730.0;
    const PAGE: &str = "docs/deploy.md";
    let costs = |run: &Deployment| -> Vec<(&'static str, f64)> {
        let count = |t: &str| run.of_type(t).len() as f64;
        let endpoint_azs: f64 = run
            .of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
            .iter()
            .filter(|e| e.inputs["vpcEndpointType"] == "Interface")
            .map(|e| e.inputs["subnetIds"].as_array().map_or(0, Vec::len) as f64)
            .sum();
        let rds_managed = run
            .of_type("aws:rds/instance:Instance")
            .iter()
            .filter(|i| i.inputs.get("manageMasterUserPassword") == Some(&Value::Bool(true)))
            .count() as f64;
        vec![
            (
                "| NAT gateway",
                count("aws:ec2/natGateway:NatGateway") * (0.048 + 0.005) * HOURS,
            ),
            ("| interface endpoints", endpoint_azs * 0.011 * HOURS),
            (
                "| Secrets Manager",
                (count("aws:secretsmanager/secret:Secret") + rds_managed) * 0.40,
            ),
            ("| KMS key", count("aws:kms/key:Key") * 1.0),
            ("| CloudWatch alarms", f64::from(alarm_metrics(run)) * 0.10),
            (
                "| CloudWatch dashboard",
                count("aws:cloudwatch/dashboard:Dashboard") * 3.0,
            ),
        ]
    };
    let (dev, prod) = (costs(dev()), costs(prod()));
    for ((starts, dev), (_, prod)) in dev.iter().zip(&prod) {
        let text = read(PAGE);
        let found = text
            .lines()
            .find(|l| l.starts_with(starts))
            .unwrap_or_else(|| panic!("{PAGE}: no cost row {starts:?}"));
        let cells: Vec<&str> = found.trim_matches('|').split('|').map(str::trim).collect();
        let line = format!(
            "| {} | {} | {} | {} |",
            cells[0],
            cells[1],
            cell(*dev),
            cell(*prod)
        );
        line_is(PAGE, starts, &line);
    }
    let text = read(PAGE);
    let rows: Vec<Vec<String>> = text
        .lines()
        .skip_while(|l| !l.starts_with("## What each stage costs"))
        .skip_while(|l| !l.starts_with("| resource"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter(|l| !l.contains("total"))
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect();
    let total = |column: usize| -> f64 { rows.iter().map(|r| dollars(&r[column])).sum() };
    let (dev_total, prod_total) = (total(2), total(3));
    line_is(
        PAGE,
        "| **fixed total**",
        &format!(
            "| **fixed total** | | **≈ ${}** | **≈ ${}** |",
            dev_total.round(),
            prod_total.round()
        ),
    );
    line_is(
        "docs/getting-started.md",
        "**Cost.** A dev stage costs about $",
        &format!(
            "**Cost.** A dev stage costs about ${} a month while it stands (about ${:.2} an hour), almost",
            dev_total.round(),
            dev_total / HOURS
        ),
    );
}

/// Each token that follows `prefix` on every page (up to a space, a comma, a closing bracket
/// or a backtick), with its page.
fn after_each(prefix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, text) in pages() {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (i, _) in flat.match_indices(prefix) {
            let token: String = flat[i + prefix.len()..]
                .chars()
                .take_while(|c| !matches!(c, ' ' | ',' | ')' | '`' | ';'))
                .collect();
            out.push((path.clone(), token.trim_end_matches('.').to_owned()));
        }
    }
    out
}

/// The value of `key = "…"` (or `key: …`) in a file.
fn pinned(path: &str, key: &str) -> String {
    let text = read(path);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_else(|| panic!("{path}: no {key}"));
    line[line.find(key).unwrap() + key.len()..]
        .trim_start_matches([' ', '=', ':'])
        .trim()
        .trim_matches(|c| c == '"' || c == '=')
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// The versions the pages name are the pinned ones: Rust (`rust-toolchain.toml`), the
/// Pulumi CLI (`tools/engine/go.mod`), gestalt (`infra/Cargo.toml`), the AWS provider (the
/// schema's); and the schema's resource count.
#[test]
fn the_versions_and_the_schema_the_docs_name_are_the_pinned_ones() {
    let rust = pinned("rust-toolchain.toml", "channel");
    let cli = pinned("tools/engine/go.mod", "github.com/pulumi/pulumi/sdk/v3");
    let gestalt = pinned("infra/Cargo.toml", "pulumi_gestalt_rust")
        .trim_start_matches('=')
        .to_owned();
    let schema: Value = serde_json::from_str(&read("infra/schema/aws-subset.json")).unwrap();
    let aws = schema["version"].as_str().unwrap().to_owned();
    let mut checked = 0;
    for (prefix, want) in [
        ("`rust-toolchain.toml` pins ", &rust),
        ("from v", &cli.trim_start_matches('v').to_owned()),
        ("prints v", &cli.trim_start_matches('v').to_owned()),
        ("CLI v", &cli.trim_start_matches('v').to_owned()),
        ("gestalt 0", &gestalt[1..].to_owned()),
        ("`pulumi_gestalt_rust` ", &gestalt),
        ("language rust ", &gestalt),
        ("gestalt's ", &gestalt),
        ("resource aws ", &aws),
        ("`pulumi-aws` ", &aws),
        ("(resource, ", &aws),
        ("(language, ", &gestalt),
    ] {
        for (path, token) in after_each(prefix) {
            if !token.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                continue;
            }
            assert_eq!(&token, want, "{path}: {prefix}{token}, pinned {want}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} versions found");
    let resources = schema["resources"].as_object().unwrap().len() as u32;
    assert_eq!(
        number_between(
            &page("docs/architecture.md")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            "`infra/schema/aws-subset.json`: its ",
            " resources of the AWS provider"
        ),
        resources,
        "docs/architecture.md: the schema's resources"
    );
}

/// The steps of the smoke test docs/smoke-test.md lists are the ones `donut-cli smoke` runs
/// (`report.record("<step>", …)` in `tools/donut-cli/src/smoke.rs`).
#[test]
fn the_smoke_steps_the_docs_list_are_the_smoke_tests() {
    let source = read("tools/donut-cli/src/smoke.rs");
    let steps: BTreeSet<String> = source
        .split("report.record(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect();
    let listed: BTreeSet<String> = page("docs/smoke-test.md")
        .lines()
        .skip_while(|l| !l.starts_with("| step"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.split('`').nth(1).unwrap_or_default().to_owned())
        .collect();
    assert_eq!(listed, steps, "docs/smoke-test.md: the steps");
}

/// Every stored procedure a page names (`donut_sell_v6`) is one the warehouse calls now, or
/// one that the procedures call (`CALL …(` in the migrations).
#[test]
fn the_procedures_the_docs_name_are_the_ones_the_warehouse_calls() {
    let mut called = String::new();
    for dir in ["crates/warehouse/src", "crates/warehouse/migrations"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            called.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    let mut checked = 0;
    // docs/performance.md is a measured run's report: it names what it measured against.
    for (path, text) in pages()
        .into_iter()
        .filter(|(p, _)| p != "docs/performance.md")
    {
        for span in spans(&text) {
            let name = span
                .trim_start_matches("CALL ")
                .split('(')
                .next()
                .unwrap_or_default();
            let versioned = name.starts_with("donut_")
                && name
                    .rsplit_once("_v")
                    .is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
            if !versioned {
                continue;
            }
            assert!(
                called.contains(&format!("CALL {name}(")),
                "{path}: `{span}` is not a procedure the warehouse calls"
            );
            checked += 1;
        }
    }
    assert!(checked >= 2, "only {checked} procedures found");
}
