#!/usr/bin/env python3
"""The front ends' share of the production Rust: CLI + Python bindings over core + CLI + Python.

Counts non-blank, non-comment lines (`//`, `///`, `//!` and `/* … */`) of `core/src`, `cli/src`
and `python/src`, leaving out test code: every `#[cfg(test)]` item (a `mod tests { … }` block, or
the file a `#[cfg(test)] mod name;` declares) and `tests/` directories. Usage:

    scripts/loc-share.py [REPO_ROOT]      # default: the repository this script is in
"""

from __future__ import annotations

import pathlib
import re
import sys

MOD_DECL = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def code_lines(text: str) -> list[str]:
    """Lines that are neither blank nor comments (block comments removed first)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return [l for l in text.splitlines() if l.strip() and not l.strip().startswith("//")]


def production(path: pathlib.Path, skipped: set[pathlib.Path]) -> int:
    """Production lines of one file; records the files its `#[cfg(test)] mod x;` declare."""
    lines = code_lines(path.read_text())
    count, i = 0, 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("#[cfg(test)]"):
            # Skip the attribute and the item it guards: a `mod x;` (its file), or a braced block.
            j = i + 1
            while j < len(lines) and lines[j].strip().startswith("#["):
                j += 1
            item = lines[j] if j < len(lines) else ""
            decl = MOD_DECL.match(item)
            if decl:
                name = decl.group(3)
                base = path.parent if path.name in ("mod.rs", "lib.rs", "main.rs") else path.with_suffix("")
                skipped.update({base / f"{name}.rs", base / name / "mod.rs"})
                i = j + 1
                continue
            depth, k = 0, j
            opened = False
            while k < len(lines):
                depth += lines[k].count("{") - lines[k].count("}")
                opened = opened or "{" in lines[k]
                k += 1
                if opened and depth <= 0:
                    break
                if not opened and lines[k - 1].rstrip().endswith(";"):
                    break
            i = k
            continue
        count += 1
        i += 1
    return count


def tree(root: pathlib.Path, part: str) -> int:
    files = sorted(p for p in (root / part).rglob("*.rs") if "tests" not in p.relative_to(root / part).parts[:-1])
    skipped: set[pathlib.Path] = set()
    counts = {p: production(p, skipped) for p in files}
    return sum(n for p, n in counts.items() if p not in skipped)


def main() -> None:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    core, cli, python = (tree(root, p) for p in ("core/src", "cli/src", "python/src"))
    total = core + cli + python
    share = 100 * (cli + python) / total
    print(f"core {core}  cli {cli}  python {python}  front ends {cli + python} of {total}: {share:.1f}%")


if __name__ == "__main__":
    main()
