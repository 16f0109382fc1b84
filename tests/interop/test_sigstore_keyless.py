"""Sigstore keyless verification: modelseal's verdicts against the reference's, offline.

The reference is model-signing 1.1.1's `verify sigstore` (which runs sigstore-python 4.5.1's
`Verifier.verify_dsse` and then the OMS checks) given a local ClientTrustConfig built from the
production trusted root that modelseal ships, so neither tool fetches anything. Every case runs
through both tools; the expected verdict is asserted on the reference first, then modelseal must
agree with it — except for the one documented case where modelseal is stricter by design
(trusted-root windows are checked against the signing time; see docs/sigstore.md), which asserts
both verdicts explicitly. The modelseal Python API is checked on the same vectors.
"""

import base64
import copy
import json
import shutil
from pathlib import Path

import pytest

from interop_helpers import REF_CLI, REPO, describe, run

VECTORS = REPO / "test-vectors" / "sigstore"
VERSIONS = ["v0.3.1", "v1.0.0", "v1.0.1", "v1.1.0"]
IDENTITY = "stefanb@us.ibm.com"
ISSUER = "https://sigstore.verify.ibm.com/oauth2"
ROOT = REPO / "core" / "src" / "sigstore" / "production_trusted_root.json"
SIGNING_CONFIG = {
    # Only read by signers; ClientTrustConfig requires the field. Services in it are never called.
    "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
    "caUrls": [], "oidcUrls": [], "rekorTlogUrls": [], "tsaUrls": [],
    "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"},
}


def root_json() -> dict:
    return json.loads(ROOT.read_text())


def bundle_json(version: str) -> dict:
    return json.loads((VECTORS / version / "model.sig").read_text())


class Case:
    """One verification: a model, a signature, a trusted root, identity and issuer."""

    def __init__(self, tmp: Path, version: str, *, identity=IDENTITY, issuer=ISSUER,
                 bundle=None, root=None, model=None):
        self.version = version
        self.model = model or VECTORS / version
        self.identity, self.issuer = identity, issuer
        self.sig = VECTORS / version / "model.sig"
        if bundle is not None:
            self.sig = tmp / "edited.sig"
            self.sig.write_text(json.dumps(bundle))
        root = root if root is not None else root_json()
        self.root = tmp / "trusted_root.json"
        self.root.write_text(json.dumps(root))
        self.config = tmp / "trust_config.json"
        self.config.write_text(json.dumps({
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": root,
            "signingConfig": SIGNING_CONFIG,
        }))
        self.ignore = ["ignore-me"] if (self.model / "ignore-me").exists() else []

    def reference(self) -> bool:
        args = [REF_CLI, "verify", "sigstore", self.model, "--signature", self.sig,
                "--identity", self.identity, "--identity_provider", self.issuer,
                "--trust_config", self.config]
        for p in self.ignore:
            args += ["--ignore-paths", self.model / p]
        proc = run(args)
        assert proc.returncode in (0, 1), "reference crashed" + describe(proc)
        return proc.returncode == 0

    def modelseal(self, modelseal, *, use_config: bool = False) -> bool:
        trust = ["--trust-config", self.config] if use_config else ["--trusted-root", self.root]
        args = ["verify", self.model, "--signature", self.sig, "--sigstore",
                "--identity", self.identity, "--issuer", self.issuer, *trust, "--json"]
        for p in self.ignore:
            args += ["--ignore", p]
        proc = modelseal(*args)
        assert proc.returncode in (0, 1), "modelseal: not a verdict" + describe(proc)
        report = json.loads(proc.stdout)
        assert report["verified"] == (proc.returncode == 0)
        return proc.returncode == 0


def agree(case: Case, modelseal, expected: bool) -> None:
    assert case.reference() is expected, f"reference verdict is not {expected}"
    assert case.modelseal(modelseal) is expected, f"modelseal disagrees with the reference"


@pytest.mark.parametrize("version", VERSIONS)
def test_release_vectors_verify_in_both(tmp_path, modelseal, version):
    case = Case(tmp_path, version)
    agree(case, modelseal, True)
    assert case.modelseal(modelseal, use_config=True)


@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_identity_or_issuer_fails_in_both(tmp_path, modelseal, version):
    agree(Case(tmp_path, version, identity="someone@example.com"), modelseal, False)
    agree(Case(tmp_path, version, issuer="https://accounts.google.com"), modelseal, False)


def test_tampered_model_fails_in_both(tmp_path, modelseal):
    model = tmp_path / "model"
    shutil.copytree(VECTORS / "v1.0.0", model)
    (model / "model.sig").unlink()
    (model / "signme-1").write_bytes(b"signme-X")
    agree(Case(tmp_path, "v1.0.0", model=model), modelseal, False)


def test_tampered_certificate_fails_in_both(tmp_path, modelseal):
    bundle = bundle_json("v1.1.0")
    cert = bytearray(base64.b64decode(bundle["verificationMaterial"]["certificate"]["rawBytes"]))
    cert[20] ^= 1  # inside the serial number: still parses, the CA's signature breaks
    bundle["verificationMaterial"]["certificate"]["rawBytes"] = base64.b64encode(cert).decode()
    agree(Case(tmp_path, "v1.1.0", bundle=bundle), modelseal, False)


@pytest.mark.parametrize("pair", [("v1.0.0", "v1.1.0"), ("v1.1.0", "v0.3.1")])
def test_log_entry_of_another_signature_fails_in_both(tmp_path, modelseal, pair):
    this, other = pair
    bundle = bundle_json(this)
    bundle["verificationMaterial"]["tlogEntries"] = \
        bundle_json(other)["verificationMaterial"]["tlogEntries"]
    agree(Case(tmp_path, this, bundle=bundle), modelseal, False)


def test_tampered_signed_entry_timestamp_fails_in_both(tmp_path, modelseal):
    bundle = bundle_json("v1.0.1")
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    entry["integratedTime"] = str(int(entry["integratedTime"]) + 1)
    agree(Case(tmp_path, "v1.0.1", bundle=bundle), modelseal, False)


def test_tampered_inclusion_proof_fails_in_both(tmp_path, modelseal):
    bundle = bundle_json("v1.0.1")
    proof = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]
    proof["hashes"][0] = base64.b64encode(bytes(32)).decode()
    agree(Case(tmp_path, "v1.0.1", bundle=bundle), modelseal, False)


def _window(root: dict, where: str, **bounds) -> dict:
    root = copy.deepcopy(root)
    if where == "ca":
        for ca in root["certificateAuthorities"]:
            ca["validFor"].update(bounds)
    else:
        for log in root[where]:
            log["publicKey"]["validFor"].update(bounds)
    return root


@pytest.mark.parametrize("where", ["ca", "tlogs", "ctlogs"])
def test_trusted_root_windows_that_start_after_now_fail_in_both(tmp_path, modelseal, where):
    # sigstore-python drops trust material whose window has not started yet; modelseal refuses
    # it because the window does not contain the signing time. Same verdict.
    root = _window(root_json(), where, start="2099-01-01T00:00:00Z")
    agree(Case(tmp_path, "v1.0.0", root=root), modelseal, False)


@pytest.mark.parametrize("where", ["ca", "tlogs", "ctlogs"])
def test_trusted_root_windows_that_exclude_the_signing_time_fail_in_modelseal_only(
        tmp_path, modelseal, where):
    # A window that started after the signing (2025-05-03) but before today: sigstore-python
    # 4.5.1 only compares windows with the current time and accepts; modelseal compares them
    # with the signing time and refuses (the behaviour the Sigstore client spec asks for).
    root = _window(root_json(), where, start="2025-11-01T00:00:00Z")
    case = Case(tmp_path, "v1.0.0", root=root)
    assert case.reference() is True
    assert case.modelseal(modelseal) is False


def test_python_api_verifies_keyless(tmp_path):
    import modelseal

    for version in VERSIONS:
        model = VECTORS / version
        result = modelseal.verify(
            model, model / "model.sig",
            ignore=[p for p in ["ignore-me"] if (model / p).exists()],
            sigstore_identity=IDENTITY, sigstore_issuer=ISSUER,
        )
        assert result.signer_method == "sigstore"
        assert result.sigstore_identity == IDENTITY and result.sigstore_issuer == ISSUER
        assert result.root_digest == \
            "61d4849d9d90076d6215f4d525f13d6574af8e3f67aef3e6f36fc40a14fdd226"
        assert result.signing_time.startswith("2025-")
    # The shipped root given explicitly, as a file and inside a trust config.
    case = Case(tmp_path, "v1.1.0")
    for trusted_root in (case.root, case.config):
        modelseal.verify(VECTORS / "v1.1.0", case.sig, sigstore_identity=IDENTITY,
                         sigstore_issuer=ISSUER, trusted_root=trusted_root)
    with pytest.raises(modelseal.VerificationError, match="identity mismatch"):
        modelseal.verify(VECTORS / "v1.1.0", case.sig, sigstore_identity="x@example.com",
                         sigstore_issuer=ISSUER)
    with pytest.raises(modelseal.VerificationError, match="issuer mismatch"):
        modelseal.verify(VECTORS / "v1.1.0", case.sig, sigstore_identity=IDENTITY,
                         sigstore_issuer="https://accounts.google.com")
    with pytest.raises(modelseal.Error, match="both sigstore_identity"):
        modelseal.verify(VECTORS / "v1.1.0", case.sig, sigstore_identity=IDENTITY)
    with pytest.raises(modelseal.KeyAccessError):
        modelseal.verify(VECTORS / "v1.1.0", case.sig, sigstore_identity=IDENTITY,
                         sigstore_issuer=ISSUER, trusted_root=tmp_path / "missing.json")
