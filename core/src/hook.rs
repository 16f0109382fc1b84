//! A verification request as a registry webhook sends it — `{"model", "signatures",
//! "model_name"}` with paths relative to a root — answered by [`Policy::verify_request`] with the
//! same [`PolicyDecision`] as `modelseal verify --policy` (its JSON and audit event are built in
//! `report`, as for `verify --policy`). Transport-free: `modelseal serve` adds HTTP around it (`docs/serve.md`).
//!
//! Guarantees: the request is parsed strictly (unknown fields refused, at most
//! [`MAX_SIGNATURES`] signatures); every path goes through [`ConfinedRoot::resolve`] before any
//! file is opened, so nothing outside the root is read; paths in the answer are the request's own
//! (relative) paths, never the server's directory layout.

use crate::error::ErrorClass;
use crate::fs::confine::ConfineError;
pub use crate::fs::confine::ConfinedRoot;
use crate::policy::{Policy, PolicyDecision, PolicyVerifyOptions};
use crate::progress::NoProgress;
use crate::verify::{BundleLimits, VerifyError};
use std::path::{Path, PathBuf};

/// Most signature files one request may name (each is parsed and checked against every signer).
pub const MAX_SIGNATURES: usize = 32;

/// One verification request.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The model directory or file, relative to the root.
    pub model: String,
    /// The signature files, relative to the root.
    pub signatures: Vec<String>,
    /// The name the policy's rules match (default as for `verify --policy`).
    #[serde(default)]
    pub model_name: Option<String>,
}

/// Why a request was not decided.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is not a JSON request of the documented shape.
    #[error("malformed request: {reason}")]
    Malformed {
        /// What is wrong: the JSON parser's message, or too many signatures.
        reason: String,
    },
    /// A path is refused (escapes the root, absolute, missing).
    #[error(transparent)]
    Path(#[from] ConfineError),
    /// The files could not be verified (unreadable or malformed signature, unreadable model).
    /// Displays the full reason (for the server's log and audit); [`RequestError::public_reason`]
    /// is what a caller is told.
    #[error("{detail}")]
    Input {
        /// What the caller may be told: which of its paths, and what kind of problem.
        public: String,
        /// The whole reason, paths relative to the root.
        detail: String,
    },
}

impl RequestError {
    /// Every request error is an input error: nothing was decided (exit code 2 in the CLI, HTTP
    /// 400/422 in `serve`).
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Input
    }

    /// The reason to give a caller who may not see the files: for an input error, the path the
    /// request named and the kind of problem, never the files' content (a parser's message can
    /// quote it) nor the server's layout; otherwise the whole message (it names only the
    /// request's own text).
    pub fn public_reason(&self) -> String {
        match self {
            RequestError::Input { public, .. } => public.clone(),
            other => other.to_string(),
        }
    }
}

impl VerifyRequest {
    /// Parses a JSON body strictly.
    pub fn parse(body: &[u8]) -> Result<VerifyRequest, RequestError> {
        let request: VerifyRequest =
            serde_json::from_slice(body).map_err(|e| RequestError::Malformed {
                reason: e.to_string(),
            })?;
        if request.signatures.len() > MAX_SIGNATURES {
            return Err(RequestError::Malformed {
                reason: format!(
                    "{} signatures; at most {MAX_SIGNATURES} are accepted",
                    request.signatures.len()
                ),
            });
        }
        Ok(request)
    }
}

impl VerifyRequest {
    /// The signature files this request names, resolved under `root`, each once (a file named
    /// twice, also under two spellings, is kept at its first name), with the name given; only
    /// regular files are accepted (a FIFO or device named as a signature would block or stream
    /// forever; the open itself refuses one swapped in after this check).
    fn signature_files(&self, root: &ConfinedRoot) -> Result<Vec<(PathBuf, &str)>, RequestError> {
        let mut files: Vec<(PathBuf, &str)> = Vec::new();
        for name in &self.signatures {
            let path = root.resolve(name)?;
            if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                return Err(RequestError::Input {
                    public: format!("{name}: not a regular file"),
                    detail: format!("{name}: not a regular file"),
                });
            }
            if !files.iter().any(|(p, _)| *p == path) {
                files.push((path, name));
            }
        }
        Ok(files)
    }

    /// How many bytes of signature files this request names, checked against `limits` without
    /// opening any: what a server needs to know before it admits the request (a request that
    /// would be refused costs no admission place, and a heavy one can be told apart).
    pub fn signature_bytes(
        &self,
        root: &ConfinedRoot,
        limits: BundleLimits,
    ) -> Result<u64, RequestError> {
        let sized = self.signature_files(root)?.into_iter().map(|(path, name)| {
            let len = std::fs::metadata(&path).map_or(0, |m| m.len());
            (path, name, len)
        });
        signature_bytes_within(sized, limits)
    }
}

/// The total of the signature files' sizes (`(path, name given, bytes)`), or the input error of
/// the first one over `limits` (per file, or the total): the admission check of
/// [`VerifyRequest::signature_bytes`], for files of a local root or objects of a bucket root.
pub(crate) fn signature_bytes_within<'a>(
    sized: impl IntoIterator<Item = (PathBuf, &'a str, u64)>,
    limits: BundleLimits,
) -> Result<u64, RequestError> {
    let mut total: u64 = 0;
    for (path, name, len) in sized {
        // A claims file (`.jsonl`) holds many bundles: its lines are limited when read.
        let per_file = if crate::verify::is_claims_path(&path) {
            crate::oms::MAX_BUNDLE_BYTES
        } else {
            limits.per_bundle.min(crate::oms::MAX_BUNDLE_BYTES)
        };
        let over = if len > per_file {
            Some(limits.too_large())
        } else {
            total = total.saturating_add(len);
            (total > limits.total).then(|| limits.too_large_in_total())
        };
        if let Some(source) = over {
            let reason = format!("{name}: cannot read signature: {source}");
            return Err(RequestError::Input {
                public: reason.clone(),
                detail: reason,
            });
        }
    }
    Ok(total)
}

impl Policy {
    /// Verifies the model `request` names under this policy, with every path confined to `root`
    /// and at most `limits` bytes of signature files read (one file at a time). A signature named
    /// twice (also through another spelling of the same file) is read and counted once.
    ///
    /// `Ok` is a decision (allowed or denied, as `verify --policy`); `Err` means nothing was
    /// decided (a refused path, or an input error — exit code 2 in the CLI).
    pub fn verify_request(
        &self,
        root: &ConfinedRoot,
        request: &VerifyRequest,
        limits: BundleLimits,
    ) -> Result<PolicyDecision, RequestError> {
        let model = root.resolve(&request.model)?;
        let signatures = request.signature_files(root)?;
        let resolved = Resolved {
            model,
            signatures,
            root: root.path(),
            confine: true,
        };
        self.verify_resolved(request, resolved, limits)
    }

    /// [`Policy::verify_request`] once the request's paths are resolved under `resolved.root` (a
    /// local root, or a bucket root of `serve`): the decision, with the request's own paths in
    /// it and the root removed from every reason.
    pub(crate) fn verify_resolved(
        &self,
        request: &VerifyRequest,
        resolved: Resolved<'_>,
        limits: BundleLimits,
    ) -> Result<PolicyDecision, RequestError> {
        let root = resolved.root;
        let (signatures, given): (Vec<PathBuf>, Vec<&str>) =
            resolved.signatures.into_iter().unzip();
        let options = PolicyVerifyOptions {
            // Default (None): as `verify --policy`, of the resolved path — the envelope's name
            // for an encrypted model, else the last component (of a symlink's target).
            model_name: request.model_name.clone(),
            ignore: Vec::new(),
        };
        let mut decision = self
            .verify_within(
                &resolved.model,
                &signatures,
                &options,
                limits,
                resolved.confine.then_some(root),
                &NoProgress,
            )
            .map_err(|e| input_error(root, request, &signatures, &given, &e))?;
        decision.model = PathBuf::from(&request.model);
        // One outcome per signature, several per claims file (`.jsonl`, one per line): each is
        // named by the request's own path of its file.
        for outcome in &mut decision.signatures {
            if let Some(given) = signatures
                .iter()
                .position(|resolved| *resolved == outcome.path)
                .and_then(|i| given.get(i))
            {
                outcome.path = PathBuf::from(given);
            }
        }
        for reason in &mut decision.reasons {
            *reason = relative(root, reason);
            if reason.starts_with(REGO_FAILED) {
                // The engine's message quotes the policy's source lines.
                *reason = format!("{REGO_FAILED} (details in the server log)");
            }
        }
        Ok(decision)
    }
}

/// A request's paths resolved under a root: the model, and each signature with the name the
/// request gave it (each file once).
pub(crate) struct Resolved<'a> {
    /// The model's path (a canonical local path, or an object-storage location).
    pub model: PathBuf,
    /// The signatures' paths, each with the request's own name for it.
    pub signatures: Vec<(PathBuf, &'a str)>,
    /// The root, removed from every message (a canonical directory, or `s3://B/P`).
    pub root: &'a Path,
    /// Whether no model file may lie outside `root` (a local root, where symlinks could lead out).
    pub confine: bool,
}

/// How a Rego evaluation error starts among a decision's reasons (`policy::rego`).
const REGO_FAILED: &str = "rego: evaluation failed";

/// `err` as a [`RequestError::Input`]: the full reason (relative to the root) and a public one
/// that names only the request's own path for the file at fault.
fn input_error(
    root: &Path,
    request: &VerifyRequest,
    signatures: &[PathBuf],
    given: &[&str],
    err: &VerifyError,
) -> RequestError {
    let named = |path: &Path| {
        signatures
            .iter()
            .position(|p| p == path)
            .map_or("a signature", |i| given[i])
            .to_string()
    };
    let public = match err {
        VerifyError::ReadSignature { path, source }
            if source.kind() == std::io::ErrorKind::InvalidData =>
        {
            // modelseal's own size-limit message: it names no content.
            format!("{}: cannot read signature: {source}", named(path))
        }
        VerifyError::ReadSignature { path, .. } => {
            format!("{}: cannot read signature", named(path))
        }
        VerifyError::Malformed { path, .. } => {
            format!("{}: not a signature bundle modelseal verifies", named(path))
        }
        VerifyError::TrustInput(_) => "the server's trust material cannot be loaded".to_string(),
        VerifyError::OutsideRoot { .. } => format!(
            "{}: a symlink in the model leads outside the root directory",
            request.model
        ),
        _ => format!("{}: the model cannot be read", request.model),
    };
    RequestError::Input {
        public,
        detail: relative(root, &err.to_string()),
    }
}

/// `text` with the root's path removed (the root itself becomes `.`).
fn relative(root: &Path, text: &str) -> String {
    let root = root.display().to_string();
    text.replace(&format!("{root}/"), "").replace(&root, ".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{self, KeyAlgorithm, KeyOptions, KeyRef};
    use crate::progress::Progress;
    use crate::sign::{sign_model, SignOptions};
    use std::fs;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn requests_parse_strictly() {
        let r = VerifyRequest::parse(br#"{"model": "m", "signatures": ["a.sig"]}"#).unwrap();
        assert_eq!((r.model.as_str(), r.model_name), ("m", None));
        for bad in [
            &br#"{"model": "m"}"#[..],
            br#"{"model": "m", "signatures": [], "x": 1}"#,
            br#"{"model": "m", "signatures": "a.sig"}"#,
            b"not json",
        ] {
            let err = VerifyRequest::parse(bad).unwrap_err();
            assert!(matches!(err, RequestError::Malformed { .. }), "{err}");
        }
        let many = serde_json::json!({"model": "m", "signatures": vec!["s"; MAX_SIGNATURES + 1]});
        let err = VerifyRequest::parse(many.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("at most 32"), "{err}");
    }

    /// Counts the bytes hashing reads (the engines report every byte they hash).
    #[derive(Default)]
    struct Hashed(AtomicU64);
    impl Progress for Hashed {
        fn advance(&self, bytes: u64) {
            self.0.fetch_add(bytes, Ordering::Relaxed);
        }
    }
    impl Hashed {
        fn bytes(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    /// A registry root: the small model `llm` (signed by `release` into `llm.sig`, with
    /// `options`), a 4 MiB file beside it, and a policy trusting `release` for every name.
    struct Registry {
        _dir: tempfile::TempDir,
        root: ConfinedRoot,
        policy: Policy,
    }

    impl Registry {
        fn new(options: SignOptions) -> Registry {
            Registry::with_model(options, |model| {
                fs::create_dir_all(model.join("sub")).unwrap();
                fs::write(model.join("weights.bin"), vec![7u8; 3000]).unwrap();
                fs::write(model.join("sub/config.json"), b"{}").unwrap();
            })
        }

        /// The registry with the model `llm` made by `make` (given its empty directory).
        fn with_model(options: SignOptions, make: impl FnOnce(&Path)) -> Registry {
            let dir = tempfile::tempdir().unwrap();
            let model = dir.path().join("llm");
            fs::create_dir(&model).unwrap();
            make(&model);
            fs::write(dir.path().join("big.bin"), vec![1u8; 4 << 20]).unwrap();
            let private = dir.path().join("release.pem");
            let public = dir.path().join("release.pub.pem");
            keys::file::generate_signing_key(KeyAlgorithm::EcP256, &private, Some(&public), false)
                .unwrap();
            let signer =
                keys::open::open_signer(&KeyRef::File(private), &KeyOptions::default()).unwrap();
            let options = SignOptions {
                signature: Some(dir.path().join("llm.sig")),
                ..options
            };
            sign_model(&model, signer.as_ref(), &options, &NoProgress).unwrap();
            let policy_path = dir.path().join("trust.toml");
            fs::write(
                &policy_path,
                "version = 1\n[signers.release]\nkey = \"release.pub.pem\"\n\
                 [[models]]\nname = \"*\"\nrequire = [\"release\"]\n",
            )
            .unwrap();
            let policy = Policy::load(&policy_path).unwrap();
            let root = ConfinedRoot::new(dir.path()).unwrap();
            Registry {
                _dir: dir,
                root,
                policy,
            }
        }

        fn path(&self, name: &str) -> PathBuf {
            self.root.path().join(name)
        }

        fn decide(
            &self,
            model: &str,
            signatures: &[&str],
            limits: BundleLimits,
            hashed: &Hashed,
        ) -> Result<PolicyDecision, VerifyError> {
            let signatures: Vec<PathBuf> = signatures.iter().map(|s| self.path(s)).collect();
            let options = PolicyVerifyOptions {
                model_name: Some("llm".into()),
                ..Default::default()
            };
            self.policy.verify_within(
                &self.path(model),
                &signatures,
                &options,
                limits,
                Some(self.root.path()),
                hashed,
            )
        }

        fn request(&self, body: serde_json::Value) -> Result<PolicyDecision, RequestError> {
            let request = VerifyRequest::parse(body.to_string().as_bytes()).unwrap();
            self.policy
                .verify_request(&self.root, &request, BundleLimits::default())
        }
    }

    #[test]
    fn a_small_models_signature_on_the_whole_root_hashes_nothing() {
        let registry = Registry::new(SignOptions::default());
        let hashed = Hashed::default();
        let decision = registry
            .decide("llm", &["llm.sig"], BundleLimits::default(), &hashed)
            .unwrap();
        assert!(decision.allowed(), "{:?}", decision.reasons());
        assert_eq!(hashed.bytes(), 3002, "the model's own bytes, once");

        // The root holds the model's files under other names: nothing matches the signed list,
        // so nothing is read, and every difference is still named.
        let hashed = Hashed::default();
        let decision = registry
            .decide(".", &["llm.sig"], BundleLimits::default(), &hashed)
            .unwrap();
        assert!(!decision.allowed());
        assert_eq!(hashed.bytes(), 0, "{:?}", decision.reasons());
        let reasons = decision.reasons().join("\n");
        for expected in [
            "weights.bin: missing",
            "big.bin: extra file",
            "llm/weights.bin: extra file",
        ] {
            assert!(reasons.contains(expected), "{expected}: {reasons}");
        }

        // The same for `verify` without a policy.
        let trust = crate::trust::Trust::PublicKey(
            keys::file::load_public_key(&registry.path("release.pub.pem")).unwrap(),
        );
        let hashed = Hashed::default();
        let err = crate::verify::verify_model(
            registry.root.path(),
            &registry.path("llm.sig"),
            &trust,
            &crate::verify::VerifyOptions::default(),
            &hashed,
        )
        .unwrap_err();
        assert!(matches!(err, VerifyError::Mismatch { .. }), "{err}");
        assert_eq!(hashed.bytes(), 0);
    }

    #[test]
    fn a_shard_whose_range_no_longer_fits_the_file_is_changed_without_being_read() {
        let registry = Registry::new(SignOptions {
            method: crate::digest::Method::Shards { shard_size: 1000 },
            ..SignOptions::default()
        });
        // weights.bin grows from 3000 bytes (3 shards) to 4 MiB: its signed ranges no longer
        // describe it, so it is not read; config.json still is.
        fs::write(registry.path("llm/weights.bin"), vec![7u8; 4 << 20]).unwrap();
        let hashed = Hashed::default();
        let decision = registry
            .decide("llm", &["llm.sig"], BundleLimits::default(), &hashed)
            .unwrap();
        assert!(!decision.allowed());
        assert_eq!(hashed.bytes(), 2, "{:?}", decision.reasons());
        let reasons = decision.reasons().join("\n");
        assert!(
            reasons.contains("weights.bin:0:1000: changed since signing"),
            "{reasons}"
        );
        assert!(
            reasons.contains("weights.bin:3000:4000: extra file"),
            "{reasons}"
        );
    }

    #[test]
    fn signature_files_are_read_one_at_a_time_within_the_limits() {
        let registry = Registry::new(SignOptions::default());
        let size = fs::metadata(registry.path("llm.sig")).unwrap().len();
        fs::write(registry.path("junk.sig"), b"{\"not\": \"a bundle\"}").unwrap();
        // The first signature is checked (the model hashed) before the second is read.
        let hashed = Hashed::default();
        let err = registry
            .decide(
                "llm",
                &["llm.sig", "junk.sig"],
                BundleLimits::default(),
                &hashed,
            )
            .unwrap_err();
        assert!(matches!(err, VerifyError::Malformed { .. }), "{err}");
        assert_eq!(hashed.bytes(), 3002);

        let per_bundle = BundleLimits {
            per_bundle: size - 1,
            total: u64::MAX,
        };
        let err = registry
            .decide("llm", &["llm.sig"], per_bundle, &Hashed::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("-byte limit for a signature"),
            "{err}"
        );

        fs::copy(registry.path("llm.sig"), registry.path("copy.sig")).unwrap();
        let total = BundleLimits {
            per_bundle: size,
            total: size + size / 2,
        };
        let err = registry
            .decide("llm", &["llm.sig", "copy.sig"], total, &Hashed::default())
            .unwrap_err();
        assert!(err.to_string().contains("limit in total"), "{err}");

        // One file named many times, also spelled differently, is read once.
        let request = VerifyRequest::parse(
            serde_json::json!({"model": "llm", "signatures": ["llm.sig", "./llm.sig", "llm.sig"]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let decision = registry
            .policy
            .verify_request(&registry.root, &request, total)
            .unwrap();
        assert!(decision.allowed(), "{:?}", decision.reasons());
        assert_eq!(decision.signatures().len(), 1);
        assert_eq!(decision.signatures()[0].path, Path::new("llm.sig"));
    }

    #[test]
    fn callers_are_told_paths_and_kinds_never_content_or_the_root() {
        let registry = Registry::new(SignOptions::default());
        fs::write(registry.path("secret.json"), br#""sk-live-0123456789""#).unwrap();
        let root = registry.root.path().display().to_string();
        for (signature, public) in [
            (
                "secret.json",
                "secret.json: not a signature bundle modelseal verifies",
            ),
            (".", ".: not a regular file"),
        ] {
            let err = registry
                .request(serde_json::json!({"model": "llm", "signatures": [signature]}))
                .unwrap_err();
            assert_eq!(err.public_reason(), public);
            // The whole reason is for the server's log, still without the root.
            assert!(!err.to_string().contains(&root), "{err}");
        }
        let err = registry
            .request(serde_json::json!({"model": "llm", "signatures": ["secret.json"]}))
            .unwrap_err();
        assert!(
            err.to_string().contains("sk-live"),
            "the log keeps the detail: {err}"
        );
    }

    #[test]
    fn only_the_signatures_own_file_at_a_signed_or_conventional_place_is_exempt() {
        let registry = Registry::new(SignOptions::default());
        let model = registry.path("llm");
        // A signature inside the model at a name the statement does not ignore: hashed like any
        // file, so it is an extra file.
        fs::copy(registry.path("llm.sig"), model.join("inside.sig")).unwrap();
        let decision = registry
            .request(serde_json::json!({"model": "llm", "signatures": ["llm/inside.sig"]}))
            .unwrap();
        assert!(!decision.allowed());
        assert!(
            decision
                .reasons()
                .iter()
                .any(|r| r.contains("inside.sig: extra file")),
            "{:?}",
            decision.reasons()
        );
        assert!(decision.exempt_files().is_empty());
        fs::remove_file(model.join("inside.sig")).unwrap();
        // At the conventional place it is exempt, and the decision says so.
        fs::copy(registry.path("llm.sig"), model.join("model.sig")).unwrap();
        let decision = registry
            .request(serde_json::json!({"model": "llm", "signatures": ["llm/model.sig"]}))
            .unwrap();
        assert!(decision.allowed(), "{:?}", decision.reasons());
        assert_eq!(decision.exempt_files(), ["model.sig"]);
    }

    #[test]
    fn seals_inner_signature_is_a_conventional_place() {
        assert!(
            crate::verify::CONVENTIONAL_SIGNATURES.contains(&crate::deploy::INNER_SIGNATURE_NAME)
        );
    }

    #[test]
    fn allowed_symlinks_do_not_lead_out_of_the_root() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("w.bin"), vec![7u8; 3000]).unwrap();
        let options = SignOptions {
            allow_symlinks: true,
            ..SignOptions::default()
        };
        let registry = Registry::with_model(options, |model| {
            std::os::unix::fs::symlink(outside.path().join("w.bin"), model.join("weights.bin"))
                .unwrap();
        });
        let (policy, root) = (&registry.policy, &registry.root);
        let request =
            VerifyRequest::parse(br#"{"model": "llm", "signatures": ["llm.sig"]}"#).unwrap();
        let err = policy
            .verify_request(root, &request, BundleLimits::default())
            .unwrap_err();
        assert_eq!(
            err.public_reason(),
            "llm: a symlink in the model leads outside the root directory"
        );
        // Outside a server (no root), the same signature verifies.
        let decision = policy
            .verify(
                &registry.path("llm"),
                &[registry.path("llm.sig")],
                &Default::default(),
                &NoProgress,
            )
            .unwrap();
        assert!(decision.allowed(), "{:?}", decision.reasons());
    }
}
