//! The real Pulumi engine (`.local/bin/pulumi`, built by `make engine`) running the real
//! `donut-infra` binary, with the stand-in AWS provider (`pulumi-resource-aws`, a test double
//! that checks every input against the schema subset and keeps a fake account on disk) and
//! the language host stand-in (`pulumi-language-rust`). Nothing leaves the machine: file
//! backend, passphrase secrets, plugin downloads off.
//!
//! A [`Project`] is a throw-away copy of the repository's Pulumi project: `Pulumi.yaml` (its
//! `binary` pointed at the binary cargo built for these tests), the stack files as committed,
//! the migrations, and a `target/lambda/<function>/bootstrap.zip` per function — the zips of
//! `make lambdas` when they exist, else a small zip per function whose content only matters to
//! the engine's archive hash.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};

/// Pulumi's secret marker in state and in wire values.
/// The string the engine shows for a value not known until apply.
pub const UNKNOWN: &str = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

pub const SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
pub const SECRET_SIG: &str = "1b47061264138c4ac30d75fd1eb44270";

pub const SECRET: &str = "a-callback-secret-of-forty-characters-x";
/// The on-call mailbox every deploy must set (the stack files carry placeholders).
pub const OPS_EMAIL: &str = "oncall@donut-states.com";
/// Where the runbooks are read (`donut-states:repositoryUrl`; the stack files carry a
/// placeholder).
pub const REPOSITORY_URL: &str = "https://github.com/donut-shop/donut-states/blob/main";
/// A factory address that is not a placeholder (the stand-in calls nothing).
pub const FACTORY_URL: &str = "https://factory.legacy-bakery.net";
/// The role a deploy runs as (`donut-states:deployerArns`, which every deploy must set): a role
/// of the stand-in account.
pub const DEPLOYER: &str = "arn:aws:iam::123456789012:role/donut-states-deployer";
const PASSPHRASE: &str = "donut-states engine tests";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bin_dir() -> PathBuf {
    root().join(".local/bin")
}

/// What a pulumi command printed.
#[derive(Debug)]
pub struct Outcome {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

impl Outcome {
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.text()))
    }
}

pub struct Project {
    pub dir: PathBuf,
    pub stage: String,
    base: PathBuf,
    /// The stand-in provider's account file: "AWS".
    account: std::cell::RefCell<PathBuf>,
}

static PROJECTS: AtomicUsize = AtomicUsize::new(0);

/// A valid zip holding one stored (uncompressed) file.
fn stored_zip(name: &str, content: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(content);
    let size = content.len() as u32;
    let name = name.as_bytes();
    let mut zip = Vec::new();
    let common = |out: &mut Vec<u8>| {
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
    };
    zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    common(&mut zip);
    zip.extend_from_slice(name);
    zip.extend_from_slice(content);
    let directory_at = zip.len() as u32;
    zip.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    zip.extend_from_slice(&0x031eu16.to_le_bytes()); // made by: unix
    common(&mut zip);
    zip.extend_from_slice(&0u16.to_le_bytes()); // comment
    zip.extend_from_slice(&0u16.to_le_bytes()); // disk
    zip.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
    zip.extend_from_slice(&(0o100755u32 << 16).to_le_bytes()); // external: rwxr-xr-x
    zip.extend_from_slice(&0u32.to_le_bytes()); // local header offset
    zip.extend_from_slice(name);
    let directory_size = zip.len() as u32 - directory_at;
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    zip.extend_from_slice(&[0; 4]); // disks
    zip.extend_from_slice(&1u16.to_le_bytes());
    zip.extend_from_slice(&1u16.to_le_bytes());
    zip.extend_from_slice(&directory_size.to_le_bytes());
    zip.extend_from_slice(&directory_at.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    zip
}

impl Project {
    /// A new project directory with a new stack `stage` (the committed stack file), the
    /// callback secret and the ops mailbox set as the deploy steps (docs/deploy.md) say, and an empty
    /// stand-in account.
    pub fn new(stage: &str) -> Project {
        let project = Project::as_committed(stage);
        project.deployable(stage);
        project
    }

    /// The settings a deploy must set (the ops mailbox; where the runbooks are read; who
    /// deploys; the factory's address, in a stage that calls the real one).
    fn deployable(&self, stage: &str) {
        self.set("donut-states:opsEmail", OPS_EMAIL);
        self.set("donut-states:repositoryUrl", REPOSITORY_URL);
        self.set_path("donut-states:deployerArns[0]", DEPLOYER);
        let committed = donut_config::StageConfig::from_stack_file(
            stage,
            &root().join(format!("Pulumi.{stage}.yaml")),
        )
        .expect("the committed stack file is valid");
        if committed.factory_url().is_some() {
            self.set("donut-states:factoryUrl", FACTORY_URL);
        }
    }

    /// Like [`Project::new`], but the ops mailbox and the factory are the committed
    /// placeholders.
    pub fn as_committed(stage: &str) -> Project {
        Project::running(stage, Path::new(env!("CARGO_BIN_EXE_donut-infra")))
    }

    /// A stack named `stack` with the settings of `stage` (a developer's own stack of dev).
    pub fn stack_of(stage: &str, stack: &str) -> Project {
        let project =
            Project::running_as(stage, stack, Path::new(env!("CARGO_BIN_EXE_donut-infra")));
        project.deployable(stage);
        project
    }

    /// A project whose `Pulumi.yaml` runs `binary` instead of the program (an example of
    /// this package, say).
    pub fn running(stage: &str, binary: &Path) -> Project {
        Project::running_as(stage, stage, binary)
    }

    fn running_as(stage: &str, stack: &str, binary: &Path) -> Project {
        for tool in ["pulumi", "pulumi-language-rust", "pulumi-resource-aws"] {
            assert!(
                bin_dir().join(tool).exists(),
                "{} is missing: run `make engine` (make test does)",
                bin_dir().join(tool).display()
            );
        }
        let n = PROJECTS.fetch_add(1, Ordering::SeqCst);
        let base = std::env::temp_dir().join(format!("donut-engine-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("project");
        std::fs::create_dir_all(dir.join("crates/warehouse")).unwrap();
        std::fs::create_dir_all(base.join("backend")).unwrap();
        std::os::unix::fs::symlink(
            root().join("crates/warehouse/migrations"),
            dir.join("crates/warehouse/migrations"),
        )
        .unwrap();
        let committed = std::fs::read_to_string(root().join("Pulumi.yaml")).unwrap();
        let ours = committed.replace(
            "binary: target/release/donut-infra",
            &format!("binary: {}", binary.display()),
        );
        assert_ne!(
            ours, committed,
            "Pulumi.yaml names target/release/donut-infra"
        );
        std::fs::write(dir.join("Pulumi.yaml"), ours).unwrap();
        std::fs::copy(
            root().join(format!("Pulumi.{stage}.yaml")),
            dir.join(format!("Pulumi.{stack}.yaml")),
        )
        .unwrap();
        for function in donut_config::functions::packages() {
            let at = dir.join("target/lambda").join(function);
            std::fs::create_dir_all(&at).unwrap();
            let built = root()
                .join("target/lambda")
                .join(function)
                .join("bootstrap.zip");
            if built.exists() {
                std::os::unix::fs::symlink(built, at.join("bootstrap.zip")).unwrap();
            } else {
                let script = format!(
                    "#!/bin/sh\n# engine-test archive for {function}: `make lambdas` builds the real one\nexit 1\n"
                );
                std::fs::write(
                    at.join("bootstrap.zip"),
                    stored_zip("bootstrap", script.as_bytes()),
                )
                .unwrap();
            }
        }
        let project = Project {
            dir,
            stage: stack.into(),
            account: std::cell::RefCell::new(base.join("account.json")),
            base,
        };
        project.ok(&["stack", "init", stack]);
        project.ok(&[
            "config",
            "set",
            "--secret",
            "donut-states:callbackSecret",
            SECRET,
        ]);
        project
    }

    /// Runs `pulumi <args>` in the project, on its stack.
    pub fn pulumi(&self, args: &[&str]) -> Outcome {
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let started = std::time::Instant::now();
        let output = Command::new(bin_dir().join("pulumi"))
            .args(args)
            .args(["--non-interactive", "--color", "never"])
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("PULUMI_HOME", self.base.join("home"))
            .env(
                "PULUMI_BACKEND_URL",
                format!("file://{}", self.base.join("backend").display()),
            )
            .env("PULUMI_CONFIG_PASSPHRASE", PASSPHRASE)
            .env("PULUMI_SKIP_UPDATE_CHECK", "1")
            .env("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
            .env("PULUMI_STACK", &self.stage)
            .env("DONUT_AWS_STANDIN_ACCOUNT", self.account_file())
            .output()
            .expect("pulumi runs");
        Outcome {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// `pulumi <args>`, which must succeed.
    pub fn ok(&self, args: &[&str]) -> Outcome {
        let outcome = self.pulumi(args);
        assert!(
            outcome.success,
            "pulumi {args:?} failed:\n{}",
            outcome.text()
        );
        outcome
    }

    /// Replaces `function`'s package (`target/lambda/<function>/bootstrap.zip`) with one holding
    /// `content`: a new build of its code.
    pub fn rebuild(&self, function: &str, content: &str) {
        let zip = self
            .dir
            .join("target/lambda")
            .join(function)
            .join("bootstrap.zip");
        std::fs::remove_file(&zip).unwrap();
        std::fs::write(&zip, stored_zip("bootstrap", content.as_bytes())).unwrap();
    }

    /// The stand-in provider's account: what "exists in AWS".
    pub fn account_file(&self) -> PathBuf {
        self.account.borrow().clone()
    }

    /// Deploys into `other`'s account from now on (another developer, same AWS account).
    pub fn share_account_of(&self, other: &Project) {
        *self.account.borrow_mut() = other.account_file();
    }

    /// Makes the stand-in account a new AWS account: a Lambda concurrency quota of `quota`
    /// (new accounts start at 10 or 50; a standard one has 1,000).
    pub fn with_lambda_quota(&self, quota: u32) {
        let account = serde_json::json!({
            "live": {},
            "quotas": { "lambda_concurrent_executions": quota },
        });
        std::fs::write(self.account_file(), account.to_string()).unwrap();
    }

    /// What the stand-in account accepted but would leave doing nothing (alarms watching no
    /// live resource, policies naming actions AWS does not have or resources that do not exist).
    pub fn findings(&self) -> Vec<String> {
        std::fs::read(self.account_file())
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|account| account["findings"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect()
    }

    /// Resources alive in the stand-in account.
    pub fn live_resources(&self) -> usize {
        std::fs::read(self.account_file())
            .map(|bytes| {
                let account: Value = serde_json::from_slice(&bytes).unwrap();
                account["live"].as_object().map_or(0, Map::len)
            })
            .unwrap_or(0)
    }

    /// Sets one config value of the stack.
    pub fn set(&self, key: &str, value: &str) {
        self.ok(&["config", "set", key, value]);
    }

    /// Sets one value inside a structured config value (`pulumi config set --path`): a list's
    /// item (`key[0]`), an object's member (`key.member`).
    pub fn set_path(&self, path: &str, value: &str) {
        self.ok(&["config", "set", "--path", path, value]);
    }

    pub fn rm(&self, key: &str) {
        self.ok(&["config", "rm", key]);
    }

    /// The stack's state as the engine recorded it.
    pub fn export(&self) -> Value {
        self.ok(&["stack", "export"]).json()
    }

    /// The deployed stack, read off the engine's state.
    pub fn deployment(&self) -> Deployment {
        let export = self.export();
        let outputs = self.ok(&["stack", "output", "--json"]).json();
        Deployment::from_state(&export, outputs.as_object().cloned().unwrap_or_default())
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// One resource as the engine recorded it.
#[derive(Debug, Clone)]
pub struct Resource {
    pub type_: String,
    pub name: String,
    pub custom: bool,
    /// The logical names of what the engine recorded it depends on.
    pub dependencies: Vec<String>,
    pub inputs: Map<String, Value>,
    pub outputs: Map<String, Value>,
}

/// Numbers as f64, as the program sends them (the state's JSON writes 3306.0 as 3306).
fn floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap_or_default()),
        Value::Array(items) => Value::Array(items.iter().map(floats).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), floats(v))).collect())
        }
        other => other.clone(),
    }
}

/// The resources of a stack's state (`pulumi stack export`) and its outputs.
pub struct Deployment {
    pub resources: Vec<Resource>,
    pub exports: Map<String, Value>,
}

impl Deployment {
    pub fn from_state(export: &Value, exports: Map<String, Value>) -> Self {
        let resources = export["deployment"]["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter(|r| !r["type"].as_str().unwrap_or("").starts_with("pulumi:"))
            .map(|r| Resource {
                type_: r["type"].as_str().unwrap().to_owned(),
                name: r["urn"]
                    .as_str()
                    .unwrap()
                    .rsplit("::")
                    .next()
                    .unwrap()
                    .to_owned(),
                custom: r["custom"].as_bool().unwrap_or(false),
                dependencies: r["dependencies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|urn| urn.as_str()?.rsplit("::").next().map(str::to_owned))
                    .collect(),
                inputs: floats(&r["inputs"])
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
                // The state keeps the id beside the outputs; the program reads it as one.
                outputs: {
                    let mut outputs = floats(&r["outputs"])
                        .as_object()
                        .cloned()
                        .unwrap_or_default();
                    if let Some(id) = r["id"].as_str() {
                        outputs.insert("id".into(), Value::String(id.into()));
                    }
                    outputs
                },
            })
            .collect();
        Deployment { resources, exports }
    }

    pub fn of_type(&self, type_: &str) -> Vec<&Resource> {
        self.resources.iter().filter(|r| r.type_ == type_).collect()
    }

    /// The one resource with this logical name.
    pub fn named(&self, name: &str) -> &Resource {
        let found: Vec<_> = self.resources.iter().filter(|r| r.name == name).collect();
        assert_eq!(found.len(), 1, "exactly one resource named {name}");
        found[0]
    }

    pub fn count_by_type(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.resources.iter().filter(|r| r.custom) {
            *counts.entry(r.type_.clone()).or_default() += 1;
        }
        counts
    }
}

/// The steps of `pulumi preview --json`, by operation: `{"create": [urn…], "update": …}`.
pub fn steps_by_op(preview: &Value) -> BTreeMap<String, Vec<String>> {
    let mut by_op: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for step in preview["steps"].as_array().into_iter().flatten() {
        let urn = step["urn"].as_str().unwrap_or_default();
        if urn.contains("::pulumi:") {
            continue; // the stack and the default provider
        }
        let name = urn.rsplit("::").next().unwrap_or_default().to_owned();
        by_op
            .entry(step["op"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(name);
    }
    for names in by_op.values_mut() {
        names.sort();
    }
    by_op
}
