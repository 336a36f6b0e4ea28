//! Worker membership on JetStream itself (design.md §10): each worker of a partitioned stream
//! `STREAM` keeps one message on `ticklane.workers.STREAM.{ID}` of the stream [`STREAM`]
//! (one message kept per subject, in memory, replicated like the ticks), published again every
//! heartbeat. The stream's `max_age` is the membership's time to live: the server drops a
//! worker's message once it is that old, and the worker is no longer a member. The members are
//! the subjects holding a message. (A key-value bucket would do the same; the client's bucket
//! creation fails against Debian's nats-server 2.9.)
//!
//! The calls block (a current-thread runtime of the caller's). Those of a beat are bounded by a
//! tenth of the time to live, so that a worker that cannot reach the bus finds out in time to
//! stop consuming, well before the others count it gone (docs/scale-out.md).

use super::assign::{partitions, Members, WorkerId};
use super::stream::Layout;
use crate::live::{connect_options, LinkOptions};
use async_nats::jetstream;
use futures_util::TryStreamExt;
use std::future::IntoFuture;
use std::time::Duration;

/// The stream of the heartbeats.
pub const STREAM: &str = "TICKLANE_WORKERS";
/// Its subjects' prefix.
const SUBJECTS: &str = "ticklane.workers";
/// A beat's and a listing's requests each wait at most the time to live over this.
const QUICK: u32 = 10;

/// Why a membership could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The bus did not answer in time or refused a request: worth trying again.
    #[error("{0}")]
    Bus(String),
    /// The ticks' stream cannot be shared by workers (not partitioned, or an unusable count).
    #[error("{0}")]
    Stream(String),
}

/// One worker's membership of the group reading a partitioned stream.
pub struct Membership {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    members: jetstream::stream::Stream,
    /// `ticklane.workers.STREAM.` — the members' subjects start so.
    prefix: String,
    /// This worker's subject.
    subject: String,
    ttl: Duration,
    partitions: u32,
}

impl Membership {
    /// Connects to `server` as worker `id` of the group reading the partitioned stream `ticks`;
    /// the heartbeat stream is created when missing with `max_age` `ttl` (an existing one keeps
    /// its own: [`Membership::ttl`] says which holds). Not yet a member: see [`Membership::beat`].
    pub fn open(server: &str, ticks: &str, id: &WorkerId, ttl: Duration) -> Result<Membership, MembershipError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| MembershipError::Bus(format!("cannot start the NATS client's runtime: {e}")))?;
        let options = connect_options(&LinkOptions { connect_timeout: ttl, ..LinkOptions::default() });
        let (js, members, ttl, partitions) = rt.block_on(async {
            let bus = MembershipError::Bus;
            let client = bounded(ttl * 2, options.connect(server)).await.map_err(bus)?;
            let client = client.map_err(|e| bus(format!("{server}: {e}")))?;
            let js = jetstream::new(client);
            let (replicas, partitions) = layout(&js, ticks, ttl).await?;
            let config = jetstream::stream::Config {
                name: STREAM.to_string(),
                subjects: vec![format!("{SUBJECTS}.>")],
                max_messages_per_subject: 1,
                max_age: ttl,
                num_replicas: replicas,
                storage: jetstream::stream::StorageType::Memory,
                description: Some("ticklane: the workers of each partitioned stream (design.md §10)".into()),
                ..Default::default()
            };
            let made = bounded(ttl, js.get_or_create_stream(config)).await.map_err(bus)?;
            let mut members = made.map_err(|e| bus(format!("membership stream {STREAM}: {e}")))?;
            let info = bounded(ttl, members.info()).await.map_err(bus)?;
            let max_age = info.map_err(|e| bus(format!("stream {STREAM}: {e}")))?.config.max_age;
            Ok::<_, MembershipError>((js, members, max_age, partitions))
        })?;
        let prefix = format!("{SUBJECTS}.{ticks}.");
        let subject = format!("{prefix}{}", id.as_str());
        Ok(Membership { rt, js, members, prefix, subject, ttl, partitions })
    }

    /// The time to live of a membership: the heartbeat stream's `max_age`.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The ticks stream's partition count.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// One heartbeat, acknowledged by the server. Each request waits at most [`QUICK`] of the
    /// time to live, so that a worker cut off finds out in time to stop its runs.
    pub fn beat(&self) -> Result<(), String> {
        let (js, subject, ttl) = (&self.js, self.subject.clone(), self.ttl / QUICK);
        self.rt.block_on(async {
            let ack =
                bounded(ttl, js.publish(subject, "alive".into())).await?.map_err(|e| format!("heartbeat: {e}"))?;
            bounded(ttl, ack).await?.map(|_| ()).map_err(|e| format!("heartbeat: {e}"))
        })
    }

    /// The members now: the workers whose last heartbeat is younger than the time to live.
    pub fn members(&self) -> Result<Members, String> {
        let (s, prefix, ttl) = (&self.members, &self.prefix, self.ttl / QUICK);
        let ids = self.rt.block_on(async {
            let listed = bounded(ttl, s.info_with_subjects(format!("{prefix}>"))).await?;
            let subjects = listed.map_err(|e| format!("members: {e}"))?;
            let all: Vec<(String, usize)> =
                bounded(ttl, subjects.try_collect()).await?.map_err(|e| format!("members: {e}"))?;
            Ok::<_, String>(all.into_iter().filter_map(|(subj, n)| (n > 0).then(|| subj[prefix.len()..].to_string())))
        })?;
        let ids: Vec<String> = ids.filter(|id| WorkerId::new(id).is_ok()).collect();
        Members::new(&ids).map_err(|e| format!("members: {e}"))
    }

    /// Leaves at once (the heartbeat removed), rather than after the time to live.
    pub fn leave(&self) -> Result<(), String> {
        let (s, subject, ttl) = (&self.members, &self.subject, self.ttl);
        self.rt.block_on(async {
            bounded(ttl, s.purge().filter(subject.clone())).await?.map(|_| ()).map_err(|e| format!("leaving: {e}"))
        })
    }
}

/// The ticks stream's copies and partition count; an error unless it is partitioned.
async fn layout(js: &jetstream::Context, ticks: &str, ttl: Duration) -> Result<(usize, u32), MembershipError> {
    let bus = MembershipError::Bus;
    let s = bounded(ttl, js.get_stream(ticks)).await.map_err(bus)?;
    let mut s = s.map_err(|e| bus(format!("stream {ticks}: {e}")))?;
    let info = bounded(ttl, s.info()).await.map_err(bus)?.map_err(|e| bus(format!("stream {ticks}: {e}")))?;
    let stream = |e: String| MembershipError::Stream(e);
    let layout =
        Layout::from_description(ticks, info.config.description.as_deref()).map_err(|e| stream(e.to_string()))?;
    match layout {
        Layout::Partitioned(p) => {
            Ok((info.config.num_replicas, partitions(u64::from(p)).map_err(|e| stream(e.to_string()))?))
        }
        Layout::Single => Err(stream(format!(
            "stream {ticks} is not partitioned: workers share a stream published with --partitions P (design.md §10)"
        ))),
    }
}

/// `f`, or an error once `limit` has passed.
async fn bounded<T>(limit: Duration, f: impl IntoFuture<Output = T>) -> Result<T, String> {
    tokio::time::timeout(limit, f.into_future()).await.map_err(|_| format!("no answer from NATS within {limit:?}"))
}
