#!/usr/bin/env python3
"""Fails on a test that checks nothing: a Rust `#[test]` function or a pytest `test_*` function
with no assertion in it or in a helper it calls (run by scripts/test.sh; CONTRIBUTING.md has the
review rule for what this cannot decide).

What counts as a check, because it fails the test when the code under test is wrong:
- Rust: an `assert*!`/`prop_assert*!`/`panic!`/`unreachable!` macro, `.unwrap()`, `.unwrap_err()`,
  `.expect(…)`, `.expect_err(…)`, `?` (a test returning `Result` fails on `Err`), or a
  compile-time trait-bound check (`fn f<T: Send>() {}` called as `f::<X>()`);
- Python: an `assert` statement, `pytest.raises`, `pytest.fail`;
- in either, a call of a test helper (a function in test code) that (transitively) holds a check;
- a Rust test whose name ends in `never_panics` (or `does_not_panic`, `no_panic`): the panic it
  guards against fails it.
Decidable by this script: the function's own text and the helpers it calls by name. Not decidable:
whether the check is the right one (e.g. `assert!(x.is_ok() || true)`); that is the review rule.

Usage: lint_tests.py [ROOT]   (default: the repository this script is in)
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

RUST_DIRS = ["core/src", "core/tests", "cli/src", "cli/tests", "python/src", "benches"]
PY_DIRS = ["python/tests", "tests", "test-vectors"]

RUST_CHECK = re.compile(
    r"\b(?:[a-z_]*assert[a-z_]*|panic|unreachable)!|\.unwrap(?:_err)?\(\)|\.expect(?:_err)?\(|\?"
    # A compile-time check: an empty generic function with a trait bound, called for a type
    # (`fn shareable<T: Send + Sync>() {}` then `shareable::<Policy>()`): it fails to build.
    r"|\bfn\s+\w+\s*<[^>]*:[^>]*>\s*\(\s*\)\s*\{\s*\}"
)
# A test named for the absence of a panic (`garbage_never_panics`) checks exactly that: the panic
# would fail it. Its name is its assertion.
NEVER_PANICS = re.compile(r"(never_panics?|does_not_panic|no_panic)$")
RUST_FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:<[^{;]*?>)?\s*\(")
RUST_CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(?:::<[^>]*>)?\s*\(")


def strip_rust(text: str) -> str:
    """Blanks out comments and string/char literals (keeping line structure), so braces and check
    tokens inside them do not count."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2 : end])[2:])
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('"' + re.sub(r"[^\n]", " ", text[i + 1 : j]) + '"')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", text[i:])
            out.append("' '" + " " * (len(m.group(0)) - 3))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def rust_functions(text: str) -> list[tuple[str, int, str, bool]]:
    """(name, line, body, is_test) of every function with a body."""
    funcs = []
    for m in RUST_FN.finditer(text):
        # The body: the first `{` after the signature (skip declarations ending in `;`).
        j = m.end()
        depth_paren = 1
        while j < len(text) and depth_paren:
            depth_paren += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        k = j
        while k < len(text) and text[k] not in "{;":
            k += 1
        if k >= len(text) or text[k] == ";":
            continue
        depth, e = 0, k
        while e < len(text):
            depth += {"{": 1, "}": -1}.get(text[e], 0)
            e += 1
            if depth == 0:
                break
        # Return type and body both: `-> Result<…>` plus `?` is a check.
        body = text[j:e]
        before = text[max(0, m.start() - 300) : m.start()]
        attrs = before[before.rfind(";") + 1 :] if ";" in before else before
        cut = max(attrs.rfind("}"), attrs.rfind("{"))
        attrs = attrs[cut + 1 :]
        is_test = bool(re.search(r"#\[(?:[a-z_]+::)?test\]", attrs))
        line = text.count("\n", 0, m.start()) + 1
        funcs.append((m.group(1), line, body, is_test))
    return funcs


def lint_rust(root: Path) -> list[str]:
    funcs = []
    # Helpers count only where they are test code (tests/ directories, tests.rs, and what follows
    # a `#[cfg(test)]` module in a source file): a library function of the same name that
    # propagates an error with `?` checks nothing for the test that ignores its result.
    helpers = []
    for d in RUST_DIRS:
        for path in sorted((root / d).rglob("*.rs")) if (root / d).exists() else []:
            text = strip_rust(path.read_text())
            test_from = 0 if "tests" in path.parts or path.name == "tests.rs" else text.find("#[cfg(test)]")
            for name, line, body, is_test in rust_functions(text):
                funcs.append((path.relative_to(root), name, line, body, is_test))
                start = sum(len(l) + 1 for l in text.split("\n")[: line - 1])
                if test_from >= 0 and start >= test_from and not is_test:
                    helpers.append((name, body))
    helper_check = re.compile(RUST_CHECK.pattern.replace("|\\?", ""))
    checking = {name for name, body in helpers if helper_check.search(body)}
    changed = True
    while changed:
        changed = False
        for name, body in helpers:
            if name not in checking and any(c in checking for c in RUST_CALL.findall(body)):
                checking.add(name)
                changed = True
    return [
        f"{path}:{line}: test {name} has no assertion, unwrap/expect or ? (nor calls a helper with one)"
        for path, name, line, body, is_test in funcs
        if is_test
        and not NEVER_PANICS.search(name)
        and not RUST_CHECK.search(body)
        and not any(c in checking for c in RUST_CALL.findall(body))
    ]


def _py_has_check(node: ast.AST) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Assert):
            return True
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "pytest" and n.attr in ("raises", "fail"):
            return True
    return False


def _py_calls(node: ast.AST) -> set[str]:
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Name):
                names.add(f.id)
            elif isinstance(f, ast.Attribute):
                names.add(f.attr)
    return names


def lint_python(root: Path) -> list[str]:
    funcs = []
    for d in PY_DIRS:
        for path in sorted((root / d).rglob("*.py")) if (root / d).exists() else []:
            if ".venv" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    funcs.append((path.relative_to(root), node))
    checking = {node.name for _, node in funcs if _py_has_check(node)}
    changed = True
    while changed:
        changed = False
        for _, node in funcs:
            if node.name not in checking and _py_calls(node) & checking:
                checking.add(node.name)
                changed = True
    return [
        f"{path}:{node.lineno}: test {node.name} has no assert, pytest.raises or pytest.fail (nor calls a helper with one)"
        for path, node in funcs
        if node.name.startswith("test_") and path.name.startswith("test_") or node.name.startswith("test_") and path.name == "decode_v1.py"
        if not _py_has_check(node) and not (_py_calls(node) & checking)
    ]


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    problems = lint_rust(root) + lint_python(root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} test(s) check nothing (see CONTRIBUTING.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
