//! The hand-over between a live feed's thread and the reader loop that pushes into the engine:
//! per record kind, a bounded channel of chunks. Latency first: a chunk goes out as soon as
//! the channel has room (one message's records, when the reader keeps up); while the reader
//! is behind, records gather into the pending chunk, and a full pending chunk waits
//! (backpressure reaches the socket). Emptied chunks come back for reuse, so nothing is
//! allocated per message once warm.

use super::ws::POLL;
use crate::input::chunk::{Chunk, Cursor};
use crate::input::symbols::Symbols;
use crate::input::{Event, InputError, Rec, Source};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use ticklane::Timestamp;

/// Chunks in flight per kind.
const IN_FLIGHT: usize = 4;
/// Records gathered while the reader is behind before the feed thread waits for it.
const MAX_PENDING: usize = 8192;

/// A chunk and the instrument names first seen in it (the reader keeps its own copy of the
/// table: no lock between the two threads).
pub(super) struct Delivery<R> {
    names: Vec<Arc<str>>,
    chunk: Chunk<R>,
    /// A watermark floor for the records from here on (a resumed durable consumer).
    floor: Option<Timestamp>,
}

/// What a send achieved.
pub(super) enum Sent {
    /// Sent, or kept pending for the next try.
    Ok,
    /// The reader is gone: nothing more will be taken.
    Gone,
}

/// The feed thread's end for one record kind.
pub(super) struct Outlet<R> {
    tx: Sender<Delivery<R>>,
    recycle: Receiver<Chunk<R>>,
    pub(super) symbols: Symbols,
    /// Names already handed to the reader.
    named: usize,
    pending: Chunk<R>,
}

/// The reader's end for one record kind: a [`Source`] whose `next_chunk` waits at most
/// [`POLL`] and then hands over an empty chunk (so that the reader loop can look at signals),
/// and ends when the feed thread has stopped and everything it sent was taken.
pub struct LiveSource<R> {
    rx: Receiver<Delivery<R>>,
    recycle: Sender<Chunk<R>>,
    names: Vec<Arc<str>>,
    /// Messages of neither kind read (reported by one source of a feed only).
    skipped: Option<Arc<AtomicU64>>,
    bytes: Arc<AtomicU64>,
    cursor: Cursor<R>,
    /// A floor received and not yet taken by the reader.
    floor: Option<Timestamp>,
}

/// A connected pair.
pub(super) fn outlet<R: Event>(skipped: Option<Arc<AtomicU64>>, bytes: Arc<AtomicU64>) -> (Outlet<R>, LiveSource<R>) {
    let (tx, rx) = bounded(IN_FLIGHT);
    let (back, recycle) = bounded(IN_FLIGHT + 2);
    let out = Outlet { tx, recycle, symbols: Symbols::default(), named: 0, pending: Chunk::default() };
    let src =
        LiveSource { rx, recycle: back, names: Vec::new(), skipped, bytes, cursor: Cursor::default(), floor: None };
    (out, src)
}

impl<R: Event> Outlet<R> {
    /// Adds one decoded record (its instrument the local symbol index) or malformed message.
    pub(super) fn push(&mut self, item: Result<Rec<R>, InputError>) {
        self.pending.push(item);
    }

    /// Sends the pending chunk if the reader has room, or if it must (the pending chunk is
    /// full, or the feed is stopping: then waits for room).
    pub(super) fn send(&mut self, stopped: impl Fn() -> bool) -> Sent {
        if self.pending.is_empty() {
            return Sent::Ok;
        }
        // One producer: room seen here stays until our send.
        if self.tx.is_full() && self.pending.records.len() < MAX_PENDING && !stopped() {
            return Sent::Ok;
        }
        let mut d = self.delivery();
        loop {
            match self.tx.send_timeout(d, POLL) {
                Ok(()) => return Sent::Ok,
                Err(SendTimeoutError::Disconnected(_)) => return Sent::Gone,
                Err(SendTimeoutError::Timeout(back)) => d = back,
            }
        }
    }

    /// The pending chunk with the names not yet handed over; a recycled chunk takes its place.
    fn delivery(&mut self) -> Delivery<R> {
        let names = self.symbols.names[self.named..].to_vec();
        self.named = self.symbols.names.len();
        let fresh = self.recycle.try_recv().unwrap_or_default();
        Delivery { names, chunk: std::mem::replace(&mut self.pending, fresh), floor: None }
    }

    /// Hands the reader a watermark floor, ahead of every record not yet handed over (waits
    /// for room); whether the reader is still there.
    pub(super) fn send_floor(&mut self, floor: Timestamp) -> bool {
        if !matches!(self.send(|| true), Sent::Ok) {
            return false;
        }
        let d = Delivery { names: Vec::new(), chunk: Chunk::default(), floor: Some(floor) };
        self.tx.send(d).is_ok()
    }
}

impl<R: Event> Source<R> for LiveSource<R> {
    fn next(&mut self) -> Option<Result<Rec<R>, InputError>> {
        loop {
            if let Some(item) = self.cursor.next() {
                return Some(item);
            }
            let mut chunk = std::mem::take(&mut self.cursor.chunk);
            if !self.next_chunk(&mut chunk) {
                return None;
            }
            self.cursor.chunk = chunk;
            self.cursor.rewind();
        }
    }

    fn next_chunk(&mut self, chunk: &mut Chunk<R>) -> bool {
        chunk.clear();
        match self.rx.recv_timeout(POLL) {
            Ok(mut d) => {
                self.floor = self.floor.max(d.floor);
                self.names.append(&mut d.names);
                std::mem::swap(chunk, &mut d.chunk);
                d.chunk.clear();
                let _ = self.recycle.try_send(d.chunk);
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => false,
        }
    }

    fn symbol(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", |n| n)
    }

    fn position(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    fn skipped(&self) -> u64 {
        self.skipped.as_ref().map_or(0, |s| s.load(Relaxed))
    }

    fn take_floor(&mut self) -> Option<Timestamp> {
        self.floor.take()
    }
}
