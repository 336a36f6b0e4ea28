//! Shared inputs for ticklane's benchmarks: deterministic synthetic trades, and the two
//! pipelines compared in the same run (engine and hand-written), with the same pinning:
//! consumers (engine shard `i`, raw consumer) on core `i`, the producer on the last core.

pub mod procs;

/// The cores this process may use, read once before anything is pinned (`get_core_ids`
/// reports the *calling thread's* mask, so it must not be asked after pinning).
pub fn cores() -> Vec<usize> {
    static CORES: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CORES.get_or_init(|| core_affinity::get_core_ids().unwrap_or_default().iter().map(|c| c.id).collect()).clone()
}

/// Pins the calling thread (the producer) to the machine's last core, as the harness does
/// for every scenario; returns whether it was pinned.
pub fn pin_producer() -> bool {
    cores().last().is_some_and(|&id| core_affinity::set_for_current(core_affinity::CoreId { id }))
}

use ticklane::{Fixed, InstrumentId, Trade, TradeId};

/// `n` trades over `instruments` instruments (ids `0..instruments`), 1 µs apart, with a
/// deterministic pseudo-random price walk. Instrument ids must be interned in order by the
/// caller (`SYM0`, `SYM1`, …) when used with an engine.
pub fn synthetic_trades(n: usize, instruments: u32) -> Vec<Trade> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Trade {
                ts_event: 1_700_000_000_000_000_000 + i as i64 * 1_000,
                ts_recv: ticklane::NO_TS,
                price: Fixed::from_raw(100_000_000_000 + (x % 1_000_000) as i64 * 1_000),
                size: Fixed::from_raw(1_000_000_000 + (x >> 40) as i64 % 5_000_000_000),
                trade_id: TradeId::from_u64(i as u64),
                instrument: InstrumentId((x % u64::from(instruments.max(1))) as u32),
                side: ticklane::Side::None,
            }
        })
        .collect()
}

/// A completion counter on a cache line of its own: the consumer writes it for every batch,
/// and sharing a line with anything the producer touches (which depends on where the
/// allocator happens to put it) would put a false-sharing stall on every batch.
#[derive(Default)]
#[repr(align(128))]
pub struct Counter(std::sync::atomic::AtomicU64);

impl std::ops::Deref for Counter {
    type Target = std::sync::atomic::AtomicU64;
    fn deref(&self) -> &std::sync::atomic::AtomicU64 {
        &self.0
    }
}

/// A hand-written two-thread pipeline with raw crossbeam: the producer fills batches of
/// `batch` stamped trades, sends them over a bounded channel of `ring` batches, and a
/// consumer thread applies `work` to each batch and counts records. Empty buffers travel
/// back on a second channel, as in the engine. This is the baseline the engine is measured
/// against in the same bench run.
pub struct RawPipeline {
    tx: Option<crossbeam_channel::Sender<Vec<ticklane::Stamped<Trade>>>>,
    back: crossbeam_channel::Receiver<Vec<ticklane::Stamped<Trade>>>,
    done: std::sync::Arc<Counter>,
    consumer: Option<std::thread::JoinHandle<()>>,
    batch: usize,
    sent: u64,
}

impl RawPipeline {
    /// Starts the consumer thread; `work` maps an input batch into an output buffer (cleared
    /// after each call) and returns how many records it counts as done.
    pub fn start<W>(ring: usize, batch: usize, mut work: W) -> RawPipeline
    where
        W: FnMut(&[ticklane::Stamped<Trade>], &mut Vec<ticklane::Stamped<Trade>>) -> usize + Send + 'static,
    {
        use std::sync::atomic::Ordering::Release;
        let (tx, rx) = crossbeam_channel::bounded::<Vec<ticklane::Stamped<Trade>>>(ring);
        let (btx, back) = crossbeam_channel::bounded(ring + 2);
        let done = std::sync::Arc::new(Counter::default());
        let d = done.clone();
        let consumer_core = cores().first().copied();
        let consumer = std::thread::spawn(move || {
            if let Some(id) = consumer_core {
                core_affinity::set_for_current(core_affinity::CoreId { id });
            }
            let mut out = Vec::with_capacity(batch);
            let mut n = 0u64;
            // Spin like a pinned engine shard does (blocking `recv` would add futex wake-ups).
            loop {
                let mut b = match rx.try_recv() {
                    Ok(b) => b,
                    Err(crossbeam_channel::TryRecvError::Empty) => {
                        std::hint::spin_loop();
                        continue;
                    }
                    Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                };
                n += work(&b, &mut out) as u64;
                out.clear();
                b.clear();
                let _ = btx.try_send(b);
                d.store(n, Release);
            }
        });
        RawPipeline { tx: Some(tx), back, done, consumer: Some(consumer), batch, sent: 0 }
    }

    /// Sends `trades` in batches and waits until the consumer has processed `expect_out`
    /// more output records.
    pub fn run(&mut self, trades: &[Trade], expect_out: u64) {
        self.run_repeated(trades, 1, expect_out);
    }

    /// Sends `trades` `reps` times over (batches may span repetitions) and waits until the
    /// consumer has processed `expect_out` more output records.
    pub fn run_repeated(&mut self, trades: &[Trade], reps: usize, expect_out: u64) {
        use std::sync::atomic::Ordering::Acquire;
        let Some(tx) = &self.tx else { return };
        let mut b = self.back.try_recv().unwrap_or_else(|_| Vec::with_capacity(self.batch));
        for _ in 0..reps {
            let mut rest = trades;
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at((self.batch - b.len()).min(rest.len()));
                b.extend(chunk.iter().map(|&rec| ticklane::Stamped { wm: 0, rec }));
                if b.len() == self.batch {
                    let next = self.back.try_recv().unwrap_or_else(|_| Vec::with_capacity(self.batch));
                    if tx.send(std::mem::replace(&mut b, next)).is_err() {
                        return;
                    }
                }
                rest = tail;
            }
        }
        if !b.is_empty() && tx.send(b).is_err() {
            return;
        }
        self.sent += expect_out;
        while self.done.load(Acquire) < self.sent {
            std::hint::spin_loop();
        }
    }
}

impl Drop for RawPipeline {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.consumer.take() {
            let _ = h.join();
        }
    }
}

/// A started 1-source engine whose shard-thread sink counts records, for benches: push
/// trades, then wait until the sink has seen the expected count.
pub struct EnginePipeline {
    feed: Option<ticklane::Ingress<Trade>>,
    engine: Option<ticklane::Engine>,
    done: std::sync::Arc<Counter>,
    sent: u64,
}

impl EnginePipeline {
    /// `feed` → (`identity` operator if `with_operator`) → counting sink, one shard per
    /// `shards`, instruments `SYM0..SYM{instruments}` interned in order.
    pub fn start(shards: usize, ring: usize, batch: usize, instruments: u32, with_operator: bool) -> EnginePipeline {
        use std::sync::atomic::Ordering::Release;
        use ticklane::{Config, DagBuilder, Engine, Kind, Stamped};
        let done = std::sync::Arc::new(Counter::default());
        let d = done.clone();
        let mut g = DagBuilder::new();
        g.source("feed", Kind::Trade).sink_shard::<Trade, _, _>("count", move |_| {
            let d = d.clone();
            move |b: &[Stamped<Trade>]| {
                d.fetch_add(b.len() as u64, Release);
            }
        });
        if with_operator {
            g.transform::<Trade, Trade, _, _>("identity", |_| {
                |i: &[Stamped<Trade>], o: &mut Vec<Stamped<Trade>>| o.extend_from_slice(i)
            })
            .connect("feed", "identity")
            .connect("identity", "count");
        } else {
            g.connect("feed", "count");
        }
        let cfg = Config::builder()
            .shards(shards)
            .ring_capacity(ring)
            .batch_size(batch)
            .flush_every(1 << 20)
            .placement(ticklane::Placement::Cores(cores()))
            .build()
            .expect("bench config is valid");
        let dag = g.build().expect("bench graph is valid");
        let mut engine = Engine::start(dag, cfg).expect("engine starts");
        let mut feed = engine.ingress::<Trade>("feed").expect("source exists");
        for i in 0..instruments {
            feed.intern(&format!("SYM{i}")).expect("intern");
        }
        EnginePipeline { feed: Some(feed), engine: Some(engine), done, sent: 0 }
    }

    /// Pushes `trades` one `push` at a time, flushes, and waits until the sink counted
    /// `expect_out` more.
    pub fn run(&mut self, trades: &[Trade], expect_out: u64) {
        let Some(feed) = &mut self.feed else { return };
        for &t in trades {
            if feed.push(t).is_err() {
                return;
            }
        }
        self.finish_run(expect_out);
    }

    /// Hands `trades` to `Ingress::push_all` `reps` times over, flushes, and waits until the
    /// sink counted `expect_out` more.
    pub fn run_batched(&mut self, trades: &[Trade], reps: usize, expect_out: u64) {
        let Some(feed) = &mut self.feed else { return };
        for _ in 0..reps {
            if feed.push_all(trades).is_err() {
                return;
            }
        }
        self.finish_run(expect_out);
    }

    /// Hands `trades` to `Ingress::push_all` `chunk` at a time (as a feed handler that reads
    /// a few records per wake-up does), flushes, and waits until the sink counted them all.
    pub fn run_chunks(&mut self, trades: &[Trade], chunk: usize) {
        let Some(feed) = &mut self.feed else { return };
        for part in trades.chunks(chunk.max(1)) {
            if feed.push_all(part).is_err() {
                return;
            }
        }
        self.finish_run(trades.len() as u64);
    }

    fn finish_run(&mut self, expect_out: u64) {
        use std::sync::atomic::Ordering::Acquire;
        let Some(feed) = &mut self.feed else { return };
        if feed.flush().is_err() {
            return;
        }
        self.sent += expect_out;
        while self.done.load(Acquire) < self.sent {
            std::hint::spin_loop();
        }
    }
}

impl Drop for EnginePipeline {
    fn drop(&mut self) {
        self.feed = None;
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
    }
}

/// `n` trades over `instruments` instruments, `spacing_ns` apart, each stamped with the
/// watermark before it (max_delay 0), with every 100th trade an exact repeat of the one
/// before (a 1% duplicate rate).
pub fn stamped_with_duplicates(n: usize, instruments: u32, spacing_ns: i64) -> Vec<ticklane::Stamped<Trade>> {
    let mut base = synthetic_trades(n, instruments);
    for (i, t) in base.iter_mut().enumerate() {
        t.ts_event = 1_700_000_000_000_000_000 + i as i64 * spacing_ns;
    }
    for i in (100..n).step_by(100) {
        base[i] = base[i - 1];
    }
    let mut wm = i64::MIN;
    base.into_iter()
        .map(|rec| {
            let s = ticklane::Stamped { wm, rec };
            wm = wm.max(rec.ts_event);
            s
        })
        .collect()
}

/// The bars half of a hand-written single-threaded dedupe → OHLCV-bars loop, for in-order
/// input without an engine: one open bar per instrument, a bar emitted when its instrument
/// moves to a new window, the rest flushed at the end. Baseline for the operator benches,
/// whose dedupe half is the operator's own table called directly (the fastest we have).
pub mod hand {
    use ticklane::{Bar, Fixed, InstrumentId, Stamped, Trade, Wide};

    /// One instrument's open window.
    #[derive(Clone, Copy)]
    pub struct Open {
        start: i64,
        open: i64,
        high: i64,
        low: i64,
        close: i64,
        volume: i128,
        notional: i128,
        count: u64,
    }

    /// The bars half.
    pub struct Bars {
        width: i64,
        open: Vec<Option<Open>>,
    }

    impl Bars {
        /// Bars `width_ns` wide.
        pub fn new(width_ns: i64) -> Bars {
            Bars { width: width_ns, open: Vec::new() }
        }

        fn emit(inst: usize, o: &Open, width: i64, out: &mut Vec<Stamped<Bar>>) {
            let vwap = if o.volume == 0 { o.close } else { (o.notional / o.volume) as i64 };
            out.push(Stamped {
                wm: o.start + width,
                rec: Bar {
                    instrument: InstrumentId(inst as u32),
                    window_start: o.start,
                    window_end: o.start + width,
                    open: Fixed::from_raw(o.open),
                    high: Fixed::from_raw(o.high),
                    low: Fixed::from_raw(o.low),
                    close: Fixed::from_raw(o.close),
                    volume: Wide::from_raw(o.volume),
                    trade_count: o.count,
                    vwap: Fixed::from_raw(vwap),
                    notional: o.notional,
                    ..Bar::default()
                },
            });
        }

        /// Adds one in-order trade.
        #[inline]
        pub fn add(&mut self, t: &Trade, out: &mut Vec<Stamped<Bar>>) {
            self.add_then(t, out, |_| {});
        }

        /// Adds one in-order trade; `closed` is handed the window it closed, if any (its bar
        /// is in `out`).
        #[inline]
        pub fn add_then(&mut self, t: &Trade, out: &mut Vec<Stamped<Bar>>, closed: impl FnOnce(&Open)) {
            let i = t.instrument.0 as usize;
            if self.open.len() <= i {
                self.open.resize(i + 1, None);
            }
            let start = t.ts_event.div_euclid(self.width) * self.width;
            let (px, sz) = (t.price.raw(), t.size.raw());
            match &mut self.open[i] {
                Some(o) if o.start == start => {
                    o.high = o.high.max(px);
                    o.low = o.low.min(px);
                    o.close = px;
                    o.volume += i128::from(sz);
                    o.notional += i128::from(px) * i128::from(sz);
                    o.count += 1;
                }
                slot => {
                    if let Some(o) = slot {
                        Self::emit(i, o, self.width, out);
                        closed(o);
                    }
                    *slot = Some(Open {
                        start,
                        open: px,
                        high: px,
                        low: px,
                        close: px,
                        volume: i128::from(sz),
                        notional: i128::from(px) * i128::from(sz),
                        count: 1,
                    });
                }
            }
        }

        /// Folds `f`, a closed finer window of instrument `i` (windows come in order), into
        /// this width's window: per finer bar, not per trade.
        #[inline]
        pub fn fold(&mut self, i: usize, f: &Open, out: &mut Vec<Stamped<Bar>>) {
            if self.open.len() <= i {
                self.open.resize(i + 1, None);
            }
            let start = f.start.div_euclid(self.width) * self.width;
            match &mut self.open[i] {
                Some(o) if o.start == start => {
                    (o.high, o.low, o.close) = (o.high.max(f.high), o.low.min(f.low), f.close);
                    (o.volume, o.notional, o.count) = (o.volume + f.volume, o.notional + f.notional, o.count + f.count);
                }
                slot => {
                    if let Some(o) = slot {
                        Self::emit(i, o, self.width, out);
                    }
                    *slot = Some(Open { start, ..*f });
                }
            }
        }

        /// Emits every open bar, handing each window to `closed` too.
        pub fn flush_then(&mut self, out: &mut Vec<Stamped<Bar>>, mut closed: impl FnMut(usize, &Open)) {
            for (i, o) in self.open.iter_mut().enumerate() {
                if let Some(o) = o.take() {
                    Self::emit(i, &o, self.width, out);
                    closed(i, &o);
                }
            }
        }

        /// Emits every open bar.
        pub fn flush(&mut self, out: &mut Vec<Stamped<Bar>>) {
            for (i, o) in self.open.iter_mut().enumerate() {
                if let Some(o) = o.take() {
                    Self::emit(i, &o, self.width, out);
                }
            }
        }
    }
}

/// A hand-written router: the producer looks each trade's shard up in a table (instrument id
/// → shard, computed once with the engine's own [`ticklane::shard_of`]), appends it to that
/// shard's batch and sends full batches over a bounded crossbeam channel to one consumer
/// thread per shard, which counts; empty buffers come back on a second channel. Consumers
/// spin, then yield, like the engine's `SpinThenYield` shards. The baseline of the ingress
/// routing bench.
pub struct RawRouter {
    txs: Vec<crossbeam_channel::Sender<Vec<ticklane::Stamped<Trade>>>>,
    backs: Vec<crossbeam_channel::Receiver<Vec<ticklane::Stamped<Trade>>>>,
    bufs: Vec<Vec<ticklane::Stamped<Trade>>>,
    table: Vec<u8>,
    done: std::sync::Arc<Counter>,
    consumers: Vec<std::thread::JoinHandle<()>>,
    batch: usize,
    sent: u64,
}

impl RawRouter {
    /// `shards` consumer threads, rings of `ring` batches of `batch`, instruments
    /// `SYM0..SYM{instruments}`.
    pub fn start(shards: usize, ring: usize, batch: usize, instruments: u32) -> RawRouter {
        use std::sync::atomic::Ordering::Release;
        let done = std::sync::Arc::new(Counter::default());
        let (mut txs, mut backs, mut consumers) = (Vec::new(), Vec::new(), Vec::new());
        let core_list = cores();
        for s in 0..shards {
            let (tx, rx) = crossbeam_channel::bounded::<Vec<ticklane::Stamped<Trade>>>(ring);
            let (btx, back) = crossbeam_channel::bounded(ring + 2);
            let d = done.clone();
            let core = (shards < core_list.len()).then(|| core_list[s]);
            consumers.push(std::thread::spawn(move || {
                if let Some(id) = core {
                    core_affinity::set_for_current(core_affinity::CoreId { id });
                }
                let mut idle = 0u32;
                loop {
                    let mut b = match rx.try_recv() {
                        Ok(b) => b,
                        Err(crossbeam_channel::TryRecvError::Empty) => {
                            idle += 1;
                            if idle < 1 << 16 {
                                std::hint::spin_loop();
                            } else {
                                std::thread::yield_now();
                            }
                            continue;
                        }
                        Err(crossbeam_channel::TryRecvError::Disconnected) => break,
                    };
                    idle = 0;
                    d.fetch_add(b.len() as u64, Release);
                    b.clear();
                    let _ = btx.try_send(b);
                }
            }));
            txs.push(tx);
            backs.push(back);
        }
        let table = (0..instruments).map(|i| ticklane::shard_of(&format!("SYM{i}"), shards) as u8).collect();
        let bufs = (0..shards).map(|_| Vec::with_capacity(batch)).collect();
        RawRouter { txs, backs, bufs, table, done, consumers, batch, sent: 0 }
    }

    fn send(&mut self, s: usize) {
        let fresh = self.backs[s].try_recv().unwrap_or_else(|_| Vec::with_capacity(self.batch));
        let full = std::mem::replace(&mut self.bufs[s], fresh);
        let _ = self.txs[s].send(full);
    }

    /// Routes `trades` one by one, flushes, and waits until the consumers counted them all.
    pub fn run(&mut self, trades: &[Trade]) {
        use std::sync::atomic::Ordering::Acquire;
        for &rec in trades {
            let s = usize::from(self.table.get(rec.instrument.0 as usize).copied().unwrap_or(0));
            self.bufs[s].push(ticklane::Stamped { wm: rec.ts_event, rec });
            if self.bufs[s].len() == self.batch {
                self.send(s);
            }
        }
        for s in 0..self.bufs.len() {
            if !self.bufs[s].is_empty() {
                self.send(s);
            }
        }
        self.sent += trades.len() as u64;
        while self.done.load(Acquire) < self.sent {
            std::hint::spin_loop();
        }
    }
}

impl Drop for RawRouter {
    fn drop(&mut self) {
        self.txs.clear();
        for h in self.consumers.drain(..) {
            let _ = h.join();
        }
    }
}
