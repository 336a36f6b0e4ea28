//! Acknowledging a JetStream consumer's ticks only once every bar they contribute to is durably
//! written (design.md §10), and resuming after a crash so that the table ends as if there had
//! been none.
//!
//! - A tick's bars are final once the store's durable progress
//!   ([`ticklane::operators::store::StoreHandle::durable_progress`]) is past the end of its
//!   coarsest window plus the allowed lateness ([`Finality`]). A tick that reaches the engine
//!   later than that is late there, and contributes to no bar: it may be acknowledged as well.
//! - Messages are acknowledged in order (ack-all) by groups of consecutive ones: the longest
//!   prefix of groups whose bars are all final.
//! - Before each acknowledgement, the durable progress it relied on is saved in the stream
//!   [`STREAM`] (one message per consumer). A run resuming from the consumer's
//!   acknowledged position first raises its watermark to just below that checkpoint: ticks of
//!   windows already written are late again, exactly as they were (or would have been) before
//!   the crash, and every later window is rebuilt from ticks all of which are redelivered.
//!   With the store's upsert (newest revision wins), the table then equals an uninterrupted
//!   run's.

use async_nats::jetstream;
use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;
use ticklane::operators::store::{Claim, Fence};
use ticklane::operators::Tumbling;
use ticklane::{Timestamp, WM_END};

/// The stream holding each durable consumer's checkpoint.
pub const STREAM: &str = "TICKLANE_CHECKPOINTS";
/// Its subjects' prefix.
const SUBJECTS: &str = "ticklane.checkpoints";

/// Consecutive messages acknowledged together at most.
const GROUP: u32 = 512;

/// When a tick's bars can no longer change.
#[derive(Debug, Clone, Copy)]
pub enum Finality {
    /// At the end of its window in `window` (the coarsest the run builds) plus `horizon` (the
    /// allowed lateness).
    Windows {
        /// The coarsest window.
        window: Tumbling,
        /// The allowed lateness, ns.
        horizon: i64,
    },
    /// Only at the end of the run (bars that close on a count, not a time).
    AtEnd,
}

impl Finality {
    /// The progress a tick at `ts` waits for: its bars are final once the durable progress is
    /// above this.
    pub fn final_at(&self, ts: Timestamp) -> Timestamp {
        match self {
            Finality::Windows { window, horizon } => window.end(window.start(ts)).saturating_add(*horizon),
            Finality::AtEnd => WM_END - 1,
        }
    }
}

/// What a JetStream link needs to acknowledge by durability: the store's durable progress, the
/// finality rule, and whether the store has finished (nothing more will become durable).
#[derive(Clone)]
pub struct Durability {
    progress: Arc<dyn Fn() -> Timestamp + Send + Sync>,
    finality: Finality,
    settled: Arc<AtomicBool>,
    fence: Option<Fence>,
}

impl Durability {
    /// Acknowledge by `progress` (the store's durable progress) under `finality`.
    pub fn new(progress: impl Fn() -> Timestamp + Send + Sync + 'static, finality: Finality) -> Durability {
        Durability { progress: Arc::new(progress), finality, settled: Arc::default(), fence: None }
    }

    /// The link records its claim on the consumer in `fence` (named `STREAM/CONSUMER`, its epoch
    /// the sequence of the claim in the consumer's checkpoint), for a store fenced by it
    /// ([`ticklane::operators::store::PgStore::connect_fenced`]): a run that another run has
    /// taken the consumer from can then write nothing more.
    pub fn fenced(mut self, fence: Fence) -> Durability {
        self.fence = Some(fence);
        self
    }

    /// Records the claim, if fenced.
    pub(super) fn claimed(&self, claim: Claim) {
        if let Some(Err(held)) = self.fence.as_ref().map(|f| f.set(claim)) {
            log::warn!("the store is fenced by the claim {held} already: kept");
        }
    }

    /// The store has finished: what is not durable now never will be (the link acknowledges
    /// what is and stops).
    pub fn settle(&self) {
        self.settled.store(true, SeqCst);
    }

    pub(super) fn progress(&self) -> Timestamp {
        (self.progress)()
    }

    pub(super) fn final_at(&self, ts: Option<Timestamp>) -> Timestamp {
        ts.map_or(Timestamp::MIN, |t| self.finality.final_at(t))
    }

    /// Whether to stop waiting for more to become durable: settled (read before the progress,
    /// so that the progress read after it is final).
    pub(super) fn done(&self) -> bool {
        self.settled.load(SeqCst)
    }
}

impl fmt::Debug for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durability").field("finality", &self.finality).field("settled", &self.done()).finish()
    }
}

/// Messages handed over and not yet acknowledged, in groups: each group's latest
/// [`Finality::final_at`] and last message (ack-all acknowledges the group and all before it).
pub(super) struct Pending<M> {
    groups: VecDeque<Group<M>>,
    /// What [`Pending::raise`] gave while no group was open: the next group takes it.
    carry: Timestamp,
}

impl<M> Default for Pending<M> {
    fn default() -> Self {
        Pending { groups: VecDeque::new(), carry: Timestamp::MIN }
    }
}

struct Group<M> {
    final_at: Timestamp,
    last: M,
    messages: u32,
    open: bool,
}

impl<M> Pending<M> {
    /// Adds message `m`, whose bars are final after `final_at`.
    pub(super) fn note(&mut self, final_at: Timestamp, m: M) {
        match self.groups.back_mut() {
            Some(g) if g.open && g.messages < GROUP => {
                g.final_at = g.final_at.max(final_at);
                g.last = m;
                g.messages += 1;
                return;
            }
            Some(g) => g.open = false,
            None => {}
        }
        let final_at = final_at.max(std::mem::replace(&mut self.carry, Timestamp::MIN));
        self.groups.push_back(Group { final_at, last: m, messages: 1, open: true });
    }

    /// A tick handed on without a message of its own (fetched by sequence): the next group
    /// acknowledged waits for its bars too.
    pub(super) fn raise(&mut self, final_at: Timestamp) {
        match self.groups.back_mut() {
            Some(g) if g.open => g.final_at = g.final_at.max(final_at),
            _ => self.carry = self.carry.max(final_at),
        }
    }

    /// Ends the open group (the feed went quiet: what it holds is handed over).
    pub(super) fn close(&mut self) {
        if let Some(g) = self.groups.back_mut() {
            g.open = false;
        }
    }

    /// The index of the last group of the longest prefix of closed groups final below
    /// `durable`, if any.
    pub(super) fn ready(&self, durable: Timestamp) -> Option<usize> {
        let n = self.groups.iter().take_while(|g| !g.open && g.final_at < durable).count();
        n.checked_sub(1)
    }

    /// Group `i`'s last message.
    pub(super) fn last(&self, i: usize) -> &M {
        &self.groups[i].last
    }

    /// Drops groups `0..=i` (acknowledged); the messages they held.
    pub(super) fn acked(&mut self, i: usize) -> u64 {
        self.groups.drain(..=i).map(|g| u64::from(g.messages)).sum()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// A consumer's checkpoint: the durable progress its acknowledged position relies on, the last
/// message on `ticklane.checkpoints.STREAM.CONSUMER` of the stream [`STREAM`] (one message kept
/// per subject). A plain stream rather than a key-value bucket: the client's bucket creation
/// fails against Debian's nats-server 2.9, and this needs nothing a bucket adds.
///
/// It is also the run's claim on the consumer: a run starting republishes the checkpoint it
/// loaded ([`Checkpoint::claim`]), and every save expects the subject's last message to be the
/// run's own (`Nats-Expected-Last-Subject-Sequence`). Once a later run has claimed the
/// consumer, an earlier run's saves are refused, and with them its acknowledgements
/// ([`Saved::Superseded`]). The claim's sequence is the epoch its store's writes are fenced by.
pub(super) struct Checkpoint {
    js: jetstream::Context,
    stream: jetstream::stream::Stream,
    subject: String,
    saved: Timestamp,
    /// The sequence of the subject's last message as this run knows it (0: none).
    last: u64,
}

/// A checkpoint save that failed.
pub(super) enum Saved {
    /// A later run claimed the consumer: this run must acknowledge nothing more.
    Superseded,
    /// The bus did not take it (retried at the next acknowledgement).
    Failed(String),
}

impl Checkpoint {
    /// The checkpoint of `consumer` on `stream` (the checkpoint stream created when missing).
    /// It has as many copies as the ticks' stream `ticks` has.
    pub(super) async fn open(
        js: &jetstream::Context,
        ticks: &mut jetstream::stream::Stream,
        consumer: &str,
    ) -> Result<Checkpoint, String> {
        let info = ticks.info().await.map_err(|e| format!("stream info: {e}"))?;
        let (stream, replicas) = (info.config.name.clone(), info.config.num_replicas);
        let config = jetstream::stream::Config {
            num_replicas: replicas,
            name: STREAM.to_string(),
            subjects: vec![format!("{SUBJECTS}.>")],
            max_messages_per_subject: 1,
            storage: jetstream::stream::StorageType::File,
            description: Some("ticklane: each durable consumer's checkpoint (design.md §10)".into()),
            ..Default::default()
        };
        let s = js.get_or_create_stream(config).await.map_err(|e| format!("checkpoint stream {STREAM}: {e}"))?;
        Ok(Checkpoint {
            js: js.clone(),
            stream: s,
            subject: format!("{SUBJECTS}.{stream}.{consumer}"),
            saved: Timestamp::MIN,
            last: 0,
        })
    }

    /// The saved progress, if any (a claim without progress holds none).
    pub(super) async fn load(&mut self) -> Result<Option<Timestamp>, String> {
        use jetstream::stream::LastRawMessageErrorKind as Kind;
        let m = match self.stream.get_last_raw_message_by_subject(&self.subject).await {
            Ok(m) => m,
            Err(e) if e.kind() == Kind::NoMessageFound => {
                self.last = 0;
                return Ok(None);
            }
            Err(e) => return Err(format!("checkpoint {}: {e}", self.subject)),
        };
        self.last = m.sequence;
        let text = String::from_utf8_lossy(&m.payload);
        if text.trim().is_empty() {
            return Ok(None);
        }
        let p = text.trim().parse::<Timestamp>().map_err(|_| {
            format!("checkpoint {} in stream {STREAM}: expected a timestamp in ns, found {text:?}", self.subject)
        })?;
        self.saved = p;
        Ok(Some(p))
    }

    /// Claims the consumer for this run: the checkpoint loaded and republished unchanged, unless
    /// another run saved or claimed meanwhile (then loaded again). The progress the run
    /// resumes from, and the claim's epoch (its sequence).
    pub(super) async fn claim(&mut self) -> Result<(Option<Timestamp>, i64), String> {
        use jetstream::context::PublishErrorKind as Kind;
        loop {
            let progress = self.load().await?;
            let text = progress.map(|p| p.to_string()).unwrap_or_default();
            match self.publish(text).await {
                Ok(seq) => return Ok((progress, i64::try_from(seq).unwrap_or(i64::MAX))),
                Err(e) if e.kind() == Kind::WrongLastSequence => continue,
                Err(e) => return Err(format!("claiming checkpoint {}: {e}", self.subject)),
            }
        }
    }

    /// Saves `progress` (or the progress saved before, if higher), acknowledged by the server,
    /// unless a later run has claimed the consumer. Saved before every acknowledgement, even
    /// when the progress has not moved: the save is also the check that the claim still holds.
    pub(super) async fn save(&mut self, progress: Timestamp) -> Result<(), Saved> {
        use jetstream::context::PublishErrorKind as Kind;
        let progress = progress.max(self.saved);
        match self.publish(progress.to_string()).await {
            Ok(_) => {
                self.saved = progress;
                Ok(())
            }
            Err(e) if e.kind() == Kind::WrongLastSequence => Err(Saved::Superseded),
            Err(e) => Err(Saved::Failed(format!("checkpoint {}: {e}", self.subject))),
        }
    }

    /// Publishes `text` on the subject, expecting its last message to be the one this run
    /// knows; that sequence, now this message's.
    async fn publish(&mut self, text: String) -> Result<u64, jetstream::context::PublishError> {
        let m =
            jetstream::message::PublishMessage::build().payload(text.into()).expected_last_subject_sequence(self.last);
        let ack = self.js.send_publish(self.subject.clone(), m).await?.await?;
        self.last = ack.sequence;
        Ok(ack.sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_ticks_bars_are_final_after_its_coarsest_window_and_the_lateness() {
        let w = Tumbling::new(Duration::from_secs(60), Duration::ZERO).expect("window");
        let f = Finality::Windows { window: w, horizon: 5_000_000_000 };
        let min = 60_000_000_000;
        assert_eq!(f.final_at(0), min + 5_000_000_000);
        assert_eq!(f.final_at(min - 1), min + 5_000_000_000);
        assert_eq!(f.final_at(min), 2 * min + 5_000_000_000, "a tick on a boundary opens the next window");
        assert_eq!(f.final_at(-1), 5_000_000_000, "before the epoch too");
        assert_eq!(Finality::AtEnd.final_at(0), WM_END - 1);
    }

    #[test]
    fn groups_are_acknowledged_in_order_once_closed_and_final() {
        let mut p = Pending::default();
        for (i, f) in [10, 30, 20].into_iter().enumerate() {
            p.note(f, i);
        }
        assert_eq!(p.ready(100), None, "the open group waits for the feed to go quiet or fill");
        p.close();
        assert_eq!(p.ready(30), None, "final after 30: the progress must be above it");
        assert_eq!(p.ready(31), Some(0));
        p.note(5, 3); // a new group, though its own bars are final sooner
        p.close();
        for i in 4..5 + GROUP as usize {
            p.note(50, i); // fills a group, then opens another
        }
        assert_eq!(p.ready(40), Some(1), "a later group never goes before an earlier one");
        assert_eq!(*p.last(1), 3);
        assert_eq!(p.acked(1), 4);
        assert_eq!(p.ready(51), Some(0), "the full group is closed; the next one is open");
        assert_eq!(p.acked(0), u64::from(GROUP));
        assert!(!p.is_empty());
    }

    #[test]
    fn a_tick_without_a_message_holds_back_the_group_that_follows_it() {
        let mut p = Pending::default();
        p.raise(90); // no group open: carried to the next one
        p.note(10, 0);
        p.close();
        assert_eq!(p.ready(50), None, "the fetched tick's bars (final after 90) are not durable");
        assert_eq!(p.ready(91), Some(0));
        assert_eq!(p.acked(0), 1);
        p.note(10, 1);
        p.raise(70); // the open group takes it
        p.close();
        assert_eq!(p.ready(60), None, "the open group took the fetched tick's 70");
        assert_eq!(p.ready(71), Some(0));
    }
}
