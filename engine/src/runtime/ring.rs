//! The ingress → shard ring: a bounded single-producer single-consumer queue whose only
//! shared state on the message path is the slot itself.
//!
//! Each slot carries a stamp beside its value. For the slot's `lap`-th use the stamp reads
//! `2·lap` while the slot is free and `2·lap + 1` once the producer has written it; the
//! consumer takes the value and stamps `2·(lap + 1)`, freeing it for the next lap. Producer and
//! consumer keep their positions to themselves, so a message moves one slot's cache lines from
//! the producer's core to the consumer's and nothing else: no shared head or tail index, no
//! compare-and-swap (a crossbeam array channel also moves its tail index and takes a locked
//! instruction per send). Any capacity ≥ 1 works (no power of two needed).
//!
//! Disconnection: dropping the [`Producer`] makes [`Consumer::try_recv`] report
//! [`TryRecv::Disconnected`] once the ring is empty; dropping the [`Consumer`] makes sends fail
//! at once, so a producer blocked on a full ring is released when its shard goes away.
//! Values still in the ring when both ends are gone are dropped with it.
//!
//! This module holds the engine's only `unsafe` code: reading and writing slot values that
//! the stamp protocol hands to exactly one side at a time.
#![allow(unsafe_code)]

use super::padded::Padded;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::sync::Arc;
use std::time::Duration;

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
}

// SAFETY: the ring moves `T` values from one thread to another, which needs `T: Send`; slot
// values are only touched by the side the stamp protocol gives them to (see the module docs),
// and the stamps, counters and flags are atomics.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: as above: shared access never touches a value concurrently from two sides.
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        for slot in self.slots.iter_mut() {
            if *slot.stamp.get_mut() & 1 == 1 {
                // SAFETY: an odd stamp means the producer wrote this value and no consumer took
                // it; `&mut self` means neither end exists any more, so it is dropped once.
                unsafe { slot.value.get_mut().assume_init_drop() };
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
}

/// The receiving end (one per ring; `Send`, not `Clone`).
pub(crate) struct Consumer<T> {
    shared: Arc<Shared<T>>,
    at: Cursor,
    received: u64,
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
    });
    (
        Producer { shared: shared.clone(), at: Cursor { index: 0, lap: 0 }, sent: 0 },
        Consumer { shared, at: Cursor { index: 0, lap: 0 }, received: 0 },
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
        unsafe { (*slot.value.get()).write(value) };
        // Release: the value is written before the consumer can see the slot as full.
        slot.stamp.store(free + 1, Release);
        self.at.advance(s.slots.len());
        self.sent += 1;
        s.sent.store(self.sent, Relaxed);
        Ok(())
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
        if slot.stamp.load(Acquire) != full {
            return None;
        }
        // SAFETY: the stamp says the producer wrote this slot for this lap and it will not
        // touch it again until the stamp below; the value is moved out exactly once.
        let value = unsafe { (*slot.value.get()).assume_init_read() };
        // Release: the value is read before the producer may overwrite the slot.
        slot.stamp.store(full + 1, Release);
        self.at.advance(s.slots.len());
        self.received += 1;
        Some(value)
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
        self.shared.consumer_alive.store(false, Release);
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
