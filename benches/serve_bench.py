#!/usr/bin/env python3
"""Benchmark `modelseal serve` (docs/serve.md) with the release binary, stdlib only.

1. throughput: a 2000-file model (1 KiB files, files + SHA-256, signed with an EC P-256 key),
   a TOML policy with a Rego file, CLIENTS concurrent keep-alive clients -> requests/s and latency
   p50/p99 (every answer checked: 200 and "allowed": true);
2. memory: a 4-file model, 10,000 requests from the same clients, the server's RSS (VmRSS) sampled
   every 1000 requests -> first / last / max.

The policy evaluation step alone (TOML rules + Rego) is measured by the criterion bench
`cargo bench -p modelseal-benches --bench policy_eval`, not here: over HTTP it is lost in noise.

Usage: cargo build --release -p modelseal-cli && python3 benches/serve_bench.py [--clients 8]
       [--requests 400] [--memory-requests 10000] [--audit]
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "modelseal")

POLICY = """version = 1
{audit}
[signers.release]
key = "release.pub.pem"
[[models]]
name = "prod/*"
require = ["release"]
[rego]
file = "deploy.rego"
"""

REGO = """package modelseal

deny contains msg if {
  input.files > 100000
  msg := sprintf("%s: too many files (%d)", [input.model_name, input.files])
}

deny contains msg if {
  not input.serialization.hash_type in {"sha256", "blake3"}
  msg := "hash type not allowed"
}
"""


def run(*args):
    subprocess.run([BINARY, *args], check=True, stdout=subprocess.DEVNULL)


def make_model(path, files):
    os.makedirs(path)
    for i in range(files):
        sub = os.path.join(path, f"d{i % 20:02d}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"f{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(1024))


def start_server(root, clients):
    proc = subprocess.Popen(
        [BINARY, "serve", "--policy", os.path.join(root, "trust.toml"), "--root", root,
         "--listen", "127.0.0.1:0", "--json", "--max-queue", str(clients * 2)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    line = json.loads(proc.stderr.readline())
    host, port = line["address"].rsplit(":", 1)
    return proc, host, int(port)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def load(host, port, body, total, clients, on_count=None):
    """`total` requests from `clients` keep-alive connections; returns (seconds, latencies)."""
    latencies = []
    lock = threading.Lock()
    counter = [0]
    errors = []
    payload = json.dumps(body).encode()

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        while True:
            with lock:
                if counter[0] >= total:
                    break
                counter[0] += 1
                n = counter[0]
            start = time.perf_counter()
            conn.request("POST", "/v1/verify", payload, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read())
            elapsed = time.perf_counter() - start
            if resp.status != 200 or answer.get("allowed") is not True:
                errors.append((resp.status, answer))
                break
            with lock:
                latencies.append(elapsed)
            if on_count:
                on_count(n)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise SystemExit(f"unexpected answer: {errors[0]}")
    return seconds, latencies


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--memory-requests", type=int, default=10000)
    parser.add_argument("--audit", action="store_true", help="with an audit log (fsync per request)")
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        raise SystemExit(f"{BINARY} missing: cargo build --release -p modelseal-cli")

    with tempfile.TemporaryDirectory() as root:
        run("keygen", "--algorithm", "ec-p256", "--out", os.path.join(root, "release.pem"),
            "--public-out", os.path.join(root, "release.pub.pem"))
        with open(os.path.join(root, "trust.toml"), "w") as f:
            f.write(POLICY.format(audit='audit_log = "audit.jsonl"' if args.audit else ""))
        with open(os.path.join(root, "deploy.rego"), "w") as f:
            f.write(REGO)
        for name, files in [("big", 2000), ("small", 4)]:
            make_model(os.path.join(root, name), files)
            run("sign", os.path.join(root, name), "--key", os.path.join(root, "release.pem"),
                "-o", os.path.join(root, f"{name}.sig"), "--quiet")

        proc, host, port = start_server(root, args.clients)
        try:
            big = {"model": "big", "signatures": ["big.sig"], "model_name": "prod/big"}
            load(host, port, big, args.clients, args.clients)  # warm the page cache and pools
            seconds, lat = load(host, port, big, args.requests, args.clients)
            print(f"2000 x 1 KiB model, {args.clients} clients, {len(lat)} requests: "
                  f"{len(lat) / seconds:.1f} requests/s, latency p50 {percentile(lat, 50) * 1000:.1f} ms, "
                  f"p99 {percentile(lat, 99) * 1000:.1f} ms, mean {statistics.mean(lat) * 1000:.1f} ms")

            small = {"model": "small", "signatures": ["small.sig"], "model_name": "prod/small"}
            samples = [rss_kib(proc.pid)]

            def sample(n):
                if n % 1000 == 0:
                    samples.append(rss_kib(proc.pid))

            seconds, lat = load(host, port, small, args.memory_requests, args.clients, sample)
            print(f"4-file model, {args.clients} clients, {len(lat)} requests: "
                  f"{len(lat) / seconds:.0f} requests/s, p50 {percentile(lat, 50) * 1000:.2f} ms, "
                  f"p99 {percentile(lat, 99) * 1000:.2f} ms")
            print("server RSS (MiB) before and every 1000 requests: "
                  + " ".join(f"{s / 1024:.1f}" for s in samples))
            print(f"RSS first {samples[0] / 1024:.1f} MiB (before), after 1000 "
                  f"{samples[1] / 1024:.1f} MiB, last {samples[-1] / 1024:.1f} MiB, "
                  f"max {max(samples) / 1024:.1f} MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    # The 1-minute load average at the end includes this benchmark's own load (about 2 on 2 CPUs).
    print(f"cpus: {os.cpu_count()}, load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
