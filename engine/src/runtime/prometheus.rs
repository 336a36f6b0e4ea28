//! The opt-in Prometheus endpoint: `metrics-exporter-prometheus`'s recorder (installed as the
//! global `metrics` recorder) rendered by a minimal HTTP/1.0 responder on a std thread.
//!
//! Why not the exporter's own `http-listener`: it brings a tokio runtime and hyper into every
//! process that links the engine; a trading service gets one plain thread instead.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once per process) and serves `GET /metrics` on `addr` from a
/// background thread for the rest of the process.
pub(crate) fn serve(addr: SocketAddr) -> Result<(), String> {
    let handle = match HANDLE.get() {
        Some(h) => h.clone(),
        None => {
            let recorder = PrometheusBuilder::new().build_recorder();
            let h = recorder.handle();
            metrics::set_global_recorder(recorder)
                .map_err(|e| format!("a metrics recorder is already installed: {e}"))?;
            let _ = HANDLE.set(h.clone());
            h
        }
    };
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    log::info!("serving Prometheus metrics on http://{addr}/metrics");
    std::thread::Builder::new()
        .name("ticklane-prometheus".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = respond(stream, &handle) {
                    log::debug!("metrics request: {e}");
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn respond(mut s: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    // Read the request head (bounded) so that closing never discards unread bytes (a reset).
    let mut req = [0u8; 2048];
    let mut n = 0;
    while n < req.len() && !req[..n].windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut req[n..])? {
            0 => break,
            k => n += k,
        }
    }
    let line = req[..n].split(|&b| b == b'\r' || b == b'\n').next().unwrap_or(b"");
    let (status, body) = if line.starts_with(b"GET /metrics ") || line == b"GET /metrics" {
        handle.run_upkeep();
        ("200 OK", handle.render())
    } else {
        ("404 Not Found", "only GET /metrics is served\n".to_string())
    };
    write!(
        s,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()?;
    s.shutdown(std::net::Shutdown::Write)
}
