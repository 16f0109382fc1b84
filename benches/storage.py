#!/usr/bin/env python3
"""Sign and verify a model in the S3 emulator (moto's server, scripts/storage_emulator.py --direct)
without a local copy, against downloading it with boto3 and signing the local copy (issue 19's target:
>= 1.5x faster, peak RSS <= 256 MiB, no local disk); and decrypt its encrypted copy from the bucket
into a local directory (no ciphertext on disk) against a boto3 download followed by a local decrypt.

Usage: benches/storage.py [--files 8] [--size-mib 2048] [--bin target/ci/modelseal]
Prints one line per step: wall time, peak RSS of the modelseal process (from wait4), and the ratio.
The emulator runs in-process memory (moto), so the network is loopback: the numbers compare the
pipelines on one machine, not a real S3 round trip.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.monotonic()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[:2]} failed")
    return elapsed, usage.ru_maxrss


def fetch(s3, prefix: str, into: pathlib.Path) -> float:
    """Downloads every object below `prefix` of the bucket into `into` with boto3; wall seconds."""
    start = time.monotonic()
    for item in s3.list_objects_v2(Bucket="models", Prefix=prefix)["Contents"]:
        target = into / item["Key"].removeprefix(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file("models", item["Key"], str(target))
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--bin", default=str(ROOT / "target/ci/modelseal"))
    args = parser.parse_args()
    import boto3

    emulator = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts/storage_emulator.py"), "s3", "--direct"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    port = int(emulator.stdout.readline().split()[1])
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="models")
    per_file = args.size_mib * 2**20 // args.files
    block = os.urandom(2**20)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for i in range(args.files):
            path = tmp / f"shard-{i}.bin"
            with open(path, "wb") as out:
                for _ in range(per_file // len(block)):
                    out.write(block[:-1] + bytes([i]))
            s3.upload_file(str(path), "models", f"prod/llm/model-{i:05}.safetensors")
            path.unlink()
        subprocess.run([args.bin, "keygen", "--algorithm", "ec-p256", "--out", str(tmp / "k.pem"),
                        "--public-out", str(tmp / "k.pub")], check=True, stdout=subprocess.DEVNULL)
        url = "s3://models/prod/llm"
        sign, sign_rss = timed([args.bin, "sign", url, "--key", str(tmp / "k.pem"), "-o",
                                str(tmp / "bucket.sig")], env)
        verify, verify_rss = timed([args.bin, "verify", url, "--signature", str(tmp / "bucket.sig"),
                                    "--key", str(tmp / "k.pub")], env)
        local = tmp / "llm"
        download = fetch(s3, "prod/llm/", local)
        local_sign, _ = timed([args.bin, "sign", str(local), "--key", str(tmp / "k.pem"), "-o",
                               str(tmp / "local.sig")], env)
        subprocess.run([args.bin, "keygen", "--algorithm", "aes256-kek", "--out",
                        str(tmp / "k.kek")], check=True, stdout=subprocess.DEVNULL)
        enc = tmp / "enc"
        subprocess.run([args.bin, "encrypt", str(local), "--recipient", str(tmp / "k.kek"), "-o",
                        str(enc), "--quiet"], check=True, env=env)
        for path in sorted(p for p in enc.rglob("*") if p.is_file()):
            s3.upload_file(str(path), "models", f"prod/enc/{path.relative_to(enc).as_posix()}")
        shutil.rmtree(local)
        shutil.rmtree(enc)
        decrypt, decrypt_rss = timed([args.bin, "decrypt", "s3://models/prod/enc", "--key",
                                      str(tmp / "k.kek"), "-o", str(tmp / "plain"), "--quiet"], env)
        shutil.rmtree(tmp / "plain")
        enc_download = fetch(s3, "prod/enc/", enc)
        local_decrypt, _ = timed([args.bin, "decrypt", str(enc), "--key", str(tmp / "k.kek"), "-o",
                                  str(tmp / "plain"), "--quiet"], env)
    emulator.kill()
    baseline = download + local_sign
    decrypt_baseline = enc_download + local_decrypt
    mib = args.size_mib
    print(f"model: {args.files} files, {mib} MiB in moto (loopback)")
    print(f"sign from bucket:      {sign:7.2f} s  peak RSS {sign_rss / 1024:6.1f} MiB")
    print(f"verify from bucket:    {verify:7.2f} s  peak RSS {verify_rss / 1024:6.1f} MiB")
    print(f"boto3 download + sign: {baseline:7.2f} s  (download {download:.2f} s, sign {local_sign:.2f} s)")
    print(f"speed-up of sign from bucket: {baseline / sign:.2f}x")
    print(f"decrypt from bucket:   {decrypt:7.2f} s  peak RSS {decrypt_rss / 1024:6.1f} MiB")
    print(f"boto3 download + decrypt: {decrypt_baseline:7.2f} s  (download {enc_download:.2f} s, "
          f"decrypt {local_decrypt:.2f} s)")
    print(f"speed-up of decrypt from bucket: {decrypt_baseline / decrypt:.2f}x")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
