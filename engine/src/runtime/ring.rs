//! The ingress → shard ring: a bounded single-producer single-consumer queue whose only
//! shared state on the message path is the slot itself.
//!
//! Each slot carries a stamp beside its value. For the slot's `lap`-th use the stamp reads
//! `2·lap` while the slot is free and `2·lap + 1` once the producer has written it; the
//! consumer takes the value and stamps `2·(lap + 1)`, freeing it for the next lap. Producer and
//! consumer keep their positions to themselves, so a message moves one slot's cache lines from
//! the producer's core to the consumer's and nothing else: no shared head or tail index (a
//! crossbeam array channel also moves its tail index). Any capacity ≥ 1 works (no power of
//! two needed).
//!
//! Closing, and why a sent value is never lost silently. The consumer closes the ring
//! ([`Consumer::close`], also on drop): it marks itself gone, hands back every message still in
//! the ring (the shard counts their records as not delivered) and publishes how many it took
//! in all. A send that raced the close may still land behind that count; such values are the
//! producer's to take back ([`Producer::reclaim`], which the ingress calls when a send finds
//! the consumer gone and when it is dropped, counting them as not delivered). So every value
//! sent is taken by the consumer, handed back by its close, or reclaimed by the producer —
//! exactly one of the three, which the loom models below check at every interleaving — and
//! the send path itself stays a plain store (a compare-and-swap there, tried first, would make
//! the producer wait for the slot's cache line on every send; its cost was not measured in
//! interleaved runs, so it was not kept on a guess).
//! Dropping the [`Producer`] makes [`Consumer::try_recv`] report [`TryRecv::Disconnected`]
//! once the ring is empty.
//!
//! This module holds the engine's only `unsafe` code besides one system call (`sched.rs`): reading and writing slot values that
//! the stamp protocol hands to exactly one side at a time.
#![allow(unsafe_code)]

use super::padded::Padded;
use super::sync::{fence, yield_now, Arc, AtomicBool, AtomicU64, UnsafeCell};
use std::mem::MaybeUninit;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::time::Duration;

/// The stamp of a slot whose value the producer took back: empty for good (odd, but never
/// the `2·lap + 1` of a real lap).
const RECLAIMED: u64 = u64::MAX;

/// One slot: its stamp and value, on lines of their own (two lines for a ring message).
#[repr(align(64))]
struct Slot<T> {
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

struct Shared<T> {
    slots: Box<[Slot<T>]>,
    /// Messages sent so far, published by the producer for [`Consumer::len`] (a store to a
    /// line only the producer writes; read when the shard samples its depth).
    sent: Padded<AtomicU64>,
    producer_alive: Padded<AtomicBool>,
    consumer_alive: Padded<AtomicBool>,
    /// Set by the consumer once its close is complete; `taken` is then final.
    closed: Padded<AtomicBool>,
    /// Messages the consumer took in all (received or handed back by its close).
    taken: AtomicU64,
}

// SAFETY: the ring moves `T` values from one thread to another, which needs `T: Send`; slot
// values are only touched by the side the stamp protocol gives them to (see the module docs),
// and the stamps, counters and flags are atomics.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above: shared access never touches a value concurrently from two sides.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            let stamp = slot.stamp.load(Acquire);
            if stamp & 1 == 1 && stamp != RECLAIMED {
                // SAFETY: an odd stamp other than RECLAIMED means the producer wrote this value
                // and nobody took it; `&mut self` means neither end exists any more, so it is
                // dropped once (a value sent during the close and never reclaimed).
                slot.value.with_mut(|v| unsafe { (*v).assume_init_drop() });
            }
        }
    }
}

/// Why [`Producer::try_send`] did not send; the value comes back.
pub(crate) enum TrySend<T> {
    /// Every slot holds a message.
    Full(T),
    /// The consumer is gone.
    Disconnected(T),
}

/// Why [`Consumer::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryRecv {
    /// No message waiting.
    Empty,
    /// No message waiting and the producer is gone.
    Disconnected,
}

/// A position in the ring: slot index and how many times the ring has wrapped.
struct Cursor {
    index: usize,
    lap: u64,
}

impl Cursor {
    #[inline]
    fn advance(&mut self, cap: usize) {
        self.index += 1;
        if self.index == cap {
            self.index = 0;
            self.lap += 1;
        }
    }
}

/// The sending end (one per ring; `Send`, not `Clone`).
pub(crate) struct Producer<T> {
    shared: Arc<Shared<T>>,
    at: Cursor,
    sent: u64,
    /// Messages below this number were reclaimed already.
    reclaimed: u64,
}

/// The receiving end (one per ring; `Send`, not `Clone`).
pub(crate) struct Consumer<T> {
    shared: Arc<Shared<T>>,
    at: Cursor,
    received: u64,
    closed: bool,
}

/// A ring of `cap` messages (at least 1).
pub(crate) fn ring<T>(cap: usize) -> (Producer<T>, Consumer<T>) {
    let slots = (0..cap.max(1))
        .map(|_| Slot { stamp: AtomicU64::new(0), value: UnsafeCell::new(MaybeUninit::uninit()) })
        .collect();
    let shared = Arc::new(Shared {
        slots,
        sent: Padded(AtomicU64::new(0)),
        producer_alive: Padded(AtomicBool::new(true)),
        consumer_alive: Padded(AtomicBool::new(true)),
        closed: Padded(AtomicBool::new(false)),
        taken: AtomicU64::new(0),
    });
    (
        Producer { shared: shared.clone(), at: Cursor { index: 0, lap: 0 }, sent: 0, reclaimed: 0 },
        Consumer { shared, at: Cursor { index: 0, lap: 0 }, received: 0, closed: false },
    )
}

impl<T> Producer<T> {
    /// Sends `value` if a slot is free and the consumer is alive; never blocks.
    #[inline]
    pub(crate) fn try_send(&mut self, value: T) -> Result<(), TrySend<T>> {
        let s = &self.shared;
        if !s.consumer_alive.load(Relaxed) {
            return Err(TrySend::Disconnected(value));
        }
        let slot = &s.slots[self.at.index];
        let free = 2 * self.at.lap;
        // Acquire: the consumer's read of the previous value happened before it freed the slot.
        if slot.stamp.load(Acquire) != free {
            return Err(TrySend::Full(value));
        }
        // SAFETY: the stamp says the slot is free for this lap, so the consumer neither reads
        // it nor will until the stamp below; only this (single) producer writes slots, and
        // the previous value, if any, was moved out by the consumer.
        slot.value.with_mut(|v| unsafe { (*v).write(value) });
        // Release: the value is written before the consumer can see the slot as full.
        slot.stamp.store(free + 1, Release);
        self.at.advance(s.slots.len());
        self.sent += 1;
        s.sent.store(self.sent, Relaxed);
        Ok(())
    }

    /// Whether [`Producer::try_send`] would find a free slot now (it stays free: only this
    /// producer fills slots). A gone consumer counts as room: the send then reports it.
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        let s = &self.shared;
        // Acquire, as in `try_send`.
        !s.consumer_alive.load(Relaxed) || s.slots[self.at.index].stamp.load(Acquire) == 2 * self.at.lap
    }

    /// If the consumer has closed the ring (or is closing it: then this waits for the close to
    /// complete), hands `f` every value sent that it never took, in order, once. Call it when
    /// a send finds the consumer gone and before dropping the producer; with a live consumer
    /// it returns at once.
    pub(crate) fn reclaim(&mut self, mut f: impl FnMut(T)) {
        let s = &self.shared;
        // SeqCst, paired with the fence in `Consumer::close`: either its drain saw every value
        // sent before this point, or this sees it gone (and then its count).
        fence(SeqCst);
        if s.consumer_alive.load(Relaxed) {
            return;
        }
        // Acquire: the consumer's last reads of slots and its count happened before.
        while !s.closed.load(Acquire) {
            yield_now();
        }
        let cap = s.slots.len() as u64;
        for i in s.taken.load(Relaxed).max(self.reclaimed)..self.sent {
            let slot = &s.slots[(i % cap) as usize];
            // SAFETY: message `i` was written by this producer and never taken (the consumer
            // took `taken` messages, in order, and is done); no one else touches the slot
            // now, and RECLAIMED keeps the value from being read or dropped again.
            let value = slot.value.with_mut(|v| unsafe { (*v).assume_init_read() });
            slot.stamp.store(RECLAIMED, Relaxed);
            f(value);
        }
        self.reclaimed = self.sent;
    }

    /// Sends `value`, waiting while the ring is full: spinning, then yielding (about a
    /// millisecond: a consumer that catches up after a short stall finds the producer
    /// awake), then sleeping in growing steps up to 1 ms (a consumer stalled for long costs
    /// little CPU here). Gives the value back if the consumer is gone.
    pub(crate) fn send(&mut self, mut value: T) -> Result<(), T> {
        let mut waits = 0u32;
        loop {
            match self.try_send(value) {
                Ok(()) => return Ok(()),
                Err(TrySend::Disconnected(v)) => return Err(v),
                Err(TrySend::Full(v)) => value = v,
            }
            waits = waits.saturating_add(1);
            match waits {
                0..=63 => std::hint::spin_loop(),
                64..=1087 => std::thread::yield_now(),
                _ => std::thread::sleep(Duration::from_micros(u64::from((waits - 1087).min(20)) * 50)),
            }
        }
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // Release: every sent value is visible to a consumer that sees the producer gone.
        self.shared.producer_alive.store(false, Release);
    }
}

impl<T> Consumer<T> {
    /// Takes the next message if one is waiting; never blocks.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecv> {
        match self.take() {
            Some(v) => Ok(v),
            // The producer may have sent its last messages and then gone: look once more
            // after seeing it gone (Acquire pairs with its Release on drop).
            None if !self.shared.producer_alive.load(Acquire) => self.take().ok_or(TryRecv::Disconnected),
            None => Err(TryRecv::Empty),
        }
    }

    #[inline]
    fn take(&mut self) -> Option<T> {
        let s = &self.shared;
        let slot = &s.slots[self.at.index];
        let full = 2 * self.at.lap + 1;
        // Acquire: pairs with the producer's Release, so the value is fully written.
        if self.closed || slot.stamp.load(Acquire) != full {
            return None;
        }
        // SAFETY: the stamp says the producer wrote this slot for this lap and it will not
        // touch it again until the stamp below; the value is moved out exactly once.
        let value = slot.value.with_mut(|v| unsafe { (*v).assume_init_read() });
        // Release: the value is read before the producer may overwrite the slot.
        slot.stamp.store(full + 1, Release);
        self.at.advance(s.slots.len());
        self.received += 1;
        Some(value)
    }

    /// Closes the ring: hands every message still in it to `left`, in order, and publishes
    /// how many were taken in all, so that the producer can reclaim any sent during the close
    /// ([`Producer::reclaim`]). Idempotent; dropping the consumer closes it too (dropping what
    /// is left).
    pub(crate) fn close(&mut self, mut left: impl FnMut(T)) {
        if self.closed {
            return;
        }
        let s = self.shared.clone();
        s.consumer_alive.store(false, Relaxed);
        // SeqCst, paired with the fence in `Producer::reclaim` (see there).
        fence(SeqCst);
        while let Some(v) = self.take() {
            left(v);
        }
        self.closed = true;
        s.taken.store(self.received, Relaxed);
        // Release: the count and every read of a slot happen before the producer reclaims.
        s.closed.store(true, Release);
    }

    /// Messages waiting (a snapshot: the producer may be sending).
    pub(crate) fn len(&self) -> usize {
        self.shared.sent.load(Relaxed).saturating_sub(self.received) as usize
    }

    /// Whether `try_recv` would return at once: a message waits in the next slot, or the
    /// producer is gone (a shard must not park on a ring whose end it has not seen yet).
    #[inline]
    pub(crate) fn ready(&self) -> bool {
        self.shared.slots[self.at.index].stamp.load(Acquire) == 2 * self.at.lap + 1
            || !self.shared.producer_alive.load(Acquire)
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        self.close(drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fifo_full_and_empty_at_every_capacity() {
        for cap in 1..=5 {
            let (mut tx, mut rx) = ring::<u32>(cap);
            assert_eq!(rx.try_recv(), Err(TryRecv::Empty));
            for i in 0..cap as u32 {
                assert!(tx.try_send(i).is_ok());
            }
            assert!(matches!(tx.try_send(99), Err(TrySend::Full(99))));
            assert_eq!(rx.len(), cap);
            assert!(rx.ready());
            for i in 0..cap as u32 {
                assert_eq!(rx.try_recv(), Ok(i));
            }
            assert_eq!(rx.try_recv(), Err(TryRecv::Empty));
            assert!(!rx.ready());
            drop(tx);
            assert!(rx.ready(), "a gone producer makes the ring ready (to see its end)");
        }
    }

    /// Against a VecDeque model: any interleaving of sends and receives, over many laps.
    #[test]
    fn matches_a_bounded_deque_over_many_laps() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for cap in [1usize, 2, 3, 7, 8] {
            let (mut tx, mut rx) = ring::<u64>(cap);
            let mut model = VecDeque::new();
            for i in 0..5_000u64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if x % 2 == 0 {
                    let r = tx.try_send(i);
                    if model.len() < cap {
                        assert!(r.is_ok());
                        model.push_back(i);
                    } else {
                        assert!(matches!(r, Err(TrySend::Full(v)) if v == i));
                    }
                } else {
                    assert_eq!(rx.try_recv().ok(), model.pop_front());
                }
                assert_eq!(rx.len(), model.len());
            }
        }
    }

    #[test]
    fn disconnection_is_seen_from_both_ends() {
        let (mut tx, mut rx) = ring::<u8>(2);
        assert!(tx.try_send(1).is_ok());
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1), "messages sent before the drop are delivered");
        assert_eq!(rx.try_recv(), Err(TryRecv::Disconnected));

        let (mut tx, rx) = ring::<u8>(1);
        assert!(tx.try_send(1).is_ok());
        drop(rx);
        assert!(matches!(tx.try_send(2), Err(TrySend::Disconnected(2))));
        assert_eq!(tx.send(3), Err(3), "a blocking send on a full ring is released");
    }

    /// Values left in the ring are dropped exactly once; taken ones are not dropped again.
    #[test]
    fn values_left_in_the_ring_are_dropped_once() {
        struct D(Arc<AtomicUsize>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.fetch_add(1, Relaxed);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut tx, mut rx) = ring::<D>(4);
        for _ in 0..4 {
            assert!(tx.try_send(D(drops.clone())).is_ok());
        }
        drop(rx.try_recv().ok());
        assert_eq!(drops.load(Relaxed), 1);
        drop(tx);
        drop(rx);
        assert_eq!(drops.load(Relaxed), 4);
    }

    /// A close hands back what is left; a send that slipped in behind it (here: a producer
    /// that still saw the consumer alive) is reclaimed by the producer, once.
    #[test]
    fn close_hands_back_the_rest_and_reclaim_the_stragglers() {
        let (mut tx, mut rx) = ring::<String>(3);
        for v in ["a", "b"] {
            assert!(tx.try_send(v.to_string()).is_ok());
        }
        assert_eq!(rx.try_recv().as_deref(), Ok("a"));
        let mut left = Vec::new();
        rx.close(|v| left.push(v));
        assert_eq!(left, ["b"]);
        assert!(matches!(tx.try_send("c".into()), Err(TrySend::Disconnected(v)) if v == "c"));
        // A send that raced the close: it saw the consumer alive and landed after the drain.
        tx.shared.consumer_alive.store(true, Relaxed);
        assert!(tx.try_send("d".into()).is_ok());
        tx.shared.consumer_alive.store(false, Relaxed);
        let mut back = Vec::new();
        tx.reclaim(|v| back.push(v));
        tx.reclaim(|v| back.push(v));
        assert_eq!(back, ["d"], "reclaimed once");
        assert_eq!(rx.try_recv(), Err(TryRecv::Empty), "a closed consumer takes nothing");
    }

    /// Two threads, a tiny ring, many laps: every value arrives once, in order.
    #[test]
    fn two_threads_keep_order() {
        const N: u64 = if cfg!(miri) { 500 } else { 200_000 };
        let (mut tx, mut rx) = ring::<Box<u64>>(3);
        let producer = std::thread::spawn(move || {
            for i in 0..N {
                assert!(tx.send(Box::new(i)).is_ok());
            }
        });
        let mut next = 0;
        loop {
            match rx.try_recv() {
                Ok(v) => {
                    assert_eq!(*v, next);
                    next += 1;
                }
                Err(TryRecv::Empty) => std::hint::spin_loop(),
                Err(TryRecv::Disconnected) => break,
            }
        }
        assert_eq!(next, N);
        producer.join().expect("producer");
    }
}

/// Loom models of the protocol: `RUSTFLAGS="--cfg loom" cargo test -p ticklane-engine --lib
/// --release loom` (`.ci/run` runs them). Each explores every interleaving of a producer and a
/// consumer on a tiny ring.
#[cfg(all(test, loom))]
mod loom_models {
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::thread;

    /// Sends `vals` in order, retrying while full; stops at the first value handed back by a
    /// closed ring. Returns (sent, handed back).
    fn produce(tx: &mut Producer<u32>, vals: std::ops::Range<u32>) -> (Vec<u32>, Vec<u32>) {
        let (mut sent, mut back) = (Vec::new(), Vec::new());
        for mut v in vals {
            loop {
                match tx.try_send(v) {
                    Ok(()) => {
                        sent.push(v);
                        break;
                    }
                    Err(TrySend::Full(x)) => {
                        v = x;
                        thread::yield_now();
                    }
                    Err(TrySend::Disconnected(x)) => {
                        back.push(x);
                        return (sent, back);
                    }
                }
            }
        }
        (sent, back)
    }

    #[test]
    fn loom_every_value_arrives_once_in_order_across_laps() {
        loom::model(|| {
            let (mut tx, mut rx) = ring::<u32>(2);
            let p = thread::spawn(move || produce(&mut tx, 0..3));
            let mut got = Vec::new();
            loop {
                match rx.try_recv() {
                    Ok(v) => got.push(v),
                    Err(TryRecv::Empty) => thread::yield_now(),
                    Err(TryRecv::Disconnected) => break,
                }
            }
            let (sent, back) = p.join().expect("producer");
            assert_eq!((sent, back), ((0..3).collect(), vec![]));
            assert_eq!(got, vec![0, 1, 2]);
        });
    }

    /// A send racing the consumer's close: each value is taken, handed back by the close,
    /// reclaimed by the producer afterwards, or refused at once — exactly one of them — and a
    /// send reported Ok is one of the first three (never dropped with the ring uncounted).
    #[test]
    fn loom_a_send_racing_the_close_is_never_lost() {
        for (cap, n) in [(3, 2), (1, 2)] {
            loom::model(move || race_with_close(cap, n));
        }
    }

    /// Sending `n` values into a ring of `cap` while the consumer takes one and closes.
    /// (With `n < cap` the producer never waits, so no yield refreshes what it sees: the
    /// interleavings where only the fences keep a value from being orphaned.)
    fn race_with_close(cap: usize, n: u32) {
        let (mut tx, mut rx) = ring::<u32>(cap);
        let p = thread::spawn(move || {
            let (sent, back) = produce(&mut tx, 0..n);
            let mut reclaimed = Vec::new();
            tx.reclaim(|v| reclaimed.push(v));
            (sent, back, reclaimed)
        });
        let mut got = Vec::new();
        if let Ok(v) = rx.try_recv() {
            got.push(v);
        }
        rx.close(|v| got.push(v));
        assert!(matches!(rx.try_recv(), Err(TryRecv::Empty | TryRecv::Disconnected)));
        let (sent, back, reclaimed) = p.join().expect("producer");
        assert_eq!([got, reclaimed].concat(), sent, "every value sent was taken, handed back or reclaimed");
        let mut all = [sent, back].concat();
        all.sort_unstable();
        assert_eq!(all, (0..all.len() as u32).collect::<Vec<_>>());
    }

    /// Counts its drops.
    struct Tracked(Arc<AtomicUsize>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    /// Values still in flight when the consumer is dropped are dropped exactly once,
    /// wherever they were: taken, handed back by the close, reclaimed, or left in the ring
    /// (a producer that never reclaims).
    #[test]
    fn loom_values_are_dropped_once_whoever_goes_first() {
        for reclaim in [false, true] {
            loom::model(move || {
                let drops = Arc::new(AtomicUsize::new(0));
                let (mut tx, mut rx) = ring::<Tracked>(1);
                let d = drops.clone();
                let p = thread::spawn(move || {
                    for _ in 0..2 {
                        if let Err(TrySend::Disconnected(v) | TrySend::Full(v)) = tx.try_send(Tracked(d.clone())) {
                            drop(v);
                        }
                    }
                    if reclaim {
                        tx.reclaim(drop);
                    }
                });
                drop(rx.try_recv());
                drop(rx);
                p.join().expect("producer");
                assert_eq!(drops.load(Relaxed), 2);
            });
        }
    }
}
