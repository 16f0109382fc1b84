#!/usr/bin/env python3
"""Creates keys in the local KMS (scripts/moto_kms.py) with boto3, for modelseal's awskms tests.

Usage: kms_admin.py ENDPOINT create KEY_SPEC [ALIAS]   -> prints the key ARN
       kms_admin.py ENDPOINT public-key KEY            -> prints GetPublicKey's key as SPKI PEM
KEY_SPEC: SYMMETRIC_DEFAULT (ENCRYPT_DECRYPT) or ECC_NIST_P256 / ECC_NIST_P384 (SIGN_VERIFY).
Credentials and region are the dummy ones the tests set in the environment.
"""

from __future__ import annotations

import sys

import boto3
from cryptography.hazmat.primitives import serialization


def client(endpoint: str):
    return boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")


def create(kms, spec: str, alias: str | None) -> str:
    usage = "ENCRYPT_DECRYPT" if spec == "SYMMETRIC_DEFAULT" else "SIGN_VERIFY"
    arn = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn


def public_key_pem(kms, key: str) -> str:
    der = kms.get_public_key(KeyId=key)["PublicKey"]
    key = serialization.load_der_public_key(der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def main(argv: list[str]) -> None:
    endpoint, command, *rest = argv
    kms = client(endpoint)
    if command == "create":
        print(create(kms, rest[0], rest[1] if len(rest) > 1 else None))
    elif command == "public-key":
        print(public_key_pem(kms, rest[0]), end="")
    else:
        sys.exit(f"kms_admin.py: unknown command {command}")


if __name__ == "__main__":
    main(sys.argv[1:])
