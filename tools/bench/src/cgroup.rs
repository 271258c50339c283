//! The CPU a Lambda instance gets for its memory size, as a cgroup CPU quota (the memory table).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// The CPU a Lambda instance gets for its memory size, as a CFS bandwidth quota on a cgroup of
/// its own. "Lambda allocates CPU power in proportion to the amount of memory configured … At
/// 1,769 MB, a function has the equivalent of one vCPU" (Lambda Developer Guide, "Configure
/// Lambda function memory", docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html):
/// `memory_mb ÷ 1769` of one CPU per period, the kernel's default period of 100 ms (Lambda's
/// own period is not published). cgroup v1 (`/sys/fs/cgroup/cpu`, `cpu.cfs_quota_us`) or v2
/// (`cpu.max`); it needs root.
pub struct CpuQuota {
    dir: PathBuf,
}

/// One vCPU's worth of memory (the Lambda Developer Guide, above).
pub const MB_PER_VCPU: u32 = 1769;
const PERIOD_US: u64 = 100_000;

impl CpuQuota {
    pub fn for_memory(memory_mb: u32) -> anyhow::Result<Self> {
        let quota_us = quota_us(memory_mb);
        let name = format!("donut-bench-{memory_mb}mb-{}", std::process::id());
        let v1 = Path::new("/sys/fs/cgroup/cpu");
        let (dir, files): (PathBuf, Vec<(&str, String)>) = if v1.join("cpu.cfs_quota_us").exists() {
            (
                v1.join(&name),
                vec![
                    ("cpu.cfs_period_us", PERIOD_US.to_string()),
                    ("cpu.cfs_quota_us", quota_us.to_string()),
                ],
            )
        } else {
            // cgroup v2: the root hands the cpu controller to its children (as a systemd
            // machine does already; a container may not let it).
            let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpu");
            (
                Path::new("/sys/fs/cgroup").join(&name),
                vec![("cpu.max", format!("{quota_us} {PERIOD_US}"))],
            )
        };
        std::fs::create_dir_all(&dir).with_context(|| {
            format!(
                "cannot make the cgroup {} (the memory table needs root and a cpu controller)",
                dir.display()
            )
        })?;
        // Removed on drop from here on, whatever fails next.
        let quota = Self { dir };
        for (file, value) in files {
            let path = quota.dir.join(file);
            std::fs::write(&path, &value)
                .with_context(|| format!("cannot write {value} to {}", path.display()))?;
        }
        Ok(quota)
    }

    /// Moves `pid` (every thread of it) into the cgroup.
    pub fn add(&self, pid: u32) -> anyhow::Result<()> {
        std::fs::write(self.dir.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("cannot move {pid} into {}", self.dir.display()))
    }
}

/// The CPU time per [`PERIOD_US`] a `memory_mb` function gets, µs.
fn quota_us(memory_mb: u32) -> u64 {
    u64::from(memory_mb) * PERIOD_US / u64::from(MB_PER_VCPU)
}

impl Drop for CpuQuota {
    /// Removes the cgroup, once the processes in it are gone (a killed one may take a moment).
    fn drop(&mut self) {
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The memory table cannot run here: no cgroup with a CPU quota could be made (not root, or
/// no cpu controller).
#[derive(Debug)]
pub struct NoCgroup(anyhow::Error);

impl std::fmt::Display for NoCgroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for NoCgroup {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_gets_its_share_of_one_cpu() {
        assert_eq!(quota_us(1769), 100_000, "one vCPU at 1 769 MB");
        assert_eq!(quota_us(128), 7_235);
        assert_eq!(quota_us(1024), 57_885);
        assert_eq!(quota_us(3538), 200_000, "two at twice the size");
    }
}
