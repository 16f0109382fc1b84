#!/usr/bin/env python3
"""Time whole `modelseal` commands against model-signing 1.1.1 on the same files, in one run.

Usage:
    python3 benches/compare.py [--quick] [--workdir DIR] [--runs N] [--models big,four,many]
                               [--out FILE.md] [--no-install]

For each model (one 2 GiB file; 4 x 512 MiB; 2000 x 1 KiB — tiny sizes with --quick) it times:
  - modelseal sign / verify (files+sha256, shards+sha256, files+blake3), binary from MODELSEAL_BIN
    or target/release/modelseal (rows are skipped, with a note, when it does not exist);
  - model-signing 1.1.1: `model_signing sign key` / `verify key` (its CLI: files+sha256 only), and
    its Python API for shards+sha256 and files+blake3 (the CLI cannot choose them);
  - hardware references over the same bytes: `openssl dgst -sha256` (one thread) and `b3sum`.
Every command gets one warm-up run (warm page cache), then --runs timed runs (default 3, and 1
with --quick); the
table shows min and median wall time, throughput at the median, peak RSS of the command
(GNU time's %M), and ratios against 1.1.1 and against the hardware reference.

Setup: runs scripts/setup.sh (the venv with model-signing 1.1.1) and installs Debian's b3sum and
GNU time (for peak RSS) if they are missing; with --no-install, rows whose tool is missing are
dropped with a note. Timing is pure Python (perf_counter around each run): no hyperfine needed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
REF_PYTHON = VENV / "bin" / "python"
REF_CLI = VENV / "bin" / "model_signing"
SHARD_SIZE = 1_000_000_000  # 1.1.1's default shard size, used by both tools for shard rows
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# name -> (file count, file size); --quick shrinks them so a smoke test takes seconds.
MODELS = {"big": (1, 2 * GIB), "four": (4, 512 * MIB), "many": (2000, KIB)}
QUICK_MODELS = {"big": (1, 8 * MIB), "four": (4, 2 * MIB), "many": (50, KIB)}

# The 1.1.1 Python API, for the hashing configurations its CLI cannot select.
API_SCRIPT = r"""
import json, pathlib, sys
import model_signing as ms
a = json.loads(sys.argv[1])
h = ms.hashing.Config()
if a["method"] == "shards":
    h = h.use_shard_serialization(hashing_algorithm=a["hash"], shard_size=a["shard_size"])
else:
    h = h.use_file_serialization(hashing_algorithm=a["hash"])
if a["op"] == "sign":
    ms.signing.Config().use_elliptic_key_signer(private_key=a["key"]).set_hashing_config(h).sign(
        pathlib.Path(a["model"]), a["sig"])
else:
    ms.verifying.Config().use_elliptic_key_verifier(public_key=a["key"]).set_hashing_config(h).verify(
        pathlib.Path(a["model"]), pathlib.Path(a["sig"]))
"""


@dataclass
class Job:
    """One command to time: which tool, which operation and configuration, on which model."""

    model: str
    tool: str  # "modelseal" | "model-signing" | "openssl" | "b3sum"
    op: str  # "sign" | "verify" | "hash"
    config: str  # "files/sha256" | "shards/sha256" | "files/blake3"
    argv: list[str]
    times: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # user + system seconds per run
    rss_kib: int = 0
    error: str = ""


def log(msg: str) -> None:
    print(f"compare.py: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Setup
# ------------------------------------------------------------------------------------------------


def ensure_reference() -> None:
    proc = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not REF_CLI.exists():
        sys.exit("compare.py: scripts/setup.sh failed: no model-signing 1.1.1 to compare with")


def ensure_tools(install: bool) -> Optional[str]:
    """Install Debian's b3sum and GNU time if missing (and allowed); return b3sum's path."""
    missing = [pkg for pkg, path in (("b3sum", shutil.which("b3sum")), ("time", GNU_TIME.exists()))
               if not path]
    if missing and install:
        # scripts/lib.sh installs quietly and non-interactively; apt-get update only if needed.
        subprocess.run(
            ["bash", "-c", f'. "{REPO}/scripts/lib.sh" && ensure_apt "$@"', "lib", *missing],
            stdin=subprocess.DEVNULL, env=dict(os.environ, MODELSEAL_LOG_NAME="compare.py"),
        )
    return shutil.which("b3sum")


def modelseal_binary() -> Optional[Path]:
    value = os.environ.get("MODELSEAL_BIN")
    path = Path(value) if value else REPO / "target" / "release" / "modelseal"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def marker_of(directory: Path) -> Path:
    # Beside the model, not inside it, so no tool ever hashes it.
    return directory.parent / f".{directory.name}.bench-model"


def model_ready(directory: Path, count: int, size: int) -> bool:
    marker = marker_of(directory)
    return directory.is_dir() and marker.exists() and marker.read_text() == f"{count} x {size}\n"


def write_model(directory: Path, count: int, size: int) -> None:
    """Write `count` files of `size` pseudo-random bytes (random block + per-block counter)."""
    shutil.rmtree(directory, ignore_errors=True)
    marker_of(directory).unlink(missing_ok=True)
    directory.mkdir(parents=True)
    log(f"writing {directory} ({count} x {human_bytes(size)})")
    block = bytearray(os.urandom(min(size, 16 * MIB)))
    width = len(str(count - 1))
    for i in range(count):
        with open(directory / f"part-{i:0{width}d}.bin", "wb") as out:
            written, counter = 0, 0
            while written < size:
                # A counter keeps blocks distinct without paying for fresh randomness.
                block[:16] = f"{i:08d}{counter:08d}".encode()[: len(block)]
                chunk = memoryview(block)[: size - written]
                out.write(chunk)
                written += len(chunk)
                counter += 1
    marker_of(directory).write_text(f"{count} x {size}\n")


def make_models(root: Path, sizes: dict[str, tuple[int, int]], names: list[str]) -> dict[str, Path]:
    paths = {}
    for name in names:
        count, size = sizes[name]
        directory = root / f"{name}-{count}x{size}"
        if not model_ready(directory, count, size):
            write_model(directory, count, size)
        paths[name] = directory
    return paths


def make_key(root: Path) -> tuple[Path, Path]:
    """A P-256 key pair for both tools (made with the venv's cryptography), mode 0600."""
    private, public = root / "bench-p256.pem", root / "bench-p256.pub.pem"
    if not private.exists() or not public.exists():
        script = (
            "import sys; from cryptography.hazmat.primitives import serialization as s;"
            "from cryptography.hazmat.primitives.asymmetric import ec;"
            "k = ec.generate_private_key(ec.SECP256R1());"
            "open(sys.argv[1], 'wb').write(k.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,"
            " s.NoEncryption()));"
            "open(sys.argv[2], 'wb').write(k.public_key().public_bytes(s.Encoding.PEM,"
            " s.PublicFormat.SubjectPublicKeyInfo))"
        )
        subprocess.run([str(REF_PYTHON), "-c", script, str(private), str(public)], check=True)
    private.chmod(0o600)
    return private, public


# ------------------------------------------------------------------------------------------------
# Jobs
# ------------------------------------------------------------------------------------------------


def build_jobs(models: dict[str, Path], key: tuple[Path, Path], sigs: Path,
               modelseal: Optional[Path], b3sum: Optional[str]) -> list[Job]:
    private, public = key
    jobs: list[Job] = []
    for name, model in models.items():
        files = sorted(str(p) for p in model.iterdir() if p.is_file())
        jobs.append(Job(name, "openssl", "hash", "sha256 (1 thread)",
                        ["openssl", "dgst", "-sha256", *files]))
        if b3sum:
            jobs.append(Job(name, "b3sum", "hash", "blake3", [b3sum, *files]))

        def sig(tool: str, config: str) -> str:
            return str(sigs / f"{name}.{tool}.{config.replace('/', '-')}.sig")

        if modelseal:
            for config, flags in (
                ("files/sha256", []),
                ("shards/sha256", ["--shards", "--shard-size", str(SHARD_SIZE)]),
                ("files/blake3", ["--hash", "blake3"]),
            ):
                s = sig("modelseal", config)
                ms = str(modelseal)
                jobs.append(Job(name, "modelseal", "sign", config,
                                [ms, "sign", str(model), "--key", str(private), "-o", s,
                                 "--quiet", *flags]))
                jobs.append(Job(name, "modelseal", "verify", config,
                                [ms, "verify", str(model), "--signature", s, "--key", str(public),
                                 "--quiet"]))

        s = sig("model-signing", "files/sha256")
        jobs.append(Job(name, "model-signing", "sign", "files/sha256",
                        [str(REF_CLI), "sign", "key", str(model), "--private_key", str(private),
                         "--signature", s]))
        jobs.append(Job(name, "model-signing", "verify", "files/sha256",
                        [str(REF_CLI), "verify", "key", str(model), "--signature", s,
                         "--public_key", str(public)]))
        for config, method, algorithm in (("shards/sha256", "shards", "sha256"),
                                          ("files/blake3", "files", "blake3")):
            s = sig("model-signing", config)
            for op, k in (("sign", private), ("verify", public)):
                args = {"op": op, "method": method, "hash": algorithm, "shard_size": SHARD_SIZE,
                        "key": str(k), "model": str(model), "sig": s}
                jobs.append(Job(name, "model-signing", op, config + " (API)",
                                [str(REF_PYTHON), "-c", API_SCRIPT, json.dumps(args)]))
    return jobs


GNU_TIME = Path("/usr/bin/time")


def run_once(argv: list[str], rss_file: Path) -> tuple[float, float, int, int, str]:
    """Run one command; return (wall s, CPU s, peak RSS KiB of the command, exit code, stderr tail).

    CPU seconds (user + system, from wait4) are reported beside wall time because they hardly
    move when the machine is shared, while wall time does.

    Peak RSS comes from GNU time (`%M`): a child forked straight from this Python process would
    report at least this process's own high-water RSS (the kernel folds the pre-exec mm into
    ru_maxrss), which would swamp small tools. Without GNU time, wait4's figure is used instead.
    """
    wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *argv] if GNU_TIME.exists() else argv
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    stderr = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    if GNU_TIME.exists():
        lines = rss_file.read_text().split()
        rss = int(lines[-1]) if lines and lines[-1].isdigit() else 0
    tail = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return elapsed, cpu, rss, code, tail[0]


def time_job(job: Job, runs: int, rss_file: Path) -> None:
    # The warm-up run also writes the signature that the verify job of the same tool reads.
    for i in range(runs + 1):
        elapsed, cpu, rss, code, err = run_once(job.argv, rss_file)
        if code != 0:
            job.error = f"exit {code}: {err}"
            return
        if i > 0:
            job.times.append(elapsed)
            job.cpu.append(cpu)
            job.rss_kib = max(job.rss_kib, rss)


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def human_bytes(n: float) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n:g} B"


def mb_per_s(size: int, seconds: float) -> str:
    rate = size / seconds / 1e6
    return f"{rate:.1f}" if rate < 10 else f"{rate:.0f}"


def baseline_config(config: str) -> str:
    return config.replace(" (API)", "")


def table(jobs: list[Job], sizes: dict[str, int]) -> str:
    ref = {(j.model, j.op, baseline_config(j.config)): j for j in jobs
           if j.tool == "model-signing" and j.times}
    hw = {(j.model, j.config.split()[0]): j for j in jobs if j.op == "hash" and j.times}
    lines = [
        "| model | tool | op | config | min s | median s | CPU s | MB/s | peak RSS MiB | "
        "1.1.1 ÷ this | % of hw ref |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for j in jobs:
        if j.error or not j.times:
            lines.append(f"| {j.model} | {j.tool} | {j.op} | {j.config} | — | — | — | — | — | — | "
                         f"failed: {j.error} |")
            continue
        med = statistics.median(j.times)
        base = ref.get((j.model, j.op, baseline_config(j.config)))
        speedup = f"{statistics.median(base.times) / med:.2f}×" if base and j.op != "hash" else "—"
        algo = "blake3" if "blake3" in j.config else "sha256"
        ref_hw = hw.get((j.model, algo))
        percent = (f"{100 * statistics.median(ref_hw.times) / med:.0f}%"
                   if ref_hw and j.op != "hash" else "—")
        lines.append(
            f"| {j.model} | {j.tool} | {j.op} | {j.config} | {min(j.times):.3f} | {med:.3f} | "
            f"{statistics.median(j.cpu):.2f} | {mb_per_s(sizes[j.model], med)} | "
            f"{j.rss_kib / 1024:.0f} | {speedup} | {percent} |"
        )
    return "\n".join(lines)


def environment(modelseal: Optional[Path]) -> list[str]:
    def first_line(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                   if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}",
        f"- modelseal: {first_line([str(modelseal), '--version']) if modelseal else 'not built'}",
        f"- model-signing: {first_line([str(REF_CLI), '--version'])}",
        f"- openssl: {first_line(['openssl', 'version'])}",
        f"- SHA-256 hardware limit, both cores: {sha256_two_core_rate() / 1e9:.2f} GB/s "
        "(`openssl speed -evp sha256 -multi 2 -bytes 1048576 -seconds 3`); the issue's targets "
        "for `four` and shards compare against size ÷ this rate",
    ]


def sha256_two_core_rate() -> float:
    """Bytes per second of SHA-256 over 1 MiB blocks on two cores, as `openssl speed` reports it."""
    try:
        out = subprocess.run(
            ["openssl", "speed", "-evp", "sha256", "-multi", "2", "-bytes", "1048576",
             "-seconds", "3"], capture_output=True, text=True, timeout=120).stdout
        # The summary line is `sha256  <kilobytes per second>k`.
        line = next(l for l in out.splitlines() if l.startswith("sha256"))
        return float(line.split()[-1].rstrip("k")) * 1000
    except (OSError, StopIteration, ValueError, subprocess.SubprocessError):
        return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/modelseal-bench"))
    parser.add_argument("--quick", action="store_true", help="tiny models: a smoke test")
    parser.add_argument("--runs", type=int, help="timed runs per command (default 3; 1 with --quick)")
    parser.add_argument("--models", default="big,four,many", help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get b3sum")
    args = parser.parse_args()
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < (1 if args.quick else 3):
        parser.error("--runs must be at least 3 (at least 1 with --quick)")
    sizes = QUICK_MODELS if args.quick else MODELS
    names = [n for n in args.models.split(",") if n]
    unknown = set(names) - set(sizes)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {sorted(sizes)}")

    ensure_reference()
    b3sum = ensure_tools(not args.no_install)
    modelseal = modelseal_binary()
    notes = []
    if modelseal is None:
        notes.append("modelseal rows skipped: no binary at MODELSEAL_BIN or target/release/modelseal "
                     "(build with `cargo build --release -p modelseal-cli`)")
    if b3sum is None:
        notes.append("b3sum rows skipped: b3sum not installed")
    if not GNU_TIME.exists():
        notes.append("peak RSS from wait4 (no /usr/bin/time): it includes this script's own RSS")

    args.workdir.mkdir(parents=True, exist_ok=True)
    models = make_models(args.workdir, sizes, names)
    key = make_key(args.workdir)
    sigs = args.workdir / "signatures"
    sigs.mkdir(exist_ok=True)
    jobs = build_jobs(models, key, sigs, modelseal, b3sum)
    for job in jobs:
        log(f"{job.model}: {job.tool} {job.op} {job.config}")
        time_job(job, args.runs, args.workdir / "rss.txt")

    total = {n: sizes[n][0] * sizes[n][1] for n in names}
    report = [
        f"# modelseal vs model-signing 1.1.1{' (--quick)' if args.quick else ''}",
        "",
        *environment(modelseal),
        "- models: " + "; ".join(f"{n} = {sizes[n][0]} × {human_bytes(sizes[n][1])}" for n in names),
        f"- each command: 1 warm-up run, then {args.runs} timed runs; wall time; "
        "peak RSS of the command (GNU time %M)",
        f"- command: `python3 benches/compare.py {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        table(jobs, total),
        "",
        "1.1.1 ÷ this: model-signing's median over this row's median for the same model, operation "
        "and configuration (> 1 = faster than 1.1.1). % of hw ref: the hardware reference's median "
        "(openssl dgst -sha256 one thread, or b3sum) over this row's median.",
    ]
    report += [f"\nNote: {n}" for n in notes]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    (args.workdir / "results.json").write_text(json.dumps(
        [{"model": j.model, "tool": j.tool, "op": j.op, "config": j.config, "times": j.times, "cpu": j.cpu,
          "peak_rss_kib": j.rss_kib, "error": j.error, "argv": j.argv[:3]} for j in jobs],
        indent=1))
    if any(j.error for j in jobs):
        sys.exit(1)


if __name__ == "__main__":
    main()
