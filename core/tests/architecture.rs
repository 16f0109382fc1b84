//! The import check: core's modules form floors (docs/ARCHITECTURE.md, "Floors"), and a module
//! may import only its own floor or lower ones, with no cycle between modules.
//!
//! It reads every `crate::…`, `super::…` and `self::…` path in core/src (in `use` lines and inline,
//! groups `{a, b::c}` expanded), outside `#[cfg(test)]` code, resolves each to the module it
//! names by the longest prefix in the table, and fails on an import of a higher floor, on a path
//! that names no module of the table, and on a cycle. The table is read from docs/ARCHITECTURE.md
//! itself, so the document and the check cannot drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One module of the table: its path from the crate root (`keys::pkcs11`) and its floor.
#[derive(Debug, Clone)]
struct Unit {
    path: Vec<String>,
    floor: u32,
}

/// The rows `| N | a, b::c |` between the `floors:begin` and `floors:end` markers.
fn read_floors(doc: &str) -> Vec<Unit> {
    let start = doc
        .find("<!-- floors:begin -->")
        .expect("docs/ARCHITECTURE.md has no <!-- floors:begin --> marker");
    let end = doc
        .find("<!-- floors:end -->")
        .expect("docs/ARCHITECTURE.md has no <!-- floors:end --> marker");
    let mut units = Vec::new();
    for line in doc[start..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let Ok(floor) = cells[1].parse::<u32>() else {
            continue;
        };
        for name in cells[2].split(',') {
            let name = name.trim().trim_matches('`');
            if !name.is_empty() {
                units.push(Unit {
                    path: name.split("::").map(str::to_owned).collect(),
                    floor,
                });
            }
        }
    }
    units
}

/// The module path of a source file: `keys/pkcs11/uri.rs` → `keys::pkcs11::uri`,
/// `keys/mod.rs` → `keys`, `lib.rs` → the root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The source without comments, string literals and `#[cfg(test)]` items (a test module may
/// import anything: it is not part of the library's structure).
fn production_text(src: &str) -> String {
    let without_comments = strip_comments_and_strings(src);
    let mut out = String::new();
    let mut rest = without_comments.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        rest = skip_item(&rest[at + "#[cfg(test)]".len()..]);
    }
    out.push_str(rest);
    out
}

/// Skips one item: up to its `;` if that comes before any `{`, else past its balanced braces.
fn skip_item(text: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            ';' if depth == 0 => return &text[i + 1..],
            '{' => depth += 1,
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return &text[i + 1..];
                }
            }
            _ => {}
        }
    }
    ""
}

fn strip_comments_and_strings(src: &str) -> String {
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
        } else if c == b'"' {
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' && bytes.get(i + 2) == Some(&b'\'') {
            // a char literal like '{' (lifetimes have no closing quote two bytes on)
            i += 3;
        } else if c == b'\'' && bytes.get(i + 1) == Some(&b'\\') {
            i += 2;
            while i < bytes.len() && bytes[i] != b'\'' {
                i += 1;
            }
            i += 1;
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// Every path that starts with `crate`, `super` or `self` in `text`, groups expanded, resolved
/// against `module` (the file's module path) to a path from the crate root.
fn paths_in(text: &str, module: &[String]) -> Vec<Vec<String>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0
            || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_' || chars[i - 1] == ':');
        if boundary {
            for head in ["crate", "super", "self"] {
                if starts_with_word(&chars, i, head) && starts_with(&chars, i + head.len(), "::") {
                    let (paths, next) = parse_path(&chars, i, Vec::new());
                    for p in paths {
                        if let Some(resolved) = resolve(&p, module) {
                            out.push(resolved);
                        }
                    }
                    i = next;
                    break;
                }
            }
        }
        i += 1;
    }
    out
}

fn starts_with(chars: &[char], at: usize, s: &str) -> bool {
    s.chars()
        .enumerate()
        .all(|(k, c)| chars.get(at + k) == Some(&c))
}

fn starts_with_word(chars: &[char], at: usize, word: &str) -> bool {
    starts_with(chars, at, word)
        && !chars
            .get(at + word.len())
            .is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Parses `a::b::{c, d::e}` from `i`, prefixed by `prefix`; returns the full paths and where it ended.
fn parse_path(chars: &[char], mut i: usize, prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    let mut segments = prefix;
    loop {
        i = skip_space(chars, i);
        if chars.get(i) == Some(&'{') {
            let mut all = Vec::new();
            i += 1;
            loop {
                i = skip_space(chars, i);
                match chars.get(i) {
                    None => return (all, i),
                    Some('}') => return (all, i + 1),
                    Some(',') => i += 1,
                    _ => {
                        let (paths, next) = parse_path(chars, i, segments.clone());
                        all.extend(paths);
                        // skip an `as alias`
                        let mut j = skip_space(chars, next);
                        if starts_with_word(chars, j, "as") {
                            j = skip_space(chars, j + 2);
                            while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_')
                            {
                                j += 1;
                            }
                        }
                        i = if j == next { next.max(i + 1) } else { j };
                    }
                }
            }
        }
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '*')
        {
            i += 1;
        }
        if i == start {
            return (vec![segments], i);
        }
        let word: String = chars[start..i].iter().collect();
        segments.push(word);
        if starts_with(chars, i, "::") {
            i += 2;
        } else {
            return (vec![segments], i);
        }
    }
}

/// `crate::a::b` → `[a, b]`; `super::x` and `self::x` relative to `module`.
fn resolve(path: &[String], module: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = module.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().filter(|s| *s != "self" && *s != "*").cloned());
    Some(base)
}

/// The table entry that owns `path`: the longest matching prefix.
fn unit_of<'a>(units: &'a [Unit], path: &[String]) -> Option<&'a Unit> {
    units
        .iter()
        .filter(|u| path.len() >= u.path.len() && path[..u.path.len()] == u.path[..])
        .max_by_key(|u| u.path.len())
}

/// The key backends (`docs/ARCHITECTURE.md`, rule 1): each imports only the key seams below it,
/// never another backend, so that a new backend is one new folder.
const BACKENDS: [&str; 3] = ["keys::file", "keys::pkcs11", "keys::awskms"];

/// What the check found: imports of a higher floor, imports of one backend by another, paths
/// outside the table, and cycles.
#[derive(Debug, Default)]
struct Findings {
    upward: Vec<String>,
    sideways: Vec<String>,
    unknown: Vec<String>,
    cycles: Vec<String>,
}

impl Findings {
    fn is_clean(&self) -> bool {
        self.upward.is_empty()
            && self.sideways.is_empty()
            && self.unknown.is_empty()
            && self.cycles.is_empty()
    }
}

/// The modules declared `#[cfg(test)] mod name;` in `files`: test code in files of their own.
fn test_only_modules(files: &[(PathBuf, String)]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (rel, src) in files {
        let text = strip_comments_and_strings(src);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let item = rest.trim_start();
            let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
            let item = item.strip_prefix("pub ").unwrap_or(item);
            if let Some(decl) = item.strip_prefix("mod ") {
                let name: String = decl
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if decl[name.len()..].trim_start().starts_with(';') {
                    let mut module = module_of(rel);
                    module.push(name);
                    out.push(module);
                }
            }
        }
    }
    out
}

/// Checks `files` (path relative to core/src, source text) against `units`.
fn check(units: &[Unit], files: &[(PathBuf, String)]) -> Findings {
    let mut findings = Findings::default();
    let name = |u: &Unit| u.path.join("::");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let test_only = test_only_modules(files);
    for (rel, src) in files {
        let module = module_of(rel);
        if module.is_empty() {
            continue; // lib.rs: the crate's front door re-exports from every floor
        }
        if test_only.iter().any(|t| module.starts_with(t)) {
            continue; // a test module in a file of its own
        }
        let Some(from) = unit_of(units, &module) else {
            findings.unknown.push(format!(
                "{}: the file's module is in no floor",
                rel.display()
            ));
            continue;
        };
        for target in paths_in(&production_text(src), &module) {
            let Some(to) = unit_of(units, &target) else {
                findings.unknown.push(format!(
                    "{}: crate::{} names no module of the table",
                    rel.display(),
                    target.join("::")
                ));
                continue;
            };
            if to.path == from.path {
                continue;
            }
            if BACKENDS.contains(&name(from).as_str()) && BACKENDS.contains(&name(to).as_str()) {
                findings.sideways.push(format!(
                    "{}: backend {} imports backend {}",
                    rel.display(),
                    name(from),
                    name(to)
                ));
            }
            if to.floor > from.floor {
                findings.upward.push(format!(
                    "{}: {} (floor {}) imports {} (floor {})",
                    rel.display(),
                    name(from),
                    from.floor,
                    name(to),
                    to.floor
                ));
            }
            edges.entry(name(from)).or_default().insert(name(to));
        }
    }
    findings.upward.sort();
    findings.upward.dedup();
    findings.cycles = cycles(&edges);
    findings
}

/// One description per strongly connected set of more than one module (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<String>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(next) = s.edges.get(v) {
            for w in next {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let lw = s.low[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(lw));
                } else if s.on_stack.contains(w) {
                    let iw = s.index[w];
                    let lv = s.low[v];
                    s.low.insert(v, lv.min(iw));
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut members = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                members.push(w);
                if w == v {
                    break;
                }
            }
            if members.len() > 1 {
                members.sort();
                s.found.push(members.join(" <-> "));
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

fn source_files(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.strip_prefix(root).unwrap().to_path_buf(), text));
        }
    }
}

#[test]
fn core_modules_import_only_their_floor_or_lower_and_form_no_cycle() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(core.join("../docs/ARCHITECTURE.md")).unwrap();
    let units = read_floors(&doc);
    assert!(
        units.len() > 10,
        "the floor table of docs/ARCHITECTURE.md is missing: {units:?}"
    );
    let src = core.join("src");
    let mut files = Vec::new();
    source_files(&src, &src, &mut files);
    let findings = check(&units, &files);
    assert!(
        findings.is_clean(),
        "core's modules break the floors of docs/ARCHITECTURE.md:\n  upward imports:\n    {}\n  backend imports backend:\n    {}\n  unknown:\n    {}\n  cycles:\n    {}",
        findings.upward.join("\n    "),
        findings.sideways.join("\n    "),
        findings.unknown.join("\n    "),
        findings.cycles.join("\n    ")
    );
}

/// The source files of `core/src/<module>/` (paths relative to `core/src`) and their text.
fn module_files(module: &str) -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    source_files(&src, &src, &mut files);
    files.retain(|(path, _)| path.starts_with(module));
    files
}

/// RFC 3161 timestamps are a format shared by signing, certificate trust and Sigstore keyless
/// verification: `timestamp/` names no other module of the crate (ARCHITECTURE.md rule 4).
#[test]
fn the_timestamp_module_imports_nothing_of_the_crate() {
    let timestamp = module_files("timestamp");
    assert!(timestamp.len() >= 3, "core/src/timestamp/ is missing");
    for (path, text) in timestamp {
        assert!(
            !text.contains("crate::"),
            "{} imports from the crate",
            path.display()
        );
    }
}

/// The content gate (`scan/`, floor 2, docs/scan.md) sits above `tree` and below `sign`: it reads
/// the model tree and names only the ground floor and `tree` — no hashing, key, format or
/// operation module — so signing, sealing and the policy can all call it.
#[test]
fn the_scan_module_reads_only_the_tree_and_the_ground_floor() {
    let scan = module_files("scan");
    assert!(scan.len() >= 5, "core/src/scan/ is missing");
    let allowed = ["tree", "fs", "error"];
    for (path, text) in scan {
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            assert!(
                allowed.contains(&name.as_str()),
                "{} imports crate::{name}",
                path.display()
            );
        }
    }
}

/// The checker itself finds what it is for, on a made-up crate.
#[test]
fn the_import_check_finds_upward_imports_cycles_and_unknown_modules() {
    let units = read_floors(
        "<!-- floors:begin -->\n| floor | modules |\n|---|---|\n| 0 | `fs` |\n| 1 | `keys`, `tree` |\n| 2 | `keys::file`, `keys::pkcs11` |\n<!-- floors:end -->",
    );
    let file = |p: &str, s: &str| (PathBuf::from(p), s.to_owned());
    let files = vec![
        // fs (floor 0) importing keys::file (floor 2) through a group: upward
        file(
            "fs/atomic.rs",
            "use crate::{keys::{file::load, Other}, tree};\n",
        ),
        // tree <-> keys: a cycle on one floor
        file("tree/mod.rs", "fn f() { crate::keys::KeyRef::parse(); }\n"),
        file("keys/mod.rs", "pub use crate::tree::RelPath;\n"),
        // keys/file/pem.rs: super::super is keys (allowed); crate::nowhere is unknown
        file(
            "keys/file/pem.rs",
            "use super::super::KeyError;\nuse crate::nowhere::X;\n",
        ),
        // test code and comments import anything, also in a test module's own file
        file(
            "keys/file/mod.rs",
            "// crate::nowhere\n#[cfg(test)]\nmod tests { use crate::nowhere; }\n#[cfg(test)]\nmod vectors;\n",
        ),
        file("keys/file/vectors/mod.rs", "use crate::nowhere;\n"),
        // one backend reaching into another, on the same floor: sideways
        file(
            "keys/pkcs11/wrap.rs",
            "use crate::keys::file::rsa::X;\nuse crate::keys::Stanza;\n",
        ),
    ];
    let findings = check(&units, &files);
    assert_eq!(
        findings.upward,
        vec![
            "fs/atomic.rs: fs (floor 0) imports keys (floor 1)",
            "fs/atomic.rs: fs (floor 0) imports keys::file (floor 2)",
            "fs/atomic.rs: fs (floor 0) imports tree (floor 1)"
        ]
    );
    assert_eq!(
        findings.sideways,
        vec!["keys/pkcs11/wrap.rs: backend keys::pkcs11 imports backend keys::file"]
    );
    assert_eq!(findings.cycles, vec!["keys <-> tree"]);
    assert_eq!(
        findings.unknown,
        vec!["keys/file/pem.rs: crate::nowhere::X names no module of the table"]
    );
}
