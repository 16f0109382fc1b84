//! The one loader of key files: reads a file once (bounded, with its permission bits), and decides
//! from its PEM labels and the algorithm identifier inside (parsed with `keys::oids`, not sniffed)
//! what it holds.
//!
//! Signing keys and public keys: `PUBLIC KEY` (SPKI), `CERTIFICATE` (its public key), `PRIVATE KEY`
//! (PKCS#8 v1/v2), `EC PRIVATE KEY` (SEC1; an `EC PARAMETERS` block before it is skipped),
//! `ENCRYPTED PRIVATE KEY` (PBES2, passphrase from [`KeyOptions::password`], a secret reference).
//! Encryption keys (`docs/FORMAT.md` §8.8): a `PUBLIC KEY` or `PRIVATE KEY` whose algorithm is
//! X25519 or rsaEncryption, or a KEK file of 64 hex digits. Every error names the file; a secret
//! is refused when group or others may read its file, unless the caller allows it.

use super::hpke::{X25519Identity, X25519Recipient};
use super::kek::KekWrapper;
use super::rsa::{RsaOaepIdentity, RsaOaepRecipient};
use super::secret::{DecodeError, PrivateKey};
use crate::keys::error::KeyError;
use crate::keys::keyref::KeyOptions;
use crate::keys::oids;
use crate::keys::pem::{self, PemBlock};
use crate::keys::public::PublicKey;
use crate::keys::read::{self, in_file, parse_err};
use std::path::Path;

/// What a signing-key file holds.
pub(crate) enum KeyMaterial {
    Public(PublicKey),
    Private(PrivateKey),
}

/// What an encryption-key file holds: a public key encrypts only; the others also decrypt.
pub(crate) enum WrappingKey {
    Kek(KekWrapper),
    X25519Public(X25519Recipient),
    X25519Private(X25519Identity),
    RsaPublic(RsaOaepRecipient),
    RsaPrivate(RsaOaepIdentity),
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

/// Loads a signing key or public key from `path`. With `want_private`, a private key block is
/// preferred over a public one in a file that holds both (a combined key + certificate PEM).
pub(crate) fn load(
    path: &Path,
    options: &KeyOptions,
    want_private: bool,
) -> Result<KeyMaterial, KeyError> {
    let contents = read::read(path)?;
    read::check_not_writable(path, &contents, options.allow_insecure_permissions)?;
    if KekWrapper::from_file_text(path, &contents.bytes).is_ok() {
        return Err(parse_err(
            path,
            format!(
                "is an aes256-kek file, an encryption key, not a signing key ({})",
                oids::SUPPORTED
            ),
        ));
    }
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
            read::check_secret_mode(path, &contents, options.allow_insecure_permissions)?;
            decode_private(path, label, &block.der, options).map(KeyMaterial::Private)
        }
    }
}

/// The public key in `path`: of a public key, a certificate or a private key file.
pub(crate) fn public_key(path: &Path, options: &KeyOptions) -> Result<PublicKey, KeyError> {
    match load(path, options, false)? {
        KeyMaterial::Public(public) => Ok(public),
        KeyMaterial::Private(private) => private.public_key(),
    }
}

/// Loads an encryption key from `path` (§8.8): by its first PEM label, then the algorithm
/// identifier of the PKCS#8 or SPKI document; a file that is not PEM is read as a KEK.
pub(crate) fn load_wrapping(path: &Path, options: &KeyOptions) -> Result<WrappingKey, KeyError> {
    let contents = read::read(path)?;
    read::check_not_writable(path, &contents, options.allow_insecure_permissions)?;
    let text: &[u8] = &contents.bytes;
    let public = text.starts_with(b"-----BEGIN PUBLIC KEY-----");
    let private = text.starts_with(b"-----BEGIN PRIVATE KEY-----");
    for label in ["EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "CERTIFICATE"] {
        if text.starts_with(format!("-----BEGIN {label}-----").as_bytes()) {
            return Err(parse_err(
                path,
                format!(
                    "is a PEM {label}, a signing key or certificate, not an encryption key; {}",
                    oids::ENCRYPTION_KEYS
                ),
            ));
        }
    }
    if !public {
        // A KEK or a private key: a secret.
        read::check_secret_mode(path, &contents, options.allow_insecure_permissions)?;
    }
    if !public && !private {
        return KekWrapper::from_file_text(path, text).map(WrappingKey::Kek);
    }
    let label = if public { "PUBLIC KEY" } else { "PRIVATE KEY" };
    let blocks = pem::parse_blocks(text)
        .map_err(|reason| parse_err(path, format!("not a PEM key file: {reason}")))?;
    let Some(block) = blocks.iter().find(|b| b.label == label) else {
        return Err(parse_err(path, "not a PEM key file"));
    };
    let der: &[u8] = &block.der;
    let algorithm = if public {
        oids::spki_algorithm(der)
    } else {
        oids::pkcs8_algorithm(der)
    };
    if algorithm != Some(oids::X25519) && algorithm != Some(oids::RSA_ENCRYPTION) {
        let which = if public { "public" } else { "private" };
        return Err(parse_err(
            path,
            format!(
                "this {which} key is {}, not an encryption key; {}",
                oids::signing_kind(algorithm),
                oids::ENCRYPTION_KEYS
            ),
        ));
    }
    match (public, algorithm == Some(oids::X25519)) {
        (true, true) => X25519Recipient::from_spki_der(der, path).map(WrappingKey::X25519Public),
        (true, false) => RsaOaepRecipient::from_spki_der(der, path).map(WrappingKey::RsaPublic),
        (false, true) => X25519Identity::from_pkcs8_der(der, path).map(WrappingKey::X25519Private),
        (false, false) => RsaOaepIdentity::from_pkcs8_der(der, path).map(WrappingKey::RsaPrivate),
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
                oids::SUPPORTED
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
            let Some(source) = &options.password else {
                return Err(parse_err(
                    path,
                    "the key is encrypted; give its passphrase (a password file, or a secret reference: docs/secrets.md)",
                ));
            };
            let password =
                crate::keys::secret::resolve(source, options.allow_insecure_permissions)?;
            PrivateKey::from_encrypted_pkcs8_der(der, &password)
        }
    };
    decoded.map_err(|e| match e {
        DecodeError::Invalid(reason) => parse_err(path, reason),
        DecodeError::Unsupported(what) => {
            KeyError::Unsupported(format!("{}: {what} ({})", path.display(), oids::SUPPORTED))
        }
    })
}
