//! docs/performance.md's figures, made from the newest report: `make bench` rewrites the block
//! between the markers after writing `bench/results/<date>.md`, and a test fails when the page
//! and the newest report differ.

use std::path::{Path, PathBuf};

pub const BEGIN: &str = "<!-- bench:begin: written by `make bench` from the newest report in bench/results; a test fails when they differ -->";
pub const END: &str = "<!-- bench:end -->";

/// The report sections the page shows, by their heading.
const SECTIONS: [&str; 4] = [
    "## Goals",
    "## Purchase, Lambda-shaped",
    "## The handler's CPU per purchase",
    "## Memory size",
];

/// The newest report `make bench` wrote (`<dir>/YYYY-MM-DD.md`): its file name and text.
pub fn newest_report(dir: &Path) -> anyhow::Result<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_report_name(n))
        .collect();
    names.sort();
    let name = names
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no report in {}", dir.display()))?;
    let text = std::fs::read_to_string(dir.join(&name))?;
    Ok((name, text))
}

/// `YYYY-MM-DD.md`: what `Report::write` names a run (not `…-keys.md` and other studies).
fn is_report_name(name: &str) -> bool {
    let Some(date) = name.strip_suffix(".md") else {
        return false;
    };
    date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        })
}

/// The page's block for the report `name` with text `report`: a link to it, then its
/// [`SECTIONS`], headings one level down.
pub fn block(name: &str, report: &str) -> String {
    let mut out = format!(
        "Newest run: [`bench/results/{name}`](../bench/results/{name}) (its goals, Lambda-shaped \
         tables, handler CPU and memory table below are copied from it).\n"
    );
    for heading in SECTIONS {
        if let Some(section) = section(report, heading) {
            out.push('\n');
            for line in section.lines() {
                if line.starts_with('#') {
                    out.push('#');
                }
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The section of `report` whose heading starts with `heading`, up to the next `## ` heading
/// (trailing blank lines dropped).
fn section<'a>(report: &'a str, heading: &str) -> Option<&'a str> {
    let start = report
        .match_indices(heading)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || report[..i].ends_with('\n'))?;
    let rest = &report[start..];
    let end = rest[1..].find("\n## ").map(|i| i + 2).unwrap_or(rest.len());
    Some(rest[..end].trim_end())
}

/// The page's text with its block replaced by `block`.
pub fn with_block(page: &str, block: &str) -> anyhow::Result<String> {
    let (before, rest) = page
        .split_once(BEGIN)
        .ok_or_else(|| anyhow::anyhow!("docs/performance.md has no `{BEGIN}` line"))?;
    let (_, after) = rest
        .split_once(END)
        .ok_or_else(|| anyhow::anyhow!("docs/performance.md has no `{END}` line"))?;
    Ok(format!("{before}{BEGIN}\n{block}{END}{after}"))
}

/// The block now on the page.
pub fn current_block(page: &str) -> Option<&str> {
    let (_, rest) = page.split_once(BEGIN)?;
    let (block, _) = rest.split_once(END)?;
    Some(block.strip_prefix('\n').unwrap_or(block))
}

/// Rewrites docs/performance.md's block from the newest report under `root`.
pub fn update(root: &Path) -> anyhow::Result<PathBuf> {
    let (name, report) = newest_report(&root.join("bench/results"))?;
    let page_path = root.join("docs/performance.md");
    let page = std::fs::read_to_string(&page_path)?;
    let block = block(&name, &report);
    if current_block(&page) != Some(block.as_str()) {
        std::fs::write(&page_path, with_block(&page, &block)?)?;
    }
    Ok(page_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_performance_page_shows_the_newest_report() {
        let root = root();
        let (name, report) = newest_report(&root.join("bench/results")).unwrap();
        let page = std::fs::read_to_string(root.join("docs/performance.md")).unwrap();
        let shown = current_block(&page).expect("docs/performance.md has its bench block");
        assert!(
            shown == block(&name, &report),
            "docs/performance.md does not show bench/results/{name}: `make bench` rewrites the \
             block (or put the newest report's sections back)"
        );
    }

    #[test]
    fn the_block_copies_the_goals_the_lambda_shaped_handler_and_memory_sections_only() {
        let report = "# Benchmarks, 2030-01-02\n\nintro\n\n| a | b |\n\n## Goals\n\n| goal | met |\n\n\
                      ## Purchase, Lambda-shaped: N\n\ntext\n\n### Keys\n\n| k |\n\n\
                      ## The handler's CPU per purchase: x\n\n| h |\n\n## Memory size: y\n\n| m |\n\n\
                      ## Cold init\n\ncold\n";
        let b = block("2030-01-02.md", report);
        assert_eq!(
            b,
            "Newest run: [`bench/results/2030-01-02.md`](../bench/results/2030-01-02.md) (its goals, \
             Lambda-shaped tables, handler CPU and memory table below are copied from it).\n\n\
             ### Goals\n\n| goal | met |\n\n### Purchase, Lambda-shaped: N\n\ntext\n\n#### Keys\n\n\
             | k |\n\n### The handler's CPU per purchase: x\n\n| h |\n\n### Memory size: y\n\n| m |\n"
        );
        let page = format!("# P\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n");
        let new = with_block(&page, &b).unwrap();
        assert_eq!(current_block(&new), Some(b.as_str()));
        assert!(new.starts_with("# P\n\nbefore\n\n") && new.ends_with("\n\nafter\n"));
        assert!(is_report_name("2026-12-04.md"));
        assert!(!is_report_name("2026-12-02-keys.md") && !is_report_name("2026-12-04-latency.svg"));
    }
}
