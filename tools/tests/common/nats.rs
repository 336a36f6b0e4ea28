//! A throwaway `nats-server` (Debian's package; `.ci/test` installs it when missing) on free
//! 127.0.0.1 ports, with JetStream storage in a directory of its own and the monitoring
//! endpoint (for `/subsz`). Killed when dropped; restartable on the same port and storage.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) server.
pub struct NatsServer {
    pub port: u16,
    pub monitor: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// In a cluster: its arguments (name, cluster port, routes).
    cluster: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port()
}

/// The server binary: `TICKLANE_NATS_SERVER`, else `nats-server` on the PATH or in /usr/sbin.
fn binary() -> String {
    if let Ok(b) = std::env::var("TICKLANE_NATS_SERVER") {
        return b;
    }
    for b in ["/usr/sbin/nats-server", "/usr/bin/nats-server"] {
        if std::path::Path::new(b).exists() {
            return b.into();
        }
    }
    "nats-server".into()
}

impl NatsServer {
    /// Starts a server with JetStream storage under `dir`.
    pub fn start(dir: PathBuf) -> NatsServer {
        let mut s = NatsServer { port: free_port(), monitor: free_port(), dir, child: None, cluster: Vec::new() };
        s.restart();
        s
    }

    /// (Re)starts the server on its port and storage; waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        std::fs::create_dir_all(&self.dir).expect("nats dir");
        let child = Command::new(binary())
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-m", &self.monitor.to_string()])
            .args(["-js", "-sd", self.dir.to_str().expect("utf-8 dir")])
            .args(&self.cluster)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start nats-server ({e}): install Debian's nats-server package (bash .ci/test does)")
            });
        self.child = Some(child);
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server outright (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `HOST:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The number of subscriptions the server holds (its monitoring endpoint's `/subsz`).
    pub fn subscriptions(&self) -> u64 {
        let body = super::http_get(("127.0.0.1", self.monitor), "/subsz");
        let json = body.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str::<serde_json::Value>(json).ok().and_then(|v| v["num_subscriptions"].as_u64()).unwrap_or(0)
    }
}

impl NatsServer {
    /// A durable consumer's state from the monitoring endpoint's `/jsz` (`delivered`,
    /// `num_pending`, `num_ack_pending`, …), or `Null` while it does not exist.
    pub fn consumer(&self, stream: &str, name: &str) -> serde_json::Value {
        let consumers = self.stream(stream)["consumer_detail"].as_array().cloned().unwrap_or_default();
        consumers.into_iter().find(|c| c["name"] == name).unwrap_or_default()
    }

    /// The messages a stream holds, from `/jsz` (0 while it does not exist).
    pub fn stream_messages(&self, stream: &str) -> u64 {
        self.stream(stream)["state"]["messages"].as_u64().unwrap_or(0)
    }

    /// A stream's details from the monitoring endpoint's `/jsz`, or `Null`.
    fn stream(&self, stream: &str) -> serde_json::Value {
        let body = super::http_get(("127.0.0.1", self.monitor), "/jsz?accounts=true&streams=true&consumers=true");
        let json = body.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        let accounts = v["account_details"].as_array().cloned().unwrap_or_default();
        let mut streams = accounts.iter().flat_map(|a| a["stream_detail"].as_array().cloned().unwrap_or_default());
        streams.find(|s| s["name"] == stream).unwrap_or_default()
    }
}

/// Three (or more) servers joined by cluster routes: one JetStream domain whose streams may
/// keep `replicas` copies, so that a node can be stopped and restarted under a run.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `n` nodes under `dir` and waits until they have elected a JetStream leader.
    pub fn start(dir: PathBuf, n: usize) -> NatsCluster {
        let ports: Vec<(u16, u16, u16)> = (0..n).map(|_| (free_port(), free_port(), free_port())).collect();
        let routes = ports.iter().map(|p| format!("nats://127.0.0.1:{}", p.2)).collect::<Vec<_>>().join(",");
        let mut nodes: Vec<NatsServer> = ports
            .iter()
            .enumerate()
            .map(|(i, &(port, monitor, cport))| NatsServer {
                port,
                monitor,
                dir: dir.join(format!("n{i}")),
                child: None,
                cluster: [
                    "--server_name",
                    &format!("n{i}"),
                    "--cluster_name",
                    "ticklane",
                    "--cluster",
                    &format!("nats://127.0.0.1:{cport}"),
                    "--routes",
                    &routes,
                ]
                .map(String::from)
                .to_vec(),
            })
            .collect();
        for node in &mut nodes {
            node.restart();
        }
        let c = NatsCluster { nodes };
        let t0 = Instant::now();
        while !c.has_leader() {
            assert!(t0.elapsed() < Duration::from_secs(60), "the cluster elected no JetStream leader");
            std::thread::sleep(Duration::from_millis(100));
        }
        c
    }

    /// Whether every running node knows a JetStream meta leader.
    pub fn has_leader(&self) -> bool {
        self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
            let body = super::http_get(("127.0.0.1", n.monitor), "/jsz");
            let json = body.split_once("\r\n\r\n").map_or("", |(_, b)| b);
            let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
            v["meta_cluster"]["leader"].as_str().is_some_and(|l| !l.is_empty())
        })
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
