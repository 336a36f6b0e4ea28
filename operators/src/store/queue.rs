//! The bounded queue between shard sinks and writer threads, with the pressure state machine.
//!
//! One `parking_lot` mutex guards the queue. It is taken once per *batch of bars* by a shard
//! (bars are at most one per instrument and window, orders of magnitude rarer than trades) and
//! once per write batch by a writer, so it is off the per-event path.

use super::{Counters, PressurePolicy, StoreConfig};
use hashbrown::HashMap;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use ticklane_engine::{Bar, InstrumentId, Interner};

/// The upsert key: `(instrument, window_start)`.
pub(crate) type Key = (InstrumentId, i64);

pub(crate) fn key(b: &Bar) -> Key {
    (b.instrument, b.window_start)
}

struct State {
    q: VecDeque<Bar>,
    /// Sequence number of `q[0]`.
    head_seq: u64,
    /// Key → sequence number of its newest waiting entry (for `conflate`).
    index: HashMap<Key, u64, ahash::RandomState>,
    pressured: bool,
    /// No more pushes will come (the engine has finished).
    closed: bool,
    /// After this instant nobody waits any more: pushers and writers give up and count what
    /// they hold as unwritten.
    deadline: Option<Instant>,
}

/// Shared by the shard sinks (producers) and the writer threads (consumers).
pub(crate) struct Shared {
    pub(crate) cfg: StoreConfig,
    pub(crate) counters: Counters,
    state: Mutex<State>,
    /// Writers wait here for rows.
    rows: Condvar,
    /// Pushers wait here for room (or for pressure to clear under `block`).
    room: Condvar,
    /// Set by the first shard sink built: the engine's instrument table, to name rows.
    pub(crate) names: OnceLock<Interner>,
    /// The last write error, for the report.
    pub(crate) last_error: Mutex<Option<String>>,
}

/// What became of one pushed bar.
enum Fate {
    Queue,
    Shed,
    Conflated,
    Unwritten,
}

/// What a writer got from [`Shared::take`].
pub(crate) enum Take {
    /// Rows to write (never empty).
    Rows(Vec<Bar>),
    /// Nothing yet: publish gauges and call again.
    Idle,
    /// Closed and drained: the writer may exit.
    Done,
}

impl Shared {
    pub(crate) fn new(cfg: StoreConfig) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                q: VecDeque::with_capacity(cfg.capacity.min(1 << 16)),
                head_seq: 0,
                index: HashMap::default(),
                pressured: false,
                closed: false,
                deadline: None,
            }),
            cfg,
            counters: Counters::default(),
            rows: Condvar::new(),
            room: Condvar::new(),
            names: OnceLock::new(),
            last_error: Mutex::new(None),
        })
    }

    /// Queue depth (bars waiting, not counting batches in flight).
    pub(crate) fn depth(&self) -> usize {
        self.state.lock().q.len()
    }

    /// Whether the pressure policy is in force.
    pub(crate) fn pressured(&self) -> bool {
        self.state.lock().pressured
    }

    /// Hands bars from a shard to the writers, applying the pressure policy. Under `block`
    /// (and `conflate` at its hard capacity) this waits, which stalls the shard, fills its
    /// rings and so blocks the sources: backpressure. Past the deadline it stops waiting and
    /// counts the rest as unwritten.
    pub(crate) fn push<'a>(&self, bars: impl IntoIterator<Item = &'a Bar>) {
        let c = &self.counters;
        let cfg = &self.cfg;
        let mut st = self.state.lock();
        let mut pushed = false;
        for bar in bars {
            c.accepted.fetch_add(1, Relaxed);
            let fate = loop {
                if !st.pressured {
                    break Fate::Queue;
                }
                match cfg.policy {
                    PressurePolicy::Shed => break Fate::Shed,
                    PressurePolicy::Conflate => {
                        if let Some(&seq) = st.index.get(&key(bar)) {
                            let at = (seq - st.head_seq) as usize;
                            if bar.revision >= st.q[at].revision {
                                st.q[at] = *bar;
                            }
                            break Fate::Conflated;
                        }
                        if st.q.len() < cfg.capacity {
                            break Fate::Queue;
                        }
                    }
                    PressurePolicy::Block => {}
                }
                // Wait for room: pressure cleared (or, under conflate, below capacity).
                if pushed {
                    self.rows.notify_all();
                    pushed = false;
                }
                match st.deadline {
                    Some(d) if Instant::now() >= d => break Fate::Unwritten,
                    Some(d) => {
                        self.room.wait_until(&mut st, d);
                    }
                    None => self.room.wait(&mut st),
                }
            };
            match fate {
                Fate::Shed => c.shed.fetch_add(1, Relaxed),
                Fate::Conflated => c.conflated.fetch_add(1, Relaxed),
                Fate::Unwritten => c.unwritten.fetch_add(1, Relaxed),
                Fate::Queue => {
                    let seq = st.head_seq + st.q.len() as u64;
                    st.q.push_back(*bar);
                    st.index.insert(key(bar), seq);
                    pushed = true;
                    let depth = st.q.len();
                    if !st.pressured && depth >= cfg.high {
                        st.pressured = true;
                        c.pressure_on.fetch_add(1, Relaxed);
                        metrics::gauge!("ticklane_store_pressure").set(1.0);
                        log::warn!(
                            "store: queue depth {depth} reached the high watermark {}: {:?} until it falls to {}",
                            cfg.high,
                            cfg.policy,
                            cfg.low
                        );
                    }
                    c.max_depth.fetch_max(depth as u64, Relaxed)
                }
            };
        }
        drop(st);
        if pushed {
            self.rows.notify_all();
        }
    }

    /// Takes up to `batch_rows` bars: at once when that many wait or the queue is pressured,
    /// else when the oldest has waited `batch_interval`, or everything once closed. Returns [`Take::Idle`] after `tick`
    /// without rows so the writer can publish gauges.
    pub(crate) fn take(&self, tick: Duration) -> Take {
        let cfg = &self.cfg;
        let mut st = self.state.lock();
        let until = Instant::now() + tick;
        let mut first_seen: Option<Instant> = None;
        loop {
            let n = st.q.len();
            // Under pressure the sinks are waiting (or shedding): write what is there now
            // rather than wait for a full batch that a high watermark below `batch_rows`
            // would never let form.
            if n >= cfg.batch_rows || (n > 0 && (st.closed || st.pressured)) {
                break;
            }
            if n > 0 {
                let t = *first_seen.get_or_insert_with(Instant::now);
                if t.elapsed() >= cfg.batch_interval {
                    break;
                }
                self.rows.wait_until(&mut st, t + cfg.batch_interval);
                continue;
            }
            if st.closed {
                return Take::Done;
            }
            if Instant::now() >= until {
                return Take::Idle;
            }
            self.rows.wait_until(&mut st, until);
        }
        let n = st.q.len().min(cfg.batch_rows);
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let seq = st.head_seq;
            let Some(bar) = st.q.pop_front() else { break };
            st.head_seq += 1;
            let k = key(&bar);
            if st.index.get(&k) == Some(&seq) {
                st.index.remove(&k);
            }
            out.push(bar);
        }
        if st.pressured && st.q.len() <= cfg.low {
            st.pressured = false;
            self.counters.pressure_off.fetch_add(1, Relaxed);
            metrics::gauge!("ticklane_store_pressure").set(0.0);
            log::info!("store: queue depth {} fell to the low watermark {}: pressure cleared", st.q.len(), cfg.low);
        }
        drop(st);
        self.room.notify_all();
        Take::Rows(out)
    }

    /// No more pushes will come; writers drain what waits and exit.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.rows.notify_all();
    }

    /// From `at` on, nobody waits: see [`super::StoreCoordinator::set_deadline`].
    pub(crate) fn set_deadline(&self, at: Instant) {
        self.state.lock().deadline = Some(at);
        self.room.notify_all();
        self.rows.notify_all();
    }

    /// The deadline, if one is set.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.state.lock().deadline
    }

    /// Counts everything still waiting as unwritten and empties the queue (writers call this
    /// once the deadline has passed).
    pub(crate) fn abandon_waiting(&self) {
        let mut st = self.state.lock();
        let n = st.q.len();
        st.head_seq += n as u64;
        st.q.clear();
        st.index.clear();
        self.counters.unwritten.fetch_add(n as u64, Relaxed);
        drop(st);
        self.room.notify_all();
    }
}
