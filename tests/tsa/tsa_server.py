#!/usr/bin/env python3
"""A real RFC 3161 time-stamping authority for the tests: OpenSSL's `openssl ts -reply` behind a
minimal HTTP front (stdlib http.server), on 127.0.0.1 only.

Usage: tsa_server.py CONFIG [TLS_CERT TLS_KEY]   (an `openssl ts` config whose [tsa] section names
the signer certificate, its key, the chain to include and the policy; with a TLS certificate and
key, it serves https, as the public Sigstore TSA does). Prints `PORT <n>` on stdout once
listening, then serves POSTs of `application/timestamp-query` until stdin closes or it is killed.
Every request is answered by a fresh `openssl ts -reply` process: the TSA is OpenSSL's, not ours.
"""

import http.server
import os
import ssl
import subprocess
import sys
import tempfile
import threading

CONFIG = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        query = self.rfile.read(length)
        with tempfile.TemporaryDirectory() as tmp:
            qpath = os.path.join(tmp, "q.tsq")
            rpath = os.path.join(tmp, "r.tsr")
            with open(qpath, "wb") as f:
                f.write(query)
            run = subprocess.run(
                ["openssl", "ts", "-reply", "-config", CONFIG, "-queryfile", qpath, "-out", rpath],
                capture_output=True,
            )
            if run.returncode != 0 or not os.path.exists(rpath):
                self.send_response(500)
                self.end_headers()
                self.wfile.write(run.stderr)
                return
            with open(rpath, "rb") as f:
                reply = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if len(sys.argv) == 4:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    print(f"PORT {server.server_address[1]}", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Stop when the test that started us closes our stdin (or dies).
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
