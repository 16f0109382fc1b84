#!/usr/bin/env python3
"""Runs the README's walkthrough verbatim and checks what it leaves behind.

Every fenced block preceded by the line `<!-- walkthrough -->` in README.md is a step; the steps run
in order, in one empty temporary directory, in one bash process (`set -euo pipefail`: any failing
command fails the run), Python blocks through the `python3` on PATH. Nothing in a block is edited:
a newcomer pasting the blocks into a shell runs exactly this.

Run by scripts/test.sh after the wheel is installed: the `modelseal` binary of the ci build
(target/ci) and the venv (the wheel, model-signing 1.1.1, numpy) come first on PATH. As root, the
walkthrough runs as `nobody` (a newcomer is not root: paths such as /run or /models would fail for
them), in a directory of its own.

Exit 0 when every step ran and the expected outputs exist; 1 otherwise, with the script's output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- walkthrough -->"
FENCE = re.compile(r"^```(\w+)\s*$")

# What the walkthrough must leave behind when every step did what the README says: a file per step.
EXPECTED = [
    "release.pem",
    "out/model.sig",
    "out/model.py.sig",
    "out/model.enc/modelseal.envelope",
    "out/plain/model.safetensors",
    "out/model-py.enc/modelseal.envelope",
    "out/plain-py/model.safetensors",
    "trust.toml",
    "audit.jsonl",
    "out/llm.sealed.sig",
    "out/serving/llm/model.safetensors",
]


def blocks(readme: str) -> list[tuple[str, str]]:
    """The (language, text) of every marked block, in order; a marker not followed by a fence is an error."""
    lines = readme.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != MARKER:
            i += 1
            continue
        fence = FENCE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if not fence or fence.group(1) not in ("sh", "python"):
            sys.exit(f"README.md:{i + 1}: {MARKER} must be followed by a ```sh or ```python block")
        end = i + 2
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            sys.exit(f"README.md:{i + 2}: unterminated block")
        found.append((fence.group(1), "\n".join(lines[i + 2 : end]) + "\n"))
        i = end + 1
    return found


def script(steps: list[tuple[str, str]]) -> str:
    """One bash script running every step, announcing each on stderr."""
    out = ["set -euo pipefail"]
    for n, (language, text) in enumerate(steps, 1):
        out.append(f"echo '--- step {n} ({language})' >&2")
        if language == "sh":
            out.append(text)
        else:
            # A quoted here-document: the shell expands nothing in the Python text.
            delimiter = f"WALKTHROUGH_PYTHON_{n}"
            assert delimiter not in text
            out.append(f"python3 - <<'{delimiter}'\n{text}{delimiter}")
    out.append("echo '--- walkthrough done' >&2")
    return "\n".join(out) + "\n"


def main() -> int:
    steps = blocks((ROOT / "README.md").read_text())
    if len(steps) < 8:
        print(f"README.md: only {len(steps)} walkthrough blocks found; the markers went missing", file=sys.stderr)
        return 1
    binary_dir = Path(os.environ.get("MODELSEAL_BIN", ROOT / "target/ci/modelseal")).parent
    venv_bin = ROOT / ".venv/bin"
    for needed in (binary_dir / "modelseal", venv_bin / "python3"):
        if not needed.exists():
            print(f"{needed} is missing: build the CLI and the venv first (scripts/test.sh does)", file=sys.stderr)
            return 1

    as_user: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="modelseal-walkthrough."))
    try:
        if os.geteuid() == 0:
            _let_nobody_reach(binary_dir / "modelseal", (venv_bin / "python3").resolve())
            shutil.chown(work, "nobody", "nogroup" if _group_exists("nogroup") else "nobody")
            as_user = ["setpriv", "--reuid=nobody", "--regid=" + ("nogroup" if _group_exists("nogroup") else "nobody"), "--clear-groups"]
        env = {
            "PATH": f"{binary_dir}:{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(work),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
        }
        run = subprocess.run(
            [*as_user, "bash", "-c", script(steps)],
            cwd=work, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        )
        missing = [p for p in EXPECTED if not (work / p).exists()]
        if run.returncode != 0 or missing:
            print(run.stdout)
            print(run.stderr, file=sys.stderr)
            print(f"README walkthrough FAILED: exit {run.returncode}; missing outputs: {missing or 'none'}", file=sys.stderr)
            return 1
        print(f"   README walkthrough: {len(steps)} blocks ran as {'nobody' if as_user else 'this user'}; {len(EXPECTED)} outputs present")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _let_nobody_reach(*paths: Path) -> None:
    """Gives others the search bit on every directory above `paths` that lacks it, saying so.

    CI's clone lives under /root (0700), and the venv's interpreter may too (pyenv): the walkthrough's
    user must reach the binary and Python, as scripts/test-unprivileged.sh does for the test binaries.
    """
    for path in paths:
        for parent in path.parents:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                print(f"   chmod o+x {parent} (so that nobody reaches {path.name})")
                parent.chmod(mode | 0o001)


def _group_exists(name: str) -> bool:
    import grp

    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


if __name__ == "__main__":
    sys.exit(main())
