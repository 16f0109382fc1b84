//! Python bindings of modelseal (`import modelseal`): argument conversion and error mapping only.
//!
//! Every function converts its arguments, releases the GIL for the real work (hashing, signing,
//! verifying, encrypting, decrypting), and maps core errors onto `modelseal.Error` and its
//! subclasses. The typed public API
//! is the pure-Python wrapper in `modelseal/__init__.py`.

mod errors;
mod policy;
mod seal;

use errors::{key_error, sign_error, verify_error, Error};
use modelseal::digest::{HashAlgorithm, Method, DEFAULT_SHARD_SIZE};
use modelseal::keys::{self, KeyKind, KeyOptions, KeyRef};
use modelseal::progress::NoProgress;
use modelseal::sign::{sign_model, SignOptions};
use modelseal::sigstore::{KeylessPolicy, TrustedRoot};
use modelseal::trust::Trust;
use modelseal::verify::{verify_model, VerifyOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

fn parse_key(key: &str) -> PyResult<KeyRef> {
    key.parse().map_err(key_error)
}

fn key_options(password_file: Option<PathBuf>, allow_insecure: bool) -> KeyOptions {
    KeyOptions {
        password_file,
        allow_insecure_permissions: allow_insecure,
    }
}

fn hash_algorithm(name: &str) -> PyResult<HashAlgorithm> {
    HashAlgorithm::from_name(name).ok_or_else(|| {
        Error::new_err(format!(
            "unknown hash {name:?}: use sha256, blake2b or blake3"
        ))
    })
}

/// Signs a model; returns the signature path.
#[pyfunction]
#[pyo3(signature = (model, key, signature, hash, shards, shard_size, ignore, allow_symlinks,
                    cert, cert_chain, key_password_file, allow_insecure_key_permissions))]
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
    key_password_file: Option<PathBuf>,
    allow_insecure_key_permissions: bool,
) -> PyResult<PathBuf> {
    let key = parse_key(key)?;
    let key_options = key_options(key_password_file, allow_insecure_key_permissions);
    let options = SignOptions {
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
        signature,
    };
    py.allow_threads(|| {
        let signer = match &cert {
            Some(leaf) => {
                keys::open::open_certificate_signer(&key, &key_options, leaf, &cert_chain)
            }
            None => keys::open::open_signer(&key, &key_options),
        }
        .map_err(key_error)?;
        let outcome =
            sign_model(&model, signer.as_ref(), &options, &NoProgress).map_err(sign_error)?;
        Ok(outcome.signature_path)
    })
}

/// Verifies a model; returns a dict describing the verified model.
#[pyfunction]
#[pyo3(signature = (model, signature, key, cert_chain, ignore, ignore_unsigned_files,
                    sigstore_identity=None, sigstore_issuer=None, trusted_root=None))]
#[allow(clippy::too_many_arguments)]
fn verify<'py>(
    py: Python<'py>,
    model: PathBuf,
    signature: PathBuf,
    key: Option<String>,
    cert_chain: Vec<PathBuf>,
    ignore: Vec<PathBuf>,
    ignore_unsigned_files: bool,
    sigstore_identity: Option<String>,
    sigstore_issuer: Option<String>,
    trusted_root: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = VerifyOptions {
        ignore,
        ignore_unsigned_files,
    };
    let verified = py.allow_threads(|| {
        let keyless = keyless_policy(sigstore_identity, sigstore_issuer, trusted_root.is_some())?;
        let trust = match (&key, cert_chain.is_empty(), keyless) {
            (None, true, Some(policy)) => {
                let root = match &trusted_root {
                    Some(path) => TrustedRoot::load(path),
                    None => TrustedRoot::production(),
                }
                .map_err(|e| errors::trust_error(e.into()))?;
                Trust::Sigstore {
                    root: Box::new(root),
                    policy,
                }
            }
            (Some(key), true, None) => {
                let public = keys::open::public_key_of(&parse_key(key)?, &KeyOptions::default())
                    .map_err(key_error)?;
                Trust::PublicKey(public)
            }
            (None, false, None) => {
                Trust::load_certificate_roots(&cert_chain).map_err(errors::trust_error)?
            }
            _ => return Err(Error::new_err(
                "give exactly one of key=, cert_chain= or sigstore_identity= with sigstore_issuer=",
            )),
        };
        verify_model(&model, &signature, &trust, &options, &NoProgress).map_err(verify_error)
    })?;
    let out = PyDict::new(py);
    out.set_item("model", verified.model())?;
    out.set_item("signature", verified.signature())?;
    out.set_item("model_name", verified.subject_name())?;
    out.set_item("root_digest", verified.root_digest_hex())?;
    out.set_item("resources", verified.resources().len())?;
    let signer = verified.signer();
    out.set_item("signer_method", signer.method)?;
    out.set_item("signer_algorithm", signer.algorithm.name())?;
    out.set_item("key_hint", &signer.key_hint)?;
    out.set_item("certificate_subject", &signer.certificate_subject)?;
    if let Some(k) = &signer.keyless {
        out.set_item("sigstore_identity", &k.identity)?;
        out.set_item("sigstore_issuer", &k.issuer)?;
        out.set_item("signing_time", k.signing_time_text())?;
        out.set_item("log_index", k.log_index)?;
    }
    let config = verified.serialization();
    out.set_item("hash_type", config.hash.name())?;
    match config.method {
        Method::Files => out.set_item("method", "files")?,
        Method::Shards { shard_size } => {
            out.set_item("method", "shards")?;
            out.set_item("shard_size", shard_size)?;
        }
    }
    Ok(out)
}

/// The keyless policy when both halves are given; an error when only one is, or when a trusted
/// root is given without them.
fn keyless_policy(
    identity: Option<String>,
    issuer: Option<String>,
    has_root: bool,
) -> PyResult<Option<KeylessPolicy>> {
    match (identity, issuer) {
        (Some(identity), Some(issuer)) => Ok(Some(KeylessPolicy { identity, issuer })),
        (None, None) if !has_root => Ok(None),
        _ => Err(Error::new_err(
            "keyless verification needs both sigstore_identity= and sigstore_issuer=",
        )),
    }
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
        keys::file::generate(kind, &out, public_out.as_deref(), force)
            .map(|g| g.key_id)
            .map_err(key_error)
    })
}

/// The SPKI PEM public key of a key reference.
#[pyfunction]
#[pyo3(signature = (key, key_password_file, allow_insecure_key_permissions))]
fn public_key(
    py: Python<'_>,
    key: &str,
    key_password_file: Option<PathBuf>,
    allow_insecure_key_permissions: bool,
) -> PyResult<String> {
    let key = parse_key(key)?;
    let options = key_options(key_password_file, allow_insecure_key_permissions);
    py.allow_threads(|| {
        keys::open::public_key_of(&key, &options)
            .map(|k| k.to_pem())
            .map_err(key_error)
    })
}

/// The native module behind `modelseal`.
#[pymodule]
fn _modelseal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_function(wrap_pyfunction!(sign, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(keygen, m)?)?;
    m.add_function(wrap_pyfunction!(public_key, m)?)?;
    m.add_function(wrap_pyfunction!(seal::encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(seal::decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(seal::rewrap, m)?)?;
    m.add_function(wrap_pyfunction!(seal::inspect_encrypted, m)?)?;
    m.add_class::<seal::SealedReader>()?;
    m.add_class::<policy::Policy>()?;
    m.add_function(wrap_pyfunction!(policy::verify_policy, m)?)?;
    m.add_function(wrap_pyfunction!(policy::seal_py, m)?)?;
    m.add_function(wrap_pyfunction!(policy::unseal_py, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
