#!/usr/bin/env python3
"""Every ratio of issue 18's target table from one run: modelseal against age 1.1.1 and against the
file-system floor (on tmpfs, on tmpfs with half of memory held in it, on disk), seal/unseal against
encrypt/decrypt, and sign/verify (4 files + SHA-256, shards + SHA-256 on one file) against the
two-core SHA-256 limit and against model-signing 1.1.1.

    python3 benches/speed.py                          # 2 GiB, 5 runs, every row of the table
    python3 benches/speed.py --size-mib 256 --runs 3  # quicker
    python3 benches/speed.py --bin target/ci/modelseal --places shm --no-sign
    python3 benches/speed.py --places pressure --pressure-gib 11   # 11 GiB held in tmpfs
    python3 benches/speed.py --only seal,unseal --no-sign --baseline /tmp/old-modelseal  # before/after

Places: `shm` (/dev/shm), `pressure` (/dev/shm while --pressure-gib GiB are resident in it, default
half of memory; encrypt/decrypt rows only) and `disk` (target/tmp).

Method: A/B pairs are interleaved (A, B, A, B, ...) so that a noisy neighbour hits both; each cell is
the median of --runs timed runs after one warm-up; "slowest" is the slowest run over the median; CPU
is user + system time from GNU time (median, and its slowest run over the median: on a machine shared
with other jobs the wall time moves with the load while the CPU time barely does); peak RSS comes from
GNU time; peak open files ("fds") is the most descriptors the command held at once
(sampled from /proc every few milliseconds). The load average is printed before and after. Outputs
are removed after every run so tmpfs holds only the inputs. The floor is `dd bs=1M` of the same number
of bytes into the same file system (tmpfs) or `cp` + `sync FILE` (disk, whose modelseal runs fsync
too). The two-core SHA-256 limit is the bytes hashed over `openssl speed -evp sha256 -multi 2`'s rate
(64 KiB blocks), measured in the same run.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


PEAK_FDS = {}
LAST_FDS = [0]
LAST_CPU = [0.0]


def open_files(pid):
    """Descriptors the command under GNU time (`pid`) holds now (0 once it is gone)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return max((len(os.listdir(f"/proc/{c}/fd")) for c in children), default=0)
    except OSError:
        return 0


def run(cmd, cwd=None):
    """Runs cmd; returns (seconds, peak RSS MiB); fails loudly. The most descriptors it held is
    recorded in PEAK_FDS under its program name, and in LAST_FDS; its CPU time (user + system) in
    LAST_CPU.

    Peak RSS comes from GNU time (`%M`): a child forked from Python reports Python's own RSS as
    its ru_maxrss when that is larger."""
    start = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "%M %U %S", *map(str, cmd)], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    fds = 0
    while proc.poll() is None:
        fds = max(fds, open_files(proc.pid))
        time.sleep(0.003)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{err}")
    name = Path(str(cmd[0])).name
    PEAK_FDS[name] = max(PEAK_FDS.get(name, 0), fds)
    LAST_FDS[0] = fds
    rss, user, system = err.strip().splitlines()[-1].split()
    LAST_CPU[0] = float(user) + float(system)
    return elapsed, int(rss) / 1024


def remove(*paths):
    for p in paths:
        p = Path(p)
        if p.is_dir() and not p.is_symlink():
            for sub in p.rglob("*"):
                if sub.is_dir():
                    sub.chmod(0o700)
            p.chmod(0o700)
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def random_file(path, size):
    if path.exists() and path.stat().st_size == size:
        return
    with open(path, "wb") as f:
        left = size
        block = os.urandom(8 << 20)
        k = 0
        while left:
            # Varied blocks without paying os.urandom for every byte.
            n = min(left, len(block))
            f.write(bytes([k & 0xFF]) + block[1:n] if n > 1 else block[:n])
            left -= n
            k += 1


class Bench:
    def __init__(self, args):
        self.args = args
        self.ms = str(Path(args.bin).resolve())
        # An earlier build whose seal/unseal rows run interleaved with this one's (before/after).
        self.baseline = str(Path(args.baseline).resolve()) if args.baseline else None
        self.rows = []  # (place, label, stats...)
        self.results = {}

    def pair(self, place, name, a, b, cleanup):
        """Times commands a and b ((label, argv)), interleaved."""
        return self.group(place, name, [a, b], cleanup)

    def group(self, place, name, cmds, cleanup):
        """Times commands ((label, argv) each), interleaved: one of each per round."""
        times = {label: [] for label, _ in cmds}
        cpu = {label: [] for label, _ in cmds}
        rss = {label: 0.0 for label, _ in cmds}
        fds = {label: 0 for label, _ in cmds}
        for i in range(self.args.runs + 1):
            for label, cmd in cmds:
                t, r = run(cmd)
                cleanup()
                if i > 0:  # the first round warms up
                    times[label].append(t)
                    cpu[label].append(LAST_CPU[0])
                    rss[label] = max(rss[label], r)
                    fds[label] = max(fds[label], LAST_FDS[0])
        out = {}
        for label in times:
            med = statistics.median(times[label])
            out[label] = {
                "median_s": med,
                "slowest_over_median": max(times[label]) / med,
                "peak_rss_mib": rss[label],
                "peak_fds": fds[label],
                "runs_s": times[label],
                "cpu_median_s": statistics.median(cpu[label]),
                "cpu_slowest_over_median": max(cpu[label]) / max(statistics.median(cpu[label]), 1e-9),
                "runs_cpu_s": cpu[label],
            }
        self.results.setdefault(place, {})[name] = out
        return out

    def report(self, place, name, a, b, goal):
        r = self.results[place][name]
        ra, rb = r[a], r[b]
        ratio = ra["median_s"] / rb["median_s"]
        self.rows.append(
            f"| {place} | {name} | {a} {ra['median_s']:.2f} s (slowest ×{ra['slowest_over_median']:.2f}; "
            f"CPU {ra['cpu_median_s']:.2f} s, slowest ×{ra['cpu_slowest_over_median']:.2f}; "
            f"{ra['peak_rss_mib']:.0f} MiB, {ra['peak_fds']} fds) | {b} {rb['median_s']:.2f} s "
            f"(slowest ×{rb['slowest_over_median']:.2f}; CPU {rb['cpu_median_s']:.2f} s; "
            f"{rb['peak_rss_mib']:.0f} MiB) | **{ratio:.2f}** | {goal} |"
        )

    def against_limit(self, place, name, cmd, limit, limit_name, goal, cleanup):
        """Times cmd (median of --runs after a warm-up) against a computed limit in seconds."""
        times, cpu, rss, fds = [], [], 0.0, 0
        for i in range(self.args.runs + 1):
            t, r = run(cmd)
            cleanup()
            if i:
                times.append(t)
                cpu.append(LAST_CPU[0])
                rss, fds = max(rss, r), max(fds, LAST_FDS[0])
        med = statistics.median(times)
        self.results.setdefault(place, {})[name] = {
            "median_s": med, "slowest_over_median": max(times) / med, "peak_rss_mib": rss,
            "peak_fds": fds, "runs_s": times, "limit_s": limit, "runs_cpu_s": cpu,
        }
        self.rows.append(
            f"| {place} | {name} | modelseal {med:.2f} s (slowest ×{max(times) / med:.2f}; "
            f"CPU {statistics.median(cpu):.2f} s; {rss:.0f} MiB, "
            f"{fds} fds) | {limit_name} {limit:.2f} s | **{med / limit:.2f}** | {goal} |"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("MODELSEAL_BIN", str(ROOT / "target/release/modelseal")))
    ap.add_argument("--baseline", help="an earlier modelseal binary: its seal/unseal/encrypt/decrypt run "
                    "interleaved with --bin's in the seal and unseal rows (before/after)")
    ap.add_argument("--size-mib", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--places", default="shm,pressure,disk",
                    help="shm (/dev/shm), pressure (/dev/shm with --pressure-gib held) and/or disk (target/tmp)")
    ap.add_argument("--no-sign", action="store_true", help="skip the signing rows")
    ap.add_argument("--only", default="encrypt,decrypt,seal,unseal",
                    help="which of encrypt,decrypt,seal,unseal to run (default: all)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--pressure-gib", type=int, default=None,
                    help="GiB held resident in /dev/shm for the `pressure` place (default: half of memory)")
    args = ap.parse_args()
    if args.pressure_gib is None:
        total = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                     if line.startswith("MemTotal:"))
        args.pressure_gib = total // (2 << 20)
    print(f"load average before: {os.getloadavg()}", flush=True)
    if not Path(args.bin).exists():
        sys.exit(f"{args.bin}: build it first (cargo build --release -p modelseal-cli)")
    if not shutil.which("age"):
        sys.exit("age is not installed (apt-get install age)")
    b = Bench(args)
    places = {"shm": Path("/dev/shm/modelseal-speed"), "pressure": Path("/dev/shm/modelseal-speed"),
              "disk": ROOT / "target/tmp/modelseal-speed"}
    pressure = Path("/dev/shm/modelseal-speed-pressure")
    try:
        for place in args.places.split(","):
            place_rows(b, args, place, places[place], pressure)
    finally:
        remove(pressure)

    if not args.no_sign:
        sign_rows(b, args)
    print(f"load average after: {os.getloadavg()}")
    if "pressure" in args.places.split(","):
        print(f"pressure rows ran with {args.pressure_gib} GiB resident in /dev/shm")
    print("peak open files: " + ", ".join(f"{k} {v}" for k, v in sorted(PEAK_FDS.items())))
    print("| place | work | A | B | A/B | target |")
    print("|---|---|---|---|---|---|")
    for row in b.rows:
        print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(b.results, indent=1, default=str))


def make_keys(ms, work):
    """The recipient, signing and age keys and the trust policy under work/keys (made once)."""
    keys = work / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    if not (keys / "r.pem").exists():
        run([ms, "keygen", "--algorithm", "x25519", "--out", keys / "r.pem"])
        run([ms, "keygen", "--algorithm", "ec-p256", "--out", keys / "s.pem", "--public-out", keys / "s.pub.pem"])
        run(["age-keygen", "-o", keys / "age.key"])
        (keys / "trust.toml").write_text(
            'version = 1\n[signers.rel]\nkey = "s.pub.pem"\n[[models]]\nname = "bench/*"\nrequire = ["rel"]\n'
        )
    return keys


def place_rows(b, args, place, work, pressure):
    """The encrypt/decrypt/seal/unseal rows of one place."""
    ms, size = b.ms, args.size_mib << 20
    if place == "pressure":
        # Real pages (not a sparse file): what other emptyDir data costs the allocator.
        run(["dd", "if=/dev/zero", f"of={pressure}", "bs=1M", f"count={args.pressure_gib << 10}",
             "status=none"])
    work.mkdir(parents=True, exist_ok=True)
    keys = make_keys(ms, work)
    age_pub = next(
        line.split(": ")[1].strip()
        for line in (keys / "age.key").read_text().splitlines()
        if line.startswith("# public key:")
    )
    model = work / "model"
    model.mkdir(exist_ok=True)
    big = model / "weights.bin"
    random_file(big, size)
    out = work / "out"
    floor_name = "dd" if place != "disk" else "cp+sync"
    floor = (
        ["dd", f"if={big}", f"of={out}", "bs=1M", "status=none"]
        if place != "disk"
        else ["sh", "-c", f'cp "{big}" "{out}" && sync "{out}"']
    )

    only = set(args.only.split(","))
    if place == "pressure":
        only &= {"encrypt", "decrypt"}
    enc_ms, enc_age = work / "e.ms", work / "e.age"
    if "encrypt" in only:
        encrypt_rows(b, place, ms, keys, age_pub, big, out, floor_name, floor)
    if "decrypt" in only:
        decrypt_rows(b, place, ms, keys, age_pub, big, out, floor_name, floor, enc_ms, enc_age)
    if "seal" in only:
        seal_rows(b, place, ms, keys, model, out, work)
    if "unseal" in only:
        unseal_rows(b, place, ms, keys, model, out, work)
    remove(enc_ms, enc_age, pressure)


def encrypt_rows(b, place, ms, keys, age_pub, big, out, floor_name, floor):
    b.pair(place, "encrypt vs age", ("modelseal", [ms, "encrypt", "-q", "--recipient", keys / "r.pem.pub", "-o", out, big]),
           ("age", ["age", "-r", age_pub, "-o", out, big]), lambda: remove(out))
    b.pair(place, "encrypt vs floor", ("modelseal", [ms, "encrypt", "-q", "--recipient", keys / "r.pem.pub", "-o", out, big]),
           (floor_name, floor), lambda: remove(out))
    b.report(place, "encrypt vs age", "modelseal", "age", "≤ 0.5 (2× faster)")
    b.report(place, "encrypt vs floor", "modelseal", floor_name, "≤ 1.1 (tmpfs) / ≤ 1.05 (disk)")


def decrypt_rows(b, place, ms, keys, age_pub, big, out, floor_name, floor, enc_ms, enc_age):
    run([ms, "encrypt", "-q", "--recipient", keys / "r.pem.pub", "-o", enc_ms, big]) if not enc_ms.exists() else None
    run(["age", "-r", age_pub, "-o", enc_age, big]) if not enc_age.exists() else None
    b.pair(place, "decrypt vs age", ("modelseal", [ms, "decrypt", "-q", "--key", keys / "r.pem", "-o", out, enc_ms]),
           ("age", ["age", "-d", "-i", keys / "age.key", "-o", out, enc_age]), lambda: remove(out))
    b.pair(place, "decrypt vs floor", ("modelseal", [ms, "decrypt", "-q", "--key", keys / "r.pem", "-o", out, enc_ms]),
           (floor_name, floor), lambda: remove(out))
    b.report(place, "decrypt vs age", "modelseal", "age", "≤ 0.5 (2× faster)")
    b.report(place, "decrypt vs floor", "modelseal", floor_name, "≤ 1.1 (tmpfs) / ≤ 1.05 (disk)")
    remove(enc_age)


def seal_command(ms, keys, model, out):
    return [ms, "seal", "-q", model, "--key", keys / "s.pem", "--recipient", keys / "r.pem.pub",
            "-o", out, "--model-name", "bench/m"]


def seal_rows(b, place, ms, keys, model, out, work):
    """seal against encrypt of the same model directory."""
    seal = seal_command(ms, keys, model, out)
    encrypt_dir = [ms, "encrypt", "-q", model, "--recipient", keys / "r.pem.pub", "-o", out]
    cmds = [("seal", seal), ("encrypt", encrypt_dir)]
    if b.baseline:
        cmds += [("seal (baseline)", seal_command(b.baseline, keys, model, out)),
                 ("encrypt (baseline)", [b.baseline, *encrypt_dir[1:]])]
    b.group(place, "seal vs encrypt", cmds, lambda: remove(out, work / "out.sig"))
    b.report(place, "seal vs encrypt", "seal", "encrypt", "≤ 1.15")
    if b.baseline:
        b.report(place, "seal vs encrypt", "seal (baseline)", "encrypt (baseline)", "before")
        b.report(place, "seal vs encrypt", "seal", "seal (baseline)", "after / before")


def unseal_rows(b, place, ms, keys, model, out, work):
    """unseal against decrypt of the same model."""
    sealed, enc_dir = work / "sealed", work / "enc-dir"
    run(seal_command(ms, keys, model, sealed))
    run([ms, "encrypt", "-q", model, "--recipient", keys / "r.pem.pub", "-o", enc_dir])
    unseal = [ms, "unseal", "-q", sealed, "--policy", keys / "trust.toml", "--key", keys / "r.pem", "--out", out]
    decrypt = [ms, "decrypt", "-q", "--key", keys / "r.pem", "-o", out, enc_dir]
    cmds = [("unseal", unseal), ("decrypt", decrypt)]
    if b.baseline:
        cmds += [("unseal (baseline)", [b.baseline, *unseal[1:]]), ("decrypt (baseline)", [b.baseline, *decrypt[1:]])]
    b.group(place, "unseal vs decrypt", cmds, lambda: remove(out))
    b.report(place, "unseal vs decrypt", "unseal", "decrypt", "≤ 1.15")
    if b.baseline:
        b.report(place, "unseal vs decrypt", "unseal (baseline)", "decrypt (baseline)", "before")
        b.report(place, "unseal vs decrypt", "unseal", "unseal (baseline)", "after / before")
    remove(sealed, work / "sealed.sig", enc_dir)


def sign_rows(b, args):
    """sign and verify 4 × (size/4) files + SHA-256, and shards + SHA-256 on one file of `size`, on
    tmpfs: against the two-core SHA-256 limit, and against model-signing 1.1.1 (its CLI signs files;
    shards through its API)."""
    work = Path("/dev/shm/modelseal-speed")
    keys = make_keys(b.ms, work)
    four, one = work / "four", work / "one"
    four.mkdir(parents=True, exist_ok=True)
    one.mkdir(parents=True, exist_ok=True)
    part = (args.size_mib << 20) // 4
    for i in range(4):
        random_file(four / f"part-{i}.bin", part)
    random_file(one / "weights.bin", args.size_mib << 20)
    speed = subprocess.run(["openssl", "speed", "-evp", "sha256", "-multi", "2", "-bytes", "65536", "-seconds", "3"],
                           capture_output=True, text=True).stdout
    # The last line is "evp  <rate in kB/s>k" for the one block size asked for.
    rate = float(speed.strip().splitlines()[-1].split()[-1].rstrip("k")) * 1000
    limit_name = f"2-core limit ({rate / 1e9:.2f} GB/s)"
    sig, pub, ms = work / "sign.sig", keys / "s.pub.pem", b.ms
    shard = ["--shards", "--shard-size", "1000000000"]
    rows = (("4 files, sha256", four, []), ("shards, 1 file, sha256", one, shard))
    for label, model, extra in rows:
        limit = sum(f.stat().st_size for f in model.iterdir()) / rate
        b.against_limit("shm", f"sign {label}", [ms, "sign", "-q", model, "--key", keys / "s.pem", "-o", sig, *extra],
                        limit, limit_name, "≤ 1.1", lambda: remove(sig))
        run([ms, "sign", "-q", model, "--key", keys / "s.pem", "-o", sig, *extra])
        b.against_limit("shm", f"verify {label}", [ms, "verify", "-q", model, "--signature", sig, "--key", pub],
                        limit, limit_name, "≤ 1.1", lambda: None)
        remove(sig)
    ms_bin = ROOT / ".venv/bin/model_signing"
    if not ms_bin.exists():
        ms_bin = Path("/work/main/.venv/bin/model_signing")
    if not ms_bin.exists():
        sys.exit("model-signing 1.1.1 is not installed (scripts/setup.sh)")
    ref_sig = work / "ref.sig"
    b.pair("shm", "sign 4 files vs model-signing 1.1.1",
           ("modelseal", [ms, "sign", "-q", four, "--key", keys / "s.pem", "-o", sig]),
           ("model_signing", [ms_bin, "sign", "key", four, "--private_key", keys / "s.pem", "--signature", ref_sig]),
           lambda: remove(sig, ref_sig))
    b.report("shm", "sign 4 files vs model-signing 1.1.1", "modelseal", "model_signing", "≤ 0.5 (2× faster)")
    run([ms, "sign", "-q", four, "--key", keys / "s.pem", "-o", sig])
    run([ms_bin, "sign", "key", four, "--private_key", keys / "s.pem", "--signature", ref_sig])
    b.pair("shm", "verify 4 files vs model-signing 1.1.1",
           ("modelseal", [ms, "verify", "-q", four, "--signature", sig, "--key", pub]),
           ("model_signing", [ms_bin, "verify", "key", four, "--signature", ref_sig, "--public_key", pub]),
           lambda: None)
    b.report("shm", "verify 4 files vs model-signing 1.1.1", "modelseal", "model_signing", "≤ 0.5 (2× faster)")
    remove(sig, ref_sig, four, one)


if __name__ == "__main__":
    main()
