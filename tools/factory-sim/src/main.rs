//! `factory-sim`: the legacy Factory API stand-in, on 127.0.0.1.
//!
//! Environment: FACTORY_PORT (8090), FACTORY_DELAY_MS, FACTORY_FAIL_RATE, FACTORY_FAIL_FIRST,
//! FACTORY_HANG_RATE, FACTORY_DUPLICATE_RATE, FACTORY_DROP_RATE, FACTORY_SEED.

use std::net::{Ipv4Addr, SocketAddr};

use factory_sim::{FactorySim, Knobs};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .init();
    let port: u16 = std::env::var("FACTORY_PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(8090);
    let seed: Option<u64> = std::env::var("FACTORY_SEED")
        .ok()
        .map(|s| s.parse())
        .transpose()?;
    let knobs = Knobs::from_env()?;
    let sim = FactorySim::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        knobs.clone(),
        seed,
    )
    .await?;
    tracing::info!(addr = %sim.addr, ?knobs, ?seed, "legacy factory simulator listening");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
