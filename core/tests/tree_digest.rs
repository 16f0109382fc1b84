//! `tree` + `digest` against the reference implementation, model-signing 1.1.1, run in Python.
//!
//! Every expected value comes from the reference: its own hashing API (which uses `hashlib` and
//! the `blake3` package) builds the manifest and its own in-toto payload code computes the root
//! digest; Python's `PurePosixPath` gives the expected order. The tests need a Python with
//! model-signing==1.1.1 (and pyOpenSSL, blake3): `$MODELSEAL_PYTHON`, else `<repo>/.venv/bin/python`.
//! Without it they fail, saying so — they never skip.

use modelseal::digest::{self, HashAlgorithm, Method, SerializationConfig};

use modelseal::internals::tree::{self, RelPath, WalkOptions};
use modelseal::progress::NoProgress;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

// ---------------------------------------------------------------------------------------------
// The reference implementation
// ---------------------------------------------------------------------------------------------

fn python() -> PathBuf {
    let path = match std::env::var_os("MODELSEAL_PYTHON") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    };
    assert!(
        path.exists(),
        "reference Python not found at {}: these tests compare against model-signing==1.1.1; set \
         MODELSEAL_PYTHON to a python that has model-signing==1.1.1, pyOpenSSL and blake3, or \
         create <repo>/.venv with them",
        path.display()
    );
    path
}

/// Runs `script` with `input` on stdin; its stdout.
fn run_python(script: &str, input: &str) -> String {
    let python = python();
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run reference Python {}: {e}", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "reference Python {} failed:\n{}",
        python.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Hashes each job with model-signing 1.1.1 and builds its in-toto payload.
const REFERENCE_MANIFESTS: &str = r#"
import json, sys
from model_signing import hashing
from model_signing._signing import signing

out = []
for job in json.load(sys.stdin):
    config = hashing.Config()
    if job["method"] == "files":
        config.use_file_serialization(hashing_algorithm=job["hash"])
    else:
        config.use_shard_serialization(hashing_algorithm=job["hash"], shard_size=job["shard_size"])
    config.set_ignored_paths(paths=job["ignore"], ignore_git_paths=job["ignore_git"])
    config.set_allow_symlinks(job["allow_symlinks"])
    try:
        manifest = config.hash(job["path"])
    except Exception as e:
        out.append({"error": f"{type(e).__name__}: {e}"})
        continue
    statement = signing.Payload(manifest).statement.pb
    subject = statement.subject[0]
    resources = [[r["name"], r["algorithm"], r["digest"]] for r in statement.predicate["resources"]]
    out.append({"manifest": {"name": subject.name, "root": subject.digest["sha256"],
                             "resources": resources}})
json.dump(out, sys.stdout)
"#;

/// One hashing run, described the same way to both implementations.
#[derive(Debug, Clone, Serialize)]
struct Job {
    path: String,
    method: &'static str,
    /// In 1.1.1's API spelling (`blake2`), which [`HashAlgorithm::from_name`] also accepts.
    hash: &'static str,
    shard_size: u64,
    ignore: Vec<String>,
    ignore_git: bool,
    allow_symlinks: bool,
}

#[derive(Debug, PartialEq, Eq, Deserialize)]
struct Manifest {
    name: String,
    root: String,
    resources: Vec<(String, String, String)>,
}

#[derive(Debug, Deserialize)]
struct Outcome {
    manifest: Option<Manifest>,
    error: Option<String>,
}

fn reference(jobs: &[Job]) -> Vec<Outcome> {
    let output = run_python(REFERENCE_MANIFESTS, &serde_json::to_string(jobs).unwrap());
    let outcomes: Vec<Outcome> = serde_json::from_str(&output).unwrap();
    assert_eq!(outcomes.len(), jobs.len());
    outcomes
}

/// The same job through modelseal's `tree` and `digest`.
fn ours(job: &Job) -> Result<Manifest, String> {
    let root = Path::new(&job.path);
    let ignore = job
        .ignore
        .iter()
        .filter_map(|p| tree::resolve_ignore(root, Path::new(p)));
    let options = WalkOptions {
        ignore: ignore.collect(),
        ignore_git_paths: job.ignore_git,
        allow_symlinks: job.allow_symlinks,
    };
    let tree = tree::walk(root, &options).map_err(|e| e.to_string())?;
    let method = match job.method {
        "files" => Method::Files,
        _ => Method::Shards {
            shard_size: job.shard_size,
        },
    };
    let config = SerializationConfig {
        method,
        hash: HashAlgorithm::from_name(job.hash).unwrap(),
        allow_symlinks: job.allow_symlinks,
        ignore_paths: job.ignore.clone(),
    };
    let resources = digest::hash_tree(&tree, &config, &NoProgress).map_err(|e| e.to_string())?;
    Ok(Manifest {
        name: tree::model_name(root),
        root: hex::encode(digest::root_digest(&resources)),
        resources: resources
            .into_iter()
            .map(|r| (r.name, r.algorithm, hex::encode(r.digest)))
            .collect(),
    })
}

/// Runs all jobs through both implementations; panics listing every disagreement. Returns how
/// many jobs produced a manifest (rather than an error on both sides).
fn assert_same_as_reference(jobs: &[Job]) -> usize {
    let mut failures = Vec::new();
    let mut manifests = 0;
    for (job, outcome) in jobs.iter().zip(reference(jobs)) {
        match (ours(job), outcome) {
            (
                Ok(got),
                Outcome {
                    manifest: Some(want),
                    ..
                },
            ) if got == want => manifests += 1,
            (Err(_), Outcome { error: Some(_), .. }) => {}
            (got, want) => failures.push(format!(
                "{job:?}\n  ours:      {got:?}\n  reference: {want:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} jobs differ:\n{}",
        failures.len(),
        jobs.len(),
        failures.join("\n")
    );
    manifests
}

/// The five hashing configurations 1.1.1 can produce, for one model path.
fn all_configs(path: &Path, ignore: &[&str], ignore_git: bool, allow_symlinks: bool) -> Vec<Job> {
    let configs = [
        ("files", "sha256", 0),
        ("files", "blake2", 0),
        ("files", "blake3", 0),
        ("shards", "sha256", 1000),
        ("shards", "blake2", 777),
    ];
    configs
        .into_iter()
        .map(|(method, hash, shard_size)| Job {
            path: path.to_str().unwrap().to_owned(),
            method,
            hash,
            shard_size,
            ignore: ignore.iter().map(|s| s.to_string()).collect(),
            ignore_git,
            allow_symlinks,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Building models
// ---------------------------------------------------------------------------------------------

/// Writes `len` bytes of a pattern that differs per file (so swapped files change digests).
fn write_file(root: &Path, name: &str, len: usize) {
    let path = root.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let seed = name
        .bytes()
        .fold(17u8, |acc, b| acc.wrapping_mul(31).wrapping_add(b));
    let bytes: Vec<u8> = (0..len)
        .map(|i| seed.wrapping_add((i % 251) as u8))
        .collect();
    fs::write(path, bytes).unwrap();
}

fn model(parent: &Path, name: &str, files: &[(&str, usize)]) -> PathBuf {
    let root = parent.join(name);
    fs::create_dir_all(&root).unwrap();
    for &(file, len) in files {
        write_file(&root, file, len);
    }
    root
}

// ---------------------------------------------------------------------------------------------
// Fixed models
// ---------------------------------------------------------------------------------------------

#[test]
fn fixed_models_match_model_signing_1_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let ordering = model(
        base,
        "ordering",
        &[
            ("B", 1),
            ("a/b", 2000),
            ("a-b", 3),
            ("a.txt", 1000),
            ("a b", 5),
            ("a:b:0:1", 1500),
            ("A", 7),
            ("ü", 8),
            ("z/é/日本.bin", 2001),
            (".hidden", 9),
            (".git/config", 10),
            (".gitignore", 11),
            (".github/workflows/ci.yml", 12),
            (".gitattributes", 13),
            (".gitmodules", 14),
            ("sub/.git/HEAD", 15),
        ],
    );
    fs::create_dir_all(ordering.join("empty/dir")).unwrap();
    let empties = model(base, "empties", &[("e1", 0), ("d/e2", 0), ("full", 10)]);
    let shards = model(
        base,
        "shards",
        &[
            ("exact", 3000),
            ("short", 2500),
            ("one", 999),
            ("e", 0),
            ("colon: name", 1001),
        ],
    );
    let single = model(base, "single", &[("model.bin", 2500)]).join("model.bin");
    let ignores = model(
        base,
        "ignores",
        &[
            ("docs/a.md", 1),
            ("docs/b/c.md", 2),
            ("docs2/x", 3),
            ("README.md", 4),
            ("w.bin", 5),
        ],
    );
    let absolute_ignore = ignores.join("docs2/x");
    write_file(base, "outside/target.bin", 1234);
    let links = model(base, "links", &[("w.bin", 10)]);
    std::os::unix::fs::symlink(base.join("outside/target.bin"), links.join("link.bin")).unwrap();

    let mut jobs = Vec::new();
    jobs.extend(all_configs(&ordering, &[], true, false));
    jobs.extend(all_configs(&ordering, &[], false, false));
    jobs.extend(all_configs(&ordering.join("z/.."), &[], true, false));
    jobs.extend(all_configs(&empties, &[], true, false));
    jobs.extend(all_configs(&shards, &[], true, false));
    jobs.extend(all_configs(&single, &[], true, false));
    let ignore_list = [
        "docs",
        "README.md",
        absolute_ignore.to_str().unwrap(),
        "../outside",
        "nope",
    ];
    jobs.extend(all_configs(&ignores, &ignore_list, true, false));
    jobs.extend(all_configs(&links, &[], true, true));
    // Over the BLAKE3 leaf size (1 MiB), so BLAKE3 takes the parallel subtree path.
    let large = model(
        base,
        "large",
        &[("big.bin", (3 << 20) + 5), ("small.bin", 70_000)],
    );
    let mut large_jobs = all_configs(&large, &[], true, false);
    large_jobs.truncate(3); // files × sha256, blake2, blake3
    large_jobs.push(Job {
        method: "shards",
        shard_size: 1 << 20,
        ..large_jobs[0].clone()
    });
    jobs.extend(large_jobs);
    jobs.extend(all_configs(&links, &[], true, false)); // refused by both
    let manifests = assert_same_as_reference(&jobs);
    assert_eq!(
        manifests,
        jobs.len() - 5,
        "only the refused symlink runs may fail"
    );

    // Spot-check that the cases above exercise what they claim.
    let names = |job: &Job| -> Vec<String> {
        ours(job)
            .unwrap()
            .resources
            .into_iter()
            .map(|r| r.0)
            .collect()
    };
    let first_five: Vec<String> = names(&jobs[0]).into_iter().take(6).collect();
    assert_eq!(
        first_five,
        [".gitmodules", ".hidden", "A", "B", "a/b", "a b"]
    );
    let ordering_names = names(&jobs[0]);
    let pos = |n: &str| ordering_names.iter().position(|x| x == n).unwrap();
    assert!(pos("B") < pos("a/b") && pos("a/b") < pos("a-b") && pos("a-b") < pos("a.txt"));
    let shard_job = all_configs(&single, &[], true, false).remove(3);
    assert_eq!(
        names(&shard_job),
        [".:0:1000", ".:1000:2000", ".:2000:2500"]
    );
    let shard_job = all_configs(&shards, &[], true, false).remove(3);
    assert!(names(&shard_job).contains(&"exact:2000:3000".to_owned()));
    assert!(names(&shard_job).contains(&"colon: name:1000:1001".to_owned()));
    let files_job = &all_configs(&empties, &[], true, false)[0];
    assert_eq!(names(files_job), ["d/e2", "e1", "full"]);
}

// ---------------------------------------------------------------------------------------------
// Random models
// ---------------------------------------------------------------------------------------------

/// A path component: letters of both cases, digits, `-`, `.`, `:`, `_`, spaces and non-ASCII
/// (accents, a combining mark, CJK, an emoji), or one of the names 1.1.1 ignores by default.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-cA-C0-9 ._:\\-éÉß\u{301}日本🦀]{1,5}"
            .prop_filter("`.` and `..` are not names", |s| s != "." && s != ".."),
        1 => prop::sample::select(vec![".git", ".gitignore", ".github", ".gitattributes", ".gitx"])
            .prop_map(String::from),
    ]
}

fn relative_path() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(component(), 1..4)
}

/// Files of a random model, with sizes around the 1000/777-byte shard sizes used above.
fn random_files() -> impl Strategy<Value = Vec<(Vec<String>, usize)>> {
    let size = prop_oneof![
        Just(0usize),
        Just(777),
        Just(1000),
        Just(2000),
        0..2600usize
    ];
    prop::collection::vec((relative_path(), size), 1..25)
}

/// Drops files that would collide on disk (duplicates, or a file where another needs a directory).
fn plantable(files: Vec<(Vec<String>, usize)>) -> Vec<(String, usize)> {
    let mut kept: Vec<(Vec<String>, usize)> = Vec::new();
    for (path, len) in files {
        let clash = kept
            .iter()
            .any(|(other, _)| other.starts_with(&path) || path.starts_with(other));
        if !clash {
            kept.push((path, len));
        }
    }
    kept.into_iter()
        .map(|(path, len)| (path.join("/"), len))
        .collect()
}

#[test]
fn random_models_match_model_signing_1_1_1() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::default();
    let mut jobs = Vec::new();
    for case in 0..12 {
        let files = plantable(random_files().new_tree(&mut runner).unwrap().current());
        let names: Vec<(&str, usize)> = files.iter().map(|(n, l)| (n.as_str(), *l)).collect();
        let root = model(dir.path(), &format!("case{case}"), &names);
        // Every other model also ignores the first file's top directory (or the file itself).
        let first_top = files[0].0.split('/').next().unwrap().to_owned();
        let ignore: Vec<&str> = if case % 2 == 0 {
            vec![first_top.as_str()]
        } else {
            vec![]
        };
        jobs.extend(all_configs(&root, &ignore, true, false));
    }
    let manifests = assert_same_as_reference(&jobs);
    assert_eq!(
        manifests,
        jobs.len(),
        "random models contain no symlinks, so all must hash"
    );
}

// ---------------------------------------------------------------------------------------------
// Ordering
// ---------------------------------------------------------------------------------------------

const PURE_POSIX_SORT: &str = r#"
import json, pathlib, sys
print(json.dumps([str(p) for p in sorted(pathlib.PurePosixPath(s) for s in json.load(sys.stdin))]))
"#;

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// `RelPath` sorts exactly like `sorted(PurePosixPath(...))`, which differs from a byte-wise
    /// sort of the full strings whenever `-`, `.`, ` ` or `:` meet `/`.
    #[test]
    fn relpath_order_is_pure_posix_path_order(paths in prop::collection::vec(relative_path(), 0..40)) {
        let strings: BTreeSet<String> = paths.iter().map(|p| p.join("/")).collect();
        let mut ours: Vec<RelPath> = strings.iter().map(|s| RelPath::new(s).unwrap()).collect();
        ours.sort();
        let ours: Vec<&str> = ours.iter().map(RelPath::as_str).collect();
        let input = serde_json::to_string(&strings).unwrap();
        let python: Vec<String> = serde_json::from_str(&run_python(PURE_POSIX_SORT, &input)).unwrap();
        prop_assert_eq!(ours, python);
    }
}

#[test]
fn the_documented_order_example_holds_in_python_too() {
    let input = serde_json::to_string(&["a.txt", "a-b", "a/b", "B"]).unwrap();
    let python: Vec<String> = serde_json::from_str(&run_python(PURE_POSIX_SORT, &input)).unwrap();
    assert_eq!(python, ["B", "a/b", "a-b", "a.txt"]);
}
