//! The benchmark table, its markdown file and the latency plot.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use donut_load::Summary;

use crate::cold_start::ColdInit;
use crate::handler_cpu::HandlerPoint;
use crate::lambda_shape::{Point, Run};
use crate::memory::MemoryRow;

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

/// One tool's summary of the same load scenario.
pub struct ToolRun {
    pub tool: String,
    pub requests: u64,
    pub rate: f64,
    pub p95: Duration,
    pub failure_rate: f64,
}

pub struct Report {
    pub figures: Vec<Figure>,
    pub latency: Vec<(&'static str, Summary)>,
    pub lambda: Vec<Point>,
    /// The order row's costs: (orders table variant, the minimal purchase on it), at N = 32.
    pub trims: Vec<(&'static str, Run)>,
    /// What the sale does beyond the minimal purchase: (part, its run), at N = 32, the first
    /// the minimal purchase itself (`lambda_shape::PARTS`).
    pub parts: Vec<(&'static str, Run)>,
    pub cold: Vec<ColdInit>,
    /// The handler's CPU per purchase, sales-api and the minimal handler as Lambda instances.
    pub handler: Vec<HandlerPoint>,
    /// One instance of each HTTP function under each memory size's CPU share.
    pub memory: Vec<MemoryRow>,
    /// Why the memory table is missing, when it is.
    pub memory_note: String,
    /// The same scenario driven by donut-load and by a second tool.
    pub second_opinion: Vec<ToolRun>,
    pub second_opinion_note: String,
}

/// Picks one path's run out of a Lambda-shaped point.
type PathOf = fn(&Point) -> &Run;

/// The Lambda-shaped goals at N = 32 through HTTP.
const GOAL_N: usize = 32;
const GOAL_RATIO: f64 = 0.8;
const GOAL_P99: f64 = 1.5;
/// The warehouse adapter alone against the minimal purchase: with the reorder rule out of SQL
/// the common sale runs what the minimal purchase runs.
const GOAL_STORE_RATIO: f64 = 0.95;
/// The database server's CPU per sale (the warehouse adapter alone, no key) against the
/// minimal purchase's, at most.
const GOAL_SERVER_CPU: f64 = 1.1;
/// A key's cost: the keyed path's throughput against the same without a key, at least.
const GOAL_KEY_RATIO: f64 = 0.9;
/// The sales function's CPU per purchase against the minimal handler's, at most (N ≤ 32).
const GOAL_HANDLER_CPU: f64 = 1.25;
const GOAL_COLD_RATIO: f64 = 1.3;
const GOAL_COLD_MS: f64 = 15.0;

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn cpu(run: &Run) -> String {
    run.cpu_per_op
        .map(|d| format!("{:.0} µs", d.as_secs_f64() * 1e6))
        .unwrap_or_else(|| "—".into())
}

/// `run`'s CPU per purchase ÷ `baseline`'s, when both are known.
fn cpu_ratio(run: &Run, baseline: &Run) -> Option<f64> {
    match (run.cpu_per_op, baseline.cpu_per_op) {
        (Some(a), Some(b)) if !b.is_zero() => Some(a.as_secs_f64() / b.as_secs_f64()),
        _ => None,
    }
}

/// Mean time one instance spends per purchase: N ÷ throughput.
fn per_purchase(run: &Run, n: usize) -> f64 {
    n as f64 / run.summary.rate() * 1000.0
}

impl Report {
    pub fn new() -> Self {
        Self {
            figures: Vec::new(),
            latency: Vec::new(),
            lambda: Vec::new(),
            trims: Vec::new(),
            parts: Vec::new(),
            cold: Vec::new(),
            handler: Vec::new(),
            memory: Vec::new(),
            memory_note: String::new(),
            second_opinion: Vec::new(),
            second_opinion_note: String::new(),
        }
    }

    /// Every goal of the run: (what, figure, target, met).
    pub fn goals(&self) -> Vec<(String, String, String, bool)> {
        let mut goals = Vec::new();
        for f in &self.figures {
            let [ours, _, ratio, target, met] = f.cells();
            let figure = match f.kind {
                Kind::Ratio { .. } => format!("{ratio} ({ours})"),
                _ => ours,
            };
            if met == "met" || met == "NOT met" {
                goals.push((f.name.clone(), figure, target, met == "met"));
            }
        }
        if let Some(p) = self.lambda.iter().find(|p| p.instances == GOAL_N) {
            let rate = |r: &Run| r.summary.rate();
            let mut ratio = |what: &str, value: f64, at_least: f64| {
                goals.push((
                    format!("N = {GOAL_N}: {what}"),
                    format!("{value:.2}"),
                    format!("≥ {at_least}"),
                    value >= at_least,
                ))
            };
            ratio(
                "through HTTP ÷ the minimal purchase, throughput",
                rate(&p.http) / rate(&p.minimal),
                GOAL_RATIO,
            );
            ratio(
                "the warehouse alone ÷ the minimal purchase, throughput",
                rate(&p.store) / rate(&p.minimal),
                GOAL_STORE_RATIO,
            );
            ratio(
                "the handler fed the event ÷ the minimal purchase, throughput",
                rate(&p.handler) / rate(&p.minimal),
                GOAL_RATIO,
            );
            ratio(
                "with a key ÷ without, through HTTP, throughput",
                rate(&p.http_keyed) / rate(&p.http),
                GOAL_KEY_RATIO,
            );
            ratio(
                "with a key ÷ without, the warehouse alone, throughput",
                rate(&p.store_keyed) / rate(&p.store),
                GOAL_KEY_RATIO,
            );
            let p99 = p.http.summary.percentile(99.0).as_secs_f64()
                / p.minimal.summary.percentile(99.0).as_secs_f64();
            goals.push((
                format!("N = {GOAL_N}: p99 through HTTP ÷ the minimal purchase's"),
                format!("{p99:.2}"),
                format!("≤ {GOAL_P99}"),
                p99 <= GOAL_P99,
            ));
            if let Some(cpu) = cpu_ratio(&p.store, &p.minimal) {
                goals.push((
                    format!(
                        "N = {GOAL_N}: database server CPU per sale, the warehouse alone ÷ the minimal purchase"
                    ),
                    format!("{cpu:.2}"),
                    format!("≤ {GOAL_SERVER_CPU}"),
                    cpu <= GOAL_SERVER_CPU,
                ));
            }
        }
        for p in self.handler.iter().filter(|p| p.instances <= GOAL_N) {
            if let Some(ratio) = cpu_ratio(&p.ours, &p.minimal) {
                goals.push((
                    format!(
                        "N = {}: the handler's CPU per purchase, sales-api ÷ the minimal handler",
                        p.instances
                    ),
                    format!("{ratio:.2}"),
                    format!("≤ {GOAL_HANDLER_CPU}"),
                    ratio <= GOAL_HANDLER_CPU,
                ));
            }
        }
        for c in &self.cold {
            let ratio = c.median.as_secs_f64() / c.echo.as_secs_f64();
            goals.push((
                format!("cold init, {} ÷ echo", c.function.name()),
                format!("{ratio:.2} ({})", ms(c.median)),
                format!("≤ {GOAL_COLD_RATIO} and ≤ {GOAL_COLD_MS} ms"),
                ratio <= GOAL_COLD_RATIO && c.median.as_secs_f64() * 1000.0 <= GOAL_COLD_MS,
            ));
        }
        goals
    }

    /// The goals, the Lambda-shaped tables, the trim study, cold init and the second opinion.
    pub fn lambda_tables(&self) -> String {
        let mut out = String::new();
        let goals = self.goals();
        if !goals.is_empty() {
            let met = goals.iter().filter(|g| g.3).count();
            let _ = writeln!(
                out,
                "\n## Goals\n\n{met} of {} met.\n\n| goal | figure | target | |\n|---|---|---|---|",
                goals.len()
            );
            for (what, figure, target, ok) in &goals {
                let _ = writeln!(out, "| {what} | {figure} | {target} | {} |", mark(*ok));
            }
        }
        if !self.lambda.is_empty() {
            out.push_str(
                "\n## Purchase, Lambda-shaped: N instances, one connection each, one request at a time\n\n\
                 ours = HTTP → local API Gateway → sales handler → warehouse; minimal = conditional UPDATE + order \
                 row, one transaction, one round trip; bare = the conditional UPDATE alone. Same run, same database; each cell is the \
                 median-throughput run of 3, the paths interleaved.\n\n\
                 | N | ours req/s | minimal req/s | bare req/s | ratio (minimal) | ratio (bare) | p99 ours | p99 minimal |\n\
                 |---|---|---|---|---|---|---|---|\n",
            );
            for p in &self.lambda {
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} |",
                    p.instances,
                    p.http.summary.rate(),
                    p.minimal.summary.rate(),
                    p.bare.summary.rate(),
                    p.http.summary.rate() / p.minimal.summary.rate(),
                    p.http.summary.rate() / p.bare.summary.rate(),
                    ms(p.http.summary.percentile(99.0)),
                    ms(p.minimal.summary.percentile(99.0)),
                );
            }
            if let Some(p) = self.lambda.iter().find(|p| p.instances == GOAL_N) {
                let ratio = p.http.summary.rate() / p.minimal.summary.rate();
                let p99 = p.http.summary.percentile(99.0).as_secs_f64()
                    / p.minimal.summary.percentile(99.0).as_secs_f64();
                let _ = writeln!(
                    out,
                    "\nGoal at N = {GOAL_N} through HTTP: ratio (minimal) {ratio:.2} (≥ {GOAL_RATIO}: {}), \
                     p99 {p99:.2}× the minimal purchase's (≤ {GOAL_P99}×: {}).",
                    mark(ratio >= GOAL_RATIO),
                    mark(p99 <= GOAL_P99)
                );
                let store = p.store.summary.rate() / p.minimal.summary.rate();
                let handler = p.handler.summary.rate() / p.minimal.summary.rate();
                let _ = writeln!(
                    out,
                    "Goal at N = {GOAL_N} without HTTP: the warehouse alone {store:.2} of the minimal \
                     purchase's throughput (≥ {GOAL_STORE_RATIO}: {}), the handler fed the event \
                     {handler:.2} (≥ {GOAL_RATIO}: {}).",
                    mark(store >= GOAL_STORE_RATIO),
                    mark(handler >= GOAL_RATIO)
                );
                if let Some(cpu) = cpu_ratio(&p.store, &p.minimal) {
                    let _ = writeln!(
                        out,
                        "Goal at N = {GOAL_N} on the database server: CPU per sale (warehouse alone) \
                         {cpu:.2}× the minimal purchase's (≤ {GOAL_SERVER_CPU}×: {}).",
                        mark(cpu <= GOAL_SERVER_CPU)
                    );
                }
            }
            out.push_str(
                "\n### Where the gap goes (mean time per purchase in one instance = N ÷ throughput)\n\n\
                 database = our procedure (warehouse adapter alone) − minimal; handler = handler fed the event − \
                 warehouse alone; HTTP = through the gateway − handler alone.\n\n\
                 | N | minimal | warehouse alone | handler alone | through HTTP | database | handler | HTTP | server CPU per purchase: HTTP / warehouse alone / minimal / bare | server CPU: warehouse alone ÷ minimal |\n\
                 |---|---|---|---|---|---|---|---|---|---|\n",
            );
            for p in &self.lambda {
                let n = p.instances;
                let (m, st, h, x) = (
                    per_purchase(&p.minimal, n),
                    per_purchase(&p.store, n),
                    per_purchase(&p.handler, n),
                    per_purchase(&p.http, n),
                );
                let _ = writeln!(
                    out,
                    "| {n} | {m:.3} ms | {st:.3} ms | {h:.3} ms | {x:.3} ms | {:+.3} ms | {:+.3} ms | {:+.3} ms | {} / {} / {} / {} | {} |",
                    st - m,
                    h - st,
                    x - h,
                    cpu(&p.http),
                    cpu(&p.store),
                    cpu(&p.minimal),
                    cpu(&p.bare),
                    cpu_ratio(&p.store, &p.minimal)
                        .map(|r| format!("{r:.2}"))
                        .unwrap_or_else(|| "—".into()),
                );
            }
        }
        if !self.lambda.is_empty() {
            out.push_str(
                "\n### With an Idempotency-Key (each purchase a new key)\n\n\
                 Through HTTP (the Lambda-shaped path above), and the warehouse adapter alone (where the key's \
                 database work is the largest share).\n\n\
                 | N | HTTP without req/s | HTTP with req/s | ratio | p99 without | p99 with | warehouse without req/s | warehouse with req/s | ratio | server CPU per purchase (HTTP): without / with | (warehouse alone): without / with |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|\n",
            );
            for p in &self.lambda {
                let _ = writeln!(
                    out,
                    "| {} | {:.0} | {:.0} | {:.2} | {} | {} | {:.0} | {:.0} | {:.2} | {} / {} | {} / {} |",
                    p.instances,
                    p.http.summary.rate(),
                    p.http_keyed.summary.rate(),
                    p.http_keyed.summary.rate() / p.http.summary.rate(),
                    ms(p.http.summary.percentile(99.0)),
                    ms(p.http_keyed.summary.percentile(99.0)),
                    p.store.summary.rate(),
                    p.store_keyed.summary.rate(),
                    p.store_keyed.summary.rate() / p.store.summary.rate(),
                    cpu(&p.http),
                    cpu(&p.http_keyed),
                    cpu(&p.store),
                    cpu(&p.store_keyed),
                );
            }
            if let Some(p) = self.lambda.iter().find(|p| p.instances == GOAL_N) {
                let ratio = p.http_keyed.summary.rate() / p.http.summary.rate();
                let alone = p.store_keyed.summary.rate() / p.store.summary.rate();
                let _ = writeln!(
                    out,
                    "\nGoal at N = {GOAL_N}: a key costs at most 10 % of throughput: {ratio:.2} through HTTP (≥ {GOAL_KEY_RATIO}: {}); \
                     the warehouse alone {alone:.2} (≥ {GOAL_KEY_RATIO}: {}).",
                    mark(ratio >= GOAL_KEY_RATIO),
                    mark(alone >= GOAL_KEY_RATIO)
                );
            }
        }
        if !self.trims.is_empty() {
            out.push_str(
                "\n### What the order row costs (minimal purchase, N = 32, one orders table each, median of 3 interleaved runs)\n\n\
                 | orders table | req/s | p99 | server CPU per purchase |\n|---|---|---|---|\n",
            );
            for (what, run) in &self.trims {
                let _ = writeln!(
                    out,
                    "| {what} | {:.0} | {} | {} |",
                    run.summary.rate(),
                    ms(run.summary.percentile(99.0)),
                    cpu(run)
                );
            }
        }
        if let Some((_, minimal)) = self.parts.first() {
            out.push_str(
                "\n### What the sale does beyond the minimal purchase (N = 32, median of 3 interleaved runs, \
                 the functions' user)\n\n\
                 Each part is the minimal purchase plus one thing the previous sale (`donut_sell_v5`) does; \
                 then the previous sale and the current one (`donut_sell_v6`), whole, without a key.\n\n\
                 | procedure | req/s | ÷ minimal | server CPU per purchase | ÷ minimal |\n|---|---|---|---|---|\n",
            );
            for (what, run) in &self.parts {
                let _ = writeln!(
                    out,
                    "| {what} | {:.0} | {:.2} | {} | {} |",
                    run.summary.rate(),
                    run.summary.rate() / minimal.summary.rate(),
                    cpu(run),
                    cpu_ratio(run, minimal)
                        .map(|r| format!("{r:.2}"))
                        .unwrap_or_else(|| "—".into()),
                );
            }
        }
        if !self.handler.is_empty() {
            out.push_str(&self.handler_table());
        }
        if !self.memory.is_empty() || !self.memory_note.is_empty() {
            out.push_str(&self.memory_table());
        }
        if !self.cold.is_empty() {
            out.push_str(
                "\n## Cold init beside the smallest lambda_runtime function (echo)\n\n\
                 exec → first `/next` on a Runtime API stub, median of 21 starts, echo started in turn with them; \
                 x86_64 release binaries (the same code as the arm64 zips).\n\n\
                 | function | init | echo | ratio | goal | |\n|---|---|---|---|---|---|\n",
            );
            for c in &self.cold {
                let ratio = c.median.as_secs_f64() / c.echo.as_secs_f64();
                let absolute = c.median.as_secs_f64() * 1000.0;
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {ratio:.2} | ≤ {GOAL_COLD_RATIO}× and ≤ {GOAL_COLD_MS} ms | {} |",
                    c.function.name(),
                    ms(c.median),
                    ms(c.echo),
                    mark(ratio <= GOAL_COLD_RATIO && absolute <= GOAL_COLD_MS)
                );
            }
        }
        if !self.second_opinion.is_empty() {
            out.push_str(
                "\n## A second opinion on the same scenario\n\n\
                 | tool | requests | req/s | p95 | failure rate |\n|---|---|---|---|---|\n",
            );
            for t in &self.second_opinion {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.0} | {} | {:.2} % |",
                    t.tool,
                    t.requests,
                    t.rate,
                    ms(t.p95),
                    t.failure_rate * 100.0
                );
            }
            if !self.second_opinion_note.is_empty() {
                let _ = writeln!(out, "\n{}", self.second_opinion_note);
            }
        }
        out
    }

    /// The handler's CPU per purchase (`handler_cpu`).
    fn handler_table(&self) -> String {
        let mut out = String::from(
            "\n## The handler's CPU per purchase: sales-api beside a minimal handler, each instance a process\n\n\
             N instances of each function's release binary, each a process polling a Runtime API of its own, \
             handed API Gateway's event for `POST /orders` one at a time; minimal = `lambda_http`, serde, one \
             `CALL` of the minimal purchase, a JSON log line at INFO. CPU = the processes' CPU time (every live \
             thread, user and system) over the run ÷ purchases; the database server's is not in it. Each cell \
             is the median-throughput run of 3, the paths interleaved.\n\n\
             | N | ours req/s | with a key req/s | minimal req/s | CPU per purchase: ours / with a key / minimal | ours ÷ minimal | with a key ÷ minimal |\n\
             |---|---|---|---|---|---|---|\n",
        );
        let ratio = |a: &Run, b: &Run| {
            cpu_ratio(a, b)
                .map(|r| format!("{r:.2}"))
                .unwrap_or_else(|| "—".into())
        };
        for p in &self.handler {
            let _ = writeln!(
                out,
                "| {} | {:.0} | {:.0} | {:.0} | {} / {} / {} | {} | {} |",
                p.instances,
                p.ours.summary.rate(),
                p.ours_keyed.summary.rate(),
                p.minimal.summary.rate(),
                cpu(&p.ours),
                cpu(&p.ours_keyed),
                cpu(&p.minimal),
                ratio(&p.ours, &p.minimal),
                ratio(&p.ours_keyed, &p.minimal),
            );
        }
        let _ = writeln!(
            out,
            "\nGoal at N ≤ {GOAL_N}: ours at most {GOAL_HANDLER_CPU}× the minimal handler's CPU per purchase."
        );
        out
    }

    /// The memory table (`memory`).
    fn memory_table(&self) -> String {
        let mut out = format!(
            "\n## Memory size: one instance under each size's CPU share\n\n\
             Each function's release binary as one Lambda instance in a cgroup whose CPU quota is Lambda's share \
             for the size (size ÷ 1769 MB of one CPU per 100 ms period), {} events back to back after {} to warm up. \
             Billed = each event's duration rounded up to 1 ms; cost = billed GB-seconds at ${:.10} and \
             ${:.2} per million requests (eu-west-1, Arm, list prices).\n\n",
            crate::memory::EVENTS,
            crate::memory::WARM_UP,
            crate::memory::PRICE_PER_GB_SECOND,
            crate::memory::PRICE_PER_MILLION_REQUESTS,
        );
        if !self.memory_note.is_empty() {
            let _ = writeln!(out, "{}", self.memory_note);
            return out;
        }
        out.push_str(
            "| function | memory | CPU share | p50 | p99 | CPU per event | billed per event | $ per million events |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.memory {
            let _ = writeln!(
                out,
                "| {} | {} MB | {:.3} vCPU | {} | {} | {:.0} µs | {:.2} ms | ${:.3} |",
                r.function.name(),
                r.memory_mb,
                f64::from(r.memory_mb) / f64::from(crate::cgroup::MB_PER_VCPU),
                ms(r.summary.percentile(50.0)),
                ms(r.summary.percentile(99.0)),
                r.cpu_per_event.as_secs_f64() * 1e6,
                r.billed_ms,
                r.cost_per_million(),
            );
        }
        out
    }

    /// Throughput against N for every path of the Lambda-shaped run.
    fn curve_svg(&self) -> String {
        let series: [(&str, &str, PathOf); 5] = [
            ("ours (HTTP)", "#d2691e", |p| &p.http),
            ("handler alone", "#daa520", |p| &p.handler),
            ("warehouse alone", "#9370db", |p| &p.store),
            ("minimal purchase", "#4682b4", |p| &p.minimal),
            ("bare UPDATE", "#8fbc8f", |p| &p.bare),
        ];
        let max = self
            .lambda
            .iter()
            .flat_map(|p| series.iter().map(move |(_, _, f)| f(p).summary.rate()))
            .fold(1.0, f64::max);
        let (w, h, left, bottom, top) = (640.0, 360.0, 70.0, 40.0, 30.0);
        let plot_w = w - left - 190.0;
        let plot_h = h - bottom - top;
        let n = self.lambda.len().max(2) as f64;
        let x = |i: usize| left + i as f64 / (n - 1.0) * plot_w;
        let y = |v: f64| h - bottom - v / max * plot_h;
        let mut svg = format!(
            "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='12'>\n\
             <text x='{left}' y='16'>purchases/s against instances (one connection each, one request at a time)</text>\n\
             <line x1='{left}' y1='{b}' x2='{r}' y2='{b}' stroke='black'/>\n\
             <line x1='{left}' y1='{top}' x2='{left}' y2='{b}' stroke='black'/>\n\
             <text x='4' y='{t4}'>{max:.0}/s</text><text x='4' y='{b}'>0</text>\n",
            b = h - bottom,
            r = left + plot_w,
            t4 = top + 4.0,
        );
        for (i, p) in self.lambda.iter().enumerate() {
            let _ = writeln!(
                svg,
                "<text x='{:.0}' y='{:.0}'>N={}</text>",
                x(i) - 12.0,
                h - bottom + 18.0,
                p.instances
            );
        }
        for (si, (name, color, f)) in series.iter().enumerate() {
            let points: Vec<String> = self
                .lambda
                .iter()
                .enumerate()
                .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(f(p).summary.rate())))
                .collect();
            let _ = writeln!(
                svg,
                "<polyline fill='none' stroke='{color}' stroke-width='2' points='{}'/>",
                points.join(" ")
            );
            let ly = top + 10.0 + si as f64 * 16.0;
            let _ = writeln!(
                svg,
                "<rect x='{:.0}' y='{:.0}' width='10' height='10' fill='{color}'/><text x='{:.0}' y='{:.0}'>{name}</text>",
                w - 175.0,
                ly - 9.0,
                w - 160.0,
                ly
            );
        }
        svg.push_str("</svg>\n");
        svg
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
        let curve = dir.join(format!("{date}-lambda-shaped.svg"));
        std::fs::write(&curve, self.curve_svg())?;
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
                 process, on the same database, at the same concurrency.\n\n{}\n![latency](./{date}-latency.svg)\n{}\n\
                 ![Lambda-shaped](./{date}-lambda-shaped.svg)\n",
                self.table(),
                self.lambda_tables()
            ),
        )?;
        Ok(vec![md, svg, curve])
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
