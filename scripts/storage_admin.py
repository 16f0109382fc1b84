#!/usr/bin/env python3
"""Test-side administration of the object-storage emulators of scripts/storage_emulator.py.

Usage: storage_admin.py {s3,gcs,azure} ENDPOINT COMMAND ARGS...
  mkbucket BUCKET             create a bucket (an Azure container)
  put BUCKET KEY FILE         upload FILE as KEY
  upload BUCKET PREFIX DIR    upload every file below DIR as PREFIX/<relative path>
  delete BUCKET KEY           delete an object
  download BUCKET PREFIX DIR  download every object below PREFIX into DIR

S3 goes through boto3 with moto's dummy credentials; GCS through its JSON API, unauthenticated
(fake-gcs-server); Azure through the Blob REST API with Azurite's well-known development account
(SharedKey signing, below). Only for tests on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import urllib.parse
import urllib.request
from email.utils import formatdate
from pathlib import Path

AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the same in every installation; not a secret).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def s3(endpoint: str):
    import boto3

    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def request(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> bytes:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as response:
        return response.read()


def azure(method: str, endpoint: str, path: str, query: dict, body: bytes = b"",
          headers: dict | None = None) -> bytes:
    headers = dict(headers or {})
    if body:  # urllib would add a form Content-Type that the signature does not cover
        headers["Content-Type"] = "application/octet-stream"
    headers["x-ms-date"] = formatdate(usegmt=True)
    headers["x-ms-version"] = "2021-08-06"
    length = str(len(body)) if body else ""
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(
        (k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-ms-")))
    resource = f"/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}{path}" + "".join(
        f"\n{k}:{v}" for k, v in sorted(query.items()))
    to_sign = "\n".join([method, "", "", length, "", headers.get("Content-Type", ""), "", "", "",
                         "", "", ""]) + "\n" + canonical_headers + resource
    mac = hmac.new(base64.b64decode(AZURITE_KEY), to_sign.encode(), hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {AZURITE_ACCOUNT}:{base64.b64encode(mac).decode()}"
    url = f"{endpoint}/{AZURITE_ACCOUNT}{urllib.parse.quote(path)}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    return request(method, url, body or None, headers)


def put(store: str, endpoint: str, bucket: str, key: str, data: bytes) -> None:
    if store == "s3":
        s3(endpoint).put_object(Bucket=bucket, Key=key, Body=data)
    elif store == "gcs":
        query = urllib.parse.urlencode({"uploadType": "media", "name": key})
        request("POST", f"{endpoint}/upload/storage/v1/b/{bucket}/o?{query}", data,
                {"Content-Type": "application/octet-stream"})
    else:
        azure("PUT", endpoint, f"/{bucket}/{key}", {}, data, {"x-ms-blob-type": "BlockBlob"})


def keys(store: str, endpoint: str, bucket: str, prefix: str) -> list[str]:
    if store == "s3":
        pages = s3(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]
    if store == "gcs":
        query = urllib.parse.urlencode({"prefix": prefix})
        items = json.loads(request("GET", f"{endpoint}/storage/v1/b/{bucket}/o?{query}"))
        return [o["name"] for o in items.get("items", [])]
    text = azure("GET", endpoint, f"/{bucket}", {"restype": "container", "comp": "list",
                                                  "prefix": prefix}).decode()
    return [part.split("</Name>")[0] for part in text.split("<Name>")[1:]]


def get(store: str, endpoint: str, bucket: str, key: str) -> bytes:
    if store == "s3":
        return s3(endpoint).get_object(Bucket=bucket, Key=key)["Body"].read()
    if store == "gcs":
        return request("GET", f"{endpoint}/storage/v1/b/{bucket}/o/"
                       f"{urllib.parse.quote(key, safe='')}?alt=media")
    return azure("GET", endpoint, f"/{bucket}/{key}", {})


def main() -> None:
    store, endpoint, command, *args = sys.argv[1:]
    if command == "mkbucket":
        (bucket,) = args
        if store == "s3":
            s3(endpoint).create_bucket(Bucket=bucket)
        elif store == "gcs":
            request("POST", f"{endpoint}/storage/v1/b", json.dumps({"name": bucket}).encode(),
                    {"Content-Type": "application/json"})
        else:
            azure("PUT", endpoint, f"/{bucket}", {"restype": "container"})
    elif command == "put":
        bucket, key, file = args
        put(store, endpoint, bucket, key, Path(file).read_bytes())
    elif command == "upload":
        bucket, prefix, directory = args
        root = Path(directory)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            put(store, endpoint, bucket, f"{prefix}/{path.relative_to(root).as_posix()}",
                path.read_bytes())
    elif command == "delete":
        bucket, key = args
        if store == "s3":
            s3(endpoint).delete_object(Bucket=bucket, Key=key)
        elif store == "gcs":
            request("DELETE", f"{endpoint}/storage/v1/b/{bucket}/o/{urllib.parse.quote(key, safe='')}")
        else:
            azure("DELETE", endpoint, f"/{bucket}/{key}", {})
    elif command == "download":
        bucket, prefix, directory = args
        for key in keys(store, endpoint, bucket, prefix):
            target = Path(directory) / key[len(prefix):].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(get(store, endpoint, bucket, key))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
