"""Secret hygiene (issue 9): every CLI verb, run with file keys in successful and failing ways, never
shows a private key, passphrase, KEK or data key (DEK) — raw, hex, base64 or as a Python-style byte
list — in stdout, stderr, any file it writes that is not itself a secret key file, or the argv of
any process the test starts.

The DEK is not known to the CLI's user, so the test recovers it from the encrypted envelope with
the KEK (AES-GCM unwrap of the `aes256-kek` stanza, docs/FORMAT.md §8.3) and then looks for it.
"""

import base64
import hashlib
import os
import struct
import subprocess

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from interop_helpers import modelseal_path

PASSPHRASE = b"correct horse battery staple 7f3a"


def forms(secret: bytes) -> list[bytes]:
    """The ways a secret could leak into text or files."""
    out = [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
        str(list(secret)).encode(),
    ]
    return [f for f in out if len(f) >= 8]


def lp(x: bytes) -> bytes:
    return struct.pack(">I", len(x)) + x


def recover_dek(envelope: bytes, kek: bytes) -> bytes:
    hl = struct.unpack(">I", envelope[10:14])[0]
    header = cbor2.loads(envelope[14 : 14 + hl])
    digest = hashlib.sha256(header[1]).digest()
    kid = hashlib.sha256(lp(b"modelseal/v1/key-id/aes256-kek") + kek).hexdigest()[:32]
    stanza = next(s for s in header[2] if s[1] == "aes256-kek" and s[2] == kid)
    ctx = lp(b"modelseal/v1/stanza") + lp(b"aes256-kek") + lp(kid.encode()) + lp(digest)
    return AESGCM(kek).decrypt(stanza[4][1], stanza[3], ctx)


class Harness:
    """Runs modelseal and keeps everything a secret could leak into."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.bin = modelseal_path()
        self.captured: list[tuple[str, bytes]] = []
        self.argvs: list[list[str]] = []

    def run(self, *args, expect=None):
        argv = [str(self.bin)] + [str(a) for a in args]
        self.argvs.append(argv)
        r = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
        label = " ".join(str(a) for a in args[:2])
        self.captured += [(f"{label} stdout", r.stdout), (f"{label} stderr", r.stderr)]
        assert b"panicked" not in r.stderr, r.stderr
        if expect is not None:
            assert r.returncode == expect, (args, r.stderr.decode())
        return r

    def files_written(self, secret_files):
        for root, _, names in os.walk(self.tmp):
            for n in names:
                p = os.path.join(root, n)
                if p in secret_files or os.path.islink(p):
                    continue
                with open(p, "rb") as f:
                    yield p, f.read()


@pytest.fixture
def scene(tmp_path):
    h = Harness(tmp_path)
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(300_000))
    (model / "sub" / "config.json").write_bytes(b'{"layers": 2}')
    single = tmp_path / "single.bin"
    single.write_bytes(os.urandom(100_000))

    # A passphrase-protected signing key (PBES2 PKCS#8) and its passphrase file, both 0600.
    sk = ec.generate_private_key(ec.SECP256R1())
    enc_key = tmp_path / "sign.key.pem"
    enc_key.write_bytes(sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(PASSPHRASE)))
    pw = tmp_path / "pw.txt"
    pw.write_bytes(PASSPHRASE + b"\n")
    for p in (enc_key, pw):
        os.chmod(p, 0o600)
    plain_key = tmp_path / "plain.key.pem"
    h.run("keygen", "--algorithm", "ec-p256", "--out", plain_key, "--public-out", tmp_path / "plain.pub.pem", expect=0)
    for alg in ("aes256-kek", "x25519", "rsa3072"):
        h.run("keygen", "--algorithm", alg, "--out", tmp_path / alg, "--json", expect=0)
    secrets = {
        "signing scalar": sk.private_numbers().private_value.to_bytes(32, "big"),
        "passphrase": PASSPHRASE,
        "kek": bytes.fromhex((tmp_path / "aes256-kek").read_text().strip()),
    }
    plain = serialization.load_pem_private_key((plain_key).read_bytes(), None)
    secrets["generated signing scalar"] = plain.private_numbers().private_value.to_bytes(32, "big")
    x = serialization.load_pem_private_key((tmp_path / "x25519").read_bytes(), None)
    secrets["x25519 scalar"] = x.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                               serialization.NoEncryption())
    r = serialization.load_pem_private_key((tmp_path / "rsa3072").read_bytes(), None)
    secrets["rsa d"] = r.private_numbers().d.to_bytes(384, "big").lstrip(b"\0")
    secrets["rsa p"] = r.private_numbers().p.to_bytes(192, "big").lstrip(b"\0")
    for name in ("sign.key.pem", "plain.key.pem", "x25519", "rsa3072"):
        body = b"".join(l for l in (tmp_path / name).read_bytes().splitlines() if not l.startswith(b"-----"))
        secrets[f"{name} PEM body"] = body
    secret_files = {str(tmp_path / n) for n in ("sign.key.pem", "pw.txt", "plain.key.pem", "aes256-kek", "x25519", "rsa3072")}
    return h, model, single, secrets, secret_files


def test_no_verb_leaks_a_secret(scene):
    h, model, single, secrets, secret_files = scene
    t = h.tmp
    pub = t / "sign.pub.pem"
    # Signing keys: pubkey, sign (key and passphrase), verify, inspect — good and bad inputs.
    h.run("pubkey", t / "sign.key.pem", "--key-password-file", t / "pw.txt", "-o", pub, expect=0)
    h.run("pubkey", t / "sign.key.pem", expect=2)  # passphrase missing
    h.run("sign", model, "--key", t / "sign.key.pem", "--key-password-file", t / "pw.txt", "-o", t / "m.sig", "--json", expect=0)
    h.run("sign", model, "--key", t / "sign.key.pem", "--key-password-file", t / "model" / "sub" / "config.json", "-o", t / "bad.sig", expect=2)
    h.run("verify", model, "--signature", t / "m.sig", "--key", pub, "--json", expect=0)
    h.run("verify", model, "--signature", t / "m.sig", "--key", t / "plain.pub.pem", "--json", expect=1)
    h.run("inspect", t / "m.sig", "--json", expect=0)
    os.chmod(t / "plain.key.pem", 0o644)
    h.run("sign", model, "--key", t / "plain.key.pem", "-o", t / "p.sig", expect=2)  # refused: readable
    h.run("sign", model, "--key", t / "plain.key.pem", "--allow-insecure-key-permissions", "-o", t / "p.sig", expect=0)
    os.chmod(t / "plain.key.pem", 0o600)

    # Encryption: every recipient type, decrypt with each identity, wrong key, tamper, rewrap.
    enc = t / "enc"
    h.run("encrypt", model, "--recipient", t / "aes256-kek", "--recipient", t / "x25519.pub",
          "--recipient", t / "rsa3072.pub", "-o", enc, "--json", expect=0)
    h.run("encrypt", single, "--recipient", t / "aes256-kek", "-o", t / "single.mseal", expect=0)
    for ident in ("aes256-kek", "x25519", "rsa3072"):
        h.run("decrypt", enc, "--key", t / ident, "-o", t / f"out-{ident}", "--json", expect=0)
    h.run("decrypt", t / "single.mseal", "--key", t / "aes256-kek", "-o", t / "single.out", expect=0)
    h.run("inspect", enc, "--json", expect=0)
    h.run("keygen", "--algorithm", "aes256-kek", "--out", t / "other-kek", expect=0)
    h.run("decrypt", enc, "--key", t / "other-kek", "-o", t / "nope", "--json", expect=1)
    envelope = (enc / "modelseal.envelope").read_bytes()
    secrets["dek"] = recover_dek(envelope, secrets["kek"])
    (enc / "weights.bin").write_bytes(b"\0" + (enc / "weights.bin").read_bytes()[1:])
    h.run("decrypt", enc, "--key", t / "aes256-kek", "-o", t / "tampered", "--json", expect=1)
    h.run("rewrap", t / "single.mseal", "--key", t / "aes256-kek", "--recipient", t / "x25519.pub", "--json", expect=0)
    secrets["single dek"] = recover_dek((t / "single.mseal").read_bytes(), secrets["kek"])

    leaks = []
    haystacks = list(h.captured) + list(h.files_written(secret_files))
    haystacks += [("argv", " ".join(a).encode()) for a in h.argvs]
    for name, secret in secrets.items():
        for form in forms(secret):
            for where, data in haystacks:
                if form in data:
                    leaks.append(f"{name} ({len(form)} bytes) in {where}")
    assert leaks == []
    # The test looked where a leak would be: outputs were captured and files were scanned.
    assert len(h.captured) >= 40 and any("m.sig" in w for w, _ in haystacks)


def test_pkcs11_verbs_never_show_the_pin(tmp_path):
    """With keys in a SoftHSM2 token: sign, pubkey, encrypt, decrypt, rewrap, good and failing (a
    wrong PIN, a missing object), never show the PIN — which lives only in its 0400 file."""
    from softhsm_token import Token

    token = Token(tmp_path / "token")
    pin = token.pin().encode()
    h = Harness(tmp_path / "work")
    (tmp_path / "work").mkdir()
    model = tmp_path / "work" / "model"
    model.mkdir()
    (model / "w.bin").write_bytes(os.urandom(50_000))
    t = tmp_path / "work"
    h.run("pubkey", token.uri("ec-p256"), "-o", t / "p.pub", expect=0)
    h.run("sign", model, "--key", token.uri("ec-p256"), "-o", t / "m.sig", "--json", expect=0)
    h.run("verify", model, "--signature", t / "m.sig", "--key", t / "p.pub", expect=0)
    h.run("encrypt", model, "--recipient", token.uri("aes-wrap"), "--recipient", token.uri("rsa-3072"),
          "-o", t / "enc", "--json", expect=0)
    h.run("decrypt", t / "enc", "--key", token.uri("aes-wrap"), "-o", t / "dec", "--json", expect=0)
    h.run("decrypt", t / "enc", "--key", token.uri("rsa-3072"), "-o", t / "dec2", expect=0)
    h.run("sign", model, "--key", token.uri("no-such-object"), "-o", t / "x.sig", expect=2)
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("0000000000\n")
    os.chmod(wrong, 0o400)
    # A wrong PIN costs one failed login on the token; the tests' token tolerates that.
    h.run("sign", model, "--key", token.uri("ec-p256", wrong), "-o", t / "y.sig", expect=2)
    leaks = [f"PIN in {where}" for where, data in h.captured if pin in data]
    leaks += [f"PIN in argv {a}" for a in h.argvs if any(token.pin() in x for x in a)]
    leaks += [f"PIN in {p}" for p, data in h.files_written(set()) if pin in data]
    assert leaks == []
    assert len(h.captured) >= 16
