//! The benchmark table, its markdown file and the latency plot.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use donut_load::Summary;

pub enum Kind {
    /// ours ÷ baseline, met when ≥ goal.
    Ratio {
        baseline: f64,
        goal: Option<f64>,
    },
    /// ours next to the baseline's figure, met when ours == goal.
    Compare {
        baseline: f64,
        goal: Option<f64>,
    },
    /// ours against a ceiling.
    Goal {
        at_most: f64,
    },
    Missing {
        why: String,
    },
}

pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub kind: Kind,
}

impl Figure {
    pub fn ratio(
        name: &str,
        value: f64,
        baseline: f64,
        unit: &'static str,
        goal: Option<f64>,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            kind: Kind::Ratio { baseline, goal },
        }
    }
    pub fn compare(
        name: &str,
        value: f64,
        baseline: f64,
        unit: &'static str,
        goal: Option<f64>,
    ) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            kind: Kind::Compare { baseline, goal },
        }
    }
    pub fn goal(name: &str, value: f64, unit: &'static str, at_most: f64) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            kind: Kind::Goal { at_most },
        }
    }
    pub fn missing(name: &str, why: &str) -> Self {
        Self {
            name: name.into(),
            value: f64::NAN,
            unit: "",
            kind: Kind::Missing { why: why.into() },
        }
    }

    /// (ours, baseline, ratio, goal, met)
    fn cells(&self) -> [String; 5] {
        let v = |x: f64| {
            if x.abs() >= 100.0 {
                format!("{x:.0} {}", self.unit)
            } else {
                format!("{x:.2} {}", self.unit)
            }
        };
        match &self.kind {
            Kind::Ratio { baseline, goal } => {
                let ratio = self.value / baseline;
                [
                    v(self.value),
                    v(*baseline),
                    format!("{ratio:.2}"),
                    goal.map(|g| format!("≥ {g}")).unwrap_or_else(|| "—".into()),
                    goal.map(|g| mark(ratio >= g)).unwrap_or_else(|| "—".into()),
                ]
            }
            Kind::Compare { baseline, goal } => [
                v(self.value),
                v(*baseline),
                if self.value != 0.0 {
                    format!("{:.3}", self.value / baseline)
                } else {
                    "—".into()
                },
                goal.map(|g| format!("= {g}")).unwrap_or_else(|| "—".into()),
                goal.map(|g| mark(self.value == g))
                    .unwrap_or_else(|| "—".into()),
            ],
            Kind::Goal { at_most } => [
                v(self.value),
                "—".into(),
                "—".into(),
                format!("≤ {at_most} {}", self.unit),
                mark(self.value <= *at_most),
            ],
            Kind::Missing { why } => ["—".into(), "—".into(), "—".into(), "—".into(), why.clone()],
        }
    }
}

fn mark(ok: bool) -> String {
    if ok { "met".into() } else { "NOT met".into() }
}

pub struct Report {
    pub figures: Vec<Figure>,
    pub latency: Vec<(&'static str, Summary)>,
}

impl Report {
    pub fn new() -> Self {
        Self {
            figures: Vec::new(),
            latency: Vec::new(),
        }
    }

    pub fn table(&self) -> String {
        let mut out = String::from(
            "| figure | ours | baseline | ratio | goal | |\n|---|---|---|---|---|---|\n",
        );
        for f in &self.figures {
            let [a, b, c, d, e] = f.cells();
            let _ = writeln!(out, "| {} | {a} | {b} | {c} | {d} | {e} |", f.name);
        }
        out.push_str("\n| purchase path (32 concurrent) | req/s | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|\n");
        for (name, s) in &self.latency {
            let ms = |p: f64| format!("{:.2} ms", s.percentile(p).as_secs_f64() * 1000.0);
            let _ = writeln!(
                out,
                "| {name} | {:.0} | {} | {} | {} | {} |",
                s.rate(),
                ms(50.0),
                ms(90.0),
                ms(99.0),
                ms(100.0)
            );
        }
        out
    }

    /// Writes `<dir>/<date>.md` and `<dir>/<date>-latency.svg`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let now = time::OffsetDateTime::now_utc();
        let date = format!(
            "{:04}-{:02}-{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        let svg = dir.join(format!("{date}-latency.svg"));
        std::fs::write(&svg, self.svg())?;
        let md = dir.join(format!("{date}.md"));
        let machine = format!(
            "{} cores, {}",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(
                    |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                        .split(':')
                        .nth(1)
                        .unwrap_or("")
                        .trim()
                        .to_owned())
                )
                .unwrap_or_else(|| "unknown CPU".into())
        );
        std::fs::write(
            &md,
            format!(
                "# Benchmarks, {date}\n\nMachine: {machine}. Command: `make bench`. Every baseline ran in the same \
                 process, on the same database, at the same concurrency.\n\n{}\n![latency](./{date}-latency.svg)\n",
                self.table()
            ),
        )?;
        Ok(vec![md, svg])
    }

    /// Latency percentiles of the purchase paths, as grouped bars.
    fn svg(&self) -> String {
        let percentiles = [50.0, 90.0, 95.0, 99.0];
        let colors = ["#d2691e", "#4682b4", "#8fbc8f"];
        let max = self
            .latency
            .iter()
            .flat_map(|(_, s)| {
                percentiles
                    .iter()
                    .map(move |p| s.percentile(*p).as_secs_f64() * 1000.0)
            })
            .fold(0.1, f64::max);
        let (w, h, left, bottom) = (640.0, 320.0, 60.0, 40.0);
        let mut svg = format!(
            "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='12'>\n\
             <text x='{left}' y='16'>purchase latency by percentile (ms, 32 concurrent)</text>\n"
        );
        let plot_h = h - bottom - 30.0;
        let group_w = (w - left - 20.0) / percentiles.len() as f64;
        let bar_w = group_w / (self.latency.len() as f64 + 1.0);
        for (gi, p) in percentiles.iter().enumerate() {
            let gx = left + gi as f64 * group_w;
            let _ = writeln!(
                svg,
                "<text x='{:.0}' y='{:.0}'>p{p}</text>",
                gx + group_w / 3.0,
                h - bottom + 18.0
            );
            for (si, (_, s)) in self.latency.iter().enumerate() {
                let v = s.percentile(*p).as_secs_f64() * 1000.0;
                let bh = v / max * plot_h;
                let x = gx + si as f64 * bar_w;
                let y = h - bottom - bh;
                let _ = writeln!(
                    svg,
                    "<rect x='{x:.1}' y='{y:.1}' width='{:.1}' height='{bh:.1}' fill='{}'><title>{v:.2} ms</title></rect>",
                    bar_w * 0.9,
                    colors[si % colors.len()]
                );
            }
        }
        let _ = writeln!(
            svg,
            "<line x1='{left}' y1='{:.0}' x2='{:.0}' y2='{:.0}' stroke='black'/>",
            h - bottom,
            w - 20.0,
            h - bottom
        );
        let _ = writeln!(
            svg,
            "<text x='4' y='{:.0}'>{max:.1} ms</text>",
            h - bottom - plot_h + 4.0
        );
        for (si, (name, _)) in self.latency.iter().enumerate() {
            let y = 34.0 + si as f64 * 16.0;
            let _ = writeln!(
                svg,
                "<rect x='{:.0}' y='{:.0}' width='10' height='10' fill='{}'/><text x='{:.0}' y='{:.0}'>{name}</text>",
                w - 250.0,
                y - 9.0,
                colors[si % colors.len()],
                w - 235.0,
                y
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}
