#!/usr/bin/env python3
"""Time `modelseal scan` against `modelseal sign` on the same model (issue 21's target: scan
<= 5% of sign).

Usage:
    python3 benches/scan.py [--quick] [--workdir DIR] [--runs N]

The model: 3 safetensors files (random tensor bytes, 2 GiB in all; 24 MiB with --quick) with a
`__metadata__` header, and 30 text/JSON files (configs, a 2 MiB tokenizer.json, a README, a
notebook, a .env without secrets). The binary is MODELSEAL_BIN or target/release/modelseal
(target/ci/modelseal if that is missing). Each command gets one warm-up run (warm page cache), then
--runs timed runs (default 5); the table shows min and median wall time and scan/sign at the
median. `sign` is files + sha256 (the default); its signature goes outside the model.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIB, GIB = 1 << 20, 1 << 30


def binary() -> Path:
    if os.environ.get("MODELSEAL_BIN"):
        return Path(os.environ["MODELSEAL_BIN"])
    for profile in ("release", "ci"):
        p = REPO / "target" / profile / "modelseal"
        if p.exists():
            return p
    raise SystemExit("no modelseal binary: build it or set MODELSEAL_BIN")


def safetensors(path: Path, size: int) -> None:
    header = json.dumps({
        "__metadata__": {"format": "pt", "note": "benchmark weights"},
        "w": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]},
    }).encode()
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little"))
        f.write(header)
        left = size
        while left:
            n = min(left, 64 * MIB)
            f.write(os.urandom(n))
            left -= n


def make_model(root: Path, total: int) -> None:
    root.mkdir(parents=True)
    for i in range(3):
        safetensors(root / f"model-0000{i + 1}-of-00003.safetensors", total // 3)
    vocab = {f"tok{i}": i for i in range(100_000)}
    (root / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}}))
    (root / "config.json").write_text(json.dumps({"hidden_size": 4096, "num_layers": 32}))
    (root / "README.md").write_text("# A model\n\nUse it with `transformers`.\n" * 200)
    (root / "train.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "code", "source": ["import torch\n"] * 50}], "nbformat": 4}))
    (root / ".env").write_text("MODEL_NAME=tiny\nMAX_TOKENS=4096\n")
    for i in range(25):
        (root / f"configs/c{i}.json").parent.mkdir(exist_ok=True)
        (root / f"configs/c{i}.json").write_text(json.dumps({"layer": i, "dim": 4096} ))


def timed(cmd: list[str], expect: int, runs: int) -> list[float]:
    subprocess.run(cmd, capture_output=True)  # warm-up
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True)
        out.append(time.perf_counter() - start)
        assert r.returncode == expect, (cmd, r.returncode, r.stderr.decode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    bin_ = binary()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        make_model(model, 24 * MIB if args.quick else 2 * GIB)
        files = sum(1 for p in model.rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
        subprocess.run([str(bin_), "keygen", "--algorithm", "ec-p256", "--out", str(tmp / "k.pem")],
                       check=True, capture_output=True)
        scan = timed([str(bin_), "scan", str(model), "--json"], 0, args.runs)
        sign = timed([str(bin_), "sign", str(model), "--key", str(tmp / "k.pem"), "-o",
                      str(tmp / "m.sig"), "--force", "--quiet"], 0, args.runs)
        sign_scan = timed([str(bin_), "sign", str(model), "--key", str(tmp / "k.pem"), "-o",
                           str(tmp / "m.sig"), "--force", "--quiet", "--scan"], 0, args.runs)
    print(f"model: {files} files, {size / GIB:.2f} GiB; binary {bin_}; {args.runs} runs, warm cache")
    print("| command | min s | median s | / sign |")
    print("|---|---|---|---|")
    base = statistics.median(sign)
    for name, t in (("scan --json", scan), ("sign", sign), ("sign --scan", sign_scan)):
        med = statistics.median(t)
        print(f"| {name} | {min(t):.3f} | {med:.3f} | {100 * med / base:.1f}% |")


if __name__ == "__main__":
    main()
