#!/usr/bin/env python3
"""`modelseal serve` under hostile callers (issue 17), stdlib only.

Starts `modelseal serve` on 127.0.0.1 over a root holding a small signed model, then holds
HOSTILE connections against it for --seconds, a fifth of each kind:

- slow headers: a request head sent one byte every few seconds (reopened when the server closes it);
- slow bodies: a whole head and half a body, the rest never sent (reopened when answered 408);
- FIFO signatures: requests naming 32 FIFOs made under the root, sent again as soon as answered;
- big bundles: requests naming 32 different bundle-shaped 16 MiB files (hard links of one file,
  valid JSON with a 12 MiB payload), sent again as soon as answered;
- big bundles within the limits: the same with 4 of those files (64 MiB in all, just under
  --max-request-bytes), so each is read, parsed and checked.

Side by side, LEGIT clients send verification requests for the small model (each must be 200 and
allowed) and the server's VmHWM (peak RSS) and VmRSS are read from /proc. Prints latency
p50/p99/max of the legitimate requests, the peak RSS, and the answers the hostile connections got.
Targets (issue 17): p99 < 100 ms, peak RSS < 256 MiB.

Usage: python3 benches/serve_hostile.py [--binary target/release/modelseal] [--hostile 200]
       [--legit 2] [--seconds 30] [--max-concurrent N] [--pace SECONDS]
"""

import argparse
import base64
import collections
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_bench import make_model, percentile  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POLICY = """version = 1
[signers.release]
key = "release.pub.pem"
[[models]]
name = "prod/*"
require = ["release"]
"""

BUNDLE_BYTES = 16 << 20


def bundle_shaped(path):
    """A Sigstore-bundle-shaped JSON file of just under 16 MiB whose payload does not verify."""
    head = ('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",'
            '"verificationMaterial":{"publicKey":{"hint":"00"}},"dsseEnvelope":{'
            '"payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"AAAA","keyid":""}],'
            '"payload":"')
    tail = '"}}'
    room = BUNDLE_BYTES - 1024 - len(head) - len(tail)
    payload = base64.b64encode(b"\0" * (room // 4 * 3)).decode()
    with open(path, "w") as f:
        f.write(head + payload + tail)


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


class Hostile:
    """The hostile connections, each on its own thread, until `stop` is set."""

    def __init__(self, host, port, stop, pace):
        self.host, self.port, self.stop, self.pace = host, port, stop, pace
        self.answers = collections.Counter()
        self.lock = threading.Lock()

    def count(self, what):
        with self.lock:
            self.answers[what] += 1

    def connect(self):
        sock = socket.create_connection((self.host, self.port), timeout=60)
        return sock

    def slow_headers(self):
        head = b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        while not self.stop.is_set():
            sock = None
            try:
                sock = self.connect()
                for byte in head:
                    sock.sendall(bytes([byte]))
                    if self.stop.wait(3):
                        break
                self.count("slow headers: still open at the end")
            except OSError:
                self.count("slow headers: closed by the server")
            finally:
                if sock:
                    sock.close()

    def slow_body(self):
        body = json.dumps({"model": "llm", "signatures": ["llm.sig"], "model_name": "prod/llm"}).encode()
        head = (f"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        while not self.stop.is_set():
            sock = None
            try:
                sock = self.connect()
                sock.sendall(head + body[: len(body) // 2])
                answer = sock.recv(64)
                self.count("slow body: " + (answer.split(b"\r\n")[0].decode() or "closed"))
            except OSError:
                self.count("slow body: closed by the server")
            finally:
                if sock:
                    sock.close()

    def repeat(self, kind, body):
        payload = json.dumps(body).encode()
        while not self.stop.is_set():
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                while not self.stop.is_set():
                    conn.request("POST", "/v1/verify", payload, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    self.count(f"{kind}: {resp.status}")
                    if resp.getheader("Connection", "").lower() == "close":
                        break
                    if self.pace:
                        self.stop.wait(self.pace)
            except (OSError, http.client.HTTPException):
                self.count(f"{kind}: connection error")
            finally:
                conn.close()


def legit(host, port, stop, latencies, errors):
    body = json.dumps({"model": "llm", "signatures": ["llm.sig"], "model_name": "prod/llm"}).encode()
    conn = http.client.HTTPConnection(host, port, timeout=60)
    while not stop.is_set():
        start = time.perf_counter()
        try:
            conn.request("POST", "/v1/verify", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read())
        except (OSError, http.client.HTTPException) as e:
            errors.append(str(e))
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=60)
            continue
        elapsed = time.perf_counter() - start
        if resp.status != 200 or answer.get("allowed") is not True:
            errors.append(f"{resp.status} {answer}")
        else:
            latencies.append(elapsed)
        time.sleep(0.01)
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", default=os.environ.get(
        "MODELSEAL_BIN", os.path.join(ROOT, "target", "release", "modelseal")))
    parser.add_argument("--hostile", type=int, default=200)
    parser.add_argument("--legit", type=int, default=2, help="legitimate clients")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-concurrent", type=int, default=None)
    parser.add_argument("--pace", type=float, default=0,
                        help="seconds a repeating hostile connection waits between its requests "
                             "(default 0: the next request as soon as the answer arrives)")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        raise SystemExit(f"{args.binary} missing: cargo build --release -p modelseal-cli")

    def run(*cmd):
        subprocess.run([args.binary, *cmd], check=True, stdout=subprocess.DEVNULL)

    with tempfile.TemporaryDirectory() as root:
        run("keygen", "--algorithm", "ec-p256", "--out", os.path.join(root, "release.pem"),
            "--public-out", os.path.join(root, "release.pub.pem"))
        with open(os.path.join(root, "trust.toml"), "w") as f:
            f.write(POLICY)
        make_model(os.path.join(root, "llm"), 4)
        run("sign", os.path.join(root, "llm"), "--key", os.path.join(root, "release.pem"),
            "-o", os.path.join(root, "llm.sig"), "--quiet")
        for i in range(32):
            os.mkfifo(os.path.join(root, f"fifo{i:02d}.sig"))
        bundle_shaped(os.path.join(root, "big00.sig"))
        for i in range(1, 32):
            os.link(os.path.join(root, "big00.sig"), os.path.join(root, f"big{i:02d}.sig"))

        command = [args.binary, "serve", "--policy", os.path.join(root, "trust.toml"), "--root", root,
                   "--listen", "127.0.0.1:0", "--json"]
        if args.max_concurrent:
            command += ["--max-concurrent", str(args.max_concurrent)]
        proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        line = json.loads(proc.stderr.readline())
        host, port = line["address"].rsplit(":", 1)
        port = int(port)
        # The server logs one line per input error: drain them so its stderr never blocks.
        threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
        idle_rss = proc_status(proc.pid, "VmRSS")

        stop = threading.Event()
        hostile = Hostile(host, port, stop, args.pace)
        fifo = {"model": "llm", "signatures": [f"fifo{i:02d}.sig" for i in range(32)], "model_name": "prod/llm"}
        big = {"model": "llm", "signatures": [f"big{i:02d}.sig" for i in range(32)], "model_name": "prod/llm"}
        within = dict(big, signatures=big["signatures"][:4])
        kinds = [hostile.slow_headers, hostile.slow_body,
                 lambda: hostile.repeat("fifo signatures", fifo),
                 lambda: hostile.repeat("32 x 16 MiB bundles", big),
                 lambda: hostile.repeat("4 x 16 MiB bundles", within)]
        threads = [threading.Thread(target=kinds[i % len(kinds)], daemon=True)
                   for i in range(args.hostile)]
        for t in threads:
            t.start()
        time.sleep(2)  # every hostile connection open and sending
        latencies, errors = [], []
        clients = [threading.Thread(target=legit, args=(host, port, stop, latencies, errors))
                   for _ in range(args.legit)]
        for c in clients:
            c.start()
        rss = []
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            rss.append(proc_status(proc.pid, "VmRSS"))
            time.sleep(0.2)
        stop.set()
        for c in clients:
            c.join()
        peak = proc_status(proc.pid, "VmHWM")
        proc.terminate()
        proc.wait(timeout=60)

    print(f"hostile connections: {args.hostile} (a fifth each: slow headers, slow bodies, "
          f"32 FIFO signatures, 32 x 16 MiB bundles, 4 x 16 MiB bundles); "
          f"pace {args.pace} s; legitimate clients: {args.legit}; "
          f"{args.seconds:.0f} s")
    if latencies:
        print(f"legitimate requests: {len(latencies)} answered 200, {len(errors)} failed; latency "
              f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
              f"max {max(latencies) * 1000:.1f} ms")
    else:
        print(f"legitimate requests: none answered 200, {len(errors)} failed")
    if errors:
        print(f"first failure: {errors[0]}")
    print(f"server RSS: {idle_rss / 1024:.1f} MiB idle, {max(rss) / 1024:.1f} MiB highest sampled, "
          f"{peak / 1024:.1f} MiB peak (VmHWM)")
    for what, n in sorted(hostile.answers.items()):
        print(f"  {what}: {n}")
    print(f"cpus: {os.cpu_count()}, load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    ok = latencies and not errors and percentile(latencies, 99) < 0.1 and peak < 256 * 1024
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
