//! The load tool's engine: open-loop arrivals at a fixed rate, bounded in count and time, a
//! k6-style summary with thresholds, and the business invariants checked afterwards.
//!
//! Only loopback targets are accepted: this tool is for the local stack.

pub mod invariants;
pub mod scenarios;
pub mod summary;

pub use scenarios::{Scenario, Settings, run};
pub use summary::{Summary, Threshold};

/// Refuses any target that is not on this machine's loopback.
pub fn ensure_loopback(url: &str) -> anyhow::Result<()> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("the target must be an http:// URL on loopback"))?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        loopback,
        "refusing {url}: load goes to loopback targets only (127.0.0.0/8, ::1, localhost)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(ensure_loopback("http://127.0.0.1:8080").is_ok());
        assert!(ensure_loopback("http://127.1.2.3:8080/x").is_ok());
        assert!(ensure_loopback("http://localhost:8080").is_ok());
        assert!(ensure_loopback("http://[::1]:8080").is_ok());
        assert!(ensure_loopback("http://10.0.0.1:8080").is_err());
        assert!(ensure_loopback("http://example.com").is_err());
        assert!(ensure_loopback("https://127.0.0.1").is_err());
        assert!(ensure_loopback("http://127.0.0.1.example.com").is_err());
    }
}
