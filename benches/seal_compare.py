#!/usr/bin/env python3
"""Time modelseal's envelope encryption against age, rage and the AWS Encryption SDK, in one run.

Usage:
    python3 benches/seal_compare.py [--quick] [--workdir DIR] [--runs N] [--models big,four]
                                    [--rewrap-gib N] [--out FILE.md] [--no-install]

For each model (one 2 GiB file; 4 x 512 MiB — tiny sizes with --quick) it times encrypt and decrypt:
  - modelseal: `modelseal encrypt M --recipient x25519.pub -o E`, `modelseal decrypt E --key x25519`
    (a directory model in, a directory out; chunked AES-256-GCM, parallel);
  - age (Debian `age`) and rage (`cargo install rage --locked` into WORKDIR/tools), X25519 recipient:
    they encrypt one stream, so each file of the model is encrypted with one process, in sequence;
  - the AWS Encryption SDK for Python (`aws-encryption-sdk`, installed into the venv by this script),
    raw AES-256 master key, 1 MiB frames, committing suite (its default), each file streamed in one
    Python process.
Then:
  - the seekable reader: `modelseal.open` (Python, GIL released) reading 1 MiB at a random offset
    of the 2 GiB encrypted file (open once, then random reads; and open + one read);
  - rewrap (add one recipient, remove another) of a model directory of --rewrap-gib × 1 GiB files of
    zeros (written once from /dev/zero, encrypted once; rewrap touches only the envelope).
Each command: one warm-up run, then --runs timed runs (default 3; 1 with --quick); outputs are
deleted before every run (outside the timing). The table gives min and median wall time, MB/s at
the median, peak RSS (GNU time %M) and each row's speed relative to modelseal's median.

Setup is done by the script, only when it runs (never by the tests): scripts/setup.sh (the venv),
Debian's `age` and GNU `time` through scripts/lib.sh ensure_apt, rage with cargo install, and
aws-encryption-sdk with the venv's pip. With --no-install, missing tools' rows are dropped with a note.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare as base  # noqa: E402  (the signing benchmark: models, timing, RSS helpers)

REPO = base.REPO
PYTHON = base.REF_PYTHON
KIB, MIB, GIB = base.KIB, base.MIB, base.GIB
MODELS = {"big": (1, 2 * GIB), "four": (4, 512 * MIB)}
QUICK_MODELS = {"big": (1, 8 * MIB), "four": (4, 2 * MIB)}

# The AWS Encryption SDK, per file: raw AES-256 wrapping key, 1 MiB frames, default (committing)
# suite and commitment policy.
ESDK_SCRIPT = r"""
import json, sys
import aws_encryption_sdk
from aws_encryption_sdk.identifiers import EncryptionKeyType, WrappingAlgorithm
from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
from aws_encryption_sdk.key_providers.raw import RawMasterKey
a = json.loads(sys.argv[1])
key = RawMasterKey(provider_id="bench", key_id=b"bench-kek",
    wrapping_key=WrappingKey(wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
                             wrapping_key=open(a["key"], "rb").read(), wrapping_key_type=EncryptionKeyType.SYMMETRIC))
client = aws_encryption_sdk.EncryptionSDKClient()
for src, dst in a["pairs"]:
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        kwargs = {"frame_length": 1 << 20} if a["mode"] == "e" else {}
        with client.stream(mode=a["mode"], source=fin, key_provider=key, **kwargs) as s:
            for chunk in s:
                fout.write(chunk)
"""

# The seekable reader: open once then read 1 MiB at random offsets; and open + one read.
READER_SCRIPT = r"""
import json, random, sys, time
import modelseal
a = json.loads(sys.argv[1])
rng = random.Random(1)
size = a["size"]
t = time.perf_counter(); f = modelseal.open(a["path"], a["key"]); opened = time.perf_counter() - t
reads = []
for _ in range(a["reads"]):
    off = rng.randrange(0, size - (1 << 20))
    t = time.perf_counter(); f.seek(off); assert len(f.read(1 << 20)) == 1 << 20
    reads.append(time.perf_counter() - t)
f.close()
cold = []
for _ in range(5):
    off = rng.randrange(0, size - (1 << 20))
    t = time.perf_counter()
    with modelseal.open(a["path"], a["key"]) as g:
        g.seek(off); g.read(1 << 20)
    cold.append(time.perf_counter() - t)
print(json.dumps({"open": opened, "reads": reads, "open_and_read": cold}))
"""


@dataclass
class Job:
    """One command to time; `clean` paths are removed before every run, outside the timing."""

    model: str
    tool: str
    op: str
    argv: list[str]
    clean: list[Path]
    times: list[float] = field(default_factory=list)
    rss_kib: int = 0
    error: str = ""


def log(msg: str) -> None:
    print(f"seal_compare.py: {msg}", file=sys.stderr, flush=True)


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# ------------------------------------------------------------------------------------------------
# Setup: tools are installed here, only when the benchmark runs.
# ------------------------------------------------------------------------------------------------


def ensure_apt(*packages: str) -> None:
    subprocess.run(
        ["bash", "-c", f'. "{REPO}/scripts/lib.sh" && ensure_apt "$@"', "lib", *packages],
        stdin=subprocess.DEVNULL, env=dict(os.environ, MODELSEAL_LOG_NAME="seal_compare.py"),
    )


def ensure_rage(tools: Path) -> Optional[Path]:
    rage = tools / "bin" / "rage"
    if not rage.exists():
        log(f"cargo install rage --locked --root {tools} (once)")
        proc = subprocess.run(["cargo", "install", "rage", "--locked", "--root", str(tools)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if proc.returncode != 0:
            log(f"rage install failed: {proc.stderr.strip().splitlines()[-1:]}")
    return rage if rage.exists() else None


def ensure_esdk() -> bool:
    check = [str(PYTHON), "-c", "import aws_encryption_sdk"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        return True
    log("installing aws-encryption-sdk into the venv")
    subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", "aws-encryption-sdk"],
                   stdin=subprocess.DEVNULL, env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    return subprocess.run(check, capture_output=True).returncode == 0


def modelseal_python() -> bool:
    probe = [str(PYTHON), "-c", "import modelseal; modelseal.open"]
    return subprocess.run(probe, capture_output=True, cwd="/").returncode == 0


@dataclass
class Keys:
    x25519: Path  # modelseal X25519 private key (public: .pub)
    kek: Path  # modelseal aes256-kek
    age_identity: Path
    age_recipient: str
    esdk_key: Path  # 32 raw bytes


def make_keys(root: Path, modelseal: Path, age: Optional[str]) -> Keys:
    keys = root / "keys"
    keys.mkdir(exist_ok=True)
    x, kek = keys / "x25519.pem", keys / "kek.hex"
    for path, algorithm in ((x, "x25519"), (kek, "aes256-kek")):
        if not path.exists():
            subprocess.run([str(modelseal), "keygen", "--algorithm", algorithm, "--out", str(path),
                            "--force"], check=True, capture_output=True)
    ident, recipient = keys / "age.key", ""
    if age:
        if not ident.exists():
            subprocess.run([shutil.which("age-keygen") or "age-keygen", "-o", str(ident)],
                           check=True, capture_output=True)
        recipient = next(l.split(": ", 1)[1].strip() for l in ident.read_text().splitlines()
                         if l.startswith("# public key: "))
    esdk = keys / "esdk.key"
    if not esdk.exists():
        esdk.write_bytes(os.urandom(32))
    return Keys(x, kek, ident, recipient, esdk)


# ------------------------------------------------------------------------------------------------
# Jobs
# ------------------------------------------------------------------------------------------------


def per_file(tool_argv: list[str], pairs: list[tuple[Path, Path]]) -> list[str]:
    """One process per file, in sequence (age/rage encrypt one stream): a bash loop."""
    script = 'set -e; while [ $# -gt 0 ]; do "${TOOL[@]}" -o "$2" "$1"; shift 2; done'
    prelude = "TOOL=(" + " ".join(f"'{a}'" for a in tool_argv) + "); "
    flat = [str(p) for pair in pairs for p in pair]
    return ["bash", "-c", prelude + script, "loop", *flat]


def build_jobs(name: str, model: Path, work: Path, modelseal: Path, keys: Keys,
               age: Optional[str], rage: Optional[Path], esdk: bool) -> list[Job]:
    files = sorted(p for p in model.iterdir() if p.is_file())
    out = work / "out" / name
    out.mkdir(parents=True, exist_ok=True)
    ms = str(modelseal)
    enc, dec = out / "modelseal.enc", out / "modelseal.dec"
    jobs = [
        Job(name, "modelseal", "encrypt",
            [ms, "encrypt", str(model), "--recipient", f"{keys.x25519}.pub", "-o", str(enc),
             "--quiet"], [enc]),
        Job(name, "modelseal", "decrypt",
            [ms, "decrypt", str(enc), "--key", str(keys.x25519), "-o", str(dec), "--quiet"], [dec]),
    ]
    # The floor every tool shares here: copying the same bytes, without and with fsync (modelseal
    # fsyncs its outputs before the atomic rename; age, rage and cp do not).
    cp_out, cps_out = out / "cp.copy", out / "cpsync.copy"
    jobs.append(Job(name, "cp", "copy", ["cp", "-r", str(model), str(cp_out)], [cp_out]))
    jobs.append(Job(name, "cp+sync", "copy",
                    ["bash", "-c", 'cp -r "$1" "$2" && sync "$2"/* "$2"', "cp", str(model), str(cps_out)],
                    [cps_out]))
    for tool, binary, dec_flags in (("age", age, ["-d", "-i"]), ("rage", rage, ["-d", "-i"])):
        if not binary:
            continue
        encs = [(f, out / f"{tool}.{f.name}.age") for f in files]
        decs = [(e, out / f"{tool}.{f.name}.dec") for f, e in encs]
        jobs.append(Job(name, tool, "encrypt",
                        per_file([str(binary), "-r", keys.age_recipient], encs), [e for _, e in encs]))
        jobs.append(Job(name, tool, "decrypt",
                        per_file([str(binary), *dec_flags, str(keys.age_identity)], decs),
                        [d for _, d in decs]))
    if esdk:
        encs = [(f, out / f"esdk.{f.name}.enc") for f in files]
        decs = [(e, out / f"esdk.{f.name}.dec") for f, e in encs]
        for op, mode, pairs in (("encrypt", "e", encs), ("decrypt", "d", decs)):
            args = {"key": str(keys.esdk_key), "mode": mode,
                    "pairs": [[str(a), str(b)] for a, b in pairs]}
            jobs.append(Job(name, "aws-encryption-sdk", op,
                            [str(PYTHON), "-c", ESDK_SCRIPT, json.dumps(args)], [b for _, b in pairs]))
    return jobs


def time_job(job: Job, runs: int, rss_file: Path) -> None:
    for i in range(runs + 1):
        for p in job.clean:
            remove(p)
        elapsed, _cpu, rss, code, err = base.run_once(job.argv, rss_file)
        if code != 0:
            job.error = f"exit {code}: {err}"
            return
        if i > 0:
            job.times.append(elapsed)
            job.rss_kib = max(job.rss_kib, rss)


def check_round_trip(model: Path, work: Path, name: str) -> None:
    """Every tool's decrypted output equals the model (cmp), so no row times a wrong result."""
    out = work / "out" / name
    for f in sorted(p for p in model.iterdir() if p.is_file()):
        for candidate in (out / "modelseal.dec" / f.name, out / f"age.{f.name}.dec",
                          out / f"rage.{f.name}.dec", out / f"esdk.{f.name}.dec"):
            if candidate.exists():
                subprocess.run(["cmp", str(f), str(candidate)], check=True)


# ------------------------------------------------------------------------------------------------
# Seekable reader and rewrap
# ------------------------------------------------------------------------------------------------


def bench_reader(model: Path, work: Path, modelseal: Path, keys: Keys, quick: bool) -> list[str]:
    enc = work / "reader.enc"
    remove(enc)
    subprocess.run([str(modelseal), "encrypt", str(model), "--recipient", f"{keys.x25519}.pub",
                    "-o", str(enc), "--quiet"], check=True)
    target = next(p for p in sorted(enc.iterdir()) if p.name != "modelseal.envelope")
    size = next(p for p in model.iterdir() if p.is_file()).stat().st_size
    args = {"path": str(target), "key": str(keys.x25519), "size": size, "reads": 20 if quick else 200}
    proc = subprocess.run([str(PYTHON), "-c", READER_SCRIPT, json.dumps(args)], cwd="/",
                          capture_output=True, text=True, check=True)
    r = json.loads(proc.stdout)
    remove(enc)
    reads = sorted(r["reads"])
    ms = lambda s: f"{s * 1000:.2f}"  # noqa: E731
    return [
        f"| open (unwrap X25519 stanza, verify header MAC) | 1 | {ms(r['open'])} | — |",
        f"| seek + read 1 MiB at a random offset (open file) | {len(reads)} | "
        f"{ms(statistics.median(reads))} | {ms(reads[0])} / {ms(reads[-1])} |",
        f"| open + seek + read 1 MiB + close | {len(r['open_and_read'])} | "
        f"{ms(statistics.median(r['open_and_read']))} | {ms(min(r['open_and_read']))} / "
        f"{ms(max(r['open_and_read']))} |",
    ]


def bench_rewrap(work: Path, modelseal: Path, keys: Keys, gib: int, quick: bool,
                 runs: int) -> tuple[str, list[float]]:
    size = MIB if quick else GIB
    model = work / f"zeros-{gib}x{size}"
    marker = work / f".{model.name}.ready"
    if not marker.exists():
        remove(model)
        model.mkdir(parents=True)
        log(f"writing {model} ({gib} x {base.human_bytes(size)} of zeros)")
        for i in range(gib):
            subprocess.run(["dd", "if=/dev/zero", f"of={model}/part-{i:02d}.bin", f"bs={MIB}",
                            f"count={size // MIB}", "status=none"], check=True)
        marker.write_text("ok\n")
    enc = work / f"{model.name}.enc"
    remove(enc)
    log(f"encrypting {model} once for the rewrap benchmark")
    subprocess.run([str(modelseal), "encrypt", str(model), "--recipient", f"{keys.x25519}.pub",
                    "-o", str(enc), "--quiet"], check=True)
    made = subprocess.run([str(modelseal), "keygen", "--algorithm", "aes256-kek", "--out",
                           str(work / "rewrap.kek"), "--force", "--json"],
                          capture_output=True, check=True, text=True)
    new_id = json.loads(made.stdout)["key_id"]
    times = []
    # Alternate: add the KEK, then remove it again — every run changes the envelope.
    for i in range(2 * runs + 1):
        if i % 2 == 0:
            argv = [str(modelseal), "rewrap", str(enc), "--key", str(keys.x25519), "--recipient",
                    str(work / "rewrap.kek")]
        else:
            argv = [str(modelseal), "rewrap", str(enc), "--key", str(keys.x25519),
                    "--remove-recipient", new_id]
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        if i > 0:
            times.append(time.perf_counter() - start)
    remove(enc)
    if not quick:
        remove(model)
        marker.unlink(missing_ok=True)
    return f"{gib} × {base.human_bytes(size)}", times


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


def table(jobs: list[Job], sizes: dict[str, int]) -> str:
    ours = {(j.model, j.op): statistics.median(j.times) for j in jobs
            if j.tool == "modelseal" and j.times}
    lines = ["| model | tool | op | min s | median s | MB/s | peak RSS MiB | modelseal is × faster |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for j in jobs:
        if j.error or not j.times:
            lines.append(f"| {j.model} | {j.tool} | {j.op} | — | — | — | — | failed: {j.error} |")
            continue
        med = statistics.median(j.times)
        mine = ours.get((j.model, j.op))
        ratio = f"{med / mine:.2f}×" if mine else "—"
        lines.append(f"| {j.model} | {j.tool} | {j.op} | {min(j.times):.3f} | {med:.3f} | "
                     f"{base.mb_per_s(sizes[j.model], med)} | {j.rss_kib / 1024:.0f} | {ratio} |")
    return "\n".join(lines)


def copy_ratios(jobs: list[Job]) -> list[str]:
    """modelseal's medians over cp's and cp+sync's, per model (the issue's "within 1.3× of cp")."""
    med = {(j.model, j.tool, j.op): statistics.median(j.times) for j in jobs if j.times}
    lines = []
    for model in sorted({j.model for j in jobs}):
        parts = []
        for op in ("encrypt", "decrypt"):
            ours = med.get((model, "modelseal", op))
            for floor in ("cp", "cp+sync"):
                theirs = med.get((model, floor, "copy"))
                if ours and theirs:
                    parts.append(f"{op} = {ours / theirs:.2f}× {floor}")
        if parts:
            lines.append(f"- {model}: " + ", ".join(parts))
    return lines


def versions(age: Optional[str], rage: Optional[Path], modelseal: Path) -> list[str]:
    def first(argv: list[str]) -> str:
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            return (p.stdout or p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    esdk = first([str(PYTHON), "-c", "import aws_encryption_sdk as a; print(a.__version__)"])
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "unknown")
    return [
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} CPUs ({cpu}), {os.uname().sysname} {os.uname().release}",
        f"- modelseal: {first([str(modelseal), '--version'])}; age: "
        f"{first([age, '--version']) if age else 'missing'}; rage: "
        f"{first([str(rage), '--version']) if rage else 'missing'}; aws-encryption-sdk: {esdk}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/modelseal-seal-bench"))
    parser.add_argument("--quick", action="store_true", help="tiny models: a smoke test")
    parser.add_argument("--runs", type=int, help="timed runs per command (default 3; 1 with --quick)")
    parser.add_argument("--models", default="big,four", help="comma-separated subset")
    parser.add_argument("--rewrap-gib", type=int, default=10,
                        help="files of the rewrap model (1 GiB each; 1 MiB with --quick)")
    parser.add_argument("--out", type=Path, help="also write the markdown report here")
    parser.add_argument("--no-install", action="store_true", help="install nothing")
    parser.add_argument("--skip-esdk", action="store_true",
                        help="leave out the AWS Encryption SDK rows (about 20 s per run; they do not "
                             "change with modelseal)")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    sizes = QUICK_MODELS if args.quick else MODELS
    names = [n for n in args.models.split(",") if n]
    if set(names) - set(sizes):
        parser.error(f"unknown models; choose from {sorted(sizes)}")

    modelseal = base.modelseal_binary()
    if modelseal is None:
        sys.exit("seal_compare.py: build modelseal first: cargo build --release -p modelseal-cli")
    notes = []
    if not args.no_install:
        subprocess.run(["bash", str(REPO / "scripts" / "setup.sh")], stdin=subprocess.DEVNULL)
        ensure_apt("age", "time")
    age = shutil.which("age")
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    rage = (work / "tools" / "bin" / "rage") if args.no_install else ensure_rage(work / "tools")
    if rage is not None and not rage.exists():
        rage = None
    esdk = not args.skip_esdk and ((not args.no_install and ensure_esdk()) or subprocess.run(
        [str(PYTHON), "-c", "import aws_encryption_sdk"], capture_output=True).returncode == 0)
    for tool, present in (("age", age), ("rage", rage), ("aws-encryption-sdk", esdk)):
        if not present and not (tool == "aws-encryption-sdk" and args.skip_esdk):
            notes.append(f"{tool} rows skipped: not installed")

    models = base.make_models(work, sizes, names)
    keys = make_keys(work, modelseal, age)
    jobs: list[Job] = []
    for name in names:
        model_jobs = build_jobs(name, models[name], work, modelseal, keys, age, rage, esdk)
        for job in model_jobs:
            log(f"{name}: {job.tool} {job.op}")
            time_job(job, runs, work / "rss.txt")
        check_round_trip(models[name], work, name)
        remove(work / "out" / name)  # free the disk before the next model
        jobs += model_jobs

    reader_rows: list[str] = []
    if "big" in models and modelseal_python():
        reader_rows = bench_reader(models["big"], work, modelseal, keys, args.quick)
    elif "big" in models:
        notes.append("seekable reader skipped: the modelseal wheel is not installed in the venv "
                     "(scripts/test.sh installs it)")
    rewrap_desc, rewrap_times = bench_rewrap(work, modelseal, keys, args.rewrap_gib, args.quick, runs)

    total = {n: sizes[n][0] * sizes[n][1] for n in names}
    report = [
        f"# modelseal encryption vs age, rage, AWS Encryption SDK{' (--quick)' if args.quick else ''}",
        "",
        *versions(age, rage, modelseal),
        "- models: " + "; ".join(f"{n} = {sizes[n][0]} × {base.human_bytes(sizes[n][1])}"
                                 for n in names),
        f"- each command: 1 warm-up run, then {runs} timed runs (outputs deleted before each run); "
        "wall time; peak RSS of the command (GNU time %M)",
        f"- command: `python3 benches/seal_compare.py {' '.join(sys.argv[1:])}`".rstrip(),
        "",
        table(jobs, total),
        "",
        "modelseal is × faster: this row's median over modelseal's median for the same model and "
        "operation. age and rage run once per file, in sequence; the AWS Encryption SDK streams "
        "each file in one Python process (1 MiB frames, raw AES-256 master key). cp copies the "
        "model directory; cp+sync also fsyncs every copied file, as modelseal does before its "
        "atomic rename.",
        "",
        "modelseal's median over the copy floor (target: within 1.3× of cp):",
        "",
        *copy_ratios(jobs),
    ]
    if reader_rows:
        big_size = base.human_bytes(sizes["big"][1])
        report += ["", f"Seekable reader (`modelseal.open`, Python) on the {big_size} file of `big`:",
                   "",
                   "| operation | n | median ms | min / max ms |", "|---|---:|---:|---:|",
                   *reader_rows]
    report += ["", f"Rewrap (add a recipient / remove it; directory of {rewrap_desc}, "
                   f"{len(rewrap_times)} runs): median {statistics.median(rewrap_times) * 1000:.1f} ms, "
                   f"min {min(rewrap_times) * 1000:.1f} ms, max {max(rewrap_times) * 1000:.1f} ms."]
    report += [f"\nNote: {n}" for n in notes]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    (work / "results.json").write_text(json.dumps(
        [{"model": j.model, "tool": j.tool, "op": j.op, "times": j.times, "peak_rss_kib": j.rss_kib,
          "error": j.error} for j in jobs] + [{"rewrap": rewrap_desc, "times": rewrap_times}],
        indent=1))
    if any(j.error for j in jobs):
        sys.exit(1)


if __name__ == "__main__":
    main()
