//! Certificate files a signer presents (the certificate method): read as PEM, checked to be X.509,
//! and matched to the signing key. Shared by every backend that signs with a certificate (key
//! files and PKCS#11 tokens), so no backend reaches into another.

use crate::keys::error::KeyError;
use crate::keys::pem;
use crate::keys::public::PublicKey;
use crate::keys::read::{self, in_file, parse_err};
use std::path::{Path, PathBuf};

/// The DER chain (leaf first) for a signer whose public key is `public`: the one certificate in
/// `leaf`, whose key must be `public` (else an error naming `key`), then every certificate of `chain`.
pub(crate) fn certificate_chain_for(
    public: &PublicKey,
    key: &str,
    leaf: &Path,
    chain: &[PathBuf],
) -> Result<Vec<Vec<u8>>, KeyError> {
    let mut leaf_certs = read_certificate_file(leaf)?;
    if leaf_certs.len() != 1 {
        return Err(parse_err(
            leaf,
            format!("holds {} certificates; the signing certificate file must hold exactly one (give the others as chain files)", leaf_certs.len()),
        ));
    }
    let leaf_der = leaf_certs.remove(0);
    let leaf_key = PublicKey::from_certificate_der(&leaf_der).map_err(|e| in_file(leaf, e))?;
    if &leaf_key != public {
        return Err(KeyError::CertificateKeyMismatch {
            certificate: leaf.to_path_buf(),
            key: key.to_owned(),
        });
    }
    let mut certs = vec![leaf_der];
    for path in chain {
        certs.extend(read_certificate_file(path)?);
    }
    Ok(certs)
}

/// Reads every `CERTIFICATE` block of a PEM file as DER; a file with none is an error.
pub fn read_certificate_file(path: &Path) -> Result<Vec<Vec<u8>>, KeyError> {
    let contents = read::read(path)?;
    let blocks = pem::parse_blocks(&contents.bytes).map_err(|reason| parse_err(path, reason))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der.to_vec())
        .collect();
    if certs.is_empty() {
        return Err(parse_err(path, "no CERTIFICATE PEM block found"));
    }
    for der in &certs {
        use der::Decode as _;
        x509_cert::Certificate::from_der(der)
            .map_err(|e| parse_err(path, format!("invalid certificate ({e})")))?;
    }
    Ok(certs)
}
