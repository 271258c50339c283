//! What a run measured, printed the way k6 prints it, and the thresholds that judge it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Latencies (µs) and outcomes of one run.
#[derive(Clone)]
pub struct Summary {
    pub latency_us: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub elapsed: Duration,
    /// Units the API said it sold (sum of the quantities of 200 answers to POST /orders).
    pub sold_units: u64,
}

impl Default for Summary {
    fn default() -> Self {
        Self {
            latency_us: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
            statuses: BTreeMap::new(),
            transport_errors: 0,
            elapsed: Duration::ZERO,
            sold_units: 0,
        }
    }
}

impl Summary {
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport_errors
    }

    /// Transport errors and 5xx, as a share of all requests.
    pub fn error_rate(&self) -> f64 {
        let errors =
            self.transport_errors + self.statuses.range(500..).map(|(_, n)| n).sum::<u64>();
        if self.requests() == 0 {
            0.0
        } else {
            errors as f64 / self.requests() as f64
        }
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        Duration::from_micros(self.latency_us.value_at_quantile(p / 100.0))
    }

    /// One request: its latency, its status (None: no answer) and the units it sold.
    pub fn record(&mut self, latency: Duration, status: Option<u16>, sold: u64) {
        let _ = self.latency_us.record(latency.as_micros().max(1) as u64);
        match status {
            Some(s) => *self.statuses.entry(s).or_default() += 1,
            None => self.transport_errors += 1,
        }
        self.sold_units += sold;
    }

    pub fn merge(&mut self, other: &Summary) {
        self.latency_us.add(&other.latency_us).expect("same bounds");
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.sold_units += other.sold_units;
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}ms", d.as_secs_f64() * 1000.0)
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  http_reqs.................: {:<8} {:.1}/s",
            self.requests(),
            self.rate()
        )?;
        writeln!(
            f,
            "  http_req_duration.........: min={} p50={} p90={} p95={} p99={} max={}",
            ms(Duration::from_micros(self.latency_us.min())),
            ms(self.percentile(50.0)),
            ms(self.percentile(90.0)),
            ms(self.percentile(95.0)),
            ms(self.percentile(99.0)),
            ms(Duration::from_micros(self.latency_us.max())),
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}={n}"))
            .collect();
        writeln!(f, "  http_status...............: {}", statuses.join(" "))?;
        writeln!(f, "  transport_errors..........: {}", self.transport_errors)?;
        writeln!(
            f,
            "  errors (transport + 5xx)..: {:.2}%",
            self.error_rate() * 100.0
        )?;
        write!(f, "  units_sold................: {}", self.sold_units)
    }
}

/// `p99<50ms`, `p95<1s`, `max<2s`, `errors<1%`, `rate>100`.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    Percentile { p: f64, below: Duration },
    Errors { below_percent: f64 },
    Rate { above: f64 },
}

fn duration(raw: &str) -> anyhow::Result<Duration> {
    let (number, unit) = raw.split_at(
        raw.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(raw.len()),
    );
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("not a duration: {raw}"))?;
    let secs = match unit {
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        _ => anyhow::bail!("unit of {raw} must be us, ms or s"),
    };
    anyhow::ensure!(secs >= 0.0, "negative duration {raw}");
    Ok(Duration::from_secs_f64(secs))
}

impl std::str::FromStr for Threshold {
    type Err = anyhow::Error;

    fn from_str(raw: &str) -> anyhow::Result<Self> {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("errors<") {
            let percent: f64 = rest.trim_end_matches('%').parse()?;
            return Ok(Self::Errors {
                below_percent: percent,
            });
        }
        if let Some(rest) = raw.strip_prefix("rate>") {
            return Ok(Self::Rate {
                above: rest.trim_end_matches("/s").parse()?,
            });
        }
        if let Some(rest) = raw.strip_prefix("max<") {
            return Ok(Self::Percentile {
                p: 100.0,
                below: duration(rest)?,
            });
        }
        if let Some(rest) = raw.strip_prefix('p') {
            let (p, limit) = rest
                .split_once('<')
                .ok_or_else(|| anyhow::anyhow!("expected pNN<duration: {raw}"))?;
            let p: f64 = p.parse()?;
            anyhow::ensure!((0.0..=100.0).contains(&p), "percentile out of range: {raw}");
            return Ok(Self::Percentile {
                p,
                below: duration(limit)?,
            });
        }
        anyhow::bail!("unknown threshold {raw:?} (try p99<50ms, errors<1%, rate>100)")
    }
}

impl Threshold {
    /// (held, what was measured).
    pub fn check(&self, s: &Summary) -> (bool, String) {
        match self {
            Self::Percentile { p, below } => {
                let v = s.percentile(*p);
                (v < *below, format!("p{p}={}", ms(v)))
            }
            Self::Errors { below_percent } => {
                let v = s.error_rate() * 100.0;
                (v < *below_percent, format!("errors={v:.2}%"))
            }
            Self::Rate { above } => {
                let v = s.rate();
                (v > *above, format!("rate={v:.1}/s"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_judge() {
        let mut s = Summary::default();
        for us in [1_000, 2_000, 3_000, 40_000] {
            s.latency_us.record(us).unwrap();
        }
        s.statuses.insert(200, 3);
        s.statuses.insert(503, 1);
        s.elapsed = Duration::from_secs(1);
        let t: Threshold = "p99<50ms".parse().unwrap();
        assert!(t.check(&s).0);
        let t: Threshold = "p50<1ms".parse().unwrap();
        assert!(!t.check(&s).0);
        let t: Threshold = "errors<1%".parse().unwrap();
        assert!(!t.check(&s).0, "25% errors");
        let t: Threshold = "errors<30%".parse().unwrap();
        assert!(t.check(&s).0);
        assert!("rate>3".parse::<Threshold>().unwrap().check(&s).0);
        assert!(!"max<39ms".parse::<Threshold>().unwrap().check(&s).0);
        assert!("p99<fast".parse::<Threshold>().is_err());
        assert!("bogus".parse::<Threshold>().is_err());
        assert!(
            s.to_string()
                .contains("http_status...............: 200=3 503=1")
        );
    }
}
