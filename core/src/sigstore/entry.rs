//! A Rekor transparency-log entry as a bundle carries it (`TransparencyLogEntry` of
//! protobuf-specs), and the three checks on it: the signed entry timestamp (Rekor v1's SET, the
//! inclusion promise that makes `integratedTime` a trusted signing time), the Merkle inclusion
//! proof against a signed checkpoint, and that the entry's body records *this* signature by
//! *this* certificate.
//!
//! A Rekor v2 entry has no inclusion promise and no integrated time: it is proven by its inclusion
//! proof and checkpoint alone, and the signing time comes from the bundle's RFC 3161 timestamps
//! (checked by the caller).
//!
//! Guarantees: an entry parses only with every field the checks need (kind/version, inclusion
//! proof with checkpoint; with an inclusion promise, the integrated time); [`Entry::verify_log`]
//! accepts only when the SET (if any) and the checkpoint verify under the log key that the entry's
//! `logId` names in the trusted root, and the proof leads from the body to the checkpoint's root;
//! [`Entry::check_body`] accepts
//! - a `dsse` 0.0.1 body (Rekor v1) only if its payload hash is the SHA-256 of the bundle's
//!   payload and its one signature is the bundle's signature with the bundle's leaf certificate as
//!   verifier (what sigstore-python checks: Rekor's envelope hash covers a JSON serialization a
//!   verifier cannot reproduce);
//! - a `hashedrekord` 0.0.2 body (Rekor v2) only if its digest is the SHA-256 of the DSSE PAE, its
//!   signature the bundle's and its verifier the bundle's leaf certificate;
//! - a `dsse` 0.0.2 body (Rekor v2) only if its payload hash is the SHA-256 of the payload and
//!   its one signature is the bundle's with the bundle's leaf certificate.

use super::root::LogKey;
use super::{checkpoint, merkle, SigstoreError};
use crate::oms::json::{self, Obj};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Most hashes an inclusion proof may carry (a tree of 2^64 leaves needs 64).
const MAX_PROOF_HASHES: usize = 64;

/// A parsed transparency-log entry.
#[derive(Debug)]
pub(crate) struct Entry {
    pub log_index: u64,
    pub log_id: Vec<u8>,
    pub kind: String,
    pub version: String,
    /// Rekor v1: the integrated time (Unix seconds) and the signed entry timestamp over it;
    /// `None` for a Rekor v2 entry (no inclusion promise).
    pub promise: Option<Promise>,
    pub proof: Proof,
    pub body: Vec<u8>,
}

/// Rekor v1's inclusion promise: the log's signature over the entry and its integrated time.
#[derive(Debug)]
pub(crate) struct Promise {
    /// Unix seconds.
    pub integrated_time: u64,
    pub signed_entry_timestamp: Vec<u8>,
}

/// An inclusion proof and its checkpoint.
#[derive(Debug)]
pub(crate) struct Proof {
    pub log_index: u64,
    pub tree_size: u64,
    pub root_hash: [u8; 32],
    pub hashes: Vec<[u8; 32]>,
    pub checkpoint: String,
}

impl Entry {
    /// Parses one `tlogEntries` element; malformed without an inclusion proof.
    pub fn parse(text: &str) -> Result<Entry, SigstoreError> {
        let raw: EntryIn = json::from_slice(text.as_bytes()).map_err(|e| {
            malformed(format!(
                "tlog entry is not valid JSON of the expected shape: {e}"
            ))
        })?;
        let promise = match raw.inclusion_promise {
            Some(Obj(promise)) => Some(Promise {
                integrated_time: raw
                    .integrated_time
                    .as_ref()
                    .ok_or_else(|| {
                        malformed("the log entry has a promise but no integratedTime".into())
                    })?
                    .get("integratedTime")?,
                signed_entry_timestamp: b64(
                    "inclusionPromise.signedEntryTimestamp",
                    &promise.signed_entry_timestamp,
                )?,
            }),
            None => None,
        };
        let Some(Obj(proof)) = raw.inclusion_proof else {
            return Err(malformed("the log entry has no inclusion proof".into()));
        };
        Ok(Entry {
            log_index: raw.log_index.get("logIndex")?,
            log_id: b64("logId.keyId", &raw.log_id.0.key_id)?,
            kind: raw.kind_version.0.kind,
            version: raw.kind_version.0.version,
            promise,
            proof: proof.into_proof()?,
            body: b64("canonicalizedBody", &raw.canonicalized_body)?,
        })
    }

    /// Verifies the SET (when there is one) and the inclusion proof with its checkpoint under
    /// `log`.
    pub fn verify_log(&self, log: &LogKey) -> Result<(), SigstoreError> {
        if let Some(promise) = &self.promise {
            log.key
                .verify(
                    self.set_payload(promise).as_bytes(),
                    &promise.signed_entry_timestamp,
                )
                .map_err(|_| {
                    SigstoreError::Tlog(
                        "the signed entry timestamp (inclusion promise) does not verify under the log key"
                            .into(),
                    )
                })?;
        }
        let p = &self.proof;
        let leaf = merkle::leaf_hash(&self.body);
        let root = merkle::root_from_inclusion_proof(p.log_index, p.tree_size, leaf, &p.hashes)
            .ok_or_else(|| {
                SigstoreError::Tlog(format!(
                    "the inclusion proof has the wrong shape for entry {} of a tree of {}",
                    p.log_index, p.tree_size
                ))
            })?;
        if root != p.root_hash {
            return Err(SigstoreError::Tlog(
                "the inclusion proof does not lead from the entry to the proof's root hash".into(),
            ));
        }
        checkpoint::verify(&p.checkpoint, log, p.tree_size, &p.root_hash)
            .map_err(SigstoreError::Tlog)
    }

    /// The RFC 8785 canonical JSON the SET signs: keys sorted, no spaces. Every value is a
    /// number, base64 or hex, so nothing needs escaping.
    fn set_payload(&self, promise: &Promise) -> String {
        format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            STANDARD.encode(&self.body),
            promise.integrated_time,
            hex::encode(&self.log_id),
            self.log_index
        )
    }

    /// Checks that the body records `signature` over `payload` (framed as `pae`) by `leaf_der`.
    pub fn check_body(
        &self,
        payload: &[u8],
        pae: &[u8],
        signature: &[u8],
        leaf_der: &[u8],
    ) -> Result<(), SigstoreError> {
        match (self.kind.as_str(), self.version.as_str()) {
            ("dsse", "0.0.1") => self.check_dsse_v001(payload, signature, leaf_der),
            ("hashedrekord", "0.0.2") => self.check_hashedrekord_v002(pae, signature, leaf_der),
            ("dsse", "0.0.2") => self.check_dsse_v002(payload, signature, leaf_der),
            (kind, version) => Err(SigstoreError::Unsupported(format!(
                "log entry kind {kind}/{version}: modelseal checks dsse/0.0.1 (Rekor v1), \
                 hashedrekord/0.0.2 and dsse/0.0.2 (Rekor v2) entries"
            ))),
        }
    }

    fn check_dsse_v001(
        &self,
        payload: &[u8],
        signature: &[u8],
        leaf_der: &[u8],
    ) -> Result<(), SigstoreError> {
        let body: DsseBodyIn = json::from_slice(&self.body)
            .map_err(|e| mismatch(format!("the entry body is not a dsse record ({e})")))?;
        if (body.kind.as_str(), body.api_version.as_str()) != ("dsse", "0.0.1") {
            return Err(mismatch(format!(
                "the entry body is a {}/{} record, the entry says dsse/0.0.1",
                body.kind, body.api_version
            )));
        }
        let spec = body.spec.0;
        let hash = spec.payload_hash.0;
        if hash.algorithm != "sha256" || hash.value != hex::encode(Sha256::digest(payload)) {
            return Err(mismatch("the entry records another payload".into()));
        }
        let [Obj(recorded)] = <[Obj<DsseSignatureIn>; 1]>::try_from(spec.signatures)
            .map_err(|s| mismatch(format!("the entry records {} signatures, not one", s.len())))?;
        if STANDARD.decode(&recorded.signature).ok().as_deref() != Some(signature) {
            return Err(mismatch("the entry records another signature".into()));
        }
        if verifier_der(&recorded.verifier).as_deref() != Some(leaf_der) {
            return Err(mismatch(
                "the entry records another signing certificate".into(),
            ));
        }
        Ok(())
    }

    fn v002_body<T: serde::de::DeserializeOwned>(&self, kind: &str) -> Result<T, SigstoreError> {
        let body: V002BodyIn<T> = json::from_slice(&self.body)
            .map_err(|e| mismatch(format!("the entry body is not a {kind} 0.0.2 record ({e})")))?;
        if (body.kind.as_str(), body.api_version.as_str()) != (kind, "0.0.2") {
            return Err(mismatch(format!(
                "the entry body is a {}/{} record, the entry says {kind}/0.0.2",
                body.kind, body.api_version
            )));
        }
        Ok(body.spec.0)
    }

    fn check_hashedrekord_v002(
        &self,
        pae: &[u8],
        signature: &[u8],
        leaf_der: &[u8],
    ) -> Result<(), SigstoreError> {
        let spec: HashedRekordSpecIn = self.v002_body("hashedrekord")?;
        let record = spec.hashed_rekord_v002.0;
        let data = record.data.0;
        if data.algorithm != "SHA2_256"
            || STANDARD.decode(&data.digest).ok().as_deref() != Some(&Sha256::digest(pae)[..])
        {
            return Err(mismatch(
                "the entry records another digest than the SHA-256 of this envelope's PAE".into(),
            ));
        }
        check_v002_signature(&record.signature.0, signature, leaf_der)
    }

    fn check_dsse_v002(
        &self,
        payload: &[u8],
        signature: &[u8],
        leaf_der: &[u8],
    ) -> Result<(), SigstoreError> {
        let spec: DsseV002SpecIn = self.v002_body("dsse")?;
        let record = spec.dsse_v002.0;
        let hash = record.payload_hash.0;
        if hash.algorithm != "SHA2_256"
            || STANDARD.decode(&hash.digest).ok().as_deref() != Some(&Sha256::digest(payload)[..])
        {
            return Err(mismatch("the entry records another payload".into()));
        }
        let [Obj(recorded)] = <[Obj<SignatureV002In>; 1]>::try_from(record.signatures)
            .map_err(|s| mismatch(format!("the entry records {} signatures, not one", s.len())))?;
        check_v002_signature(&recorded, signature, leaf_der)
    }
}

/// A Rekor v2 record's signature must be `signature`, its verifier the certificate `leaf_der`.
fn check_v002_signature(
    recorded: &SignatureV002In,
    signature: &[u8],
    leaf_der: &[u8],
) -> Result<(), SigstoreError> {
    if STANDARD.decode(&recorded.content).ok().as_deref() != Some(signature) {
        return Err(mismatch("the entry records another signature".into()));
    }
    let certificate = recorded
        .verifier
        .0
        .x509_certificate
        .as_ref()
        .and_then(|Obj(c)| STANDARD.decode(&c.raw_bytes).ok());
    if certificate.as_deref() != Some(leaf_der) {
        return Err(mismatch(
            "the entry records another signing certificate".into(),
        ));
    }
    Ok(())
}

/// The DER of a dsse record's `verifier`: base64 of a PEM certificate.
fn verifier_der(verifier: &str) -> Option<Vec<u8>> {
    let pem = String::from_utf8(STANDARD.decode(verifier).ok()?).ok()?;
    let body: String = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")?
        .strip_suffix("-----END CERTIFICATE-----")?
        .split_whitespace()
        .collect();
    STANDARD.decode(body).ok()
}

fn b64(field: &str, text: &str) -> Result<Vec<u8>, SigstoreError> {
    STANDARD
        .decode(text)
        .map_err(|e| malformed(format!("tlog entry {field} is not base64 ({e})")))
}

fn malformed(reason: String) -> SigstoreError {
    SigstoreError::Malformed(reason)
}

fn mismatch(reason: String) -> SigstoreError {
    SigstoreError::EntryMismatch(reason)
}

// ---- JSON shapes -----------------------------------------------------------------------------

/// A protobuf JSON int64: a decimal string (what every writer emits) or a number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Int64 {
    Text(String),
    Number(u64),
}

impl Int64 {
    fn get(&self, field: &str) -> Result<u64, SigstoreError> {
        match self {
            Int64::Number(n) => Ok(*n),
            Int64::Text(t) => t.parse().map_err(|_| {
                malformed(format!(
                    "tlog entry {field} {t:?} is not a non-negative integer"
                ))
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryIn {
    log_index: Int64,
    log_id: Obj<LogIdIn>,
    kind_version: Obj<KindVersionIn>,
    integrated_time: Option<Int64>,
    inclusion_promise: Option<Obj<PromiseIn>>,
    inclusion_proof: Option<Obj<ProofIn>>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIdIn {
    key_id: String,
}

#[derive(Deserialize)]
struct KindVersionIn {
    kind: String,
    version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromiseIn {
    signed_entry_timestamp: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProofIn {
    log_index: Int64,
    root_hash: String,
    tree_size: Int64,
    hashes: Vec<String>,
    checkpoint: Obj<CheckpointIn>,
}

#[derive(Deserialize)]
struct CheckpointIn {
    envelope: String,
}

impl ProofIn {
    fn into_proof(self) -> Result<Proof, SigstoreError> {
        if self.hashes.len() > MAX_PROOF_HASHES {
            return Err(malformed(format!(
                "the inclusion proof has {} hashes, limit {MAX_PROOF_HASHES}",
                self.hashes.len()
            )));
        }
        let hash32 = |field: &str, text: &str| -> Result<[u8; 32], SigstoreError> {
            b64(field, text)?
                .try_into()
                .map_err(|_| malformed(format!("tlog entry {field} is not a 32-byte hash")))
        };
        Ok(Proof {
            log_index: self.log_index.get("inclusionProof.logIndex")?,
            tree_size: self.tree_size.get("inclusionProof.treeSize")?,
            root_hash: hash32("inclusionProof.rootHash", &self.root_hash)?,
            hashes: self
                .hashes
                .iter()
                .map(|h| hash32("inclusionProof.hashes[]", h))
                .collect::<Result<_, _>>()?,
            checkpoint: self.checkpoint.0.envelope,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseBodyIn {
    api_version: String,
    kind: String,
    spec: Obj<DsseSpecIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseSpecIn {
    payload_hash: Obj<HashIn>,
    signatures: Vec<Obj<DsseSignatureIn>>,
}

#[derive(Deserialize)]
struct HashIn {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
struct DsseSignatureIn {
    signature: String,
    verifier: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V002BodyIn<T> {
    api_version: String,
    kind: String,
    spec: Obj<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HashedRekordSpecIn {
    hashed_rekord_v002: Obj<HashedRekordV002In>,
}

#[derive(Deserialize)]
struct HashedRekordV002In {
    data: Obj<DigestV002In>,
    signature: Obj<SignatureV002In>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseV002SpecIn {
    dsse_v002: Obj<DsseV002In>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DsseV002In {
    payload_hash: Obj<DigestV002In>,
    signatures: Vec<Obj<SignatureV002In>>,
}

#[derive(Deserialize)]
struct DigestV002In {
    algorithm: String,
    digest: String,
}

#[derive(Deserialize)]
struct SignatureV002In {
    content: String,
    verifier: Obj<VerifierV002In>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifierV002In {
    x509_certificate: Option<Obj<CertificateV002In>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateV002In {
    raw_bytes: String,
}
