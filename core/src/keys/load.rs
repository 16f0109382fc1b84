//! Loading a key file: decides from its PEM labels whether it holds a public key, a certificate or
//! a private key, and decodes it with the right options.
//!
//! Accepted labels: `PUBLIC KEY` (SPKI), `CERTIFICATE` (its public key), `PRIVATE KEY` (PKCS#8 v1/v2),
//! `EC PRIVATE KEY` (SEC1; an `EC PARAMETERS` block before it is skipped), `ENCRYPTED PRIVATE KEY`
//! (PBES2, passphrase from [`KeyOptions::password_file`]). Every error names the file.

use super::file::{self, parse_err};
use super::pem::{self, PemBlock};
use super::secret::{DecodeError, PrivateKey};
use super::{KeyError, KeyOptions, PublicKey};
use std::path::Path;

/// What a key file holds.
pub(crate) enum KeyMaterial {
    Public(PublicKey),
    Private(PrivateKey),
}

const PRIVATE_LABELS: &[&str] = &["PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"];
const PUBLIC_LABELS: &[&str] = &["PUBLIC KEY", "CERTIFICATE"];
/// Labels of keys we recognise only to refuse them by name.
const FOREIGN_LABELS: &[(&str, &str)] = &[
    ("RSA PRIVATE KEY", "RSA"),
    ("RSA PUBLIC KEY", "RSA"),
    ("DSA PRIVATE KEY", "DSA"),
    ("OPENSSH PRIVATE KEY", "OpenSSH-format"),
];

/// Loads `path`. With `want_private`, a private key block is preferred over a public one in a file
/// that holds both (a combined key + certificate PEM).
pub(crate) fn load(
    path: &Path,
    options: &KeyOptions,
    want_private: bool,
) -> Result<KeyMaterial, KeyError> {
    let contents = file::read(path)?;
    let blocks = pem::parse_blocks(&contents.bytes).map_err(|reason| parse_err(path, reason))?;
    let block = select(&blocks, want_private).ok_or_else(|| no_key_error(path, &blocks))?;
    if block.has_headers {
        return Err(parse_err(
            path,
            "legacy OpenSSL-encrypted PEM (Proc-Type/DEK-Info) is not supported; convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
        ));
    }
    match block.label.as_str() {
        "PUBLIC KEY" => PublicKey::from_spki_der(&block.der)
            .map(KeyMaterial::Public)
            .map_err(|e| in_file(path, e)),
        "CERTIFICATE" => PublicKey::from_certificate_der(&block.der)
            .map(KeyMaterial::Public)
            .map_err(|e| in_file(path, e)),
        label => {
            file::check_secret_mode(path, contents.mode, options.allow_insecure_permissions)?;
            decode_private(path, label, &block.der, options).map(KeyMaterial::Private)
        }
    }
}

/// The block to use: the first private key when `want_private`, else the first key of any kind.
fn select(blocks: &[PemBlock], want_private: bool) -> Option<&PemBlock> {
    let is = |labels: &[&str], b: &PemBlock| labels.contains(&b.label.as_str());
    let private = blocks.iter().find(|b| is(PRIVATE_LABELS, b));
    let any = blocks
        .iter()
        .find(|b| is(PRIVATE_LABELS, b) || is(PUBLIC_LABELS, b));
    if want_private {
        private.or(any)
    } else {
        any
    }
}

fn no_key_error(path: &Path, blocks: &[PemBlock]) -> KeyError {
    for (label, what) in FOREIGN_LABELS {
        if blocks.iter().any(|b| b.label == *label) {
            return KeyError::Unsupported(format!(
                "{}: {what} keys ({})",
                path.display(),
                super::oids::SUPPORTED
            ));
        }
    }
    if blocks.is_empty() {
        parse_err(path, "no PEM block found; expected a PEM key file")
    } else {
        let labels: Vec<&str> = blocks.iter().map(|b| b.label.as_str()).collect();
        parse_err(
            path,
            format!("no key in this PEM file (found {})", labels.join(", ")),
        )
    }
}

fn decode_private(
    path: &Path,
    label: &str,
    der: &[u8],
    options: &KeyOptions,
) -> Result<PrivateKey, KeyError> {
    let decoded = match label {
        "PRIVATE KEY" => PrivateKey::from_pkcs8_der(der),
        "EC PRIVATE KEY" => PrivateKey::from_sec1_der(der),
        _ => {
            let Some(password_file) = &options.password_file else {
                return Err(parse_err(
                    path,
                    "the key is encrypted; give its passphrase in a password file",
                ));
            };
            let password = file::read_password(password_file, options.allow_insecure_permissions)?;
            PrivateKey::from_encrypted_pkcs8_der(der, &password)
        }
    };
    decoded.map_err(|e| match e {
        DecodeError::Invalid(reason) => parse_err(path, reason),
        DecodeError::Unsupported(what) => KeyError::Unsupported(format!(
            "{}: {what} ({})",
            path.display(),
            super::oids::SUPPORTED
        )),
    })
}

/// Adds the file name to a public-key error (those are raised without one).
pub(crate) fn in_file(path: &Path, err: KeyError) -> KeyError {
    match err {
        KeyError::Invalid { what, reason } => parse_err(path, format!("{what}: {reason}")),
        KeyError::Unsupported(what) => KeyError::Unsupported(format!("{}: {what}", path.display())),
        other => other,
    }
}
