//! A JetStream stream of ticks: created when missing (subjects `STREAM.>`, file storage, its
//! partition count recorded with it) or followed as it is (design.md §10). `ticklane publish`
//! and `--ticks-out` share it.

use crate::outcome::BadInput;
use anyhow::Context;
use ticklane_tools::scale::Layout;

/// The layout `stream` records, the stream created with `partitions` when missing; an error
/// when it records another partition count than `partitions` (given as `flag`) asks for.
pub(crate) async fn stream_layout(
    js: &async_nats::jetstream::Context,
    stream: &str,
    partitions: Option<u32>,
    replicas: u8,
    flag: &str,
) -> anyhow::Result<Layout> {
    use async_nats::jetstream::{context::GetStreamErrorKind, stream, ErrorCode};
    let asked = partitions.map_or(Layout::Single, Layout::Partitioned);
    let found = match js.get_stream(stream).await {
        Ok(mut s) => s.info().await.with_context(|| format!("JetStream stream {stream}"))?.config.description.clone(),
        Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(j) if j.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
        {
            let config = stream::Config {
                name: stream.to_string(),
                subjects: vec![format!("{stream}.>")],
                storage: stream::StorageType::File,
                description: asked.description(),
                num_replicas: usize::from(replicas),
                ..Default::default()
            };
            js.create_stream(config).await.with_context(|| format!("creating JetStream stream {stream}"))?;
            return Ok(asked);
        }
        Err(e) => return Err(e).with_context(|| format!("JetStream stream {stream}")),
    };
    let layout = Layout::from_description(stream, found.as_deref()).map_err(|e| BadInput(e.to_string()))?;
    match partitions {
        Some(p) if layout != Layout::Partitioned(p) => {
            let holds = match layout {
                Layout::Single => "unpartitioned ticks".to_string(),
                Layout::Partitioned(n) => format!("{n} partitions"),
            };
            let rest = format!("(fixed when it was created); leave {flag} out to follow the stream");
            Err(BadInput(format!("{flag} {p}: stream {stream} holds {holds} {rest}")).into())
        }
        _ => Ok(layout),
    }
}
