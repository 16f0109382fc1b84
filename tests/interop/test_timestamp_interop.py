"""RFC 3161 timestamps (issue 16 item 3) with a real TSA (OpenSSL's, tests/tsa/): a bundle that
modelseal timestamped still verifies with model-signing 1.1.1 (key and certificate methods), its
token passes `openssl ts -verify`, and the Python API takes tsa_url= and tsa_roots=.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from interop_helpers import build_model, expect_rc, private_copy, vector_ca

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tsa"))
import tsa_pki  # noqa: E402


@pytest.fixture(scope="module")
def tsa(tmp_path_factory):
    server = tsa_pki.start(tmp_path_factory.mktemp("tsa"))
    yield server
    server.stop()


def test_timestamped_key_bundle_verifies_with_reference_and_openssl(
    modelseal, reference, tsa, tmp_path
):
    key, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    expect_rc(modelseal.keygen("ec-p256", key, public), 0)
    model = build_model(tmp_path, "nested")
    sig = tmp_path / "model.sig"
    expect_rc(modelseal.sign(model, key, sig, "--tsa-url", tsa.url), 0)
    tsa_pki.check_token_with_openssl(tsa, sig, tmp_path)
    expect_rc(reference.verify_key(model, sig, public), 0)
    report = modelseal.verify_json(model, sig, 0, key=public, extra=["--tsa-roots", tsa.root])
    assert report["signer"]["timestamp_authority"] == "CN=tsa"


def test_timestamped_certificate_bundle_verifies_with_reference(
    modelseal, reference, tsa, tmp_path
):
    key = private_copy(vector_ca("leaf-p384.key.pem"), tmp_path)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(vector_ca("intermediate.pem").read_bytes())
    model = build_model(tmp_path, "ordering")
    sig = tmp_path / "cert.sig"
    expect_rc(modelseal.sign(model, key, sig, "--cert", vector_ca("leaf-p384.pem"),
                             "--cert-chain", chain, "--tsa-url", tsa.url), 0)
    tsa_pki.check_token_with_openssl(tsa, sig, tmp_path)
    expect_rc(reference.verify_certificate(model, sig, vector_ca("root.pem")), 0)
    report = modelseal.verify_json(model, sig, 0, roots=vector_ca("root.pem"),
                                   extra=["--tsa-roots", tsa.root, "--require-timestamp"])
    assert report["signer"]["signing_time"].endswith("Z")


def test_python_api_signs_with_tsa_url_and_verifies_with_tsa_roots(tsa, tmp_path):
    import modelseal

    key, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    modelseal.keygen("ec-p256", key, public_out=public)
    model = build_model(tmp_path, "ordering")
    sig = modelseal.sign(model, key, tmp_path / "m.sig", tsa_url=tsa.url)
    result = modelseal.verify(model, sig, key=public, tsa_roots=[tsa.root],
                              require_timestamp=True)
    assert result.timestamp_authority == "CN=tsa"
    assert result.signing_time and result.signing_time.endswith("Z")
    unchecked = modelseal.verify(model, sig, key=public)
    assert unchecked.timestamp_authority is None and unchecked.signing_time is None
    with pytest.raises(modelseal.VerificationError):
        modelseal.verify(model, sig, key=public, require_timestamp=True)


def test_python_api_seals_with_tsa_url(tsa, tmp_path):
    import modelseal

    key, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    modelseal.keygen("ec-p256", key, public_out=public)
    recipient = tmp_path / "r.pem"
    modelseal.keygen("x25519", recipient, public_out=tmp_path / "r.pub.pem")
    model = build_model(tmp_path, "ordering")
    sealed = tmp_path / "sealed"
    modelseal.seal(model, sealed, key, [tmp_path / "r.pub.pem"], tsa_url=tsa.url)
    outer = Path(str(sealed) + ".sig")
    tsa_pki.check_token_with_openssl(tsa, outer, tmp_path)
    result = modelseal.verify(sealed, outer, key=public, tsa_roots=[tsa.root],
                              require_timestamp=True)
    assert result.timestamp_authority == "CN=tsa"
