"""A real RFC 3161 TSA for the Python tests: a PKI made with the openssl CLI (root CA, TSA
certificate with the critical timeStamping EKU) and OpenSSL's `openssl ts -reply` behind
tests/tsa/tsa_server.py on 127.0.0.1. The Rust tests do the same in tests/tsa/tsa.rs.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "tsa_server.py"


def openssl(cwd: Path, *args: object) -> None:
    proc = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"openssl {args}: {proc.stderr}"


@dataclass
class Tsa:
    url: str
    root: Path
    cert: Path
    process: subprocess.Popen

    def stop(self) -> None:
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def start(directory: Path, name: str = "tsa") -> Tsa:
    directory.mkdir(parents=True, exist_ok=True)
    root = f"{name}-root"
    openssl(directory, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", f"{root}.key", "-out", f"{root}.pem", "-subj", f"/CN={root}",
            "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl(directory, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", f"{name}.key")
    openssl(directory, "req", "-new", "-key", f"{name}.key", "-subj", f"/CN={name}",
            "-out", f"{name}.csr")
    (directory / f"{name}.ext").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=critical,timeStamping\n")
    openssl(directory, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{root}.pem",
            "-CAkey", f"{root}.key", "-set_serial", "5", "-days", "30",
            "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    (directory / f"{name}-tsaserial").write_text("01\n")
    d = directory.resolve()
    config = directory / f"{name}-tsa.cnf"
    config.write_text(
        f"[tsa]\ndefault_tsa = t\n[t]\nserial = {d}/{name}-tsaserial\ncrypto_device = builtin\n"
        f"signer_cert = {d}/{name}.pem\ncerts = {d}/{root}.pem\nsigner_key = {d}/{name}.key\n"
        "signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\n"
        "accuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n")
    process = subprocess.Popen([sys.executable, str(SERVER), str(config)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().strip()
    assert line.startswith("PORT "), f"the TSA front said {line!r}"
    return Tsa(f"http://127.0.0.1:{line[5:]}/", d / f"{root}.pem", d / f"{name}.pem", process)


def check_token_with_openssl(tsa: Tsa, bundle: Path, work: Path) -> None:
    """`openssl ts -verify` of the bundle's first timestamp (a TimeStampResp) over its DSSE
    signature."""
    doc = json.loads(bundle.read_text())
    stamps = doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"]
    (work / "response.der").write_bytes(base64.b64decode(stamps[0]["signedTimestamp"]))
    (work / "sig.bin").write_bytes(base64.b64decode(doc["dsseEnvelope"]["signatures"][0]["sig"]))
    openssl(work, "ts", "-verify", "-data", "sig.bin", "-in", "response.der",
            "-CAfile", tsa.root, "-untrusted", tsa.cert)
