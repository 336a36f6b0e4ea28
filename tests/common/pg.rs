//! A throwaway PostgreSQL cluster for tests and the store benchmark: `initdb` into a temporary
//! directory, a server on 127.0.0.1 at a free port, removed on drop. Nothing assumes a server
//! already runs.
//!
//! Server binaries are found from `TICKLANE_PG_BIN`, else the newest
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package), else `initdb` on `PATH`. As
//! root (CI), the server runs as the `postgres` user through `runuser`, since PostgreSQL
//! refuses to run as root.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A running throwaway cluster.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    settings: String,
}

/// How to install the server when it is missing.
const HOW: &str = "PostgreSQL server binaries not found: install Debian's `postgresql` package \
                   (apt-get install postgresql) or set TICKLANE_PG_BIN to the directory holding initdb";

fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TICKLANE_PG_BIN") {
        return PathBuf::from(d);
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    debian.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    if let Some(d) = debian.pop() {
        return d;
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|p| p.join("initdb").exists()))
        .unwrap_or_else(|| panic!("{HOW}"))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

impl PgCluster {
    /// Starts a cluster tuned for tests: `fsync=off` (an OS crash is not under test) but
    /// `synchronous_commit` stays on, so a commit survives the server being killed
    /// ([`PgCluster::halt`]); with it off, an acknowledged batch can vanish in a server crash.
    pub fn start() -> PgCluster {
        PgCluster::start_with("-c fsync=off")
    }

    /// Starts a cluster with the given extra server settings (`-c name=value …`).
    pub fn start_with(settings: &str) -> PgCluster {
        static N: AtomicU32 = AtomicU32::new(0);
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!(
            "ticklane-pg-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let as_postgres = is_root();
        if as_postgres {
            let ok = Command::new("chown").arg("postgres:").arg(&dir).status().map(|s| s.success());
            assert!(matches!(ok, Ok(true)), "chown postgres {}: is Debian's postgresql installed?", dir.display());
        }
        let c = PgCluster { dir, bin, port: free_port(), as_postgres, settings: settings.to_string() };
        c.run("initdb", &["-D", &c.data(), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
        c.resume();
        c
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().unwrap_or_else(|e| panic!("{}: {e}\n{HOW}", exe.display()));
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}\n{}\n(server log: {})",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
        );
    }

    /// The connection string (no password: trust on loopback).
    pub fn url(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server at once (an outage); [`PgCluster::resume`] brings it back on the same port.
    pub fn halt(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    /// (Re)starts the server and waits until it accepts connections.
    pub fn resume(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c max_connections=50 {}",
            self.port,
            self.dir.display(),
            self.settings
        );
        let log = self.dir.join("log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "-t", "60", "start"]);
    }

    /// Runs SQL through `psql` and returns its unaligned output (`|`-separated, no header).
    pub fn psql(&self, sql: &str) -> String {
        let local = self.bin.join("psql");
        let out = Command::new(if local.exists() { local.as_path() } else { Path::new("psql") })
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &self.url(), "-c", sql])
            .output()
            .expect("run psql");
        assert!(out.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl PgCluster {
    /// A bars table as CSV lines (no header) in `(window_end, instrument)` order: the order and
    /// columns of the CSV output, so a table compares with a replay's file byte for byte.
    pub fn bars_csv(&self, table: &str) -> String {
        self.psql(&format!(
            "COPY (SELECT {BAR_COLUMNS} FROM {table} ORDER BY window_end, instrument COLLATE \"C\") \
             TO STDOUT WITH (FORMAT csv)"
        ))
    }
}

impl PgCluster {
    /// Takes `ACCESS EXCLUSIVE` on `table` in an open transaction of its own (a `psql` session
    /// kept waiting on its input) and returns once the lock is granted: every write to the
    /// table waits until the holder is released.
    pub fn lock(&self, table: &str) -> TableLock {
        let local = self.bin.join("psql");
        let mut child = Command::new(if local.exists() { local.as_path() } else { Path::new("psql") })
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.url()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("run psql");
        let sql = format!("BEGIN;\nLOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;\n");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), sql.as_bytes()).expect("send the lock");
        let granted = format!(
            "SELECT count(*) FROM pg_locks WHERE relation = '{table}'::regclass \
             AND mode = 'AccessExclusiveLock' AND granted"
        );
        let t0 = std::time::Instant::now();
        while self.psql(&granted).trim() != "1" {
            assert!(t0.elapsed() < std::time::Duration::from_secs(30), "the lock on {table} was never granted");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        TableLock(Some(child))
    }
}

/// A held table lock: [`TableLock::release`] commits (also on drop).
pub struct TableLock(Option<std::process::Child>);

impl TableLock {
    /// Ends the transaction and waits for the session to exit.
    pub fn release(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if let Some(mut c) = self.0.take() {
            if let Some(mut stdin) = c.stdin.take() {
                let _ = std::io::Write::write_all(&mut stdin, b"COMMIT;\n");
            } // stdin dropped: psql sees the end of its input and exits
            let _ = c.wait();
        }
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        self.end();
    }
}

/// The bar columns in the CSV output's order.
pub const BAR_COLUMNS: &str = "instrument,window_start,window_end,open,high,low,close,volume,trade_count,vwap,revision";

impl Drop for PgCluster {
    fn drop(&mut self) {
        let exe = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "stop"];
        let _ = if self.as_postgres {
            Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).output()
        } else {
            Command::new(&exe).args(args).output()
        };
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
