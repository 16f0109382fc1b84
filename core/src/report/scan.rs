//! `scan` and the content gate of `sign`/`seal`: findings (never the secret), the serialization
//! formats of a model's files; formats also appear in policy decisions and their Rego input.

use super::*;
use crate::scan::{FileFormat, Finding, ScanResult};

/// One credential found by `scan` (or by the gate of `sign`/`seal`): where, which rule, and its
/// fingerprint — never the secret.
#[derive(Debug, Clone, Serialize)]
pub struct FindingReport {
    path: String,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    rule: String,
    description: String,
    fingerprint: String,
    #[serde(skip)]
    location: String,
}

impl From<&Finding> for FindingReport {
    fn from(f: &Finding) -> FindingReport {
        FindingReport {
            location: f.location(),
            path: f.path.clone(),
            line: f.line,
            offset: f.offset,
            field: f.field.clone(),
            rule: f.rule.clone(),
            description: f.description.clone(),
            fingerprint: f.fingerprint.clone(),
        }
    }
}

impl FindingReport {
    /// `config.json:12: aws-access-key-id (…), fingerprint …`: the text output's line.
    pub fn text(&self) -> String {
        format!(
            "{}: {} ({}), fingerprint {}",
            self.location, self.rule, self.description, self.fingerprint
        )
    }
}

/// The serialization format of one model file, in `scan` and in policy decisions (and their Rego
/// input): the format, the names a `deny_formats` list matches (`pickle` for anything that
/// unpickles), and a pickle's imported globals.
#[derive(Debug, Clone, Serialize)]
pub struct FormatReport {
    path: String,
    format: &'static str,
    names: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    globals: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl From<&FileFormat> for FormatReport {
    fn from(f: &FileFormat) -> FormatReport {
        FormatReport {
            path: f.path.clone(),
            format: f.detected.format.name(),
            names: f.detected.names(),
            globals: f.detected.globals.clone(),
            note: f.detected.note.clone(),
        }
    }
}

impl FormatReport {
    /// `model.pkl: pickle (imports os.system)`: the text output's line.
    pub fn text(&self) -> String {
        let mut line = format!("{}: {}", self.path, self.names.join(", "));
        if !self.globals.is_empty() {
            line.push_str(&format!(" (imports {})", self.globals.join(", ")));
        }
        if let Some(note) = &self.note {
            line.push_str(&format!(" [{note}]"));
        }
        line
    }
}

/// `scan` (and a refusal of the content gate in `sign`/`seal`): findings, accepted findings,
/// formats. Holds no secret.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    clean: bool,
    model: String,
    files: usize,
    bytes_read: u64,
    findings: Vec<FindingReport>,
    allowed: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_list: Option<String>,
    formats: Vec<FormatReport>,
    format_names: Vec<&'static str>,
    skipped: Vec<String>,
    partial: Vec<String>,
}

impl ScanReport {
    /// The result of scanning with the allow-list `allow` (its path is shown when it has one).
    pub fn new(result: &ScanResult, allow: Option<&Path>) -> ScanReport {
        ScanReport {
            clean: result.clean(),
            model: text(&result.model),
            files: result.files,
            bytes_read: result.bytes_read,
            findings: result.findings.iter().map(FindingReport::from).collect(),
            allowed: result.allowed.len(),
            allow_list: allow.map(text),
            formats: result.formats.iter().map(FormatReport::from).collect(),
            format_names: format_names(&result.formats),
            skipped: result.skipped.clone(),
            partial: result.partial.clone(),
        }
    }

    /// Whether nothing outside the allow-list was found.
    pub fn clean(&self) -> bool {
        self.clean
    }

    /// The findings.
    pub fn findings(&self) -> &[FindingReport] {
        &self.findings
    }

    /// The formats found, per file.
    pub fn formats(&self) -> &[FormatReport] {
        &self.formats
    }

    /// How many findings the allow-list accepted.
    pub fn allowed(&self) -> usize {
        self.allowed
    }

    /// Files read, and binary files skipped.
    pub fn counts(&self) -> (usize, usize) {
        (self.files, self.skipped.len())
    }
}

impl ScanReport {
    /// The whole result of `scan`: `ok` when clean, else `failed` with one
    /// `credentials_found` per finding.
    pub fn outcome(&self) -> Outcome {
        if self.clean {
            return Outcome::ok(Verb::Scan, self);
        }
        let problems = self
            .findings
            .iter()
            .map(|f| Problem {
                code: crate::error::ErrorCode::CredentialsFound.as_str(),
                message: f.text(),
                path: Some(f.path.clone()),
            })
            .collect();
        Outcome::failed(Verb::Scan, crate::error::ErrorClass::Failed, problems, self)
    }

    /// The result of `verb` (`sign`, `seal`) refused by its content gate (`err` is
    /// `SignError::Credentials`): the model and the findings, as `scan` reports them.
    pub fn refusal(verb: Verb, err: &crate::sign::SignError) -> Outcome {
        let known = match err {
            crate::sign::SignError::Credentials(found) => {
                let report = ScanReport::new(found, None);
                serde_json::json!({"model": report.model, "findings": report.findings})
            }
            _ => Value::Null,
        };
        Outcome::failed(verb, err.class(), err.problems(), &known)
    }
}
