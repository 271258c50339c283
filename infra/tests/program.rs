mod support;

use support::*;

#[test]
fn dev_up_registers_resources() {
    let run = run_program("dev", false, Some(&"s".repeat(40)), |_| {});
    assert!(run.success, "{}", run.stderr);
    println!("{:#?}", run.count_by_type());
    println!("{:#?}", run.exports);
    let q = run.named("donut-states-dev-factory-orders");
    println!("{:#?}", q);
}
