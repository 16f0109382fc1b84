//! Python bindings of modelseal (`import modelseal`): argument conversion and error mapping only.
//!
//! Every function converts its arguments, releases the GIL for the real work (hashing, signing,
//! verifying, encrypting, decrypting), and maps core errors onto `modelseal.Error` and its
//! subclasses. The typed public API
//! is the pure-Python wrapper in `modelseal/__init__.py`.

mod convert;
mod errors;
mod load;
mod policy;
mod progress;
mod scan;
mod seal;

use errors::{key_error, sign_error, verify_error, Error};
use modelseal::digest::{HashAlgorithm, Method, DEFAULT_SHARD_SIZE};
use modelseal::keys::{self, KeyKind, KeyOptions, KeyRef};
use modelseal::report::{self, DigestReport, Failure, PyVerified};
use modelseal::sign::{digest_model, open_signer, sign_model, DigestOptions, OutputMode};
use modelseal::sign::{SignError, SignOptions};
use modelseal::trust::{SigstoreRoot, Trust, TrustOptions};
use modelseal::verify::{verify_model, VerifyOptions};
use progress::PyProgress;
use pyo3::prelude::*;
use std::path::PathBuf;

fn parse_key(key: &str) -> PyResult<KeyRef> {
    key.parse().map_err(key_error)
}

/// Key options from the Python keywords: `key_password` is a secret reference (`file:PATH`,
/// `fd:N`, `env:NAME`, `awssm://…`; the Python layer turns `key_password_file=P` into `file:P`).
fn key_options(key_password: Option<String>, allow_insecure: bool) -> PyResult<KeyOptions> {
    let password = key_password
        .map(|text| text.parse::<modelseal::keys::SecretRef>())
        .transpose()
        .map_err(key_error)?;
    Ok(KeyOptions {
        password,
        allow_insecure_permissions: allow_insecure,
    })
}

/// The trust `verify` and `open_model` take from their keyword arguments, as `modelseal verify`
/// takes it from its flags: a public key, certificate roots, or a Sigstore identity and issuer
/// (offline against `trusted_root`, else the bundled public-good root). The Python side passes
/// the keywords as one dict, so both functions take them in one argument.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub(crate) struct TrustArgs {
    key: Option<String>,
    cert_chain: Vec<PathBuf>,
    sigstore_identity: Option<String>,
    sigstore_issuer: Option<String>,
    trusted_root: Option<PathBuf>,
}

impl TrustArgs {
    /// Core's trust for these arguments (an unusable combination is a `trust_error`).
    pub(crate) fn trust(self) -> Result<Trust, modelseal::trust::TrustError> {
        Trust::from_options(&TrustOptions {
            key: self.key,
            certificate_roots: self.cert_chain,
            sigstore_identity: self.sigstore_identity,
            sigstore_issuer: self.sigstore_issuer,
            sigstore_root: self.trusted_root.map(SigstoreRoot::File),
            allow_insecure_permissions: false,
        })
    }
}

fn hash_algorithm(name: &str) -> PyResult<HashAlgorithm> {
    HashAlgorithm::from_name(name).ok_or_else(|| {
        Error::new_err(format!(
            "unknown hash {name:?}: use sha256, blake2b or blake3"
        ))
    })
}

/// How to hash a model, from the keyword arguments `sign` and `digest` share.
fn digest_options(
    hash: &str,
    shards: bool,
    shard_size: Option<u64>,
    ignore: Vec<PathBuf>,
    allow_symlinks: bool,
) -> PyResult<DigestOptions> {
    Ok(DigestOptions {
        hash: hash_algorithm(hash)?,
        method: match (shards, shard_size) {
            (true, size) => Method::Shards {
                shard_size: size.unwrap_or(DEFAULT_SHARD_SIZE),
            },
            (false, None) => Method::Files,
            (false, Some(_)) => return Err(Error::new_err("shard_size needs shards=True")),
        },
        ignore,
        allow_symlinks,
    })
}

/// The root digest of a model as signing would record it: the dict `modelseal digest --json`
/// prints (`root_digest` as `sha256:<hex>`, `resources`, `serialization`).
#[pyfunction]
#[pyo3(signature = (model, hash, shards, shard_size, ignore, allow_symlinks, progress=None))]
#[allow(clippy::too_many_arguments)]
fn digest<'py>(
    py: Python<'py>,
    model: PathBuf,
    hash: &str,
    shards: bool,
    shard_size: Option<u64>,
    ignore: Vec<PathBuf>,
    allow_symlinks: bool,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyAny>> {
    let options = digest_options(hash, shards, shard_size, ignore, allow_symlinks)?;
    let sink = PyProgress::new(progress);
    let statement = py.allow_threads(|| digest_model(&model, &options, &sink));
    let statement = sink.finish(statement.map_err(sign_error))?;
    convert::to_py(py, &DigestReport::from(&statement))
}

/// Signs a model; returns the signature path. Appends the `sign` audit event to `audit_log`.
#[pyfunction]
#[pyo3(signature = (model, key, signature, hash, shards, shard_size, ignore, allow_symlinks,
                    cert, cert_chain, key_password, allow_insecure_key_permissions,
                    audit_log=None, force=false, append=false, tsa_url=None, progress=None,
                    scan=false, scan_allow=None, tensor_aligned=false))]
#[allow(clippy::too_many_arguments)]
fn sign(
    py: Python<'_>,
    model: PathBuf,
    key: &str,
    signature: Option<PathBuf>,
    hash: &str,
    shards: bool,
    shard_size: Option<u64>,
    ignore: Vec<PathBuf>,
    allow_symlinks: bool,
    cert: Option<PathBuf>,
    cert_chain: Vec<PathBuf>,
    key_password: Option<String>,
    allow_insecure_key_permissions: bool,
    audit_log: Option<PathBuf>,
    force: bool,
    append: bool,
    tsa_url: Option<String>,
    progress: Option<PyObject>,
    scan: bool,
    scan_allow: Option<PathBuf>,
    tensor_aligned: bool,
) -> PyResult<PathBuf> {
    let sink = PyProgress::new(progress);
    let key_options = key_options(key_password, allow_insecure_key_permissions)?;
    let mut hashing = digest_options(hash, shards, shard_size, ignore, allow_symlinks)?;
    if tensor_aligned {
        if !shards || shard_size.is_some() {
            return Err(Error::new_err(
                "tensor_aligned=True needs shards=True and chooses the shard size itself (leave out shard_size=)",
            ));
        }
        let size = py
            .allow_threads(|| modelseal::sign::tensor_aligned_shard_size(&model, &hashing))
            .map_err(sign_error)?;
        hashing.method = Method::Shards { shard_size: size };
    }
    let options = SignOptions {
        hash: hashing.hash,
        method: hashing.method,
        ignore: hashing.ignore,
        allow_symlinks: hashing.allow_symlinks,
        signature,
        tsa: tsa_url.map(modelseal::timestamp::TsaRequest::new),
        output: match (force, append) {
            (true, true) => return Err(Error::new_err("force= and append= exclude each other")),
            (_, true) => OutputMode::Append,
            (true, false) => OutputMode::Replace,
            (false, false) => OutputMode::CreateNew,
        },
        scan: scan::gate(scan, scan_allow.as_deref())?,
    };
    let signed = py.allow_threads(|| {
        let result = open_signer(key, cert.as_deref(), &cert_chain, &key_options)
            .and_then(|signer| sign_model(&model, signer.as_ref(), &options, &sink));
        let failure = |e: &SignError| Failure::error(e);
        let event = report::sign_event(&model, key, result.as_ref().map_err(failure));
        convert::record(audit_log.as_deref(), None, &event)?;
        Ok(result.map_err(sign_error)?.signature_path)
    });
    sink.finish(signed)
}

/// Verifies a model; returns a dict describing the verified model (`VerificationResult`'s
/// fields). Appends the `verify` audit event to `audit_log`.
#[pyfunction]
#[pyo3(signature = (model, signature, trust, ignore, ignore_unsigned_files,
                    audit_log=None, tsa_roots=Vec::new(), require_timestamp=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn verify<'py>(
    py: Python<'py>,
    model: PathBuf,
    signature: PathBuf,
    trust: TrustArgs,
    ignore: Vec<PathBuf>,
    ignore_unsigned_files: bool,
    audit_log: Option<PathBuf>,
    tsa_roots: Vec<PathBuf>,
    require_timestamp: bool,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyAny>> {
    let sink = PyProgress::new(progress);
    let options = VerifyOptions {
        ignore,
        ignore_unsigned_files,
        timestamps: modelseal::trust::TimestampPolicy::load(&tsa_roots, require_timestamp)
            .map_err(errors::trust_error)?,
    };
    let verified = py.allow_threads(|| {
        let key = trust.key.clone();
        let trust = trust.trust();
        let result = trust.map(|trust| verify_model(&model, &signature, &trust, &options, &sink));
        let ended = match &result {
            Ok(Ok(verified)) => Ok(verified),
            Ok(Err(err)) => Err(Failure::verify(err)),
            Err(err) => Err(Failure::error(err)),
        };
        let event = report::verify_event(&model, key.as_deref(), ended);
        convert::record(audit_log.as_deref(), None, &event)?;
        result.map_err(errors::trust_error)?.map_err(verify_error)
    });
    let verified = sink.finish(verified)?;
    convert::to_py(py, &PyVerified::from(&verified))
}

/// Generates a key: a signing key pair (returns the public key's OMS key hint) or an encryption key
/// `aes256-kek`, `x25519`, `rsa3072` (returns its key id).
#[pyfunction]
#[pyo3(signature = (algorithm, out, public_out, force))]
fn keygen(
    py: Python<'_>,
    algorithm: &str,
    out: PathBuf,
    public_out: Option<PathBuf>,
    force: bool,
) -> PyResult<String> {
    let kind = KeyKind::from_name(algorithm).ok_or_else(|| {
        let names: Vec<&str> = KeyKind::ALL.iter().map(|k| k.name()).collect();
        Error::new_err(format!(
            "unknown algorithm {algorithm:?}: use {} or {}",
            names[..names.len() - 1].join(", "),
            names[names.len() - 1]
        ))
    })?;
    py.allow_threads(|| {
        keys::generate(kind, &out, public_out.as_deref(), force)
            .map(|g| g.key_id)
            .map_err(key_error)
    })
}

/// The SPKI PEM public key of a key reference.
#[pyfunction]
#[pyo3(signature = (key, key_password, allow_insecure_key_permissions))]
fn public_key(
    py: Python<'_>,
    key: &str,
    key_password: Option<String>,
    allow_insecure_key_permissions: bool,
) -> PyResult<String> {
    let key = parse_key(key)?;
    let options = key_options(key_password, allow_insecure_key_permissions)?;
    py.allow_threads(|| {
        keys::public_key_of(&key, &options)
            .map(|k| k.to_pem())
            .map_err(key_error)
    })
}

/// Marks this process non-dumpable and sets its core-file limit to 0 (see
/// `modelseal::fs::process`): no core file or `ptrace` by the user's other processes can read a key
/// this process holds. Never called implicitly: it changes the whole Python process.
#[pyfunction]
fn harden_process() -> PyResult<()> {
    modelseal::harden_process().map_err(|e| Error::new_err(e.to_string()))
}

/// The native module behind `modelseal`.
#[pymodule]
fn _modelseal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(sign, m)?)?;
    m.add_function(wrap_pyfunction!(scan::scan, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(digest, m)?)?;
    m.add_function(wrap_pyfunction!(keygen, m)?)?;
    m.add_function(wrap_pyfunction!(public_key, m)?)?;
    m.add_function(wrap_pyfunction!(harden_process, m)?)?;
    m.add_function(wrap_pyfunction!(seal::encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(seal::decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(seal::rewrap, m)?)?;
    m.add_function(wrap_pyfunction!(seal::inspect_encrypted, m)?)?;
    m.add_class::<seal::SealedReader>()?;
    m.add_class::<load::PyOpenedModel>()?;
    m.add_function(wrap_pyfunction!(load::open_model, m)?)?;
    m.add_class::<policy::Policy>()?;
    m.add_function(wrap_pyfunction!(policy::verify_policy, m)?)?;
    m.add_function(wrap_pyfunction!(policy::seal_py, m)?)?;
    m.add_function(wrap_pyfunction!(policy::unseal_py, m)?)?;
    m.add_function(wrap_pyfunction!(policy::endorse_py, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
