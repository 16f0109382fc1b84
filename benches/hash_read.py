#!/usr/bin/env python3
"""Hashing at the limit (issue 18): `sign` reading through bounded maps (the default) against
reading with `read` (MODELSEAL_HASH_READ=read), side by side in one run, against the two-core
SHA-256 limit of `openssl speed -multi 2`, on tmpfs and on disk.

    python3 benches/hash_read.py --bin target/ci/modelseal            # 5 runs, shm and disk
    python3 benches/hash_read.py --runs 3 --places shm

Models (pseudo-random bytes, reused across runs): four = 4 × 512 MiB files (files + SHA-256),
big = one 2 GiB file (shards of model-signing's default 10^9 bytes + SHA-256). The two-core limit
is total bytes / `openssl speed -evp sha256 -multi 2 -bytes 65536` rate. Runs are interleaved
(map, read, map, read, ...) after one warm-up round each; cells are medians; the page cache is
warm (the disk rows measure the copy, not the disk). Peak RSS is ru_maxrss of the child.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(cmd, env):
    start = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(map(str, cmd))}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime, usage.ru_stime


def random_file(path, size):
    if path.exists() and path.stat().st_size == size:
        return
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(os.urandom(n))
            left -= n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("MODELSEAL_BIN", str(ROOT / "target/release/modelseal")))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--places", default="shm,disk")
    args = ap.parse_args()
    ms = Path(args.bin).resolve()
    speed = subprocess.run(["openssl", "speed", "-evp", "sha256", "-multi", "2", "-bytes", "65536", "-seconds", "3"],
                           capture_output=True, text=True).stdout
    rate = float(speed.strip().splitlines()[-1].split()[-1].rstrip("k")) * 1000
    places = {"shm": Path("/dev/shm/modelseal-hashread"), "disk": ROOT / "target/tmp/modelseal-hashread"}
    rows = []
    for place in args.places.split(","):
        work = places[place]
        (work / "four").mkdir(parents=True, exist_ok=True)
        (work / "big").mkdir(parents=True, exist_ok=True)
        for i in range(4):
            random_file(work / "four" / f"part-{i}.bin", 512 << 20)
        random_file(work / "big" / "weights.bin", 2048 << 20)
        key = work / "k.pem"
        if not key.exists():
            subprocess.run([ms, "keygen", "--algorithm", "ec-p256", "--out", key, "--public-out", work / "k.pub.pem"],
                           check=True, stdout=subprocess.DEVNULL)
        sig = work / "s.sig"
        limit = (2048 << 20) / rate
        for name, extra in (("4 × 512 MiB, files", ["four"]),
                            ("2 GiB, shards 10^9", ["big", "--shards", "--shard-size", "1000000000"])):
            cmd = [ms, "sign", "-q", work / extra[0], "--key", key, "-o", sig, *extra[1:]]
            times = {"map": [], "read": []}
            cpu = {"map": [], "read": []}
            rss = {"map": 0.0, "read": 0.0}
            for i in range(args.runs + 1):
                for mode in ("map", "read"):
                    env = dict(os.environ)
                    env.pop("MODELSEAL_HASH_READ", None)
                    if mode == "read":
                        env["MODELSEAL_HASH_READ"] = "read"
                    t, r, u, s = run(cmd, env)
                    sig.unlink()
                    if i:
                        times[mode].append(t)
                        cpu[mode].append((u, s))
                        rss[mode] = max(rss[mode], r)
            m, rd = statistics.median(times["map"]), statistics.median(times["read"])
            sys_m = statistics.median(s for _, s in cpu["map"])
            sys_r = statistics.median(s for _, s in cpu["read"])
            cpu_m = statistics.median(u + s for u, s in cpu["map"])
            cpu_r = statistics.median(u + s for u, s in cpu["read"])
            rows.append(f"| {place} | {name} | {m:.3f} s (cpu {cpu_m:.2f}, sys {sys_m:.2f}, {rss['map']:.0f} MiB) "
                        f"| {rd:.3f} s (cpu {cpu_r:.2f}, sys {sys_r:.2f}, {rss['read']:.0f} MiB) | {limit:.3f} s "
                        f"| **{m / rd:.3f}** (cpu {cpu_m / cpu_r:.3f}) | **{m / limit:.2f}** | {rd / limit:.2f} |")
    print(f"two-core SHA-256 limit: {rate / 1e9:.2f} GB/s (openssl speed -evp sha256 -multi 2); {args.runs} runs, medians")
    print("| place | model | map | read | limit | map/read | map/limit | read/limit |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
