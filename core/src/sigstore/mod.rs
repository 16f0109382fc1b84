//! Offline verification of Sigstore keyless signatures (a Fulcio certificate bound to an OIDC
//! identity, logged in Rekor), against a pinned [`TrustedRoot`]. Nothing here touches the network.
//!
//! [`verify_keyless`] runs the checks of the Sigstore client spec in the order sigstore-python's
//! `Verifier.verify_dsse` does, each failing closed with its own [`SigstoreError`] variant:
//! 1. exactly one transparency-log entry, of a log the root names. Rekor v1: an inclusion promise
//!    whose signed entry timestamp (SET) verifies: its `integratedTime` is the signing time.
//!    Rekor v2 (no inclusion promise): the signing time is the earliest of the bundle's RFC 3161
//!    timestamps that verify under a timestamp authority of the root whose `validFor` window
//!    contains it (every timestamp must verify; none is an error). The time must lie inside the log
//!    key's validity window;
//! 2. the signing time lies inside the leaf certificate's validity;
//! 3. the leaf chains (`rustls-webpki`) to a Fulcio CA of the root whose `validFor` window contains
//!    the signing time, every certificate of the path valid at that time;
//! 4. the leaf's embedded SCT verifies under a CT log key of the root valid at the SCT's time;
//! 5. the Sigstore profile (digitalSignature, codeSigning) and the policy: a SAN equals the
//!    expected identity, and every OIDC issuer extension present (1.3.6.1.4.1.57264.1.1 and/or
//!    .1.8; at least one) equals the expected issuer;
//! 6. the inclusion proof leads from the entry to a checkpoint signed by the same log key;
//! 7. the DSSE signature over PAE verifies under the leaf's key;
//! 8. the entry's body records this payload, this signature and this certificate.
//!
//! Where this is stricter than sigstore-python 4.5.1 (documented in `docs/sigstore.md`): the
//! trusted root's validity windows are checked against the signing time (sigstore-python checks
//! them against the current time only), the log must be named by the entry's `logId`, and the
//! checkpoint's tree size must match the proof's. RFC 3161 timestamps are the time source only
//! for an entry without an inclusion promise (Rekor v2): a v1 entry's integrated time is used as
//! before.

mod certificate;
mod checkpoint;
mod entry;
mod merkle;
mod root;
mod sct;

pub use root::TrustedRoot;

use crate::keys::{KeyAlgorithm, PublicKey};
use crate::oms::bundle::KeylessMaterial;
use der::Decode;
use entry::Entry;
use std::path::PathBuf;
use x509_cert::Certificate;

/// Why a keyless signature did not verify, or its trust material could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SigstoreError {
    /// A trusted root or trust config could not be read or parsed (an input error).
    #[error("{path}: {reason}")]
    Root {
        /// The file given, or `(built-in production trusted root)` for the one modelseal ships.
        path: PathBuf,
        /// Why it cannot be used: unreadable, too large, or not a valid trusted root.
        reason: String,
    },
    /// The bundle's keyless material is not well-formed.
    #[error("malformed keyless signature: {0}")]
    Malformed(String),
    /// A well-formed keyless bundle of a kind modelseal does not verify.
    #[error("unsupported keyless signature: {0}")]
    Unsupported(String),
    /// The transparency-log evidence (SET, inclusion proof, checkpoint) does not verify.
    #[error("transparency log entry not valid: {0}")]
    Tlog(String),
    /// No trusted signing time inside the certificate's validity.
    #[error("signing time: {0}")]
    Time(String),
    /// The certificate does not chain to the trusted root, or breaks the Sigstore profile.
    #[error("certificate not trusted: {0}")]
    Certificate(String),
    /// The embedded SCT does not verify.
    #[error("certificate transparency: {0}")]
    Sct(String),
    /// The certificate was issued to someone else.
    #[error("identity mismatch: the certificate is for {found:?}, expected {expected:?}")]
    Identity {
        /// The identity the policy requires ([`KeylessPolicy::identity`]).
        expected: String,
        /// Every identity the certificate's SAN binds (emails, URIs, Fulcio usernames); may be
        /// empty.
        found: Vec<String>,
    },
    /// The certificate names another OIDC issuer.
    #[error("issuer mismatch: the certificate's OIDC issuer is {found:?}, expected {expected:?}")]
    Issuer {
        /// The issuer the policy requires ([`KeylessPolicy::issuer`]).
        expected: String,
        /// The first issuer extension that differs from it, or
        /// `(none: no OIDC issuer extension)` when the certificate has none.
        found: String,
    },
    /// The log entry records another signature, payload or certificate.
    #[error("transparency log entry is for another signature: {0}")]
    EntryMismatch(String),
    /// The DSSE signature does not verify under the certificate's key.
    #[error("invalid signature: the statement was not signed by this certificate's key, or it was modified")]
    BadSignature,
}

/// Who may have signed: the certificate's identity (SAN) and OIDC issuer, compared exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessPolicy {
    /// Expected SAN: an email, URI or Fulcio username.
    pub identity: String,
    /// Expected OIDC issuer URL.
    pub issuer: String,
}

/// What a verified keyless signature establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessSigner {
    /// The SAN that matched the policy.
    pub identity: String,
    /// The OIDC issuer that matched the policy.
    pub issuer: String,
    /// The signing time (Rekor v1: the log's integrated time; Rekor v2: the verified RFC 3161
    /// timestamp's time), Unix seconds.
    pub signing_time: u64,
    /// The entry's index in the log.
    pub log_index: u64,
    /// The signing time comes from the bundle's verified RFC 3161 timestamps (a Rekor v2 entry,
    /// without an inclusion promise), not from the log.
    pub timestamped: bool,
    /// The signing key's algorithm.
    pub algorithm: KeyAlgorithm,
    /// OMS key hint of the certificate's key.
    pub key_hint: String,
}

impl KeylessSigner {
    /// The signing time as an RFC 3339 UTC date (`2025-10-10T02:12:20Z`).
    pub fn signing_time_text(&self) -> String {
        certificate::date(self.signing_time.saturating_mul(1000))
    }
}

/// Verifies a keyless bundle's material and signature over `pae` (which frames `payload`);
/// `timestamps` are the bundle's RFC 3161 tokens (the time source of a Rekor v2 entry).
pub fn verify_keyless(
    root: &TrustedRoot,
    policy: &KeylessPolicy,
    material: &KeylessMaterial,
    payload: &[u8],
    pae: &[u8],
    signature: &[u8],
    timestamps: &[Vec<u8>],
) -> Result<KeylessSigner, SigstoreError> {
    let leaf = Certificate::from_der(&material.certificate).map_err(|e| {
        SigstoreError::Certificate(format!("the signing certificate is not valid X.509 ({e})"))
    })?;
    let entry = single_entry(&material.tlog_entries)?;
    let log = root.tlog(&entry.log_id).ok_or_else(|| {
        SigstoreError::Tlog(
            "the entry is from a transparency log the trusted root does not name".into(),
        )
    })?;
    entry.verify_log(log)?;
    let signing_time = match &entry.promise {
        Some(promise) => promise.integrated_time,
        None => timestamp_time(root, timestamps, signature)?,
    };
    let time_ms = signing_time.saturating_mul(1000);
    if !log.valid.contains(time_ms) {
        return Err(SigstoreError::Tlog(format!(
            "the log key is not valid at the {} {} in the trusted root",
            if entry.promise.is_some() {
                "integrated time"
            } else {
                "timestamp's time"
            },
            certificate::date(time_ms)
        )));
    }
    certificate::check_validity_at(&leaf, time_ms)?;
    let issuer_spki = certificate::verify_chain(root, &material.certificate, &leaf, time_ms)?;
    sct::verify(root, &leaf, &issuer_spki).map_err(SigstoreError::Sct)?;
    certificate::check_profile(&leaf)?;
    check_policy(&leaf, policy)?;
    let key = PublicKey::from_certificate_der(&material.certificate)
        .map_err(|e| SigstoreError::Certificate(format!("the certificate's key: {e}")))?;
    key.verify(pae, signature)
        .map_err(|_| SigstoreError::BadSignature)?;
    entry.check_body(payload, pae, signature, &material.certificate)?;
    Ok(KeylessSigner {
        identity: policy.identity.clone(),
        issuer: policy.issuer.clone(),
        signing_time,
        log_index: entry.log_index,
        timestamped: entry.promise.is_none(),
        algorithm: key.algorithm(),
        key_hint: key.hint(),
    })
}

/// The signing time of an entry without an inclusion promise: the earliest of `timestamps`, each
/// of which must verify over `signature` under one of the root's timestamp authorities whose
/// `validFor` window contains its time.
fn timestamp_time(
    root: &TrustedRoot,
    timestamps: &[Vec<u8>],
    signature: &[u8],
) -> Result<u64, SigstoreError> {
    if timestamps.is_empty() {
        return Err(SigstoreError::Time(
            "the log entry has no inclusion promise (Rekor v2) and the bundle no RFC 3161 \
             timestamp: nothing says when it was signed"
                .into(),
        ));
    }
    if root.timestamp_authorities.is_empty() {
        return Err(SigstoreError::Time(
            "the log entry has no inclusion promise (Rekor v2) and the trusted root names no \
             timestamp authority to check the bundle's timestamps"
                .into(),
        ));
    }
    let mut earliest: Option<u64> = None;
    for (i, token) in timestamps.iter().enumerate() {
        let mut last = None;
        let verified = root.timestamp_authorities.iter().find_map(|authority| {
            let roots = crate::timestamp::TimestampRoots::new(authority.chain.clone());
            match crate::timestamp::verify(token, signature, &roots) {
                Ok(t) if authority.valid.contains(t.unix_secs.saturating_mul(1000)) => Some(t),
                Ok(t) => {
                    last = Some(format!(
                        "the timestamp authority is not valid at {} in the trusted root",
                        t.rfc3339()
                    ));
                    None
                }
                Err(e) => {
                    last = Some(e.to_string());
                    None
                }
            }
        });
        let Some(verified) = verified else {
            return Err(SigstoreError::Time(format!(
                "RFC 3161 timestamp #{}: {}",
                i + 1,
                last.unwrap_or_default()
            )));
        };
        earliest = Some(earliest.map_or(verified.unix_secs, |e| e.min(verified.unix_secs)));
    }
    earliest.ok_or_else(|| SigstoreError::Time("no timestamp verified".into()))
}

fn single_entry(entries: &[String]) -> Result<Entry, SigstoreError> {
    match entries {
        [one] => Entry::parse(one),
        _ => Err(SigstoreError::Malformed(format!(
            "the bundle has {} transparency log entries, expected exactly one",
            entries.len()
        ))),
    }
}

fn check_policy(leaf: &Certificate, policy: &KeylessPolicy) -> Result<(), SigstoreError> {
    let found = certificate::identities(leaf)?;
    if !found.contains(&policy.identity) {
        return Err(SigstoreError::Identity {
            expected: policy.identity.clone(),
            found,
        });
    }
    let issuers = certificate::issuers(leaf)?;
    if issuers.is_empty() {
        return Err(SigstoreError::Issuer {
            expected: policy.issuer.clone(),
            found: "(none: no OIDC issuer extension)".into(),
        });
    }
    match issuers
        .into_iter()
        .find(|(_, value)| *value != policy.issuer)
    {
        Some((_, value)) => Err(SigstoreError::Issuer {
            expected: policy.issuer.clone(),
            found: value,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    //! Checks that the end-to-end tests (`core/tests/sigstore_keyless.rs`) cannot reach because
    //! an earlier check fails first: the entry-body comparison and the SCT signature.
    use super::*;
    use crate::oms::{Bundle, VerificationMaterial};

    fn vector(version: &str) -> (Bundle, KeylessMaterial) {
        let path = format!(
            "{}/../test-vectors/sigstore/{version}/model.sig",
            env!("CARGO_MANIFEST_DIR")
        );
        let bundle = Bundle::parse(&std::fs::read(path).unwrap()).unwrap();
        let VerificationMaterial::Keyless(material) = bundle.material.clone() else {
            panic!("not keyless")
        };
        (bundle, material)
    }

    #[test]
    fn the_entry_body_must_name_this_payload_signature_and_certificate() {
        let (bundle, material) = vector("v1.1.0");
        let entry = Entry::parse(&material.tlog_entries[0]).unwrap();
        let (payload, sig, cert) = (&bundle.payload, &bundle.signature, &material.certificate);
        let pae = crate::oms::pae(&bundle.payload_type, payload);
        entry.check_body(payload, &pae, sig, cert).unwrap();
        let (other, other_material) = vector("v1.0.0");
        let err = |r: Result<(), SigstoreError>| match r {
            Err(SigstoreError::EntryMismatch(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(err(entry.check_body(&other.payload, &pae, sig, cert)).contains("payload"));
        assert!(err(entry.check_body(payload, &pae, &other.signature, cert)).contains("signature"));
        assert!(
            err(entry.check_body(payload, &pae, sig, &other_material.certificate))
                .contains("certificate")
        );
    }

    #[test]
    fn the_sct_must_sign_this_precertificate() {
        let root = TrustedRoot::production().unwrap();
        let (_, material) = vector("v1.0.1");
        let mut leaf = Certificate::from_der(&material.certificate).unwrap();
        let issuer = root.authorities[1].chain[0].clone();
        let issuer = Certificate::from_der(&issuer).unwrap();
        let spki = der::Encode::to_der(&issuer.tbs_certificate.subject_public_key_info).unwrap();
        sct::verify(&root, &leaf, &spki).unwrap();
        // Another issuer key hash, or another TBS (serial), and the SCT no longer verifies.
        let err = sct::verify(&root, &leaf, b"another issuer").unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        leaf.tbs_certificate.serial_number =
            x509_cert::serial_number::SerialNumber::new(&[1, 2, 3]).unwrap();
        let err = sct::verify(&root, &leaf, &spki).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
    }
}
