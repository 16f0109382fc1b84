//! The content gate (`docs/scan.md`): finds credentials in a model before it is signed or sealed,
//! and lists the serialization formats its files are in (pickles with the globals they import).
//!
//! Guarantees:
//! - a finding names the file, the line and byte offset (or the metadata field), the rule and a
//!   fingerprint ([`Finding::fingerprint`]) built from the rule, the path and the position and
//!   length of the match — never from the secret, so the fingerprint (and everything else a
//!   result holds) reveals nothing of it, even for a short secret;
//! - format-aware: a weights file is recognized by its bytes and only its metadata is searched
//!   (safetensors header `__metadata__`, GGUF string values); tensor payloads are never read, so
//!   random weights give no finding and cost no time; other binary files (a NUL byte in the first
//!   8 KiB, no format recognized) are skipped and listed as such; text files are searched whole up
//!   to [`MAX_TEXT`] bytes (beyond: the first [`MAX_TEXT`] bytes, listed as partial); a notebook
//!   (`.ipynb`) is searched string by string, so a cell's lines are lines;
//! - nothing is executed or imported: pickles are walked opcode by opcode ([`pickle`]), bounded.
//!
//! The rules are data (`rules.toml`, compiled in); accepted findings are listed by fingerprint in
//! an allow-list file ([`AllowList`]).

mod allow;
mod formats;
pub mod pickle;
mod rules;
#[cfg(test)]
mod tests;
mod verified;
mod zip;

pub use allow::AllowList;
pub use formats::{Detected, Format};
pub use verified::{detect_verified, StreamCopy, HEAD_BYTES};

use crate::tree::{self, ModelFile, ModelTree, TreeError, WalkOptions};
use formats::{Embedded, Sniffed};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Largest part of a text file searched.
pub const MAX_TEXT: u64 = 64 * 1024 * 1024;

/// Errors of a scan: all are input errors (exit code 2); findings are not errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The model could not be walked.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A model file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The allow-list file could not be read or has a line that is not a fingerprint.
    #[error("{path}:{line}: {reason}")]
    AllowList {
        /// The allow-list file.
        path: PathBuf,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

impl ScanError {
    /// Every scan error is an input error.
    pub fn class(&self) -> crate::error::ErrorClass {
        crate::error::ErrorClass::Input
    }
}

/// How to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Paths to leave out, relative to the model root or absolute inside it.
    pub ignore: Vec<PathBuf>,
    /// Follow symlinks to files instead of refusing them.
    pub allow_symlinks: bool,
    /// Fingerprints of accepted findings.
    pub allow: AllowList,
}

/// One credential found. Holds no byte of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The file, relative to the model root (`.` for a single-file model).
    pub path: String,
    /// 1-based line: of the file, or of the metadata value or notebook string named by `field`.
    pub line: u64,
    /// Byte offset in the file: of the secret in a text file; of the value in GGUF metadata; of
    /// the header in a safetensors file; absent for a notebook string.
    pub offset: Option<u64>,
    /// The metadata key or notebook JSON path the secret is in; absent for a text file.
    pub field: Option<String>,
    /// The rule's id (`aws-access-key-id`).
    pub rule: String,
    /// What the rule finds.
    pub description: String,
    /// Stable across runs, derived from rule, path, field, position and length only.
    pub fingerprint: String,
}

impl Finding {
    /// Where the secret is, as messages name it: `config.json:3`, or
    /// `m.safetensors __metadata__.note line 1` for a metadata value or notebook string.
    pub fn location(&self) -> String {
        match &self.field {
            Some(field) => format!("{} {field} line {}", self.path, self.line),
            None => format!("{}:{}", self.path, self.line),
        }
    }
}

/// The distinct format names of `formats` (what `deny_formats` is checked against), sorted.
pub fn format_names(formats: &[FileFormat]) -> Vec<&'static str> {
    let names: std::collections::BTreeSet<&'static str> =
        formats.iter().flat_map(|f| f.detected.names()).collect();
    names.into_iter().collect()
}

/// The format of one model file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileFormat {
    /// The file, relative to the model root.
    pub path: String,
    /// What it is.
    pub detected: Detected,
}

/// What a scan found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanResult {
    /// The model scanned.
    pub model: PathBuf,
    /// Files walked.
    pub files: usize,
    /// Bytes read (headers, metadata and text; not tensor payloads).
    pub bytes_read: u64,
    /// Findings not in the allow-list, by path then position.
    pub findings: Vec<Finding>,
    /// Findings the allow-list accepted.
    pub allowed: Vec<Finding>,
    /// Files in a recognized serialization format.
    pub formats: Vec<FileFormat>,
    /// Binary files of no recognized format: not searched.
    pub skipped: Vec<String>,
    /// Text files longer than [`MAX_TEXT`]: only their first [`MAX_TEXT`] bytes were searched.
    pub partial: Vec<String>,
}

impl ScanResult {
    /// No finding outside the allow-list.
    pub fn clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Scans the model at `model` (a directory or a file), walked as signing walks it.
pub fn scan_model(model: &Path, options: &ScanOptions) -> Result<ScanResult, ScanError> {
    let tree = tree::walk(
        model,
        &WalkOptions {
            ignore: tree::resolve_user_ignores(model, &options.ignore),
            ignore_git_paths: true,
            allow_symlinks: options.allow_symlinks,
        },
    )?;
    scan_tree(&tree, &options.allow)
}

/// Scans the files of a walked model.
pub fn scan_tree(tree: &ModelTree, allow: &AllowList) -> Result<ScanResult, ScanError> {
    let mut result = ScanResult {
        model: tree.root.clone(),
        files: tree.files.len(),
        bytes_read: 0,
        findings: Vec::new(),
        allowed: Vec::new(),
        formats: Vec::new(),
        skipped: Vec::new(),
        partial: Vec::new(),
    };
    for file in &tree.files {
        scan_file(file, &mut result).map_err(|source| ScanError::Read {
            path: file.path.clone(),
            source,
        })?;
    }
    let (allowed, findings) = std::mem::take(&mut result.findings)
        .into_iter()
        .partition(|f| allow.contains(&f.fingerprint));
    result.findings = findings;
    result.allowed = allowed;
    Ok(result)
}

/// The formats of a walked model's files, without searching for credentials (what a policy
/// decision needs).
pub fn detect_formats(tree: &ModelTree) -> Result<Vec<FileFormat>, ScanError> {
    let mut out = Vec::new();
    for file in &tree.files {
        let read = |source| ScanError::Read {
            path: file.path.clone(),
            source,
        };
        let mut f = file.open().map_err(read)?;
        let head = read_head(&mut f).map_err(read)?;
        let sniffed = formats::sniff(file.name.as_str(), &head, file.len);
        if let Some(detected) = formats::detect(&sniffed, &mut f, file.len).map_err(read)? {
            out.push(FileFormat {
                path: file.name.as_str().to_string(),
                detected,
            });
        }
    }
    Ok(out)
}

fn read_head(f: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(formats::HEAD);
    f.take(formats::HEAD as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn scan_file(file: &ModelFile, result: &mut ScanResult) -> std::io::Result<()> {
    let name = file.name.as_str();
    let mut f = file.open()?;
    let head = read_head(&mut f)?;
    result.bytes_read += head.len() as u64;
    let sniffed = formats::sniff(name, &head, file.len);
    match sniffed {
        Sniffed::Text => {
            let mut text = Vec::new();
            f.seek(SeekFrom::Start(0))?;
            (&mut f).take(MAX_TEXT).read_to_end(&mut text)?;
            result.bytes_read += text.len() as u64;
            if file.len > MAX_TEXT {
                result.partial.push(name.to_string());
            }
            if name.to_ascii_lowercase().ends_with(".ipynb") {
                if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&text) {
                    search_json(name, &doc, &mut String::new(), &mut result.findings);
                    return Ok(());
                }
            }
            search_text(name, &text, &mut result.findings);
        }
        Sniffed::Binary => result.skipped.push(name.to_string()),
        _ => {
            let embedded = match &sniffed {
                Sniffed::Safetensors { header_len } => {
                    result.bytes_read += header_len;
                    formats::safetensors_metadata(&mut f, *header_len)?
                }
                Sniffed::Gguf => formats::gguf_metadata(&mut f, file.len)?,
                _ => Vec::new(),
            };
            for e in &embedded {
                search_embedded(name, e, &mut result.findings);
            }
            if let Some(detected) = formats::detect(&sniffed, &mut f, file.len)? {
                result.formats.push(FileFormat {
                    path: name.to_string(),
                    detected,
                });
            }
        }
    }
    Ok(())
}

/// 1-based line of byte `at` in `text`.
fn line_of(text: &[u8], at: usize) -> u64 {
    text[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
        + 1
}

fn finding(
    path: &str,
    rule: usize,
    line: u64,
    offset: Option<u64>,
    field: Option<String>,
    position: u64,
    len: usize,
) -> Finding {
    let r = &rules::rules().rules[rule];
    Finding {
        fingerprint: allow::fingerprint(&r.id, path, field.as_deref(), position, len),
        path: path.to_string(),
        line,
        offset,
        field,
        rule: r.id.clone(),
        description: r.description.clone(),
    }
}

fn search_text(path: &str, text: &[u8], out: &mut Vec<Finding>) {
    for hit in rules::rules().find(text) {
        out.push(finding(
            path,
            hit.rule,
            line_of(text, hit.start),
            Some(hit.start as u64),
            None,
            hit.start as u64,
            hit.len,
        ));
    }
}

fn search_embedded(path: &str, e: &Embedded, out: &mut Vec<Finding>) {
    for hit in rules::rules().find(&e.bytes) {
        out.push(finding(
            path,
            hit.rule,
            line_of(&e.bytes, hit.start),
            Some(e.offset),
            Some(e.field.clone()),
            hit.start as u64,
            hit.len,
        ));
    }
}

/// Searches every string of a notebook (cells' sources and outputs, metadata), naming each by its
/// JSON pointer (`/cells/3/source/0`).
fn search_json(path: &str, value: &serde_json::Value, at: &mut String, out: &mut Vec<Finding>) {
    match value {
        serde_json::Value::String(s) => {
            for hit in rules::rules().find(s.as_bytes()) {
                out.push(finding(
                    path,
                    hit.rule,
                    line_of(s.as_bytes(), hit.start),
                    None,
                    Some(at.clone()),
                    hit.start as u64,
                    hit.len,
                ));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                search_json(path, item, at, out);
                at.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                let len = at.len();
                at.push('/');
                at.push_str(&k.replace('~', "~0").replace('/', "~1"));
                search_json(path, item, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}
