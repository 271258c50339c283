//! `donut-cli buyer-token` mints for the local stack of a stage with `buyerAuth` only.

use std::process::Command;

fn cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_donut-cli"))
        .args(args)
        .output()
        .expect("donut-cli runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn a_buyer_token_is_minted_only_for_a_local_stage_with_buyer_auth() {
    let (ok, said) = cli(&["--stage", "dev", "buyer-token", "--sub", "ann"]);
    assert!(!ok && said.contains("has no buyerAuth"), "{said}");
    let (ok, said) = cli(&["--stage", "dev", "--aws", "buyer-token", "--sub", "ann"]);
    assert!(!ok && said.contains("local stack only"), "{said}");
}
