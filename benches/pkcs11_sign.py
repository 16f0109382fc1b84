#!/usr/bin/env python3
"""Overhead of signing inside a PKCS#11 token over signing with a key file, on one model.

Usage:
    python3 benches/pkcs11_sign.py [--files 2000] [--size 1024] [--runs 5] [--workdir DIR]

Makes a model of FILES files of SIZE bytes, a SoftHSM2 token (scripts/softhsm-init.sh) and an
EC P-256 key file (`modelseal keygen`), then times `modelseal sign MODEL` with the file key and with
`pkcs11:…;object=ec-p256` alternately (one warm-up each, then RUNS timed runs each; warm page cache).
Prints min and median wall time of each and the overhead (HSM − file). Both runs hash the same
files; the difference is loading the PKCS#11 module, logging in, finding the key and one C_Sign —
the token signs once whatever the model size. Binary: MODELSEAL_BIN or target/release/modelseal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(argv, env=None):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr}")
    return proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir")
    args = ap.parse_args()
    binary = Path(os.environ.get("MODELSEAL_BIN", REPO / "target" / "release" / "modelseal"))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        model = work / "model"
        model.mkdir()
        for i in range(args.files):
            (model / f"f{i:05}.bin").write_bytes(os.urandom(args.size))
        run([REPO / "scripts" / "softhsm-init.sh", work / "hsm"])
        env_file = dict(l.split("=", 1) for l in (work / "hsm" / "env").read_text().splitlines())
        env = dict(os.environ, SOFTHSM2_CONF=env_file["SOFTHSM2_CONF"])
        uri = (f"pkcs11:token={env_file['MODELSEAL_TEST_TOKEN']};object=ec-p256"
               f"?module-path={env_file['MODELSEAL_PKCS11_MODULE']}"
               f"&pin-source=file:{env_file['MODELSEAL_TEST_PIN_FILE']}")
        key = work / "key.pem"
        run([binary, "keygen", "--algorithm", "ec-p256", "--out", key])
        keys = {"file key": str(key), "pkcs11 (SoftHSM2)": uri}
        times: dict[str, list[float]] = {name: [] for name in keys}
        for i in range(args.runs + 1):
            for name, ref in keys.items():
                start = time.perf_counter()
                run([binary, "sign", model, "--key", ref, "-o", work / "m.sig", "-q"], env=env)
                if i > 0:  # the first round warms the page cache and the loader
                    times[name].append(time.perf_counter() - start)
        print(f"modelseal sign, {args.files} files x {args.size} B, {args.runs} runs each")
        print(f"{'key':<20} {'min (ms)':>10} {'median (ms)':>12}")
        for name, t in times.items():
            print(f"{name:<20} {min(t) * 1e3:>10.1f} {statistics.median(t) * 1e3:>12.1f}")
        file_med = statistics.median(times["file key"])
        hsm_med = statistics.median(times["pkcs11 (SoftHSM2)"])
        print(f"overhead of the token: {(hsm_med - file_med) * 1e3:+.1f} ms at the median "
              f"({hsm_med / file_med:.2f}x)")


if __name__ == "__main__":
    main()
