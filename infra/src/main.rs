//! The Pulumi program's entry point: `pulumi preview` / `pulumi up` run this binary (see
//! Pulumi.yaml). Everything it declares is in the library.

fn main() -> anyhow::Result<()> {
    donut_infra::dependencies::relay_monitor()?;
    pulumi_gestalt_rust::run(donut_infra::program)
}
