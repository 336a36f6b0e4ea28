//! A JetStream stream read through a durable pull consumer (default name `ticklane`),
//! acknowledged (ack-all) once handed to the engine's reader, or, with a store, once the bars
//! are durably written ([`crate::live::durable`]).
//!
//! The stream, the consumer and its message feed are opened again whenever they fail (a node
//! down, a leader moving, the feed ending), with the link's capped backoff, until stopped: a
//! run outlives a cluster's troubles. What was handed over and not yet acknowledged stays
//! pending across re-opens.

use super::pulls::{Got, Pulls};
use super::{Feed, Next};
use crate::live::durable::{Checkpoint, Pending, Saved};
use crate::live::ws::POLL;
use crate::live::Durability;
use crate::scale::{partition_subject, Layout};
use async_nats::jetstream::{self, consumer::pull, consumer::AckPolicy, consumer::PullConsumer};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use ticklane::operators::store::Claim;

/// Acknowledge at least every this many messages (and whenever the feed goes quiet).
const ACK_EVERY: u64 = 512;
/// How long JetStream waits for an ack before delivering a message again.
const ACK_WAIT: Duration = Duration::from_secs(10);
/// The same when acknowledging by durability: a tick waits for its window to close and be
/// written (redeliveries within a run are passed over, so this only saves the server work).
const DURABLE_ACK_WAIT: Duration = Duration::from_secs(300);
/// Messages between two looks at the durable progress (and whenever the feed goes quiet).
const TRY_ACK_EVERY: u32 = 64;
/// Checkpoint saves failing this often (the server we are connected to answers "no stream" for
/// a stream that exists: seen after that server restarted in a cluster): connect to another.
const UNANSWERED: u32 = 10;
/// Messages per pull request (the client asks for more when half are left: at most about
/// this many are buffered in the client).
const PULL_BATCH: usize = 1000;
/// Quiet polls (of `POLL`, 100 ms) between two looks for deliveries that went astray.
const QUIET_LOOK: u32 = 20;
/// The server's idle heartbeat on a pull that has nothing to send (the client's default).
const HEARTBEAT: Duration = Duration::from_secs(15);

/// What a read keeps across re-opens of the consumer.
struct Session<'a> {
    js: jetstream::Context,
    stream: &'a str,
    consumer: &'a str,
    durable: Option<Durability>,
    /// Acknowledging by durability: the messages handed over and not yet acknowledged.
    pending: Pending<jetstream::Message>,
    checkpoint: Option<Checkpoint>,
    /// The highest stream sequence handed over: a message at or below it came again.
    seen: u64,
    /// The highest consumer sequence (delivery count) seen.
    delivery: u64,
    /// The consumer as this run made it anew at its acknowledged position (once per run).
    made: Option<jetstream::consumer::Info>,
    /// The client, to leave a server that stopped answering for JetStream.
    client: async_nats::Client,
    /// Checkpoint saves failed since the last (re)connection.
    failures: u32,
    /// The stream, to fetch by sequence what a consumer delivered but never brought.
    handle: Option<jetstream::stream::Stream>,
    /// Where the consumer, made anew, starts (once known: a retry after deleting it must not
    /// start it from the beginning).
    resume_at: Option<u64>,
    /// The partition and its subject, when the consumer reads only that (design.md §10).
    partition: Option<u32>,
    filter: Option<String>,
}

impl Feed {
    /// Reads `stream` through `consumer` until stopped, re-opening what fails.
    pub(super) async fn read_stream(
        &mut self,
        client: async_nats::Client,
        stream: &str,
        consumer: &str,
        partition: Option<u32>,
    ) {
        let durable = self.opt.durability.clone();
        let mut s = Session {
            js: jetstream::new(client.clone()),
            client,
            failures: 0,
            handle: None,
            stream,
            consumer,
            durable,
            pending: Pending::default(),
            checkpoint: None,
            seen: 0,
            delivery: 0,
            made: None,
            resume_at: None,
            partition,
            filter: partition.map(|p| partition_subject(stream, p)),
        };
        let mut wait = self.opt.reconnect_min;
        while !self.link.stopped() {
            let result = match self.open(&mut s).await {
                Ok(c) if s.durable.is_some() => match messages(&c).await {
                    Ok(messages) => self.read_durably(messages, &mut s).await,
                    Err(e) => Err(e),
                },
                Ok(_) => match Pulls::open(&s.client, s.stream, s.consumer).await {
                    Ok(pulls) => self.read_handed_over(pulls, &s.client).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => break,
                Err(e) if !self.link.stopped() => {
                    log::warn!("{}: {e}; opening it again in {wait:?}", self.link.url);
                    self.link.sleep(wait);
                    wait = (wait * 2).min(self.opt.reconnect_max);
                }
                Err(_) => break,
            }
        }
        if let Some(d) = s.durable.clone() {
            self.settle(&mut s, &d).await;
        }
    }

    /// The stream, the consumer (made anew at its acknowledged position the first time, when
    /// acknowledging by durability) and the checkpoint.
    async fn open(&mut self, s: &mut Session<'_>) -> Result<PullConsumer, String> {
        let mut stream = s.js.get_stream(s.stream).await.map_err(|e| format!("stream {}: {e}", s.stream))?;
        if let Some(p) = s.partition {
            check_partition(&mut stream, s.consumer, p).await?;
        }
        let config = pull::Config {
            filter_subject: s.filter.clone().unwrap_or_default(),
            durable_name: Some(s.consumer.to_string()),
            ack_policy: AckPolicy::All,
            ack_wait: if s.durable.is_some() { DURABLE_ACK_WAIT } else { ACK_WAIT },
            // Acknowledgements wait for windows to close: the run, not the server, bounds
            // what it takes (it stops pulling when the engine or the store is behind).
            max_ack_pending: if s.durable.is_some() { -1 } else { 0 },
            ..pull::Config::default()
        };
        if s.durable.is_some() && s.checkpoint.is_none() {
            // Claimed before the consumer is made anew: a run it supersedes acknowledges
            // nothing more from then on.
            s.checkpoint = Some(self.resume(s, &mut stream).await?);
        }
        let failed = |e: &dyn std::fmt::Display| format!("consumer {}: {e}", s.consumer);
        let c: PullConsumer = match (&s.durable, &s.made) {
            (Some(_), None) => {
                let c = self.restart_consumer(&stream, s.consumer, config, &mut s.resume_at).await?;
                s.made = Some(c.cached_info().clone());
                s.delivery = 0; // a new consumer counts its deliveries from 1
                c
            }
            (Some(_), Some(made)) => self.same_consumer(&stream, s.consumer, made).await?,
            (None, _) => stream.get_or_create_consumer(s.consumer, config).await.map_err(|e| failed(&e))?,
        };
        s.handle = Some(stream.clone());
        Ok(c)
    }

    /// The durable consumer made anew at its acknowledged position: what an earlier run took
    /// and did not acknowledge (it died, say) comes again at once, not after the
    /// acknowledgement wait. The consumer is this run's alone while it reads.
    async fn restart_consumer(
        &mut self,
        s: &jetstream::stream::Stream,
        consumer: &str,
        mut config: pull::Config,
        resume_at: &mut Option<u64>,
    ) -> Result<PullConsumer, String> {
        use async_nats::jetstream::context::ConsumerInfoErrorKind as Kind;
        let failed = |e: &dyn std::fmt::Display| format!("consumer {consumer}: {e}");
        let mut old = None;
        match s.consumer_info(consumer).await {
            Ok(info) => {
                old = Some(info.created);
                let next = resume_point(&info);
                log::info!(
                    "{}: consumer {consumer} resumes at stream sequence {next} (after what it acknowledged)",
                    self.link.url
                );
                *resume_at = Some(next);
                s.delete_consumer(consumer).await.map_err(|e| failed(&e))?;
            }
            // A new consumer, or one this run deleted before failing to make it anew.
            Err(e) if matches!(e.kind(), Kind::NotFound) => {}
            // Not knowing where it stands, it must not be made anew at the start.
            Err(e) => return Err(failed(&e)),
        }
        if let Some(start_sequence) = *resume_at {
            config.deliver_policy = jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence };
        }
        let c: PullConsumer = s.create_consumer(config).await.map_err(|e| failed(&e))?;
        if old == Some(c.cached_info().created) {
            // The deletion had not taken effect (a cluster): the old consumer came back.
            return Err(failed(&"still the one deleted; making it anew again"));
        }
        Ok(c)
    }

    /// The consumer this run made, opened again after a failure. Deleted or made anew since,
    /// it has been taken over by another run (its partition moved to another worker): this run
    /// stops reading, holds its sources open and says so ([`super::super::LinkStats::superseded`]);
    /// the program must then exit without draining, since what it would write and acknowledge
    /// now belongs to the other run.
    async fn same_consumer(
        &mut self,
        stream: &jetstream::stream::Stream,
        consumer: &str,
        made: &jetstream::consumer::Info,
    ) -> Result<PullConsumer, String> {
        use async_nats::jetstream::context::ConsumerInfoErrorKind as Kind;
        let failed = |e: &dyn std::fmt::Display| format!("consumer {consumer}: {e}");
        match stream.consumer_info(consumer).await {
            Ok(info) if info.created == made.created => stream.get_consumer(consumer).await.map_err(|e| failed(&e)),
            Ok(_) => Err(self.superseded(consumer).await),
            Err(e) if matches!(e.kind(), Kind::NotFound) => Err(self.superseded(consumer).await),
            Err(e) => Err(failed(&e)),
        }
    }

    /// Another run took the consumer over: nothing more is read or acknowledged here; waits
    /// for the program to exit (or to be stopped).
    async fn superseded(&mut self, consumer: &str) -> String {
        log::error!(
            "{}: consumer {consumer} was deleted or made anew by another run (its partition has another owner): \
             reading nothing more",
            self.link.url
        );
        self.link.stats.superseded.store(true, Relaxed);
        while !self.link.stopped() {
            tokio::time::sleep(POLL).await;
        }
        format!("consumer {consumer}: taken over by another run")
    }

    /// The consumer's checkpoint, claimed for this run (the claim recorded in the store's
    /// fence, if any); when it holds progress, the readers are told the watermark floor the
    /// redelivered ticks are judged against (just below it: what was durable then).
    async fn resume(&mut self, s: &Session<'_>, stream: &mut jetstream::stream::Stream) -> Result<Checkpoint, String> {
        let mut cp = Checkpoint::open(&s.js, stream, s.consumer).await?;
        let (progress, epoch) = cp.claim().await?;
        log::info!("{}: consumer {} claimed (epoch {epoch})", self.link.url, s.consumer);
        if let Some(d) = &s.durable {
            d.claimed(Claim { name: format!("{}/{}", s.stream, s.consumer), epoch });
        }
        if let Some(progress) = progress {
            log::info!("{}: resuming from a checkpoint: bars ending before {progress} are written", self.link.url);
            self.link.floor(progress.saturating_sub(1));
        }
        Ok(cp)
    }

    /// Acknowledges every [`ACK_EVERY`] messages and when the feed goes quiet: everything up to
    /// the message acknowledged was handed to the reader. The deliveries are read as plain
    /// messages ([`Pulls`]); of each only its reply subject is kept, to acknowledge it by. `Ok`
    /// once stopped; an error when the feed failed.
    async fn read_handed_over(&mut self, mut p: Pulls, client: &async_nats::Client) -> Result<(), String> {
        let (mut unacked, mut last): (u64, Option<async_nats::Subject>) = (0, None);
        let ended = loop {
            if self.link.stopped() {
                break Ok(());
            }
            let asks = &mut p.asks;
            let read = |feed: &mut Feed, item: Option<async_nats::Message>| {
                item.map(|m| {
                    asks.note(m, |payload| {
                        feed.on_message(payload);
                    })
                })
            };
            let quiet = match self.next(&mut p.deliveries, read).await {
                Next::Item(Some(Ok(Got::Tick(reply)))) => {
                    (unacked, last) = (unacked + 1, reply);
                    false
                }
                Next::Item(Some(Ok(Got::Status))) => false,
                Next::Item(Some(Err(e))) => break Err(format!("consumer feed: {e}")),
                Next::Item(None) => break Err("the consumer's message feed ended".into()),
                Next::Quiet => true,
                Next::Gone => break Ok(()),
            };
            if let Err(e) = p.asks.top_up(quiet).await {
                break Err(format!("consumer feed: {e}"));
            }
            if unacked >= ACK_EVERY || (unacked > 0 && quiet) {
                // Ack-all: everything up to this message was handed to the reader (a quiet
                // wait came after a hand-over; a full count hands over first).
                if !quiet && !self.link.send_pending(false) {
                    break Ok(());
                }
                self.burst = 0;
                self.ack(client, last.take(), unacked).await;
                unacked = 0;
            }
        };
        self.link.send_pending(true);
        if unacked > 0 {
            self.ack(client, last, unacked).await;
        }
        ended
    }

    /// Acknowledges a message once the bars of every tick up to it are durably written. A
    /// message delivered again (past the acknowledgement wait, or after a re-open) is not handed
    /// over again, but waits for its bars like the first delivery. `Ok` once stopped.
    async fn read_durably(&mut self, mut messages: pull::Stream, s: &mut Session<'_>) -> Result<(), String> {
        let Some(d) = s.durable.clone() else { return Ok(()) };
        let (mut since_try, mut quiet) = (0u32, 0u32);
        while !self.link.stopped() {
            match self.next(&mut messages, |_, item| item).await {
                Next::Item(Some(Ok(m))) => {
                    self.take(m, s, &d).await;
                    (since_try, quiet) = (since_try + 1, 0);
                }
                Next::Item(Some(Err(e))) => return Err(format!("consumer feed: {e}")),
                Next::Item(None) => return Err("the consumer's message feed ended".into()),
                Next::Quiet => {
                    s.pending.close();
                    since_try = u32::MAX;
                    quiet += 1;
                    if quiet % QUIET_LOOK == 0 {
                        self.astray(s).await?;
                    }
                }
                Next::Gone => break,
            }
            if since_try >= TRY_ACK_EVERY {
                self.ack_durable(s, &d).await;
                since_try = 0;
                if s.failures >= UNANSWERED {
                    return self.leave_server(s).await;
                }
            }
        }
        Ok(())
    }

    /// The feed has been quiet for a while: if the server delivered past what came here (to a
    /// pull request of a run that died, through a node that lost it), nothing later will
    /// reveal the gap, and those deliveries would wait for the acknowledgement wait. The
    /// consumer is then made anew at its acknowledged position (what came here already is
    /// passed over when it comes again). A consumer made anew by another run supersedes this one.
    async fn astray(&mut self, s: &mut Session<'_>) -> Result<(), String> {
        let (Some(h), Some(made)) = (&s.handle, &s.made) else { return Ok(()) };
        let Ok(info) = h.consumer_info(s.consumer).await else { return Ok(()) }; // asked again later
        if info.created != made.created {
            return Err(self.superseded(s.consumer).await);
        }
        // Consumer sequences: a partition's consumer moves its stream sequence past others' ticks.
        let delivered = info.delivered.consumer_sequence;
        if delivered <= s.delivery {
            return Ok(());
        }
        log::warn!(
            "{}: the server made {delivered} deliveries, but only {} came here: making the consumer anew at its \
             acknowledged position",
            self.link.url,
            s.delivery
        );
        s.made = None;
        Err("deliveries went astray".into())
    }

    /// One message: handed on (unless it came before), and pending until its bars are durable.
    /// Deliveries lost in flight before it are fetched by stream sequence and handed on first:
    /// the consumer's deliveries are numbered from 1, so a gap in the numbers is a delivery
    /// that went elsewhere (lost across a reconnect, or taken by a pull request of a run this
    /// one superseded), even before the first that came here.
    async fn take(&mut self, m: jetstream::Message, s: &mut Session<'_>, d: &Durability) {
        let (seq, delivery) = m.info().map_or((0, 0), |i| (i.stream_sequence, i.consumer_sequence));
        if delivery > s.delivery + 1 {
            // The consumer's first deliveries start where it was made to start.
            let from = match s.delivery {
                0 => s.resume_at.unwrap_or(1).max(s.seen + 1),
                _ => s.seen + 1,
            };
            if seq > from {
                self.fetch_lost(s, d, from, seq - 1).await;
            }
        }
        s.delivery = s.delivery.max(delivery);
        let ts = if seq != 0 && seq <= s.seen {
            self.link.stats.redelivered.fetch_add(1, Relaxed);
            super::tick_time(&m.payload)
        } else {
            s.seen = seq;
            self.on_message(&m.payload)
        };
        s.pending.note(d.final_at(ts), m);
    }

    /// Stream sequences `from..=to` were delivered but never arrived (lost in flight across a
    /// reconnect; the server counts them as delivered, and acknowledging a later message
    /// acknowledges them): each of the consumer's messages there is read from the stream and
    /// handed on, in order. One that cannot be read is counted as lost and said loudly. (A
    /// consumer of the whole stream delivers consecutive sequences; a partition's consumer
    /// only its subject's, found one after the other.)
    async fn fetch_lost(&mut self, s: &mut Session<'_>, d: &Durability, from: u64, to: u64) {
        log::warn!("{}: stream sequences {from}..={to} were delivered but never arrived: fetching them", self.link.url);
        let mut seq = from;
        while seq <= to {
            match self.fetch(s, seq).await {
                Ok(m) if m.sequence > to => break,
                Ok(m) => {
                    let ts = self.on_message(&m.payload);
                    s.pending.raise(d.final_at(ts));
                    seq = m.sequence;
                }
                Err(e) if s.filter.is_some() => {
                    self.link.stats.lost_deliveries.fetch_add(1, Relaxed);
                    log::error!(
                        "{}: stream sequences {seq}..={to} lost in flight and not readable: {e}",
                        self.link.url
                    );
                    seq = to;
                }
                Err(e) => {
                    self.link.stats.lost_deliveries.fetch_add(1, Relaxed);
                    log::error!("{}: stream sequence {seq} lost in flight and not readable: {e}", self.link.url);
                }
            }
            s.seen = seq;
            seq += 1;
        }
    }

    /// Stream sequence `seq` (a partition's consumer: its first message from `seq` on), read again (with the link's backoff: the cluster may be in the
    /// middle of the trouble that lost it) until read, gone for good, or stopped.
    async fn fetch(
        &mut self,
        s: &Session<'_>,
        seq: u64,
    ) -> Result<async_nats::jetstream::message::StreamMessage, String> {
        use async_nats::jetstream::stream::RawMessageErrorKind as Kind;
        let Some(h) = &s.handle else { return Err("no stream".into()) };
        let mut wait = self.opt.reconnect_min;
        loop {
            let get = match &s.filter {
                Some(subject) => h.raw_message_builder().sequence(seq).next_by_subject(subject.clone()).send().await,
                None => h.get_raw_message(seq).await,
            };
            match get {
                Ok(m) => return Ok(m),
                Err(e) if e.kind() == Kind::NoMessageFound || self.link.stopped() => return Err(e.to_string()),
                Err(e) => {
                    log::warn!("{}: reading stream sequence {seq} again in {wait:?}: {e}", self.link.url);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.opt.reconnect_max);
                }
            }
        }
    }

    /// The server stopped answering for JetStream: the client reconnects (to another server of
    /// the cluster, when it knows one) and the consumer's feed is opened again.
    async fn leave_server(&mut self, s: &mut Session<'_>) -> Result<(), String> {
        s.failures = 0;
        if let Err(e) = s.client.force_reconnect().await {
            log::warn!("{}: reconnecting: {e}", self.link.url);
        }
        Err(format!("{UNANSWERED} checkpoint saves failed through this server; reconnected"))
    }

    /// Stopped: the readers' sources end, and what becomes durable while the run drains is
    /// acknowledged, until the store has finished.
    async fn settle(&mut self, s: &mut Session<'_>, d: &Durability) {
        self.link.close();
        s.pending.close();
        loop {
            let done = d.done();
            self.ack_durable(s, d).await;
            if done || s.pending.is_empty() {
                return;
            }
            tokio::time::sleep(POLL.min(Duration::from_millis(20))).await;
        }
    }

    /// Acknowledges the groups whose bars are durable, the checkpoint saved first.
    async fn ack_durable(&mut self, s: &mut Session<'_>, d: &Durability) {
        let progress = d.progress();
        let (Some(i), Some(cp)) = (s.pending.ready(progress), s.checkpoint.as_mut()) else { return };
        match cp.save(progress).await {
            Ok(()) => {}
            Err(Saved::Failed(e)) => {
                s.failures += 1;
                return log::warn!("{}: {e}; not acknowledging until it is saved", self.link.url);
            }
            Err(Saved::Superseded) => return self.claimed_by_another(s.consumer),
        }
        if let Err(e) = s.pending.last(i).ack().await {
            return log::warn!("{}: ack: {e}", self.link.url);
        }
        let n = s.pending.acked(i);
        self.link.stats.acked.fetch_add(n, Relaxed);
    }

    /// A later run claimed the consumer (its checkpoint refused this run's save): nothing more
    /// is acknowledged here, and the program is told to exit without draining.
    fn claimed_by_another(&self, consumer: &str) {
        if !self.link.stats.superseded.swap(true, Relaxed) {
            log::error!(
                "{}: consumer {consumer} was claimed by another run (its checkpoint moved on): acknowledging nothing \
                 more",
                self.link.url
            );
        }
    }

    /// Acknowledges (ack-all) up to the message whose reply subject is `reply` (as
    /// `jetstream::Message::ack` does: an empty message to it), counting `n` messages.
    async fn ack(&self, client: &async_nats::Client, reply: Option<async_nats::Subject>, n: u64) {
        let Some(reply) = reply else { return log::warn!("{}: ack: a message without a reply subject", self.link.url) };
        match client.publish(reply, "".into()).await {
            Ok(()) => {
                self.link.stats.acked.fetch_add(n, Relaxed);
            }
            Err(e) => log::warn!("{}: ack: {e}", self.link.url),
        }
    }
}

/// The consumer's deliveries through the client's pull stream (as full JetStream messages: the
/// durable path reads their delivery numbers and keeps them to acknowledge later).
async fn messages(c: &PullConsumer) -> Result<pull::Stream, String> {
    let messages = c.stream().max_messages_per_batch(PULL_BATCH).heartbeat(HEARTBEAT).messages().await;
    messages.map_err(|e| format!("consumer feed: {e}"))
}

/// A partition's consumer needs a stream partitioned into more than that partition.
async fn check_partition(stream: &mut jetstream::stream::Stream, consumer: &str, p: u32) -> Result<(), String> {
    let info = stream.info().await.map_err(|e| format!("stream info: {e}"))?;
    let name = info.config.name.clone();
    let layout = Layout::from_description(&name, info.config.description.as_deref()).map_err(|e| e.to_string())?;
    match layout {
        Layout::Partitioned(n) if p < n => Ok(()),
        Layout::Partitioned(n) => {
            Err(format!("consumer {consumer}: partition {p}, but stream {name} has {n} (0 to {})", n - 1))
        }
        Layout::Single => Err(format!(
            "consumer {consumer}: partition {p}, but stream {name} is not partitioned (publish it with --partitions P)"
        )),
    }
}

/// Where a consumer made anew resumes: after what it acknowledged. A consumer that has
/// acknowledged nothing yet reports an acknowledged position of 0 (nats-server 2.9): it resumes
/// where it started.
fn resume_point(info: &jetstream::consumer::Info) -> u64 {
    use jetstream::consumer::DeliverPolicy;
    match (info.ack_floor.stream_sequence, &info.config.deliver_policy) {
        (0, DeliverPolicy::ByStartSequence { start_sequence }) => *start_sequence,
        (acked, _) => acked + 1,
    }
}
