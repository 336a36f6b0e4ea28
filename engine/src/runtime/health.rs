//! What a service's `/healthz` and `/readyz` answer (design.md §9): alive while the process
//! serves; ready while every registered probe is up (sources connected, sinks writable) and
//! the service is not draining.
//!
//! A component registers a [`Probe`] under a name and flips it as its state changes; a probe
//! leaves the registry when its last handle is dropped. The registry is process-wide (like
//! the metrics recorder) and touched only on state changes and requests, never per event.
//!
//! ```
//! let link = ticklane_engine::health::probe("source ws://127.0.0.1:9/stream");
//! assert!(!ticklane_engine::health::readiness().ready, "a new probe is down until it says otherwise");
//! link.set(true);
//! assert!(ticklane_engine::health::readiness().ready);
//! drop(link);
//! ```

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Weak};

struct State {
    name: String,
    up: AtomicBool,
}

static PROBES: Mutex<Vec<Weak<State>>> = Mutex::new(Vec::new());
static DRAINING: AtomicBool = AtomicBool::new(false);

/// One component's readiness; `Clone` shares it.
#[derive(Clone)]
pub struct Probe(Arc<State>);

/// Registers a probe named `name`, down until [`Probe::set`] says otherwise.
pub fn probe(name: &str) -> Probe {
    let p = Arc::new(State { name: name.to_string(), up: AtomicBool::new(false) });
    let mut probes = PROBES.lock();
    probes.retain(|w| w.strong_count() > 0);
    probes.push(Arc::downgrade(&p));
    Probe(p)
}

impl Probe {
    /// Marks the component up (ready) or down.
    pub fn set(&self, up: bool) {
        self.0.up.store(up, Relaxed);
    }

    /// Whether the component is up.
    pub fn is_up(&self) -> bool {
        self.0.up.load(Relaxed)
    }
}

/// Marks the process as draining (after SIGTERM): not ready, whatever the probes say.
pub fn set_draining(draining: bool) {
    DRAINING.store(draining, Relaxed);
}

/// The answer to `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Every probe up and not draining.
    pub ready: bool,
    /// Whether the process is draining.
    pub draining: bool,
    /// Every live probe's name and whether it is up, in registration order.
    pub probes: Vec<(String, bool)>,
}

/// The current readiness.
pub fn readiness() -> Readiness {
    let probes: Vec<(String, bool)> =
        PROBES.lock().iter().filter_map(Weak::upgrade).map(|p| (p.name.clone(), p.up.load(Relaxed))).collect();
    let draining = DRAINING.load(Relaxed);
    Readiness { ready: !draining && probes.iter().all(|p| p.1), draining, probes }
}

impl Readiness {
    /// The response body: `ready` or `not ready`, then one `up|down NAME` line per probe
    /// (and `draining` when it is).
    pub fn body(&self) -> String {
        let mut s = String::from(if self.ready { "ready\n" } else { "not ready\n" });
        if self.draining {
            s.push_str("draining\n");
        }
        for (name, up) in &self.probes {
            s.push_str(if *up { "up " } else { "down " });
            s.push_str(name);
            s.push('\n');
        }
        s
    }
}
