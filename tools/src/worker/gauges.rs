//! The partition runs' autoscaling gauges on the worker's `/metrics`. `ticklane_saturation` and
//! `ticklane_store_pressure` live in each run's engine and store; each run serves them on a
//! loopback port of its own, and a thread of the worker reads them once a second and publishes
//! the highest of each as `ticklane_worker_saturation` and `ticklane_worker_store_pressure`
//! (a slow run never delays a heartbeat).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the runs are read, and how long one may take to answer.
const EVERY: Duration = Duration::from_secs(1);
const ANSWER: Duration = Duration::from_millis(200);

/// The runs' endpoints, by partition.
#[derive(Clone, Default)]
pub(crate) struct Gauges {
    runs: Arc<Mutex<BTreeMap<u32, SocketAddr>>>,
}

impl Gauges {
    /// Starts reading the runs' gauges.
    pub(crate) fn start() -> std::io::Result<Gauges> {
        let g = Gauges::default();
        let runs = g.runs.clone();
        std::thread::Builder::new().name("ticklane-gauges".into()).spawn(move || loop {
            std::thread::sleep(EVERY);
            let addrs: Vec<SocketAddr> =
                runs.lock().unwrap_or_else(PoisonError::into_inner).values().copied().collect();
            let pages: Vec<String> = addrs.into_iter().filter_map(read).collect();
            for (run, worker) in [
                ("ticklane_saturation", "ticklane_worker_saturation"),
                ("ticklane_store_pressure", "ticklane_worker_store_pressure"),
            ] {
                if let Some(v) = pages.iter().filter_map(|p| value(p, run)).reduce(f64::max) {
                    metrics::gauge!(worker).set(v);
                }
            }
        })?;
        Ok(g)
    }

    /// A free loopback address for partition `p`'s run to serve its metrics on (`None` when no
    /// port could be had: the run then serves none).
    pub(crate) fn address(&self, p: u32) -> Option<SocketAddr> {
        let addr = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).ok()?;
        self.runs.lock().unwrap_or_else(PoisonError::into_inner).insert(p, addr);
        Some(addr)
    }

    /// Partition `p`'s run is gone.
    pub(crate) fn forget(&self, p: u32) {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner).remove(&p);
    }
}

/// A run's metrics page, if it answers in time.
fn read(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, ANSWER).ok()?;
    s.set_read_timeout(Some(ANSWER)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).ok()?;
    Some(page)
}

/// The value of the unlabelled sample `name` on a metrics page.
fn value(page: &str, name: &str) -> Option<f64> {
    page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_read_by_its_exact_name() {
        let page = "# TYPE x gauge\nticklane_saturation_max 9\nticklane_saturation 0.25\nticklane_store_pressure 1\n";
        assert_eq!(value(page, "ticklane_saturation"), Some(0.25));
        assert_eq!(value(page, "ticklane_store_pressure"), Some(1.0));
        assert_eq!(value(page, "ticklane_missing"), None);
    }
}
