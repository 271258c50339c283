//! Messages from the program to whoever runs `pulumi preview` / `pulumi up`, through the
//! engine's Log service (gestalt 0.0.12 has no API for it, and a language host may hide the
//! program's own output). They show under the stack's "Diagnostics".

use pulumi_gestalt_proto::pulumi::pulumirpc as rpc;

/// Shows `message` as a warning of this deployment. Best effort: a warning that cannot be
/// delivered is printed to stderr instead.
pub fn warn(message: &str) {
    let sent = std::env::var("PULUMI_ENGINE")
        .ok()
        .and_then(|engine| send(&engine, rpc::LogSeverity::Warning, message).ok());
    if sent.is_none() {
        eprintln!("warning: {message}");
    }
}

fn send(engine: &str, severity: rpc::LogSeverity, message: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client =
            rpc::engine_client::EngineClient::connect(format!("http://{engine}")).await?;
        client
            .log(rpc::LogRequest {
                severity: severity as i32,
                message: message.to_owned(),
                ..Default::default()
            })
            .await?;
        Ok(())
    })
}
