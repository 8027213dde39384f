//! Processes: memory from `/proc/<pid>/status`, child processes sampled while they run, and the
//! services started as their real binaries (killed when dropped).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::Context;

/// Resident memory of one process, KiB.
#[derive(Clone, Copy, Debug)]
pub struct Mem {
    /// `VmRSS`: resident now.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident set since start.
    pub hwm_kib: u64,
}

pub fn status(pid: u32) -> Option<Mem> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Mem { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// CPU time a process has spent so far (user + system, all its live threads), from each
/// thread's `/proc/<pid>/task/<tid>/schedstat` (nanoseconds, unlike the 10 ms ticks of `stat`).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Some(total)
}

/// The first process whose command name is `comm` (e.g. RabbitMQ's `beam.smp`).
pub fn find_by_comm(comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
        let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (name.trim() == comm).then_some(pid)
    })
}

/// `pid` and its descendants, from each process's parent in `/proc/<pid>/stat`.
fn tree(pid: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
        // The command name may hold spaces: the fields after its closing parenthesis are fixed.
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if let Some(pp) = ppid {
            parents.push((p, pp));
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// Summed `VmRSS` of `pid` and its descendants, KiB.
pub fn tree_rss(pid: u32) -> u64 {
    tree(pid).into_iter().filter_map(status).map(|m| m.rss_kib).sum()
}

/// Waits for `child`; with `sample`, polls its process tree's RSS every 10 ms and returns the peak.
pub fn wait_sampling(mut child: Child, sample: bool) -> anyhow::Result<(Output, Option<u64>)> {
    if !sample {
        return Ok((child.wait_with_output()?, None));
    }
    let pid = child.id();
    let mut peak = 0;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        peak = peak.max(tree_rss(pid));
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok((child.wait_with_output()?, Some(peak)))
}

/// A service process started by the bench; SIGKILLed on drop.
pub struct Service {
    pub name: String,
    child: Child,
}

impl Service {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn mem(&self) -> Option<Mem> {
        status(self.pid())
    }

    /// Starts `bin` with `args`, its output going to `<log_dir>/<name>.log`.
    pub fn start(name: &str, bin: &Path, args: &[String], log_dir: &Path) -> anyhow::Result<Service> {
        Service::start_with_env(name, bin, args, log_dir, &[])
    }

    /// [`Service::start`] with extra environment variables (`RUST_LOG` is `warn` unless given).
    pub fn start_with_env(
        name: &str,
        bin: &Path,
        args: &[String],
        log_dir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Service> {
        let log = std::fs::File::create(Service::log_path(log_dir, name))?;
        let child = Command::new(bin)
            .args(args)
            .env("RUST_LOG", "warn")
            // As deployed (deploy/Dockerfile): mimalloc hands freed memory back at once.
            .env("MIMALLOC_PURGE_DELAY", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("failed to start {}", bin.display()))?;
        Ok(Service { name: name.into(), child })
    }

    /// Where [`Service::start`] sends the output of the service `name`.
    pub fn log_path(log_dir: &Path, name: &str) -> PathBuf {
        log_dir.join(format!("{name}.log"))
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workspace binary built beside this one (`target/release/<name>`), if it exists.
pub fn sibling_binary(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.join(name);
    path.exists().then_some(path)
}
