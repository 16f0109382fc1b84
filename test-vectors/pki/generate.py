#!/usr/bin/env python3
"""Regenerates the TEST-ONLY keys and certificates in test-vectors/pki/.

Every private key written here is public test material: never use one for anything real.

Run from anywhere with the project's test venv (it needs `cryptography`, and `model_signing`
1.1.1 + pyOpenSSL for the reference verdicts) and the `openssl` CLI on PATH:

    /work/main/.venv/bin/python test-vectors/pki/generate.py

Keys come from the `openssl` CLI where a format is OpenSSL's own (SEC1 with EC PARAMETERS,
encrypted PKCS#8 with PBKDF2 or scrypt, legacy encrypted PEM, RSA, secp256k1); certificates
come from `cryptography` because the OpenSSL 3.0 CLI cannot set exact notBefore/notAfter
dates. After writing the certificates, the script asks model-signing 1.1.1's own certificate
check (`model_signing._signing.sign_certificate.Verifier._verify_certificates`) for its verdict
on every leaf and records it in reference-verdicts.json, so our tests compare against the
reference instead of against our reading of it.

Re-running replaces every file with fresh keys (the tests read whatever is committed).
"""

import base64
import datetime
import json
import os
import pathlib
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = pathlib.Path(__file__).resolve().parent
KEYS = HERE / "keys"
CERTS = HERE / "certs"
PASSWORD_FILE = KEYS / "password.txt"
PASSWORD = "modelseal test passphrase"


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def write_public_pem(private_pem: pathlib.Path, public_pem: pathlib.Path) -> None:
    openssl("pkey", "-in", str(private_pem), "-pubout", "-out", str(public_pem))


def make_keys() -> None:
    KEYS.mkdir(parents=True, exist_ok=True)
    PASSWORD_FILE.write_text(PASSWORD + "\n")
    (KEYS / "wrong-password.txt").write_text("not the passphrase\n")

    # PKCS#8 (`PRIVATE KEY`) for each supported curve, as `openssl genpkey` writes them.
    for name, curve in [("p256", "P-256"), ("p384", "P-384"), ("p521", "P-521")]:
        key = KEYS / f"{name}-pkcs8.pem"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}",
                "-out", str(key))
        write_public_pem(key, KEYS / f"{name}.pub.pem")

    # SEC1 (`EC PRIVATE KEY`) preceded by an `EC PARAMETERS` block, as `openssl ecparam -genkey` writes it.
    sec1 = KEYS / "p384-sec1.pem"
    openssl("ecparam", "-name", "secp384r1", "-genkey", "-out", str(sec1))
    write_public_pem(sec1, KEYS / "p384-sec1.pub.pem")

    # Encrypted PKCS#8 of the P-256 key: PBES2 with PBKDF2-HMAC-SHA256 / scrypt, AES-256-CBC.
    p256 = str(KEYS / "p256-pkcs8.pem")
    pass_in = f"file:{PASSWORD_FILE}"
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", p256, "-passout", pass_in,
            "-out", str(KEYS / "p256-encrypted-pbkdf2.pem"))
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-scrypt", "-in", p256, "-passout", pass_in,
            "-out", str(KEYS / "p256-encrypted-scrypt.pem"))
    # PBKDF2 with HMAC-SHA1: rejected by modelseal as unsupported (SHA-1 PRF).
    openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1", "-in", p256,
            "-passout", pass_in, "-out", str(KEYS / "p256-encrypted-sha1.pem"))
    # Legacy OpenSSL-encrypted SEC1 (Proc-Type/DEK-Info headers): rejected with a hint.
    openssl("ec", "-in", p256, "-aes256", "-passout", pass_in,
            "-out", str(KEYS / "p256-legacy-encrypted.pem"))

    # Ed25519 PKCS#8 v1 (OpenSSL) and v2 (OneAsymmetricKey with the public key, RFC 5958).
    ed_v1 = KEYS / "ed25519-pkcs8v1.pem"
    openssl("genpkey", "-algorithm", "ed25519", "-out", str(ed_v1))
    write_public_pem(ed_v1, KEYS / "ed25519-pkcs8v1.pub.pem")
    ed_key = ed25519.Ed25519PrivateKey.generate()
    seed = ed_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = ed_key.public_key().public_bytes(serialization.Encoding.Raw,
                                              serialization.PublicFormat.Raw)
    # SEQUENCE { INTEGER 1, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed },
    #            [1] IMPLICIT BIT STRING public }
    v2 = (bytes.fromhex("3051020101300506032b657004220420") + seed
          + bytes.fromhex("812100") + public)
    ed_v2 = KEYS / "ed25519-pkcs8v2.pem"
    ed_v2.write_text(pem("PRIVATE KEY", v2))
    # OpenSSL 3.0 and cryptography 50 cannot read v2; the public key below (written from the same
    # key by cryptography) is what a reader of this file must derive.
    (KEYS / "ed25519-pkcs8v2.pub.pem").write_bytes(ed_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    # Keys modelseal must refuse as unsupported.
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-out", str(KEYS / "rsa-2048.pem"))
    write_public_pem(KEYS / "rsa-2048.pem", KEYS / "rsa-2048.pub.pem")
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1",
            "-out", str(KEYS / "secp256k1.pem"))
    write_public_pem(KEYS / "secp256k1.pem", KEYS / "secp256k1.pub.pem")


def pem(label: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode()
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def utc(year: int, month: int = 1, day: int = 1) -> datetime.datetime:
    return datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)


def name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "modelseal tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def write_private_key(key, path: pathlib.Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def ca(subject: str, key, issuer_name: x509.Name, issuer_key, not_before, not_after, path_len):
    builder = (x509.CertificateBuilder()
               .subject_name(name(subject))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=False, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=True,
                   crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    return builder.sign(issuer_key, hashes.SHA384() if isinstance(
        issuer_key.curve, ec.SECP384R1) else hashes.SHA256())


def key_usage(digital_signature=False, key_agreement=False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=key_agreement, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)


def leaf(common_name, key, issuer_cert, issuer_key, not_before, not_after, ku=None, eku=None):
    builder = (x509.CertificateBuilder()
               .subject_name(name(common_name))
               .issuer_name(issuer_cert.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if ku is not None:
        builder = builder.add_extension(ku, critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


# name -> (curve, keyUsage, extendedKeyUsage, notBefore, notAfter, what it shows)
LEAVES = {
    "leaf-digital-signature": (ec.SECP256R1(), key_usage(digital_signature=True), None,
                               utc(2025, 6), utc(2125), "KU digitalSignature: accepted"),
    "leaf-code-signing": (ec.SECP384R1(), None, [ExtendedKeyUsageOID.CODE_SIGNING],
                          utc(2025, 6), utc(2125), "EKU codeSigning, no KU: accepted"),
    "leaf-p521": (ec.SECP521R1(), key_usage(digital_signature=True),
                  [ExtendedKeyUsageOID.CODE_SIGNING], utc(2025, 6), utc(2125),
                  "P-521, KU digitalSignature + EKU codeSigning: accepted"),
    "leaf-key-agreement": (ec.SECP256R1(), key_usage(key_agreement=True), None,
                           utc(2025, 6), utc(2125),
                           "KU keyAgreement only: rejected (may not sign)"),
    "leaf-server-auth": (ec.SECP256R1(), key_usage(digital_signature=True),
                         [ExtendedKeyUsageOID.SERVER_AUTH], utc(2025, 6), utc(2125),
                         "KU digitalSignature + EKU serverAuth only: 1.1.1 accepts, modelseal rejects"),
    "leaf-before-ca": (ec.SECP256R1(), key_usage(digital_signature=True), None,
                       utc(2020), utc(2125),
                       "notBefore 2020, before the intermediate's 2025 notBefore: rejected"),
    "leaf-expired": (ec.SECP256R1(), key_usage(digital_signature=True), None,
                     utc(2025, 6), utc(2025, 7),
                     "expired 2025-07-01, but checked at its notBefore: accepted"),
}


def make_certs() -> None:
    CERTS.mkdir(parents=True, exist_ok=True)
    root_key = ec.generate_private_key(ec.SECP384R1())
    root_name = name("modelseal test root CA")
    root = ca("modelseal test root CA", root_key, root_name, root_key, utc(2025), utc(2125), 1)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = ca("modelseal test intermediate CA", inter_key, root.subject, root_key,
               utc(2025), utc(2124, 12, 31), 0)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = name("modelseal untrusted root CA")
    other = ca("modelseal untrusted root CA", other_key, other_name, other_key,
               utc(2025), utc(2125), 1)

    write_private_key(root_key, CERTS / "root-ca.key")
    write_private_key(inter_key, CERTS / "intermediate-ca.key")
    write_private_key(other_key, CERTS / "untrusted-root-ca.key")
    (CERTS / "root-ca.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (CERTS / "intermediate-ca.pem").write_bytes(inter.public_bytes(serialization.Encoding.PEM))
    (CERTS / "untrusted-root-ca.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    # One file holding two roots, to test multi-certificate trust files.
    (CERTS / "two-roots.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM)
                                          + root.public_bytes(serialization.Encoding.PEM))

    # A root that expired before the leaf it issued directly was made: OpenSSL (and so 1.1.1)
    # checks every certificate of the path at the validation time, the root included.
    short_key = ec.generate_private_key(ec.SECP256R1())
    short_name = name("modelseal short-lived root CA")
    short = ca("modelseal short-lived root CA", short_key, short_name, short_key,
               utc(2025), utc(2025, 3), 0)
    write_private_key(short_key, CERTS / "short-lived-root-ca.key")
    (CERTS / "short-lived-root-ca.pem").write_bytes(short.public_bytes(serialization.Encoding.PEM))
    after_key = ec.generate_private_key(ec.SECP256R1())
    after = leaf("modelseal test leaf-after-root-expiry", after_key, short, short_key,
                 utc(2025, 6), utc(2125), key_usage(digital_signature=True))
    write_private_key(after_key, CERTS / "leaf-after-root-expiry.key")
    (CERTS / "leaf-after-root-expiry.pem").write_bytes(after.public_bytes(serialization.Encoding.PEM))

    # A self-signed CA certificate that is also the signing certificate (trusted as itself).
    self_key = ec.generate_private_key(ec.SECP256R1())
    self_name = name("modelseal self-signed signer")
    self_signed = (x509.CertificateBuilder()
                   .subject_name(self_name).issuer_name(self_name)
                   .public_key(self_key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(utc(2025)).not_valid_after(utc(2125))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False, key_encipherment=False,
                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                       crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                   .sign(self_key, hashes.SHA256()))
    write_private_key(self_key, CERTS / "self-signed-ca-signer.key")
    (CERTS / "self-signed-ca-signer.pem").write_bytes(
        self_signed.public_bytes(serialization.Encoding.PEM))

    for leaf_name, (curve, ku, eku, not_before, not_after, _) in LEAVES.items():
        key = ec.generate_private_key(curve)
        cert = leaf(f"modelseal test {leaf_name}", key, inter, inter_key, not_before, not_after,
                    ku, eku)
        write_private_key(key, CERTS / f"{leaf_name}.key")
        (CERTS / f"{leaf_name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def reference_verdicts() -> dict:
    """Asks model-signing 1.1.1's certificate check about every leaf, chained via the intermediate."""
    from model_signing._signing import sign_certificate
    from sigstore_models.bundle import v1 as bundle_pb
    from sigstore_models.common import v1 as common_pb

    def der_b64(path: pathlib.Path) -> bytes:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        return base64.b64encode(cert.public_bytes(serialization.Encoding.DER))

    verdicts = {}
    # (leaf, chain certificates after the leaf, trusted root file)
    cases = [(leaf_name, ["intermediate-ca"], "root-ca") for leaf_name in LEAVES]
    cases.append(("leaf-digital-signature", ["intermediate-ca"], "untrusted-root-ca"))
    cases.append(("leaf-digital-signature", ["intermediate-ca"], "two-roots"))
    cases.append(("leaf-digital-signature", [], "root-ca"))
    cases.append(("leaf-after-root-expiry", [], "short-lived-root-ca"))
    cases.append(("leaf-digital-signature", [], "intermediate-ca"))
    cases.append(("self-signed-ca-signer", [], "self-signed-ca-signer"))
    for leaf_name, chain, root in cases:
        verifier = sign_certificate.Verifier([CERTS / f"{root}.pem"])
        certificates = [common_pb.X509Certificate(raw_bytes=der_b64(CERTS / f"{c}.pem"))
                        for c in [leaf_name, *chain]]
        material = bundle_pb.VerificationMaterial(
            x509_certificate_chain=common_pb.X509CertificateChain(certificates=certificates),
            tlog_entries=[],
        )
        try:
            verifier._verify_certificates(material)
            verdict = "accepted"
        except Exception as error:  # the reference raises several types; any is a rejection
            verdict = f"rejected: {type(error).__name__}: {error}"
        verdicts[" -> ".join([leaf_name, *chain, f"trusted {root}"])] = verdict
    return verdicts


def main() -> None:
    os.umask(0o022)
    make_keys()
    make_certs()
    verdicts = reference_verdicts()
    (HERE / "reference-verdicts.json").write_text(json.dumps(verdicts, indent=2) + "\n")
    for case, verdict in verdicts.items():
        print(f"{case}: {verdict}")


if __name__ == "__main__":
    main()
