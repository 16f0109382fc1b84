"""Secret hygiene (issue 9): every CLI verb — keygen, pubkey, sign, verify, verify --policy, inspect,
encrypt, decrypt, rewrap, seal, unseal — run with file keys, PKCS#11 keys (SoftHSM2) and AWS KMS
keys (the local moto KMS), in successful and failing ways, with `--audit-log` on every verb that has
it, never shows a secret: private keys (PEM bodies, scalars), the key passphrase, KEKs (file and
extractable token keys), the PKCS#11 PIN, the AWS secret access key and session token, or a data key
(DEK) — raw, hex, base64 or as a Python-style byte list.

Searched: stdout, stderr, the audit log, every file written under the work directory except the
secret key files themselves, and the argv of every process — the ones the test starts and, traced
with `strace -f -e trace=execve`, any that modelseal starts (it starts none: asserted).

The DEK is not known to the CLI's user: every encryption also names a file KEK recipient, and the
test unwraps the DEK from that `aes256-kek` stanza (docs/FORMAT.md §8.3) with Python cryptography;
every stanza of an envelope wraps the same DEK, so this is the DEK the HSM and KMS stanzas carry.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import secrets as pysecrets
import struct
import subprocess
import sys
from pathlib import Path

import cbor2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from interop_helpers import modelseal_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kms"))
from local_kms import AWS_VARS, LocalKms  # noqa: E402

PASSPHRASE = b"correct horse battery staple 7f3a"
# Credentials of the AWS SDK's environment chain, distinctive enough to be found if they leak.
AWS_SECRET = pysecrets.token_urlsafe(30)
AWS_TOKEN = "FwoGZXIvYXdzE" + pysecrets.token_urlsafe(120)
# Verbs that take --audit-log.
AUDITED = {"sign", "verify", "encrypt", "decrypt", "rewrap", "seal", "unseal"}
ALL_VERBS = AUDITED | {"keygen", "pubkey", "inspect"}
POLICY = """version = 1
[signers.release]
key = "signer.pub.pem"
[[models]]
name = "prod/*"
require = ["release"]
"""


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
    """Unwraps the DEK from the envelope's `aes256-kek` stanza for `kek` (FORMAT.md §6.5, §8.3)."""
    hl = struct.unpack(">I", envelope[10:14])[0]
    header = cbor2.loads(envelope[14 : 14 + hl])
    digest = hashlib.sha256(header[1]).digest()
    kid = hashlib.sha256(lp(b"modelseal/v1/key-id/aes256-kek") + kek).hexdigest()[:32]
    stanza = next(s for s in header[2] if s[1] == "aes256-kek" and s[2] == kid)
    ctx = lp(b"modelseal/v1/stanza") + lp(b"aes256-kek") + lp(kid.encode()) + lp(digest)
    return AESGCM(kek).decrypt(stanza[4][1], stanza[3], ctx)


def pem_body(path: Path) -> bytes:
    return b"".join(l for l in path.read_bytes().splitlines() if not l.startswith(b"-----"))


def ec_scalar(path: Path, password: bytes | None = None) -> bytes:
    key = serialization.load_pem_private_key(path.read_bytes(), password)
    return key.private_numbers().private_value.to_bytes(32, "big")


# strace pads the pid to five columns ("8812  execve(…"), so the gap is one space or more.
EXECVE = re.compile(r'^\d+\s+execve\("([^"]*)", .*\) = 0$')


class Harness:
    """Runs modelseal (under strace) and keeps everything a secret could leak into."""

    def __init__(self, root: Path, traces: Path, env: dict[str, str]):
        root.mkdir(parents=True, exist_ok=True)
        traces.mkdir(parents=True, exist_ok=True)
        self.tmp = root
        self.traces = traces
        self.env = env
        self.bin = modelseal_path()
        self.audit = root / "audit.jsonl"
        self.audited = 0
        self.captured: list[tuple[str, bytes]] = []
        self.argvs: list[list[str]] = []
        self.trace_files: list[Path] = []

    def run(self, *args, expect=None):
        args = [str(a) for a in args]
        if args[0] in AUDITED:
            args += ["--audit-log", str(self.audit)]
            self.audited += 1
        trace = self.traces / f"{len(self.trace_files)}.strace"
        self.trace_files.append(trace)
        argv = ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=execve", "-s", "65536",
                "-o", str(trace), str(self.bin), *args]
        self.argvs.append(argv)
        r = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=300,
                           env=self.env)
        label = " ".join(args[:2])
        self.captured += [(f"{label} stdout", r.stdout), (f"{label} stderr", r.stderr)]
        assert b"panicked" not in r.stderr, r.stderr
        if expect is not None:
            assert r.returncode == expect, (args, r.stderr.decode())
        return r

    def files_written(self, secret_files: set[str]):
        for root, _, names in os.walk(self.tmp):
            for n in names:
                p = os.path.join(root, n)
                if p in secret_files or os.path.islink(p):
                    continue
                with open(p, "rb") as f:
                    yield p, f.read()

    def executed(self) -> list[str]:
        """Every program any traced process executed (modelseal itself and its children)."""
        out = []
        for trace in self.trace_files:
            for line in trace.read_text(errors="replace").splitlines():
                m = EXECVE.match(line)
                if m:
                    out.append(m.group(1))
        return out

    def assert_no_leak(self, secrets: dict[str, bytes], secret_files: set[str]) -> None:
        haystacks = list(self.captured) + list(self.files_written(secret_files))
        haystacks += [("argv", " ".join(a).encode()) for a in self.argvs]
        haystacks += [(f"strace {t.name}", t.read_bytes()) for t in self.trace_files]
        leaks = []
        for name, secret in secrets.items():
            for form in forms(secret):
                for where, data in haystacks:
                    if form in data:
                        leaks.append(f"{name} ({len(form)} bytes) in {where}")
        assert leaks == []
        # The test looked where a leak would be: every run was traced, modelseal started no other
        # program, and the audit log holds one JSON line per audited run.
        assert self.executed() == [str(self.bin)] * len(self.trace_files)
        lines = self.audit.read_text().splitlines()
        assert len(lines) == self.audited
        assert all(json.loads(line)["operation"] for line in lines)
        assert any(w.endswith("audit.jsonl") for w, _ in haystacks)
        verbs = {a[a.index(str(self.bin)) + 1] for a in self.argvs}
        assert verbs == ALL_VERBS, verbs
        assert any("verify" in a and "--policy" in a for a in self.argvs)


def base_env(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment of every run: distinctive AWS credentials (which no run may show), plus
    `extra` (`None` unsets)."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARS}
    env.update(AWS_ACCESS_KEY_ID="AKIAHYGIENE0TEST0001", AWS_SECRET_ACCESS_KEY=AWS_SECRET,
               AWS_SESSION_TOKEN=AWS_TOKEN, AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


@dataclasses.dataclass
class Kit:
    """The keys of one kind, as the verbs take them."""

    sign_key: str
    sign_args: list[str]
    bad_sign_key: str
    recipients: list[str]
    identities: list[str]


def every_verb(h: Harness, kit: Kit, secrets: dict[str, bytes], secret_files: set[str]) -> None:
    """Runs every verb with `kit`, good and failing, adding the secrets it makes to `secrets`."""
    t = h.tmp
    model = t / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(os.urandom(300_000))
    (model / "sub" / "config.json").write_bytes(b'{"layers": 2}')
    single = t / "single.bin"
    single.write_bytes(os.urandom(100_000))
    # keygen: the file KEK every encryption adds (to recover the DEK), a KEK that is no recipient,
    # and a signing key that signs nothing the policy trusts.
    kek, wrong, other = t / "kek.hex", t / "wrong.hex", t / "other.pem"
    h.run("keygen", "--algorithm", "aes256-kek", "--out", kek, "--json", expect=0)
    h.run("keygen", "--algorithm", "aes256-kek", "--out", wrong, expect=0)
    h.run("keygen", "--algorithm", "ec-p256", "--out", other, "--public-out", t / "other.pub.pem",
          expect=0)
    secrets["kek"] = bytes.fromhex(kek.read_text().strip())
    secrets["wrong kek"] = bytes.fromhex(wrong.read_text().strip())
    secrets["other scalar"] = ec_scalar(other)
    secrets["other PEM body"] = pem_body(other)
    secret_files |= {str(kek), str(wrong), str(other)}

    # pubkey, sign, verify, verify --policy, inspect.
    pub = t / "signer.pub.pem"
    h.run("pubkey", kit.sign_key, *kit.sign_args, "-o", pub, expect=0)
    h.run("pubkey", kit.bad_sign_key, expect=2)
    sig = t / "m.sig"
    h.run("sign", model, "--key", kit.sign_key, *kit.sign_args, "-o", sig, "--json", expect=0)
    h.run("sign", model, "--key", kit.bad_sign_key, "-o", t / "bad.sig", "--json", expect=2)
    h.run("verify", model, "--signature", sig, "--key", pub, "--json", expect=0)
    h.run("verify", model, "--signature", sig, "--key", t / "other.pub.pem", "--json", expect=1)
    (t / "trust.toml").write_text(POLICY)
    policy = t / "trust.toml"
    h.run("verify", model, "--signature", sig, "--policy", policy, "--model-name", "prod/m",
          "--json", expect=0)
    h.run("verify", model, "--signature", sig, "--policy", policy, "--model-name", "dev/m",
          "--json", expect=1)
    h.run("inspect", sig, "--json", expect=0)

    # encrypt, decrypt (each identity, a wrong key, tampered), inspect, rewrap.
    recipients = [a for r in kit.recipients + [str(kek)] for a in ("--recipient", r)]
    enc, single_enc = t / "enc", t / "single.mseal"
    h.run("encrypt", model, *recipients, "-o", enc, "--json", expect=0)
    h.run("encrypt", single, *recipients, "-o", single_enc, expect=0)
    for i, ident in enumerate(kit.identities):
        h.run("decrypt", enc, "--key", ident, "-o", t / f"out-{i}", "--json", expect=0)
        h.run("decrypt", single_enc, "--key", ident, "-o", t / f"single-{i}.out", expect=0)
    h.run("decrypt", enc, "--key", wrong, "-o", t / "nope", "--json", expect=1)
    h.run("inspect", enc, "--json", expect=0)
    secrets["dek"] = recover_dek((enc / "modelseal.envelope").read_bytes(), secrets["kek"])
    secrets["single dek"] = recover_dek(single_enc.read_bytes(), secrets["kek"])
    h.run("rewrap", single_enc, "--key", kit.identities[0], "--recipient", wrong, "--json",
          expect=0)
    assert recover_dek(single_enc.read_bytes(), secrets["wrong kek"]) == secrets["single dek"]
    # Flip a bit (setting the byte to 0 left it unchanged when it already was: 1 run in 256).
    blob = (enc / "weights.bin").read_bytes()
    (enc / "weights.bin").write_bytes(bytes([blob[0] ^ 1]) + blob[1:])
    h.run("decrypt", enc, "--key", kit.identities[0], "-o", t / "tampered", "--json", expect=1)

    # seal, the registry's verify --policy of what it stores, unseal (good, wrong key).
    sealed = t / "sealed"
    h.run("seal", model, "--key", kit.sign_key, *kit.sign_args, *recipients, "-o", sealed,
          "--model-name", "prod/m", "--json", expect=0)
    secrets["sealed dek"] = recover_dek((sealed / "modelseal.envelope").read_bytes(),
                                        secrets["kek"])
    h.run("verify", sealed, "--signature", t / "sealed.sig", "--policy", policy, "--model-name",
          "prod/m", "--json", expect=0)
    h.run("unseal", sealed, "--policy", policy, "--key", kit.identities[-1], "--out",
          t / "unsealed", "--json", expect=0)
    assert (t / "unsealed" / "weights.bin").read_bytes() == (model / "weights.bin").read_bytes()
    h.run("unseal", sealed, "--policy", policy, "--key", wrong, "--out", t / "unsealed-2",
          "--json", expect=1)


def test_file_keys_never_leak(tmp_path):
    h = Harness(tmp_path / "work", tmp_path / "traces", base_env())
    t = h.tmp
    # A passphrase-protected signing key (PBES2 PKCS#8) and its passphrase file, both 0600.
    sk = ec.generate_private_key(ec.SECP256R1())
    enc_key = t / "sign.key.pem"
    enc_key.write_bytes(sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(PASSPHRASE)))
    pw = t / "pw.txt"
    pw.write_bytes(PASSPHRASE + b"\n")
    for p in (enc_key, pw):
        os.chmod(p, 0o600)
    for alg in ("x25519", "rsa3072"):
        h.run("keygen", "--algorithm", alg, "--out", t / alg, "--json", expect=0)
    x = serialization.load_pem_private_key((t / "x25519").read_bytes(), None)
    r = serialization.load_pem_private_key((t / "rsa3072").read_bytes(), None)
    secrets = {
        "signing scalar": sk.private_numbers().private_value.to_bytes(32, "big"),
        "passphrase": PASSPHRASE,
        "x25519 scalar": x.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption()),
        "rsa d": r.private_numbers().d.to_bytes(384, "big").lstrip(b"\0"),
        "rsa p": r.private_numbers().p.to_bytes(192, "big").lstrip(b"\0"),
        "aws secret access key": AWS_SECRET.encode(),
        "aws session token": AWS_TOKEN.encode(),
    }
    for name in ("sign.key.pem", "x25519", "rsa3072"):
        secrets[f"{name} PEM body"] = pem_body(t / name)
    secret_files = {str(t / n) for n in ("sign.key.pem", "pw.txt", "x25519", "rsa3072")}
    kit = Kit(
        sign_key=str(enc_key),
        sign_args=["--key-password-file", str(pw)],
        bad_sign_key=str(t / "model" / "sub" / "config.json"),
        recipients=[str(t / "x25519.pub"), str(t / "rsa3072.pub")],
        identities=[str(t / "x25519"), str(t / "rsa3072")],
    )
    every_verb(h, kit, secrets, secret_files)
    # A wrong passphrase file, a missing passphrase, a readable key (refused, then allowed).
    h.run("sign", t / "model", "--key", enc_key, "--key-password-file", t / "model" / "sub" / "config.json",
          "-o", t / "bad.sig", expect=2)
    h.run("pubkey", enc_key, expect=2)
    os.chmod(t / "x25519", 0o644)
    h.run("decrypt", t / "single.mseal", "--key", t / "x25519", "-o", t / "p.out", expect=2)
    h.run("decrypt", t / "single.mseal", "--key", t / "x25519", "-o", t / "p.out",
          "--allow-insecure-key-permissions", expect=0)
    os.chmod(t / "x25519", 0o600)
    h.assert_no_leak(secrets, secret_files)
    assert len(h.argvs) == 32


def test_pkcs11_keys_never_leak(tmp_path):
    """Keys in a SoftHSM2 token (scripts/softhsm-init.sh): the PIN lives only in its 0400 file;
    the extractable AES key's value (read with pkcs11-tool) must not show either."""
    from softhsm_token import Token

    token = Token(tmp_path / "token")
    pin = token.pin()
    kwp_value = tmp_path / "aes-extractable.bin"
    tool = subprocess.run(
        ["pkcs11-tool", "--module", token.module, "--token-label", token.token, "--login",
         "--pin", "env:HYGIENE_PIN", "--read-object", "--type", "secrkey", "--label",
         "aes-extractable", "-o", str(kwp_value)],
        capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
        env={**os.environ, "HYGIENE_PIN": pin},
    )
    assert tool.returncode == 0, tool.stderr
    h = Harness(tmp_path / "work", tmp_path / "traces", base_env())
    secrets = {
        "PIN": pin.encode(),
        "extractable AES key": kwp_value.read_bytes(),
        "aws secret access key": AWS_SECRET.encode(),
        "aws session token": AWS_TOKEN.encode(),
    }
    assert len(secrets["extractable AES key"]) == 32
    kwp = f"{token.uri('aes-extractable')}&x-wrap=aes-kwp"
    kit = Kit(
        sign_key=token.uri("ec-p256"),
        sign_args=[],
        bad_sign_key=token.uri("no-such-object"),
        recipients=[token.uri("aes-wrap"), token.uri("rsa-3072"), kwp],
        identities=[token.uri("aes-wrap"), token.uri("rsa-3072"), kwp],
    )
    secret_files: set[str] = set()
    every_verb(h, kit, secrets, secret_files)
    wrong = tmp_path / "wrong-pin"
    wrong.write_text("0000000000\n")
    os.chmod(wrong, 0o400)
    # A wrong PIN costs one failed login on the token; the tests' token tolerates that.
    h.run("sign", h.tmp / "model", "--key", token.uri("ec-p256", wrong), "-o", h.tmp / "y.sig",
          expect=2)
    h.assert_no_leak(secrets, secret_files)
    assert len(h.argvs) == 29


@pytest.fixture
def kms(tmp_path):
    server = LocalKms(tmp_path / "moto")
    yield server
    server.close()


def test_kms_keys_never_leak(tmp_path, kms):
    """AWS KMS keys in the local moto KMS, reached through the SDK's environment credentials: the
    secret access key and session token never show."""
    kms.create_key("ECC_NIST_P256", "alias/hygiene-sign")
    kms.create_key("SYMMETRIC_DEFAULT", "alias/hygiene-wrap")
    ours = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    env = base_env({k: v for k, v in kms.env().items() if k not in ours})
    h = Harness(tmp_path / "work", tmp_path / "traces", env)
    secrets = {
        "aws secret access key": AWS_SECRET.encode(),
        "aws session token": AWS_TOKEN.encode(),
    }
    kit = Kit(
        sign_key="awskms:///alias/hygiene-sign",
        sign_args=[],
        bad_sign_key="awskms:///alias/no-such-key",
        recipients=["awskms:///alias/hygiene-wrap"],
        identities=["awskms:///alias/hygiene-wrap"],
    )
    before = len(kms.requests())
    secret_files: set[str] = set()
    every_verb(h, kit, secrets, secret_files)
    # The KMS was really used: signing, wrapping and unwrapping went through it.
    actions = set(kms.requests()[before:])
    assert {"kms Sign", "kms Encrypt", "kms Decrypt"} <= actions, actions
    h.assert_no_leak(secrets, secret_files)
    assert len(h.argvs) == 24


def test_scan_output_never_contains_the_secret(tmp_path):
    """`scan` (text and --json), a `seal` refused by the content gate (text and --json) and
    `sign --scan` name each planted credential by file, position, rule and fingerprint: none of
    their output, nor the audit log, holds a byte of the secret in any form."""
    alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

    def gen(n: int, alphabet: str = alnum) -> str:
        return "".join(pysecrets.choice(alphabet) for _ in range(n))

    key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    planted = {
        "aws access key id": "AKIA" + gen(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
        "github token": "ghp_" + gen(36),
        "huggingface token": "hf_" + gen(34),
        "env password": gen(23) + "7",
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0." + gen(43),
    }
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"hidden": 8, "key": planted["aws access key id"]}))
    (model / "sub" / "notes.md").write_text(
        f"token: {planted['github token']}\nHfApi(token=\"{planted['huggingface token']}\")\n"
        f"Authorization: Bearer {planted['jwt']}\n")
    (model / ".env").write_text(f"DB_PASSWORD={planted['env password']}\n")
    (model / "deploy.pem").write_bytes(key_pem)
    secrets = {name: value.encode() for name, value in planted.items()}
    secrets["private key PEM body"] = b"".join(key_pem.splitlines()[1:-1])

    bin_ = modelseal_path()
    subprocess.run([str(bin_), "keygen", "--algorithm", "ec-p256", "--out", str(tmp_path / "k.pem")],
                   check=True, capture_output=True)
    subprocess.run([str(bin_), "keygen", "--algorithm", "aes256-kek", "--out", str(tmp_path / "kek")],
                   check=True, capture_output=True)
    audit = tmp_path / "audit.jsonl"
    runs = [
        (["scan", model], 1),
        (["scan", model, "--json"], 1),
        (["seal", model, "--key", tmp_path / "k.pem", "--recipient", tmp_path / "kek",
          "-o", tmp_path / "enc", "--audit-log", audit], 1),
        (["seal", model, "--key", tmp_path / "k.pem", "--recipient", tmp_path / "kek",
          "-o", tmp_path / "enc", "--json", "--audit-log", audit], 1),
        (["sign", model, "--key", tmp_path / "k.pem", "--scan", "--audit-log", audit], 1),
    ]
    outputs = []
    for args, expect in runs:
        r = subprocess.run([str(bin_), *map(str, args)], capture_output=True, timeout=120)
        assert r.returncode == expect, (args, r.stderr.decode())
        assert b"panicked" not in r.stderr
        outputs += [(f"{args[0]} stdout", r.stdout), (f"{args[0]} stderr", r.stderr)]
    found = json.loads(subprocess.run([str(bin_), "scan", model, "--json"],
                                      capture_output=True).stdout)
    rules = sorted(f["rule"] for f in found["findings"])
    assert rules == ["aws-access-key-id", "env-assignment", "github-token", "huggingface-token",
                     "jwt", "private-key"], rules
    outputs.append(("audit log", audit.read_bytes()))
    assert not (tmp_path / "enc").exists()
    leaks = [f"{name} in {where}" for name, secret in secrets.items() for form in forms(secret)
             for where, data in outputs if form in data]
    assert leaks == []


def test_secret_references_never_leak(tmp_path, kms):
    """Issue 21: the key passphrase from AWS Secrets Manager (`awssm://`, plain and `json-key`, in
    the local moto) on every verb, from `env:`, and a PKCS#11 PIN from `awssm://` (percent-encoded
    in the URI): neither value, nor the AWS credentials, shows anywhere; failures (a missing secret,
    a wrong passphrase in the secret, an unset variable) name the reference only."""
    import boto3
    from softhsm_token import Token

    token = Token(tmp_path / "token")
    pin = token.pin()
    sm = boto3.client("secretsmanager", endpoint_url=kms.endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    sm.create_secret(Name="hygiene/pass", SecretString=PASSPHRASE.decode())
    sm.create_secret(Name="hygiene/wrong", SecretString="not the passphrase at all")
    sm.create_secret(Name="hygiene/bundle",
                     SecretString=json.dumps({"passphrase": PASSPHRASE.decode(), "pin": pin}))
    ours = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    env = base_env({**{k: v for k, v in kms.env().items() if k not in ours},
                    "HYGIENE_PASSPHRASE": PASSPHRASE.decode()})
    h = Harness(tmp_path / "work", tmp_path / "traces", env)
    t = h.tmp
    sk = ec.generate_private_key(ec.SECP256R1())
    enc_key = t / "sign.key.pem"
    enc_key.write_bytes(sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(PASSPHRASE)))
    os.chmod(enc_key, 0o600)
    for alg in ("x25519", "rsa3072"):
        h.run("keygen", "--algorithm", alg, "--out", t / alg, "--json", expect=0)
    secrets = {
        "signing scalar": sk.private_numbers().private_value.to_bytes(32, "big"),
        "passphrase": PASSPHRASE,
        "PIN": pin.encode(),
        "aws secret access key": AWS_SECRET.encode(),
        "aws session token": AWS_TOKEN.encode(),
        "sign.key.pem PEM body": pem_body(enc_key),
    }
    secret_files = {str(t / n) for n in ("sign.key.pem", "x25519", "rsa3072")}
    kit = Kit(
        sign_key=str(enc_key),
        sign_args=["--key-password", "awssm://hygiene/pass"],
        bad_sign_key=str(t / "model" / "sub" / "config.json"),
        recipients=[str(t / "x25519.pub"), str(t / "rsa3072.pub")],
        identities=[str(t / "x25519"), str(t / "rsa3072")],
    )
    before = len(kms.requests())
    every_verb(h, kit, secrets, secret_files)
    for source in ("awssm://hygiene/bundle?json-key=passphrase", "env:HYGIENE_PASSPHRASE"):
        h.run("sign", t / "model", "--key", enc_key, "--key-password", source, "-o",
              t / "again.sig", "--json", "--force", expect=0)
    for source in ("awssm://hygiene/missing", "awssm://hygiene/bundle?json-key=nope",
                   "env:HYGIENE_UNSET"):
        r = h.run("pubkey", enc_key, "--key-password", source, expect=2)
        assert source.split("?")[0].encode() in r.stderr, r.stderr
    r = h.run("pubkey", enc_key, "--key-password", "awssm://hygiene/wrong", expect=2)
    assert b"wrong passphrase" in r.stderr, r.stderr
    hsm = token.uri("ec-p256").split("&pin-source=")[0]
    h.run("pubkey", f"{hsm}&pin-source=awssm://hygiene/bundle%3Fjson-key%3Dpin", expect=0)
    h.run("sign", t / "model", "--key", f"{hsm}&pin-source=awssm://hygiene/bundle%3Fjson-key%3Dpin",
          "-o", t / "hsm.sig", "--json", expect=0)
    h.run("pubkey", f"{hsm}&pin-source=awssm://hygiene/no-pin", expect=2)
    # Secrets Manager was really asked.
    assert "secretsmanager GetSecretValue" in kms.requests()[before:]
    h.assert_no_leak(secrets, secret_files)
