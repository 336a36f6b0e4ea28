//! A pull consumer's deliveries read as the client's plain messages: pull requests published by
//! hand to the consumer's `MSG.NEXT` subject with our own inbox as the reply, and the
//! deliveries read from that inbox's subscription.
//!
//! The client's `pull::Stream` does the same, but wraps every delivery in a
//! `jetstream::Message` that carries a clone of the JetStream context (a client handle with its
//! channel senders and watch receivers, the API prefix as a `String`): a dozen atomic counts
//! and an allocation made and undone per message. Where a delivery is only read and
//! acknowledged by its reply subject (acknowledging by hand-over), this reads it without them.
//! The request protocol is JetStream's (ADR-13): each request asks for a batch and lapses after
//! a while; a lapsed or ended request says how many of its messages it did not deliver
//! (`Nats-Pending-Messages`); while a request waits with nothing to deliver the server sends
//! idle heartbeats, so a long silence means the requests were lost (a server restarted, the
//! connection was made again) and are made anew.

use async_nats::{Client, Message, StatusCode, Subject, Subscriber};
use std::time::{Duration, Instant};

/// Messages per pull request; another goes out when half of what was asked is left.
const BATCH: usize = 1000;
/// A pull request lapses after this.
const EXPIRES: Duration = Duration::from_secs(10);
/// The server's heartbeat while a request waits with nothing to deliver.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Nothing heard for this long while messages are asked for: the requests were lost.
const SILENT: Duration = Duration::from_secs(3);

/// The inbox's deliveries and the requests for them.
pub(super) struct Pulls {
    pub(super) deliveries: Subscriber,
    pub(super) asks: Asks,
}

/// The pull requests outstanding.
pub(super) struct Asks {
    client: Client,
    /// `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`.
    next: Subject,
    inbox: Subject,
    /// Messages asked for and neither delivered nor given up by the server.
    asked: usize,
    /// Heard from the server (or asked it) since the last quiet look: the clock is read only
    /// when the feed is quiet, not per message.
    heard_since: bool,
    /// When the server was last heard from, as of the quiet looks.
    heard: Instant,
}

/// What came on the inbox.
pub(super) enum Got {
    /// A message of the stream: its reply subject acknowledges it.
    Tick(Option<Subject>),
    /// A heartbeat or a request that lapsed: nothing to hand over.
    Status,
}

impl Pulls {
    /// Subscribes to a fresh inbox and asks for the first batch.
    pub(super) async fn open(client: &Client, stream: &str, consumer: &str) -> Result<Pulls, String> {
        let inbox = Subject::from(client.new_inbox());
        let deliveries =
            client.subscribe(inbox.clone()).await.map_err(|e| format!("consumer {consumer}: subscribing: {e}"))?;
        let next = Subject::from(format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"));
        let mut asks =
            Asks { client: client.clone(), next, inbox, asked: 0, heard_since: false, heard: Instant::now() };
        asks.top_up(false).await?;
        Ok(Pulls { deliveries, asks })
    }
}

impl Asks {
    /// Accounts for what came; `on_tick` reads a stream message's payload. An error ends this
    /// feed (the consumer was deleted, or cannot be pulled from): it is opened again.
    pub(super) fn note(&mut self, mut m: Message, on_tick: impl FnOnce(&[u8])) -> Result<Got, String> {
        self.heard_since = true;
        match m.status {
            None | Some(StatusCode::OK) => {
                self.asked = self.asked.saturating_sub(1);
                on_tick(&m.payload);
                Ok(Got::Tick(m.reply.take()))
            }
            Some(StatusCode::IDLE_HEARTBEAT) => Ok(Got::Status),
            Some(StatusCode::TIMEOUT | StatusCode::REQUEST_TERMINATED) => {
                let what = m.description.as_deref().unwrap_or_default();
                if what == "Consumer Deleted"
                    || what == "Consumer is push based"
                    || what.starts_with("Exceeded MaxRequest")
                {
                    return Err(format!("pull request: {what}"));
                }
                let left = m.headers.as_ref().and_then(|h| h.get("Nats-Pending-Messages"));
                self.asked = self.asked.saturating_sub(left.and_then(|v| v.as_str().parse().ok()).unwrap_or(BATCH));
                Ok(Got::Status)
            }
            Some(s) => Err(format!("pull request: status {s} {}", m.description.unwrap_or_default())),
        }
    }

    /// Asks for another batch when half of what was asked has come (so the server always has
    /// a request to deliver to), and anew when the server has been silent too long (judged
    /// when the feed is `quiet`).
    pub(super) async fn top_up(&mut self, quiet: bool) -> Result<(), String> {
        if quiet {
            let now = Instant::now();
            if std::mem::take(&mut self.heard_since) {
                self.heard = now;
            } else if self.asked > 0 && now - self.heard >= SILENT {
                self.asked = 0;
            }
        }
        if self.asked > BATCH / 2 {
            return Ok(());
        }
        let body = format!(
            r#"{{"batch":{BATCH},"expires":{},"idle_heartbeat":{}}}"#,
            EXPIRES.as_nanos(),
            HEARTBEAT.as_nanos()
        );
        let (next, inbox) = (self.next.clone(), self.inbox.clone());
        self.client.publish_with_reply(next, inbox, body.into()).await.map_err(|e| format!("pull request: {e}"))?;
        self.asked += BATCH;
        self.heard_since = true;
        Ok(())
    }
}
