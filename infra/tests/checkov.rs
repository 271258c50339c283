//! An outside IaC scanner on what the program deploys: checkov 3.3.30 (pinned and hash-checked,
//! `infra/checkov-requirements.txt`, installed by `scripts/checkov.sh install` into
//! `.local/venv-checkov`; `make test` does) scans the engine's state of dev and prod after
//! `pulumi up`, and every failed check must be accepted, with its reason, in
//! `infra/checkov-accepted.yaml` — while every accepted one must still fail, so the list stays
//! true.
//!
//! checkov reads Terraform plans, and pulumi-aws is Terraform's AWS provider under Pulumi's
//! names: `scripts/checkov_plan.py` turns `pulumi stack export` into the plan Terraform would
//! show (types, property names and blocks as Terraform has them; another resource's id or ARN
//! as a reference, which checkov's graph checks follow), `scripts/checkov_gate.py` runs checkov
//! on it and compares. Plans, checkov's results and the report are left under
//! `target/tmp/checkov/`. Nothing leaves the machine.
//!
//! `DONUT_SKIP_CHECKOV=1` skips the scan (saying so); without it, a missing checkov fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

const STAGES: [&str; 2] = ["dev", "prod"];

fn venv() -> PathBuf {
    root().join(".local/venv-checkov")
}

/// The version `infra/checkov-requirements.txt` pins.
fn pinned_version() -> String {
    let requirements = std::fs::read_to_string(root().join("infra/checkov-requirements.txt"))
        .expect("infra/checkov-requirements.txt");
    requirements
        .lines()
        .find_map(|line| line.strip_prefix("checkov=="))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("infra/checkov-requirements.txt pins checkov==<version>")
        .to_owned()
}

/// checkov from the pinned venv, or why not.
fn installed_checkov() -> Result<PathBuf, String> {
    let checkov = venv().join("bin/checkov");
    let install = "install it with `scripts/checkov.sh install` (`make test` does), or set \
                   DONUT_SKIP_CHECKOV=1 to skip this scan";
    if !checkov.exists() {
        return Err(format!(
            "checkov {} is not installed ({} is missing): {install}",
            pinned_version(),
            checkov.display()
        ));
    }
    let output = Command::new(&checkov)
        .arg("--version")
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true")
        .output()
        .map_err(|e| format!("{} does not run ({e}): {install}", checkov.display()))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if version != pinned_version() {
        return Err(format!(
            "{} is checkov {version:?}, infra/checkov-requirements.txt pins {}: {install}",
            checkov.display(),
            pinned_version()
        ));
    }
    Ok(checkov)
}

/// `pulumi up` of a new stack of `stage`; its state (`pulumi stack export`) written to `dir`.
fn deployed_state(stage: &str, dir: &Path) -> PathBuf {
    let project = Project::new(stage);
    let up = project.ok(&["up", "--yes", "--skip-preview"]);
    let export = project.ok(&["stack", "export"]);
    let path = dir.join(format!("{stage}-state.json"));
    std::fs::write(&path, &export.stdout).unwrap();
    println!(
        "{stage}: pulumi up {:.1} s, state in {}",
        up.seconds,
        path.display()
    );
    path
}

#[test]
fn checkov_finds_nothing_but_the_accepted_findings_in_dev_and_prod() {
    if std::env::var_os("DONUT_SKIP_CHECKOV").is_some() {
        println!(
            "SKIPPED: the checkov scan of the engine's state (DONUT_SKIP_CHECKOV is set); \
             nothing was scanned"
        );
        return;
    }
    let checkov = installed_checkov().unwrap_or_else(|why| panic!("{why}"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("checkov");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();

    let states: Vec<String> = STAGES
        .iter()
        .map(|stage| format!("{stage}={}", deployed_state(stage, &out).display()))
        .collect();
    let started = std::time::Instant::now();
    let gate = Command::new(venv().join("bin/python"))
        .arg(root().join("scripts/checkov_gate.py"))
        .arg("--accepted")
        .arg(root().join("infra/checkov-accepted.yaml"))
        .arg("--out")
        .arg(&out)
        .arg("--checkov")
        .arg(&checkov)
        .args(&states)
        .output()
        .expect("the checkov gate runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&gate.stdout),
        String::from_utf8_lossy(&gate.stderr)
    );
    println!(
        "{report}checkov: {:.1} s for {} stages; plans and results under {}",
        started.elapsed().as_secs_f64(),
        STAGES.len(),
        out.display()
    );
    assert!(
        gate.status.success(),
        "checkov's findings differ from infra/checkov-accepted.yaml (exit {:?}):\n{report}",
        gate.status.code()
    );
}
