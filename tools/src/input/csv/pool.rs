//! Parse threads: blocks of lines go out round robin and come back in the same order, so
//! parsing runs on every core while the records keep their input order. With no threads,
//! the reader parses each block itself.

use super::block::{parse_block, ParsedBlock, RecordParser};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::collections::VecDeque;
use std::thread::JoinHandle;

/// One block on its way: the lines, and once parsed, what they gave.
pub(super) struct Job<R> {
    pub(super) block: Vec<u8>,
    /// The block's last line is the start of an overlong one.
    pub(super) cut: bool,
    /// Input bytes consumed once this block was read (for progress).
    pub(super) position: u64,
    /// Which parser read it (its symbol indexes are that parser's).
    pub(super) parser: usize,
    pub(super) out: ParsedBlock<R>,
}

impl<R> Default for Job<R> {
    fn default() -> Self {
        Job { block: Vec::new(), cut: false, position: 0, parser: 0, out: ParsedBlock::default() }
    }
}

/// Blocks each parse thread may hold (queued or being parsed).
const DEPTH: usize = 2;

struct Worker<R> {
    to: Sender<Job<R>>,
    from: Receiver<Job<R>>,
    handle: Option<JoinHandle<()>>,
}

/// The parse threads, or the reader's own parser.
pub(super) struct Pool<P: RecordParser> {
    workers: Vec<Worker<P::Rec>>,
    /// Without threads: the parser, and the block it parsed.
    inline: Option<(P, VecDeque<Job<P::Rec>>)>,
    next_in: usize,
    next_out: usize,
    in_flight: usize,
    spare: Vec<Job<P::Rec>>,
    /// A parse thread is gone (it panicked): no more blocks come back.
    broken: bool,
}

/// A parse thread stopped without handing its block back (a bug: parsing never panics on
/// input).
#[derive(Debug)]
pub(super) struct ParseThreadDied;

impl<P: RecordParser> Pool<P> {
    /// `threads` parse threads each with a copy of `parser` (none: parse on the caller's).
    pub(super) fn new(parser: P, threads: usize) -> Pool<P> {
        let mut pool = Pool {
            workers: Vec::new(),
            inline: None,
            next_in: 0,
            next_out: 0,
            in_flight: 0,
            spare: Vec::new(),
            broken: false,
        };
        if threads == 0 {
            pool.inline = Some((parser, VecDeque::with_capacity(1)));
            return pool;
        }
        for i in 0..threads {
            let (to, jobs) = bounded::<Job<P::Rec>>(DEPTH);
            let (done, from) = bounded::<Job<P::Rec>>(DEPTH);
            let mut p = parser.clone();
            let spawned = std::thread::Builder::new().name(format!("ticklane-parse-{i}")).spawn(move || {
                for mut job in jobs {
                    parse_block(&mut p, &job.block, job.cut, &mut job.out);
                    job.parser = i;
                    if done.send(job).is_err() {
                        break;
                    }
                }
            });
            match spawned {
                Ok(h) => pool.workers.push(Worker { to, from, handle: Some(h) }),
                Err(e) => {
                    log::warn!("could not start a parse thread ({e}): parsing on the reader's thread");
                    return Pool::new(parser, 0);
                }
            }
        }
        pool
    }

    /// Parse threads (0: the caller parses).
    pub(super) fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Whether another block may be handed in now.
    pub(super) fn has_room(&self) -> bool {
        match &self.inline {
            Some((_, done)) => done.is_empty(),
            None => self.in_flight < DEPTH * self.workers.len(),
        }
    }

    /// An empty job to read a block into.
    pub(super) fn spare(&mut self) -> Job<P::Rec> {
        self.spare.pop().unwrap_or_default()
    }

    /// Gives a job back for reuse.
    pub(super) fn recycle(&mut self, job: Job<P::Rec>) {
        self.spare.push(job);
    }

    /// Hands a block in to be parsed.
    pub(super) fn submit(&mut self, mut job: Job<P::Rec>) {
        self.in_flight += 1;
        if let Some((parser, done)) = &mut self.inline {
            parse_block(parser, &job.block, job.cut, &mut job.out);
            job.parser = 0;
            done.push_back(job);
            return;
        }
        let w = self.next_in % self.workers.len();
        self.next_in += 1;
        if self.workers[w].to.send(job).is_err() {
            self.broken = true; // the thread is gone: it panicked (it cannot fail on input)
        }
    }

    /// The next parsed block in input order; `Ok(None)` when none is in flight.
    pub(super) fn next_done(&mut self) -> Result<Option<Job<P::Rec>>, ParseThreadDied> {
        if self.broken {
            return Err(ParseThreadDied);
        }
        if self.in_flight == 0 {
            return Ok(None);
        }
        self.in_flight -= 1;
        match &mut self.inline {
            Some((_, done)) => Ok(done.pop_front()),
            None => {
                let w = self.next_out % self.workers.len();
                self.next_out += 1;
                self.workers[w].from.recv().map(Some).map_err(|_| {
                    self.broken = true;
                    ParseThreadDied
                })
            }
        }
    }
}

impl<P: RecordParser> Drop for Pool<P> {
    fn drop(&mut self) {
        for w in &mut self.workers {
            // Closing the job channel ends the thread once it has handed back what it holds
            // (the return channel has room for all of it).
            let (closed, _) = bounded(0);
            w.to = closed;
        }
        for w in &mut self.workers {
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}
