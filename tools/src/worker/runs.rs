//! A worker's partition runs: one `ticklane run … --partition N` process per partition it owns,
//! started from the worker's own command line. A process per partition gives each partition
//! its own watermark, acknowledged position and checkpoint, and makes a hand-over a crash the
//! resume path already survives: the run is killed, and the next owner resumes from what was
//! acknowledged (design.md §10).

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

/// Set in a partition run's environment: the run exits at once, without draining, when its
/// standard input closes (its worker is gone; another worker takes the partition over).
pub(crate) const PARENT_ENV: &str = "TICKLANE_WORKER_PARENT";

/// The worker's flags a partition run must not get (each with its value): a run serves its
/// metrics on a loopback port the worker gives it.
const WORKER_ONLY: [&str; 3] = ["--worker", "--worker-ttl", "--metrics-addr"];

/// The command line of every partition run.
pub(crate) struct Template {
    exe: std::path::PathBuf,
    args: Vec<OsString>,
}

impl Template {
    /// From this process's own command line (`ticklane run … --worker ID …`): the worker's flags
    /// taken out; one shard and no pinning unless given (a worker runs many processes).
    pub(crate) fn from_env() -> std::io::Result<Template> {
        let exe = std::env::current_exe()?;
        Ok(Template { exe, args: child_args(std::env::args_os().skip(1)) })
    }

    /// Starts partition `p`'s run (serving its metrics on `metrics`, if given).
    pub(crate) fn start(&self, p: u32, metrics: Option<std::net::SocketAddr>) -> std::io::Result<Run> {
        let mut child = Command::new(&self.exe)
            .args(&self.args)
            .args(["--partition", &p.to_string()])
            .args(metrics.iter().flat_map(|a| ["--metrics-addr".to_string(), a.to_string()]))
            .env(PARENT_ENV, "1")
            .stdin(Stdio::piped())
            .spawn()?;
        let lifeline = child.stdin.take();
        Ok(Run { child, lifeline })
    }
}

/// `args` without the worker's own flags, with `--shards 1` and `--pin never` unless given.
fn child_args(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let text = a.to_string_lossy();
        let flag = text.split_once('=').map_or(&*text, |(f, _)| f);
        if WORKER_ONLY.contains(&flag) {
            if !text.contains('=') {
                args.next();
            }
            continue;
        }
        out.push(a);
    }
    let has = |out: &[OsString], flag: &str| {
        out.iter().any(|a| a == OsStr::new(flag) || a.to_string_lossy().starts_with(&format!("{flag}=")))
    };
    for (flag, value) in [("--shards", "1"), ("--pin", "never")] {
        if !has(&out, flag) {
            out.extend([flag.into(), value.into()]);
        }
    }
    out
}

/// One partition's run.
pub(crate) struct Run {
    child: Child,
    /// Its standard input: dropped (the worker gone), the run exits.
    lifeline: Option<ChildStdin>,
}

impl Run {
    /// Kills the run (SIGKILL: nothing more is written or acknowledged; what it had not
    /// acknowledged is delivered to the next owner).
    pub(crate) fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the run to drain (SIGINT: its windows fire, its bars are written and acknowledged).
    pub(crate) fn drain(&self) {
        let pid = self.child.id().to_string();
        if let Err(e) = Command::new("kill").args(["-INT", &pid]).status() {
            log::warn!("cannot signal the partition run {pid}: {e}");
        }
    }

    /// How it ended, once it has.
    pub(crate) fn ended(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.lifeline.take();
    }
}

/// In a partition run: exits at once when the worker that started it is gone (its standard
/// input closes), leaving what is not acknowledged to the next owner.
pub(crate) fn exit_with_parent() {
    let watch = std::thread::Builder::new().name("ticklane-parent".into()).spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(std::io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        log::warn!("the worker that started this run is gone: exiting without draining (another worker takes over)");
        std::process::exit(1);
    });
    if let Err(e) = watch {
        log::warn!("cannot watch the worker that started this run: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        child_args(v.iter().map(OsString::from)).iter().map(|a| a.to_string_lossy().to_string()).collect()
    }

    #[test]
    fn a_partition_run_gets_the_workers_flags_but_its_own() {
        let got =
            args(&["run", "--worker", "w1", "--dedupe", "--worker-ttl=3s", "jetstream://h/T", "--metrics-addr", "x"]);
        assert_eq!(got, ["run", "--dedupe", "jetstream://h/T", "--shards", "1", "--pin", "never"]);
        let got = args(&["run", "--shards=2", "--pin", "always", "--worker=w", "jetstream://h/T"]);
        assert_eq!(got, ["run", "--shards=2", "--pin", "always", "jetstream://h/T"], "given ones are kept");
    }
}
