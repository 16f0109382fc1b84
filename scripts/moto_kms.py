#!/usr/bin/env python3
"""Runs moto's AWS emulator (KMS, STS, ...) on 127.0.0.1 for modelseal's tests.

Usage: moto_kms.py [--request-log FILE]
Prints "PORT <n>" on stdout once the server listens on a free port of 127.0.0.1, then serves until
its stdin reaches end-of-file (so it dies with the test process that holds the pipe) or it is killed.

Two additions to plain `moto_server`, both small on purpose:
1. KMS `Sign` with `MessageType=DIGEST` signs the given digest as is, as AWS documents. moto 5.2.x
   ignores MessageType and hashes the digest again (see the note on `verify` in moto/kms/models.py),
   which would make every DIGEST signature wrong. Nothing else of moto is changed.
2. `--request-log FILE` appends one line per request, "<service> <action>" (e.g. "kms Decrypt",
   "sts AssumeRoleWithWebIdentity"), so tests can count the requests an operation made.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
import sys
import threading
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from moto.kms.exceptions import ValidationException
from moto.kms.models import KmsBackend
from moto.kms.responses import KmsResponse
from moto.kms.utils import ECDSAPrivateKey
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

# The hash each ECDSA signing algorithm's digest was made with (AWS KMS API reference, Sign).
_DIGEST_HASHES = {
    "ECDSA_SHA_256": hashes.SHA256(),
    "ECDSA_SHA_384": hashes.SHA384(),
    "ECDSA_SHA_512": hashes.SHA512(),
}
_moto_sign = KmsResponse.sign


def _sign(self: KmsResponse) -> str:
    """KMS Sign: MessageType=DIGEST signs the digest itself (prehashed); anything else is moto's."""
    if self._get_param("MessageType") != "DIGEST":
        return _moto_sign(self)
    algorithm = self._get_param("SigningAlgorithm")
    digest = self._get_param("Message")
    if isinstance(digest, str):  # the JSON protocol carries blobs as base64
        digest = base64.b64decode(digest)
    key = self.kms_backend.describe_key(self._get_param("KeyId"))
    # moto's own checks for Sign: key usage SIGN_VERIFY, enabled, algorithm allowed for the key.
    self.kms_backend._KmsBackend__ensure_valid_sign_and_verify_key(key)
    self.kms_backend._KmsBackend__ensure_valid_signing_algorithm(key, algorithm)
    hash_algorithm = _DIGEST_HASHES.get(algorithm)
    if not isinstance(key.private_key, ECDSAPrivateKey) or hash_algorithm is None:
        raise ValidationException(f"DIGEST signing with {algorithm} is not emulated here")
    if len(digest) != hash_algorithm.digest_size:
        raise ValidationException(
            f"Digest is {len(digest)} bytes; {algorithm} needs {hash_algorithm.digest_size}"
        )
    signature = key.private_key.private_key.sign(
        digest, ec.ECDSA(utils.Prehashed(hash_algorithm))
    )
    return json.dumps(
        {
            "KeyId": key.arn,
            "Signature": base64.b64encode(signature).decode(),
            "SigningAlgorithm": algorithm,
        }
    )


KmsResponse.sign = _sign
assert hasattr(KmsBackend, "_KmsBackend__ensure_valid_sign_and_verify_key")


class RequestLog:
    """WSGI middleware: one "<service> <action>" line per request, flushed at once."""

    def __init__(self, app, path: str | None) -> None:
        self.app = app
        self.out = open(path, "a", buffering=1) if path else None
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if self.out is not None:
            self.log(environ)
        return self.app(environ, start_response)

    def log(self, environ) -> None:
        target = environ.get("HTTP_X_AMZ_TARGET", "")  # JSON protocol: "TrentService.Sign"
        if target:
            service = "kms" if target.startswith("TrentService.") else target.split(".")[0]
            action = target.rsplit(".", 1)[-1]
        else:  # query protocol (STS): Action=... in the form body; put the body back afterwards
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
            action = form.get("Action", [environ.get("PATH_INFO", "?")])[0]
            service = "sts" if "Role" in action or "Token" in action else "other"
        with self.lock:
            self.out.write(f"{service} {action}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--request-log", help="append one line per request to this file")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the request log replaces its access log
    app = RequestLog(DomainDispatcherApplication(create_backend_app), args.request_log)
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_port}", flush=True)
    sys.stdin.read()  # until the parent closes the pipe (or dies)
    os._exit(0)


if __name__ == "__main__":
    main()
