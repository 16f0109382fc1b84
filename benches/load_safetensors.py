#!/usr/bin/env python3
"""Verified loading against the reference loader, side by side in one run (issue 20's targets).

For one safetensors file of 64 float32 tensors (default 2 GiB), signed three ways (files +
SHA-256, files + BLAKE3, shards + SHA-256), prints medians of interleaved runs (warm page cache):

  A  safetensors.numpy.load_file(path)                          (the reference loader, no check)
  B  modelseal.open_model(dir, key=).load_safetensors(name)     (one read, verified)
  C  modelseal.verify(dir, sig, key=) then load_file(path)      (verify, then load: two reads)

and the ratios B/A (target: <= 1.15 for shards or blake3, <= 1.3 for files + sha256) and C/B
(target: >= 1.7). The last row is the model encrypted by `modelseal.encrypt` (X25519 recipient,
files + SHA-256 signature of the plaintext), where

  B  modelseal.open_model(enc, sig, key=, decryption_key=).load_safetensors(name)
                                                 (decrypted, authenticated, verified in memory)
  C  modelseal.decrypt to the work directory, verify, load_file, remove the plaintext

(target: B/A <= 1.5). The sealed row is the model sealed by `modelseal.seal` (files + SHA-256 inside
and outside): B also hashes the ciphertext against the outer signature in the same read (on a
thread of its own); A is the same plaintext load_file; C verifies the outer signature, decrypts
to the work directory, verifies the inner one and loads. The lazy row is a second file of the same size, 8 tensors of 4 MiB among
32 MiB ones, signed `shards=True, tensor_aligned=True` (2 MiB shards), encrypted: in a fresh
process, open_model + safe_open (the statement, the envelope and the header's shard), then one
4 MiB tensor by get_tensor — its wall and CPU time and the bytes the process read for it (rchar in
/proc/self/io; target: <= 10 ms and <= 2x the tensor's bytes). `--lazy-only` runs only that row.
Each run is a fresh Python process (so no run reuses another's arrays); peak
RSS (ru_maxrss of the child) is printed too, and so are the median CPU time of each child (user +
system, all its threads: on a shared machine the wall times queue behind other work, the CPU
times do not) and the median load average (1 min) at the start of the row's runs. A and B (and
C) are run interleaved, A, B, C, A, B, C, ... Usage:

    python3 benches/load_safetensors.py [--size-mib 2048] [--runs 3] [--workdir /dev/shm/ms-load]

Needs the wheel installed in the venv (scripts/test.sh builds it) and numpy + safetensors (the
test requirements).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import time

CHILD_A = "from safetensors.numpy import load_file; t = load_file({file!r})"

ENCRYPTED_CHILD = {
    "A": CHILD_A,
    "B": "import modelseal; t = modelseal.open_model({enc!r}, {sig!r}, key={key!r}, "
         "decryption_key={secret!r}).load_safetensors('model.safetensors')",
    "C": "import modelseal, shutil; from safetensors.numpy import load_file; "
         "modelseal.decrypt({enc!r}, {plain!r}, {secret!r}); "
         "modelseal.verify({plain!r}, {sig!r}, key={key!r}); "
         "t = load_file({plain!r} + '/model.safetensors'); shutil.rmtree({plain!r})",
}

SEALED_CHILD = {
    "A": CHILD_A,
    "B": "import modelseal; t = modelseal.open_model({sealed!r}, key={key!r}, "
         "decryption_key={secret!r}).load_safetensors('model.safetensors')",
    "C": "import modelseal, shutil; from safetensors.numpy import load_file; "
         "modelseal.verify({sealed!r}, {sealed!r} + '.sig', key={key!r}); "
         "modelseal.decrypt({sealed!r}, {plain!r}, {secret!r}); "
         "modelseal.verify({plain!r}, {plain!r} + '/modelseal.sig', key={key!r}); "
         "t = load_file({plain!r} + '/model.safetensors'); shutil.rmtree({plain!r})",
}

LAZY_CHILD = (
    "import time, numpy, modelseal\n"
    "def rchar():\n"
    "    return int(open('/proc/self/io').read().split('rchar:')[1].split()[0])\n"
    "t0 = time.perf_counter()\n"
    "lazy = modelseal.open_model({enc!r}, {sig!r}, key={key!r}, decryption_key={secret!r})"
    ".safe_open('model.safetensors')\n"
    "t1 = time.perf_counter(); r = rchar(); c = time.process_time()\n"
    "x = lazy.get_tensor({tensor!r})\n"
    "t2 = time.perf_counter(); r = rchar() - r; c = time.process_time() - c\n"
    "print(t1 - t0, t2 - t1, r, x.nbytes, c)"
)

CHILD = {
    "A": CHILD_A,
    "B": "import modelseal; t = modelseal.open_model({model!r}, {sig!r}, key={key!r})"
         ".load_safetensors('model.safetensors')",
    "C": "import modelseal; from safetensors.numpy import load_file; "
         "modelseal.verify({model!r}, {sig!r}, key={key!r}); t = load_file({file!r})",
}


def make_model(workdir: pathlib.Path, size_mib: int) -> pathlib.Path:
    import numpy
    from safetensors.numpy import save_file

    model = workdir / "model"
    file = model / "model.safetensors"
    if file.exists() and abs(file.stat().st_size - size_mib * 2**20) < 2**20:
        return model
    model.mkdir(parents=True, exist_ok=True)
    per_tensor = size_mib * 2**20 // 64 // 4
    rng = numpy.random.default_rng(1)
    save_file({f"layer{i:02}": rng.standard_normal(per_tensor, dtype=numpy.float32)
               for i in range(64)}, str(file))
    return model


def make_lazy_model(workdir: pathlib.Path, size_mib: int) -> pathlib.Path:
    """`size_mib` MiB of float32 tensors: 8 of 4 MiB (small4_0..7), the rest of 32 MiB."""
    import numpy
    from safetensors.numpy import save_file

    model = workdir / "lazy"
    file = model / "model.safetensors"
    if file.exists():
        return model
    model.mkdir(parents=True, exist_ok=True)
    rng = numpy.random.default_rng(2)
    tensors = {}
    for i in range(8):
        tensors[f"small4_{i}"] = rng.standard_normal(2**20, dtype=numpy.float32)
    for i in range((size_mib - 32) // 32):
        tensors[f"layer{i:02}"] = rng.standard_normal(8 * 2**20, dtype=numpy.float32)
    save_file(tensors, str(file))
    return model


def lazy_row(workdir: pathlib.Path, size_mib: int, runs: int, public: str) -> None:
    """The lazy target: one 4 MiB tensor of an encrypted, tensor-aligned-shard-signed file."""
    import modelseal

    secret = workdir / "x25519.key"
    if not secret.exists():
        modelseal.keygen("x25519", secret)
    sig = workdir / "lazy.sig"
    enc = workdir / "lazy-enc"
    if not enc.exists():
        model = make_lazy_model(workdir, size_mib)
        sig.unlink(missing_ok=True)
        modelseal.sign(model, workdir / "key.pem", sig, shards=True, tensor_aligned=True)
        modelseal.encrypt(model, enc, [f"{secret}.pub"])
        (model / "model.safetensors").unlink()  # the plaintext is not needed any more
    opens, gets, reads, cpus = [], [], [], []
    nbytes = 0
    for run in range(runs):
        code = LAZY_CHILD.format(enc=str(enc), sig=str(sig), key=public, secret=str(secret),
                                 tensor=f"small4_{run % 8}")
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True).stdout.split()
        opens.append(float(out[0]))
        gets.append(float(out[1]))
        reads.append(int(out[2]))
        nbytes = int(out[3])
        cpus.append(float(out[4]))
    print(f"lazy: {size_mib} MiB encrypted, tensor-aligned shards; medians of {runs}: "
          f"open_model+safe_open {statistics.median(opens) * 1000:.1f} ms, "
          f"get_tensor (4 MiB) {statistics.median(gets) * 1000:.1f} ms "
          f"(min {min(gets) * 1000:.1f}, max {max(gets) * 1000:.1f}; CPU time of the process "
          f"{statistics.median(cpus) * 1000:.1f}), "
          f"read {max(reads)} bytes max = {max(reads) / nbytes:.2f}x the tensor's {nbytes}",
          flush=True)


def timed(code: str) -> tuple[float, float, int]:
    """Wall time of one child process running `code`, its CPU time (user + system, all its
    threads) and its peak RSS in MiB (its own)."""
    code += ("; import resource; u = resource.getrusage(resource.RUSAGE_SELF); "
             "print(u.ru_utime + u.ru_stime, u.ru_maxrss)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    cpu, peak = out.stdout.split()[-2:]
    return elapsed, float(cpu), int(peak) // 1024


def load_average() -> float:
    """The 1-minute load average now."""
    return float(open("/proc/loadavg").read().split()[0])


def run_row(label: str, children: dict[str, str], values: dict[str, str], runs: int) -> None:
    """`runs` interleaved rounds of the children (A, B, C, A, B, C, ...), then the row."""
    times: dict[str, list[float]] = {n: [] for n in children}
    cpus: dict[str, list[float]] = {n: [] for n in children}
    loads: list[float] = []
    rss: dict[str, int] = {}
    for _ in range(runs):
        loads.append(load_average())
        for name, code in children.items():
            t, cpu, peak = timed(code.format(**values))
            times[name].append(t)
            cpus[name].append(cpu)
            rss[name] = max(rss.get(name, 0), peak)
    row(label, times, cpus, rss, statistics.median(loads))


def main() -> None:
    import modelseal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default="/dev/shm/modelseal-load-bench")
    parser.add_argument("--lazy-only", action="store_true")
    args = parser.parse_args()
    workdir = pathlib.Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    key = workdir / "key.pem"
    if not key.exists():
        modelseal.keygen("ec-p256", key, workdir / "key.pub.pem")
    public = str(workdir / "key.pub.pem")
    print(f"load average {open('/proc/loadavg').read().split()[0]} on {os.cpu_count()} cores")
    lazy_row(workdir, args.size_mib, args.runs, public)
    if args.lazy_only:
        return
    model = make_model(workdir, args.size_mib)
    file = str(model / "model.safetensors")
    print(f"{args.size_mib} MiB safetensors (64 tensors) in {workdir}; medians of {args.runs}")
    print("| signature | A load_file | B open_model+load | C verify+load_file | B/A | C/B "
          "| CPU A / B / C | load avg | peak RSS A/B (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    values = {"file": file, "model": str(model), "key": public}
    for label, options in [("files + sha256", {}), ("files + blake3", {"hash": "blake3"}),
                           ("shards + sha256", {"shards": True})]:
        sig = str(workdir / f"{label.replace(' ', '').replace('+', '-')}.sig")
        pathlib.Path(sig).unlink(missing_ok=True)
        modelseal.sign(model, key, sig, **options)
        run_row(label, CHILD, {**values, "sig": sig}, args.runs)
    # The encrypted row: the plaintext signed (files + sha256), then encrypted.
    sig = str(workdir / "files-sha256.sig")
    secret = workdir / "x25519.key"
    if not secret.exists():
        modelseal.keygen("x25519", secret)
    enc = workdir / "enc"
    if not enc.exists():
        modelseal.encrypt(model, enc, [f"{secret}.pub"])
    values = {"file": file, "enc": str(enc), "sig": sig, "key": public, "secret": str(secret),
              "plain": str(workdir / "plain")}
    run_row("encrypted (files + sha256)", ENCRYPTED_CHILD, values, args.runs)
    sealed = workdir / "sealed"
    if not sealed.exists():
        modelseal.seal(model, sealed, key, [f"{secret}.pub"])
    values = {"file": file, "sealed": str(sealed), "key": public, "secret": str(secret),
              "plain": str(workdir / "plain")}
    run_row("sealed (files + sha256, outer + inner)", SEALED_CHILD, values, args.runs)
    print(f"load average {open('/proc/loadavg').read().split()[0]} on {os.cpu_count()} cores")


def row(label: str, times: dict[str, list[float]], cpus: dict[str, list[float]],
        rss: dict[str, int], load: float) -> None:
    a, b, c = (statistics.median(times[n]) for n in "ABC")
    ca, cb, cc = (statistics.median(cpus[n]) for n in "ABC")
    print(f"| {label} | {a:.2f} s | {b:.2f} s | {c:.2f} s | {b / a:.2f} | {c / b:.2f} "
          f"| {ca:.2f} / {cb:.2f} / {cc:.2f} s | {load:.1f} | {rss['A']} / {rss['B']} |",
          flush=True)


if __name__ == "__main__":
    main()
