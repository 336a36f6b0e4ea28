//! The bounded queue between shard sinks and writer threads, with the pressure state machine.
//!
//! One `parking_lot` mutex guards the queue. It is taken once per *batch of bars* by a shard
//! (bars are at most one per instrument and window, orders of magnitude rarer than trades) and
//! once per write batch by a writer, so it is off the per-event path.

use super::{Counters, PressurePolicy, StoreConfig};
use hashbrown::HashMap;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use ticklane_engine::{Bar, InstrumentId, Interner, Timestamp};

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
    /// Durable progress: see [`Shared::mark`].
    durable: Durable,
}

/// What the durable progress is computed from.
#[derive(Default)]
struct Durable {
    /// `(seq, sink, progress)`: sink `sink` reached `progress` when the queue's next sequence
    /// number was `seq`, in push order.
    marks: VecDeque<(u64, usize, Timestamp)>,
    /// The first sequence number of each batch a writer holds.
    in_flight: Vec<u64>,
    /// Per sink: the progress every bar before which is written.
    sinks: Vec<Timestamp>,
    /// A bar was shed or given up on: from then on nothing more is durable.
    lossy: bool,
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
    /// The durable progress, readable without the lock (see [`Shared::mark`]).
    durable: AtomicI64,
    /// A write was refused for good: a later claim fenced the store off.
    pub(crate) superseded: AtomicBool,
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
    /// Rows to write (never empty) and the sequence number of the first; the writer reports
    /// back with [`Shared::settled`].
    Rows(Vec<Bar>, u64),
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
                durable: Durable::default(),
            }),
            cfg,
            counters: Counters::default(),
            rows: Condvar::new(),
            room: Condvar::new(),
            names: OnceLock::new(),
            last_error: Mutex::new(None),
            durable: AtomicI64::new(Timestamp::MIN),
            superseded: AtomicBool::new(false),
        })
    }

    /// A new sink that will report progress; its index for [`Shared::mark`].
    pub(crate) fn register_sink(&self) -> usize {
        let mut st = self.state.lock();
        st.durable.sinks.push(Timestamp::MIN);
        self.durable.store(Timestamp::MIN, Relaxed);
        st.durable.sinks.len() - 1
    }

    /// Sink `sink` has pushed every bar it will push stamped below `progress`. Once every bar
    /// pushed before this call is written, `progress` counts for the sink; the durable
    /// progress is the least over the sinks ([`Shared::durable`]).
    pub(crate) fn mark(&self, sink: usize, progress: Timestamp) {
        let mut st = self.state.lock();
        if st.durable.lossy {
            st.durable.marks.clear(); // nothing is durable any more: keep no marks
            return;
        }
        let seq = st.head_seq + st.q.len() as u64;
        st.durable.marks.push_back((seq, sink, progress));
        self.advance(&mut st);
    }

    /// The progress below which every bar of every progress-reporting sink is written
    /// (`Timestamp::MIN` until each has reported; frozen once a bar was shed or given up on).
    pub(crate) fn durable(&self) -> Timestamp {
        self.durable.load(Relaxed)
    }

    /// A writer is done with the batch starting at `start`: written, or given up on.
    pub(crate) fn settled(&self, start: u64, written: bool) {
        let mut st = self.state.lock();
        if let Some(i) = st.durable.in_flight.iter().position(|&s| s == start) {
            st.durable.in_flight.swap_remove(i);
        }
        st.durable.lossy |= !written;
        self.advance(&mut st);
    }

    /// Applies the marks every bar before which is written (none waits or is in flight).
    fn advance(&self, st: &mut State) {
        let low = st.durable.in_flight.iter().copied().min().unwrap_or(st.head_seq).min(st.head_seq);
        let d = &mut st.durable;
        while let Some(&(seq, sink, p)) = d.marks.front() {
            if seq > low {
                break;
            }
            d.marks.pop_front();
            if let Some(slot) = d.sinks.get_mut(sink) {
                *slot = (*slot).max(p);
            }
        }
        if !d.lossy {
            self.durable.store(d.sinks.iter().copied().min().unwrap_or(Timestamp::MIN), Relaxed);
        }
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
                Fate::Shed => {
                    st.durable.lossy = true;
                    c.shed.fetch_add(1, Relaxed)
                }
                Fate::Conflated => c.conflated.fetch_add(1, Relaxed),
                Fate::Unwritten => {
                    st.durable.lossy = true;
                    c.unwritten.fetch_add(1, Relaxed)
                }
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
        let start = st.head_seq;
        st.durable.in_flight.push(start);
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
        Take::Rows(out, start)
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
        st.durable.lossy |= n > 0;
        self.counters.unwritten.fetch_add(n as u64, Relaxed);
        drop(st);
        self.room.notify_all();
    }
}
