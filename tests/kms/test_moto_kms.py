"""The local KMS that modelseal's awskms tests use (scripts/moto_kms.py) gives KMS `Sign` with
`MessageType=DIGEST` its documented AWS meaning: the digest is signed as is. Proved with boto3 and
Python `cryptography`, independently of modelseal."""

from __future__ import annotations

import hashlib
import pathlib

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from local_kms import LocalKms


@pytest.fixture(scope="module")
def kms(tmp_path_factory):
    server = LocalKms(tmp_path_factory.mktemp("moto"))
    yield server
    server.close()


@pytest.mark.parametrize(
    "spec, algorithm, hash_cls",
    [
        ("ECC_NIST_P256", "ECDSA_SHA_256", hashes.SHA256),
        ("ECC_NIST_P384", "ECDSA_SHA_384", hashes.SHA384),
    ],
)
def test_digest_signatures_verify_as_prehashed(kms, spec, algorithm, hash_cls):
    client = kms.client()
    arn = kms.create_key(spec)
    message = b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
    digest = hashlib.new(hash_cls.name, message).digest()
    signature = client.sign(
        KeyId=arn, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm
    )["Signature"]
    public = serialization.load_der_public_key(client.get_public_key(KeyId=arn)["PublicKey"])
    # The digest itself was signed: verifies prehashed, and so over the original message.
    public.verify(signature, digest, ec.ECDSA(utils.Prehashed(hash_cls())))
    public.verify(signature, message, ec.ECDSA(hash_cls()))
    # Not moto's unpatched behaviour (a signature over hash(digest)).
    with pytest.raises(InvalidSignature):
        public.verify(signature, digest, ec.ECDSA(hash_cls()))
    # RAW messages keep moto's behaviour: the message is hashed by KMS.
    raw = client.sign(KeyId=arn, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)
    public.verify(raw["Signature"], message, ec.ECDSA(hash_cls()))


def test_digest_of_the_wrong_length_is_refused(kms):
    client = kms.client()
    arn = kms.create_key("ECC_NIST_P256")
    with pytest.raises(ClientError) as err:
        client.sign(
            KeyId=arn, Message=b"\0" * 48, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256"
        )
    assert "ValidationException" in str(err.value)


def test_request_log_names_each_request(kms):
    before = len(kms.requests())
    arn = kms.create_key("SYMMETRIC_DEFAULT")
    kms.client().encrypt(KeyId=arn, Plaintext=b"x" * 32)
    assert kms.requests()[before:] == ["kms CreateKey", "kms Encrypt"]
    assert pathlib.Path(kms.log).is_file()
