//! The one mapping from every layer's error to the stable reason codes of the JSON contract
//! ([`ErrorCode`], `docs/json.md`): each error becomes one or more [`Problem`]s
//! (`{code, message, path?}`), chosen by the error's variant (and an I/O error's kind), never by
//! reading its message.

use super::*;
use crate::audit::AuditError;
use crate::digest::DigestError;
use crate::error::{ErrorClass, ErrorCode};
use crate::fs::confine::ConfineError;
use crate::hook::RequestError;
use crate::keys::KeyError;
use crate::policy::PolicyError;
use crate::scan::ScanError;
use crate::sign::SignError;
use crate::tree::TreeError;
use crate::trust::TrustError;
use std::path::PathBuf;

/// One entry of a result's `errors`: a stable code, the message in the user's terms, and the
/// file it is about when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The reason code (`docs/json.md`).
    pub code: &'static str,
    /// What went wrong, naming the file and the reason.
    pub message: String,
    /// The file or model path concerned, when the error names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Problem {
    /// A problem of `code` with `message` and no path.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Problem {
        Problem {
            code: code.as_str(),
            message: message.into(),
            path: None,
        }
    }

    /// The same, about `path`.
    pub fn at(mut self, path: &Path) -> Problem {
        self.path = Some(text(path));
        self
    }

    /// A usage error (clap's, or options that contradict each other).
    pub fn usage(message: impl Into<String>) -> Problem {
        Problem::new(ErrorCode::Usage, message)
    }
}

/// An error that maps onto reason codes: its class (exit code) and its problems.
pub trait Coded: std::fmt::Display {
    /// The error's class.
    fn error_class(&self) -> ErrorClass;
    /// One problem per reason, with its code (never empty).
    fn problems(&self) -> Vec<Problem>;
}

fn one(code: ErrorCode, err: &dyn std::fmt::Display, path: Option<&Path>) -> Vec<Problem> {
    let p = Problem::new(code, err.to_string());
    vec![match path {
        Some(path) => p.at(path),
        None => p,
    }]
}

impl Coded for TreeError {
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Input
    }
    fn problems(&self) -> Vec<Problem> {
        match self {
            TreeError::Io { path, source } => {
                one(ErrorCode::of_io(source.kind()), self, Some(path))
            }
            TreeError::Symlink { path } | TreeError::Unsupported { path, .. } => {
                one(ErrorCode::ModelInvalid, self, Some(path))
            }
            TreeError::Storage { .. } => one(ErrorCode::Io, self, None),
            _ => one(ErrorCode::ModelInvalid, self, None),
        }
    }
}

fn digest_problems(err: &DigestError) -> Vec<Problem> {
    match err {
        DigestError::Io { path, source } => one(ErrorCode::of_io(source.kind()), err, Some(path)),
        DigestError::Changed { path } => one(ErrorCode::Changed, err, Some(path)),
        DigestError::Config(_) => one(ErrorCode::Usage, err, None),
        DigestError::Tree(e) => e.problems(),
    }
}

impl Coded for DigestError {
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Input
    }
    fn problems(&self) -> Vec<Problem> {
        digest_problems(self)
    }
}

impl Coded for KeyError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        let code = match self {
            // A key file that does not exist: the reference names no key.
            KeyError::Io { source: error, .. } | KeyError::Unreadable { error, .. } => {
                match error.kind() {
                    std::io::ErrorKind::NotFound => ErrorCode::KeyNotFound,
                    kind => ErrorCode::of_io(kind),
                }
            }
            KeyError::InsecurePermissions { .. } | KeyError::WritableByOthers { .. } => {
                ErrorCode::KeyPermissions
            }
            KeyError::Exists { .. } => ErrorCode::OutputExists,
            KeyError::Reference { .. } | KeyError::Usage(_) => ErrorCode::Usage,
            KeyError::BadSignature => ErrorCode::UntrustedKey,
            KeyError::Unwrap { .. } | KeyError::UnwrapRefused { .. } => ErrorCode::KeyMismatch,
            KeyError::Crypto(_) | KeyError::Entropy(_) => ErrorCode::Internal,
            _ => ErrorCode::KeyInvalid,
        };
        let path = match self {
            KeyError::Io { path, .. }
            | KeyError::Unreadable { path, .. }
            | KeyError::Parse { path, .. }
            | KeyError::InsecurePermissions { path, .. }
            | KeyError::WritableByOthers { path, .. }
            | KeyError::Exists { path } => Some(path.as_path()),
            _ => None,
        };
        one(code, self, path)
    }
}

impl Coded for TrustError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        match self {
            TrustError::Load { path, .. } => one(ErrorCode::TrustInvalid, self, Some(path)),
            TrustError::KeyRef(e) | TrustError::Key { source: e, .. } => {
                let code = match e.problems().first().map(|p| p.code) {
                    Some(c) if c == ErrorCode::KeyNotFound.as_str() => ErrorCode::KeyNotFound,
                    _ => ErrorCode::TrustInvalid,
                };
                one(code, &super::error_chain(self), None)
            }
            TrustError::Choice(_) => one(ErrorCode::Usage, self, None),
            TrustError::TimestampRequired(_) => one(ErrorCode::TimestampRequired, self, None),
            _ if self.class() == ErrorClass::Input => one(ErrorCode::TrustInvalid, self, None),
            _ => one(ErrorCode::UntrustedKey, self, None),
        }
    }
}

impl Coded for VerifyError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        let reasons = self.reasons();
        let single = reasons.len() == 1;
        let diff = match self {
            VerifyError::Mismatch { diff, .. } => Some(diff),
            _ => None,
        };
        let mut names = diff
            .into_iter()
            .flat_map(|d| d.changed.iter().chain(&d.missing).chain(&d.extra));
        reasons
            .into_iter()
            .zip(self.codes())
            .map(|(message, code)| Problem {
                code: code.as_str(),
                message,
                path: match names.next() {
                    Some(name) => Some(name.clone()),
                    None => self.path().filter(|_| single).map(text),
                },
            })
            .collect()
    }
}

impl Coded for SealError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        let (code, path) = match self {
            SealError::Io { path, source } => (ErrorCode::of_io(source.kind()), Some(path)),
            SealError::Format { path, .. }
            | SealError::Version { path, .. }
            | SealError::Limit { path, .. } => (ErrorCode::EnvelopeInvalid, Some(path)),
            SealError::NoRecipient { path, .. } => (ErrorCode::NotARecipient, Some(path)),
            SealError::Unwrap { path, .. }
            | SealError::UnwrapRefused { path, .. }
            | SealError::HeaderAuth { path } => (ErrorCode::KeyMismatch, Some(path)),
            SealError::ChunkAuth { path, .. }
            | SealError::Truncated { path, .. }
            | SealError::Extended { path, .. }
            | SealError::Tree { path, .. } => (ErrorCode::CiphertextTampered, Some(path)),
            SealError::Key(e) => return e.problems(),
            SealError::Changed { path, .. } => (ErrorCode::Changed, Some(path)),
            SealError::Usage(_) => (ErrorCode::Usage, None),
            _ => (ErrorCode::Internal, None),
        };
        one(code, self, path.map(PathBuf::as_path))
    }
}

impl Coded for SignError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        match self {
            SignError::Tree(e) => e.problems(),
            SignError::Digest(e) => digest_problems(e),
            SignError::Key(e) => e.problems(),
            SignError::OpenKey { source, .. } => {
                let code = source.problems().first().map(|p| p.code);
                vec![Problem {
                    code: code.unwrap_or(ErrorCode::KeyInvalid.as_str()),
                    message: super::error_chain(self),
                    path: None,
                }]
            }
            SignError::Write { path, source } => {
                one(ErrorCode::of_io(source.kind()), self, Some(path))
            }
            SignError::Statement { model, .. } => one(ErrorCode::ModelInvalid, self, Some(model)),
            SignError::Exists(path) => one(ErrorCode::OutputExists, self, Some(path)),
            SignError::IntoModel { path, .. } => one(ErrorCode::Usage, self, Some(path)),
            SignError::Options(_) => one(ErrorCode::Usage, self, None),
            SignError::Timestamp(_) => one(ErrorCode::TimestampFailed, self, None),
            SignError::Credentials(found) => found
                .findings
                .iter()
                .map(|f| Problem {
                    code: ErrorCode::CredentialsFound.as_str(),
                    message: format!(
                        "{} {} (fingerprint {})",
                        f.location(),
                        f.rule,
                        f.fingerprint
                    ),
                    path: Some(f.path.clone()),
                })
                .collect(),
            SignError::Scan(e) => e.problems(),
        }
    }
}

impl Coded for ScanError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        match self {
            ScanError::Tree(e) => e.problems(),
            ScanError::Read { path, source } => {
                one(ErrorCode::of_io(source.kind()), self, Some(path))
            }
            ScanError::AllowList { path, .. } => one(ErrorCode::Usage, self, Some(path)),
        }
    }
}

impl Coded for PolicyError {
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Input
    }
    fn problems(&self) -> Vec<Problem> {
        let (code, path) = match self {
            PolicyError::Read { path, source } => (ErrorCode::of_io(source.kind()), path),
            PolicyError::Syntax { path, .. }
            | PolicyError::Invalid { path, .. }
            | PolicyError::Rego { path, .. } => (ErrorCode::PolicyInvalid, path),
            PolicyError::WritableByOthers { path, .. } => (ErrorCode::PolicyPermissions, path),
        };
        one(code, self, Some(path))
    }
}

impl Coded for AuditError {
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Internal
    }
    fn problems(&self) -> Vec<Problem> {
        match self {
            AuditError::Write { path, .. } => one(ErrorCode::AuditFailed, self, Some(path)),
        }
    }
}

impl Coded for DeployError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        match self {
            DeployError::Sign(e) => e.problems(),
            DeployError::Seal(e) => e.problems(),
            DeployError::Verify(e) => e.problems(),
            DeployError::Audit(e) => e.problems(),
            DeployError::Io { path, source } => {
                one(ErrorCode::of_io(source.kind()), self, Some(path))
            }
            DeployError::Usage(_) => one(ErrorCode::Usage, self, None),
            DeployError::NotTheSealedModel {
                out, differences, ..
            } => differences
                .iter()
                .map(|d| {
                    Problem::new(
                        ErrorCode::NotTheSealedModel,
                        format!("{}: {d}", out.display()),
                    )
                    .at(out)
                })
                .collect(),
            DeployError::Denied { stage, decision } => decision_problems(decision)
                .into_iter()
                .map(|p| Problem {
                    message: format!("{stage}: {}", p.message),
                    ..p
                })
                .collect(),
        }
    }
}

impl Coded for ConfineError {
    fn error_class(&self) -> ErrorClass {
        ErrorClass::Input
    }
    fn problems(&self) -> Vec<Problem> {
        let code = if self.is_not_found() {
            ErrorCode::NotFound
        } else {
            ErrorCode::RequestMalformed
        };
        one(code, self, None)
    }
}

impl Coded for RequestError {
    fn error_class(&self) -> ErrorClass {
        self.class()
    }
    fn problems(&self) -> Vec<Problem> {
        // What a caller of `serve` may be told: the public reason only.
        let code = match self {
            RequestError::Malformed { .. } => ErrorCode::RequestMalformed,
            RequestError::Path(e) if e.is_not_found() => ErrorCode::NotFound,
            RequestError::Path(_) => ErrorCode::RequestMalformed,
            _ => ErrorCode::SignatureMalformed,
        };
        vec![Problem::new(code, self.public_reason())]
    }
}

/// A denied decision's reasons, each with its code.
pub fn decision_problems(decision: &PolicyDecision) -> Vec<Problem> {
    decision
        .reasons()
        .iter()
        .zip(decision.reason_codes())
        .map(|(message, code)| Problem::new(*code, message.clone()))
        .collect()
}
