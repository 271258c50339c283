//! A one-resource Pulumi program with a misspelt argument (`visibilityTimeoutSecond`), written
//! against gestalt's untyped API because the typed bindings cannot misspell. `tests/engine.rs` runs
//! it on the real engine to show that the stand-in provider's Check stops `pulumi preview`
//! the way the real provider would.

use pulumi_gestalt_rust::{Output, RegisterResourceRequest, ResourceRequestObjectField};

fn main() -> anyhow::Result<()> {
    pulumi_gestalt_rust::run(|ctx| {
        let name = Output::new("donut-states-misspelt".to_owned());
        let timeout = Output::new(30_i32);
        ctx.register_resource(RegisterResourceRequest {
            type_: "aws:sqs/queue:Queue".into(),
            name: "misspelt-queue".into(),
            version: "7.51.1".into(),
            object: &[
                ResourceRequestObjectField {
                    name: "name".into(),
                    value: &name,
                },
                ResourceRequestObjectField {
                    name: "visibilityTimeoutSecond".into(),
                    value: &timeout,
                },
            ],
            options: None,
        });
        Ok(())
    })
}
