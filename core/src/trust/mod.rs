//! What a verifier trusts, and the check that a bundle's signature comes from it.
//!
//! Two kinds of trust: one public key (key method), or certificate roots (certificate method: the
//! bundle's leaf must chain to a root, every certificate of the chain be valid at the verification
//! time (OMS v1.0 §8.2; model-signing 1.1.1 judges at the leaf's `notBefore` instead, see
//! docs/oms-conformance.md), and the leaf allow digitalSignature or the codeSigning EKU). The chain
//! is validated by `rustls-webpki`, a real X.509 path validator, with a leaf that is itself a CA
//! (model-signing's own test PKI signs with one) checked by `certificate` under webpki's rules.
//!
//! Validating at the verification time means an expired leaf no longer verifies; revocation is not
//! checked. A verified RFC 3161 timestamp (a later step) will move that time to the signing time.
//! See `certificate` for where the check follows OpenSSL rather than webpki's defaults.
//!
//! The key method follows 1.1.1 too: a bundle's key hint, when present, must name the trusted key;
//! pre-1.1 bundles (raw public key bytes, no hint) are checked by their signature alone.
//!
//! A third kind, [`Trust::Sigstore`], is a pinned Sigstore trusted root plus the expected identity
//! and OIDC issuer: keyless bundles are checked by [`crate::sigstore::verify_keyless`].

use crate::error::ErrorClass;
use crate::keys::{KeyAlgorithm, KeyError, KeyOptions, KeyRef, PublicKey};
use crate::oms::{Bundle, VerificationMaterial};
use crate::sigstore::{KeylessPolicy, KeylessSigner, SigstoreError, TrustedRoot};
use std::path::{Path, PathBuf};

mod certificate;
mod identity;

pub use identity::{leaf_identity, CertificateIdentity};

/// The most of a bundle's key hint repeated in an error: it is untrusted input.
const MAX_HINT_IN_ERROR: usize = 80;

/// Errors establishing who signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// A trust file could not be read or parsed (an input error, not a verification failure).
    #[error("{path}: {reason}")]
    Load {
        /// The certificate-root file, or `(certificate roots)` when none was given.
        path: PathBuf,
        /// Why it cannot be used: unreadable, no `CERTIFICATE` block in it, a block that is not a
        /// valid X.509 certificate, or no file given at all.
        reason: String,
    },
    /// The bundle names a different key than the one trusted.
    #[error("key mismatch: the signature's key hint {found} is not the trusted key {expected}")]
    KeyHintMismatch {
        /// The trusted key's hint (lowercase hex SHA-256 of its SPKI PEM).
        expected: String,
        /// The bundle's hint: untrusted input, so cut to 80 bytes (and `…`) if longer.
        found: String,
    },
    /// The bundle carries certificates but a key was trusted, or the other way round.
    #[error("signature uses the {found} method, but a {expected} was given to verify it")]
    MethodMismatch {
        /// The kind of trust given: `"public key"`, `"certificate root"` or
        /// `"Sigstore trusted root"`.
        expected: &'static str,
        /// The kind of material the bundle carries: `"public key"`, `"certificate"` or
        /// `"Sigstore keyless"`.
        found: &'static str,
    },
    /// The certificate chain does not lead to a trusted root, or the leaf may not sign.
    #[error("certificate not trusted: {0}")]
    Certificate(String),
    /// The signature over the DSSE PAE does not verify.
    #[error("invalid signature: the statement was not signed by this key, or it was modified")]
    BadSignature,
    /// A keyless signature did not verify against the Sigstore trusted root and policy.
    #[error(transparent)]
    Sigstore(#[from] SigstoreError),
    /// The trusted key reference does not parse.
    #[error(transparent)]
    KeyRef(Box<KeyError>),
    /// The trusted key's public key could not be read.
    #[error("cannot read the trusted key {key}")]
    Key {
        /// The key reference as given.
        key: String,
        /// Why.
        #[source]
        source: Box<KeyError>,
    },
    /// The options name no kind of trust, more than one, or half of a keyless identity.
    #[error("{0}")]
    Choice(TrustChoice),
}

/// Why [`TrustOptions`] name no single trust (each door says it in its own argument names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrustChoice {
    /// Only one of the Sigstore identity and issuer, or a trusted root without them.
    #[error("keyless verification needs both a Sigstore identity and its issuer")]
    HalfKeyless,
    /// No kind of trust, or more than one.
    #[error(
        "give exactly one of a trusted key, certificate roots, or a Sigstore identity with its issuer"
    )]
    NotOne,
}

impl TrustError {
    /// Reading or choosing the trust is an input error; a signature that the trust rejects is
    /// a failed verification.
    pub fn class(&self) -> ErrorClass {
        match self {
            TrustError::Load { .. }
            | TrustError::KeyRef(_)
            | TrustError::Key { .. }
            | TrustError::Choice(_)
            | TrustError::Sigstore(SigstoreError::Root { .. })
            | TrustError::Sigstore(SigstoreError::Unsupported(_)) => ErrorClass::Input,
            _ => ErrorClass::Failed,
        }
    }
}

/// Where the Sigstore trusted root comes from.
#[derive(Debug, Clone)]
pub enum SigstoreRoot {
    /// The public-good production root built into modelseal.
    Production,
    /// A `trusted_root.json`.
    TrustedRoot(PathBuf),
    /// A Sigstore `ClientTrustConfig` holding the trusted root.
    TrustConfig(PathBuf),
    /// Either of the two, recognised by its content.
    File(PathBuf),
}

/// What a verifier was told to trust, as the doors take it: exactly one of a key reference,
/// certificate root files, or a Sigstore identity with its issuer (and a trusted root).
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// A key reference whose public key is trusted (a public key file, or any key reference).
    pub key: Option<String>,
    /// PEM files of trusted root certificates.
    pub certificate_roots: Vec<PathBuf>,
    /// The keyless signer's identity (certificate SAN).
    pub sigstore_identity: Option<String>,
    /// The OIDC issuer that vouched for the identity.
    pub sigstore_issuer: Option<String>,
    /// The Sigstore trusted root; `None` is the production root.
    pub sigstore_root: Option<SigstoreRoot>,
}

impl Trust {
    /// The trust `options` describe: the one place the key / certificate roots / Sigstore choice
    /// is made, for every door.
    pub fn from_options(options: &TrustOptions) -> Result<Trust, TrustError> {
        let keyless = match (&options.sigstore_identity, &options.sigstore_issuer) {
            (Some(identity), Some(issuer)) => Some(KeylessPolicy {
                identity: identity.clone(),
                issuer: issuer.clone(),
            }),
            (None, None) if options.sigstore_root.is_none() => None,
            _ => return Err(TrustError::Choice(TrustChoice::HalfKeyless)),
        };
        match (&options.key, options.certificate_roots.is_empty(), keyless) {
            (None, true, Some(policy)) => {
                let root = match &options.sigstore_root {
                    None | Some(SigstoreRoot::Production) => TrustedRoot::production(),
                    Some(SigstoreRoot::TrustedRoot(path)) => TrustedRoot::load_trusted_root(path),
                    Some(SigstoreRoot::TrustConfig(path)) => TrustedRoot::load_trust_config(path),
                    Some(SigstoreRoot::File(path)) => TrustedRoot::load(path),
                }?;
                Ok(Trust::Sigstore {
                    root: Box::new(root),
                    policy,
                })
            }
            (Some(key), true, None) => {
                let reference: KeyRef = key.parse().map_err(|e| TrustError::KeyRef(Box::new(e)))?;
                let public = crate::keys::open::public_key_of(&reference, &KeyOptions::default())
                    .map_err(|source| TrustError::Key {
                    key: key.clone(),
                    source: Box::new(source),
                })?;
                Ok(Trust::PublicKey(public))
            }
            (None, false, None) => Trust::load_certificate_roots(&options.certificate_roots),
            _ => Err(TrustError::Choice(TrustChoice::NotOne)),
        }
    }
}

/// A verifier's trust: one key, or a set of certificate roots.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Key method: exactly this public key.
    PublicKey(PublicKey),
    /// Certificate method: DER trust anchors.
    CertificateRoots(Vec<Vec<u8>>),
    /// Sigstore keyless: a pinned trusted root and who must have signed.
    Sigstore {
        /// The Sigstore trust material (Fulcio CAs, Rekor and CT log keys) the signature must
        /// chain to.
        root: Box<TrustedRoot>,
        /// The identity and OIDC issuer the signing certificate must name.
        policy: KeylessPolicy,
    },
}

impl Trust {
    /// Loads certificate roots from PEM files, each with one or more certificates.
    ///
    /// Self-issued certificates become trust anchors; any other certificate in these files is
    /// trusted as an intermediate that a path may pass through (as OpenSSL's store does).
    pub fn load_certificate_roots(paths: &[PathBuf]) -> Result<Trust, TrustError> {
        if paths.is_empty() {
            return Err(TrustError::Load {
                path: PathBuf::from("(certificate roots)"),
                // 1.1.1 falls back to the certifi web roots here; code signing should not.
                reason: "no certificate root file given".into(),
            });
        }
        let mut roots = Vec::new();
        for path in paths {
            roots.extend(load_certificates(path)?);
        }
        Ok(Trust::CertificateRoots(roots))
    }

    /// Checks the bundle's signature over its DSSE PAE under this trust.
    pub fn check_bundle(&self, bundle: &Bundle) -> Result<SignerIdentity, TrustError> {
        let pae = crate::oms::pae(&bundle.payload_type, &bundle.payload);
        match (self, &bundle.material) {
            (Trust::Sigstore { root, policy }, VerificationMaterial::Keyless(material)) => {
                let signer = crate::sigstore::verify_keyless(
                    root,
                    policy,
                    material,
                    &bundle.payload,
                    &pae,
                    &bundle.signature,
                )?;
                Ok(SignerIdentity::keyless(signer))
            }
            _ => self.check(&bundle.material, &pae, &bundle.signature),
        }
    }

    /// Checks that `signature` over `pae` was made by a key this trust accepts, as `material` claims.
    /// Keyless material needs the payload too: use [`Trust::check_bundle`].
    pub fn check(
        &self,
        material: &VerificationMaterial,
        pae: &[u8],
        signature: &[u8],
    ) -> Result<SignerIdentity, TrustError> {
        match (self, material) {
            (Trust::PublicKey(key), VerificationMaterial::PublicKey { hint }) => {
                if let Some(found) = hint {
                    check_hint(key, found)?;
                }
                check_key_signature(key, pae, signature)
            }
            // Pre-1.1 bundles carry no hint; 1.1.1 only warns, then checks the signature.
            (Trust::PublicKey(key), VerificationMaterial::LegacyPublicKey { .. }) => {
                check_key_signature(key, pae, signature)
            }
            (Trust::PublicKey(_), VerificationMaterial::Certificates(_)) => {
                Err(TrustError::MethodMismatch {
                    expected: "public key",
                    found: "certificate",
                })
            }
            (Trust::CertificateRoots(roots), VerificationMaterial::Certificates(chain)) => {
                certificate::check(roots, chain, pae, signature)
            }
            (
                Trust::PublicKey(_) | Trust::CertificateRoots(_),
                VerificationMaterial::Keyless(_),
            ) => Err(TrustError::MethodMismatch {
                expected: match self {
                    Trust::PublicKey(_) => "public key",
                    _ => "certificate root",
                },
                found: "Sigstore keyless",
            }),
            (Trust::CertificateRoots(_), _) => Err(TrustError::MethodMismatch {
                expected: "certificate root",
                found: "public key",
            }),
            (Trust::Sigstore { .. }, material) => Err(TrustError::MethodMismatch {
                expected: "Sigstore trusted root",
                found: match material {
                    VerificationMaterial::Certificates(_) => "certificate",
                    VerificationMaterial::Keyless(_) => "Sigstore keyless",
                    _ => "public key",
                },
            }),
        }
    }
}

fn check_hint(key: &PublicKey, found: &str) -> Result<(), TrustError> {
    let expected = key.hint();
    if found == expected {
        return Ok(());
    }
    let mut found = found.to_string();
    if found.len() > MAX_HINT_IN_ERROR {
        let cut = (0..=MAX_HINT_IN_ERROR)
            .rev()
            .find(|&i| found.is_char_boundary(i))
            .unwrap_or(0);
        found.truncate(cut);
        found.push('…');
    }
    Err(TrustError::KeyHintMismatch { expected, found })
}

fn check_key_signature(
    key: &PublicKey,
    pae: &[u8],
    signature: &[u8],
) -> Result<SignerIdentity, TrustError> {
    key.verify(pae, signature)
        .map_err(|_| TrustError::BadSignature)?;
    Ok(SignerIdentity {
        method: "key",
        algorithm: key.algorithm(),
        key_hint: key.hint(),
        certificate_subject: None,
        keyless: None,
    })
}

/// Reads every certificate of one PEM file; none is an error naming the file.
fn load_certificates(path: &Path) -> Result<Vec<Vec<u8>>, TrustError> {
    crate::keys::read_certificate_file(path).map_err(|e| TrustError::Load {
        path: path.to_path_buf(),
        reason: match e {
            crate::keys::KeyError::Parse { reason, .. } => reason,
            crate::keys::KeyError::Io { source, .. } => source.to_string(),
            other => other.to_string(),
        },
    })
}

/// Who signed, as established by [`Trust::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerIdentity {
    /// `"key"`, `"certificate"` or `"sigstore"`.
    pub method: &'static str,
    /// The signing key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// OMS key hint of the signing key.
    pub key_hint: String,
    /// Leaf certificate subject (RFC 4514 string) for the certificate method.
    pub certificate_subject: Option<String>,
    /// Identity, issuer and log evidence for the `"sigstore"` (keyless) method.
    pub keyless: Option<KeylessSigner>,
}

impl SignerIdentity {
    fn keyless(signer: KeylessSigner) -> SignerIdentity {
        SignerIdentity {
            method: "sigstore",
            algorithm: signer.algorithm,
            key_hint: signer.key_hint.clone(),
            certificate_subject: None,
            keyless: Some(signer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PublicKey {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        crate::keys::file::generate_signing_key(KeyAlgorithm::EcP256, &path, None, false).unwrap()
    }

    #[test]
    fn a_long_untrusted_hint_is_cut_in_the_error() {
        let key = key();
        let found = "é".repeat(500);
        match check_hint(&key, &found) {
            Err(TrustError::KeyHintMismatch { expected, found }) => {
                assert_eq!(expected, key.hint());
                assert!(found.len() <= MAX_HINT_IN_ERROR + '…'.len_utf8(), "{found}");
                assert!(found.ends_with('…'));
            }
            other => panic!("expected KeyHintMismatch, got {other:?}"),
        }
        assert!(check_hint(&key, &key.hint()).is_ok());
        // Hints are compared exactly, as 1.1.1 does: an upper-case hint is a mismatch.
        assert!(check_hint(&key, &key.hint().to_uppercase()).is_err());
    }

    #[test]
    fn no_root_files_is_a_load_error() {
        let err = Trust::load_certificate_roots(&[]).unwrap_err();
        assert!(matches!(err, TrustError::Load { .. }), "{err:?}");
    }
}
