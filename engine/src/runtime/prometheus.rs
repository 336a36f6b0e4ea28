//! The opt-in Prometheus endpoint: `metrics-exporter-prometheus`'s recorder (installed as the
//! global `metrics` recorder) rendered by a minimal HTTP/1.0 responder on a std thread.
//!
//! Why not the exporter's own `http-listener`: it brings a tokio runtime and hyper into every
//! process that links the engine; a trading service gets one plain thread instead.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Buckets for histograms named `*_seconds`: 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] =
    &[0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Installs the recorder (once per process) and serves `GET /metrics` on `addr` from a
/// background thread for the rest of the process, with `/healthz` and `/readyz`
/// ([`super::health`]).
pub fn serve(addr: SocketAddr) -> Result<(), String> {
    let handle = match HANDLE.get() {
        Some(h) => h.clone(),
        None => {
            // Histograms in seconds (e.g. ticklane_store_write_seconds) render as Prometheus
            // histograms with these buckets rather than as summaries.
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .map_err(|e| e.to_string())?
                .build_recorder();
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
    let get = |path: &[u8]| {
        line.strip_prefix(b"GET ").and_then(|r| r.strip_prefix(path)).is_some_and(|r| r.is_empty() || r[0] == b' ')
    };
    let (status, body) = if get(b"/metrics") {
        handle.run_upkeep();
        ("200 OK", handle.render())
    } else if get(b"/healthz") {
        ("200 OK", "ok\n".to_string())
    } else if get(b"/readyz") {
        let r = super::health::readiness();
        (if r.ready { "200 OK" } else { "503 Service Unavailable" }, r.body())
    } else {
        ("404 Not Found", "served: GET /metrics, /healthz, /readyz\n".to_string())
    };
    write!(
        s,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()?;
    s.shutdown(std::net::Shutdown::Write)
}
