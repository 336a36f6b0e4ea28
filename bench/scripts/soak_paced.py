#!/usr/bin/env python3
"""Paced soak: `ticklane replay --speed 1` of a generated capture spanning MINUTES of event
time, with its metrics endpoint scraped every second and the process sampled (RSS, threads,
open descriptors); prints the RSS slope over the second half and the thread/fd ranges.

    python3 bench/scripts/soak_paced.py [MINUTES]   (default 30; needs target/release/ticklane)
"""
import os, socket, subprocess, sys, tempfile, time

minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
bin_ = os.path.join(root, "target", "release", "ticklane")
work = tempfile.mkdtemp(prefix="ticklane-soak-")
capture = os.path.join(work, "paced.csv")
rows = int(minutes * 60 * 1000)  # one trade per millisecond of event time
subprocess.run([bin_, "gen", "--rows", str(rows), "--instruments", "200", "--dup-fraction", "0.01",
                "--spacing", "1ms", "--seed", "5", "--out", capture], check=True, stdout=subprocess.DEVNULL)
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
proc = subprocess.Popen([bin_, "replay", "--dedupe", "--bars", "1s", "--speed", "1", "--metrics-addr",
                         f"127.0.0.1:{port}", "--out", os.path.join(work, "bars.csv"), capture],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def scrape():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
            c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := c.recv(65536):
                data += chunk
        return data.startswith(b"HTTP/1.0 200")
    except OSError:
        return False

samples, scrapes_ok, t0 = [], 0, time.time()
while proc.poll() is None:
    time.sleep(1)
    scrapes_ok += scrape()
    try:
        status = open(f"/proc/{proc.pid}/status").read()
        fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
    except OSError:
        break
    fields = {l.split(":")[0]: l.split()[1] for l in status.splitlines() if len(l.split()) > 1}
    if "VmRSS" not in fields:
        break  # exiting
    samples.append((time.time() - t0, int(fields["VmRSS"]), int(fields["Threads"]), fds))
proc.wait()
half = samples[len(samples) // 2:]
n = len(half)
mx = sum(s[0] for s in half) / n
my = sum(s[1] for s in half) / n
slope = sum((s[0] - mx) * (s[1] - my) for s in half) / sum((s[0] - mx) ** 2 for s in half)
print(f"{rows} trades paced over {samples[-1][0]:.0f} s, exit {proc.returncode}; {scrapes_ok} of {len(samples)} scrapes answered")
print(f"RSS first {samples[0][1]} KiB, last {samples[-1][1]} KiB, slope over the last {n} s {slope:+.3f} KiB/s")
print(f"threads {min(s[2] for s in samples)}..{max(s[2] for s in samples)}, fds {min(s[3] for s in samples)}..{max(s[3] for s in samples)}")
