//! One WebSocket connection: TCP with timeouts, the handshake (TLS for `wss://`), and frames
//! read with a short poll so that the feed thread can watch its stop flag and the stall clock.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long a read waits before the feed thread looks at its stop flag and stall clock again.
pub(super) const POLL: Duration = Duration::from_millis(100);

/// The largest message or frame accepted: Binance's messages are well under a kilobyte; a
/// peer sending more is broken (the connection is dropped, memory stays bounded).
const MAX_MESSAGE: usize = 1 << 20;

/// An open WebSocket.
pub(super) struct Conn {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

/// What one read gave.
pub(super) enum Read {
    /// A text message (binary messages are handed over as text when they are UTF-8).
    Text(tungstenite::Utf8Bytes),
    /// A message that is not market data: ping, pong, or a binary message that is not UTF-8
    /// (`true`: counts as garbage).
    Other(bool),
    /// Nothing within [`POLL`].
    Nothing,
    /// The peer closed the connection, or it failed (why).
    Closed(String),
}

impl Conn {
    /// Connects to `url` (`ws://` or `wss://`), giving up after `timeout` per step.
    pub(super) fn open(url: &str, timeout: Duration) -> Result<Conn, String> {
        let req = url.into_client_request().map_err(|e| format!("bad URL: {e}"))?;
        let uri = req.uri().clone();
        let host = uri.host().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
        let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("wss") { 443 } else { 80 });
        let addrs = (host.as_str(), port).to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let mut last = format!("{host}:{port} has no address");
        let mut tcp = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {a}: {e}"),
            }
        }
        let tcp = tcp.ok_or(last)?;
        let io = |e: std::io::Error| e.to_string();
        tcp.set_nodelay(true).map_err(io)?;
        tcp.set_read_timeout(Some(timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(timeout)).map_err(io)?;
        let handle = tcp.try_clone().map_err(io)?;
        let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
        let (ws, _) = tungstenite::client_tls_with_config(req, tcp, Some(config), None)
            .map_err(|e| format!("WebSocket handshake failed: {e}"))?;
        // From now on reads come back every POLL (the same socket as `tcp`).
        handle.set_read_timeout(Some(POLL)).map_err(io)?;
        Ok(Conn { ws })
    }

    /// The next message, or [`Read::Nothing`] within [`POLL`]. Pings are answered by the
    /// library (the pong goes out with the next read).
    pub(super) fn read(&mut self) -> Read {
        use tungstenite::Error;
        match self.ws.read() {
            Ok(Message::Text(t)) => Read::Text(t),
            Ok(Message::Binary(b)) => match tungstenite::Utf8Bytes::try_from(b) {
                Ok(t) => Read::Text(t),
                Err(_) => Read::Other(true),
            },
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => Read::Other(false),
            Ok(Message::Close(c)) => Read::Closed(c.map_or("the peer closed the connection".into(), |c| {
                format!("the peer closed the connection ({}: {})", c.code, c.reason)
            })),
            Err(Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                Read::Nothing
            }
            Err(e) => Read::Closed(e.to_string()),
        }
    }

    /// Closes politely (best effort: the peer may be gone already).
    pub(super) fn close(mut self) {
        let _ = self.ws.close(None);
        let _ = self.ws.flush();
    }
}
