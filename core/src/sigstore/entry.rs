//! A Rekor v1 transparency-log entry as a bundle carries it (`TransparencyLogEntry` of
//! protobuf-specs), and the three checks on it: the signed entry timestamp (SET, the inclusion
//! promise that makes `integratedTime` a trusted signing time), the Merkle inclusion proof against
//! a signed checkpoint, and that the entry's body records *this* signature by *this* certificate.
//!
//! Guarantees: an entry parses only with every field the checks need (kind/version, integrated
//! time, inclusion promise, inclusion proof with checkpoint); [`Entry::verify_log`] accepts only
//! when both the SET and the checkpoint verify under the log key that the entry's `logId` names
//! in the trusted root, and the proof leads from the body to the checkpoint's root;
//! [`Entry::check_body`] accepts a `dsse` 0.0.1 body only if its payload hash is the SHA-256 of
//! the bundle's payload and its one signature is the bundle's signature with the bundle's leaf
//! certificate as verifier (what sigstore-python checks: Rekor's envelope hash covers a JSON
//! serialization a verifier cannot reproduce).

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
    /// Unix seconds.
    pub integrated_time: u64,
    pub signed_entry_timestamp: Vec<u8>,
    pub proof: Proof,
    pub body: Vec<u8>,
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
    /// Parses one `tlogEntries` element; `Unsupported` when it lacks the inclusion promise (an
    /// entry timed only by an RFC 3161 timestamp) or the inclusion proof.
    pub fn parse(text: &str) -> Result<Entry, SigstoreError> {
        let raw: EntryIn = json::from_slice(text.as_bytes()).map_err(|e| {
            malformed(format!(
                "tlog entry is not valid JSON of the expected shape: {e}"
            ))
        })?;
        let Some(Obj(promise)) = raw.inclusion_promise else {
            return Err(SigstoreError::Unsupported(
                "the log entry has no inclusion promise (signed entry timestamp); modelseal takes \
                 the signing time only from it, not from RFC 3161 timestamps"
                    .into(),
            ));
        };
        let Some(Obj(proof)) = raw.inclusion_proof else {
            return Err(malformed("the log entry has no inclusion proof".into()));
        };
        Ok(Entry {
            log_index: raw.log_index.get("logIndex")?,
            log_id: b64("logId.keyId", &raw.log_id.0.key_id)?,
            kind: raw.kind_version.0.kind,
            version: raw.kind_version.0.version,
            integrated_time: raw.integrated_time.get("integratedTime")?,
            signed_entry_timestamp: b64(
                "inclusionPromise.signedEntryTimestamp",
                &promise.signed_entry_timestamp,
            )?,
            proof: proof.into_proof()?,
            body: b64("canonicalizedBody", &raw.canonicalized_body)?,
        })
    }

    /// Verifies the SET and the inclusion proof with its checkpoint under `log`.
    pub fn verify_log(&self, log: &LogKey) -> Result<(), SigstoreError> {
        log.key
            .verify(self.set_payload().as_bytes(), &self.signed_entry_timestamp)
            .map_err(|_| {
                SigstoreError::Tlog(
                    "the signed entry timestamp (inclusion promise) does not verify under the log key"
                        .into(),
                )
            })?;
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
    fn set_payload(&self) -> String {
        format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            STANDARD.encode(&self.body),
            self.integrated_time,
            hex::encode(&self.log_id),
            self.log_index
        )
    }

    /// Checks that the body records `signature` over `payload` by `leaf_der`.
    pub fn check_body(
        &self,
        payload: &[u8],
        signature: &[u8],
        leaf_der: &[u8],
    ) -> Result<(), SigstoreError> {
        if (self.kind.as_str(), self.version.as_str()) != ("dsse", "0.0.1") {
            return Err(SigstoreError::Unsupported(format!(
                "log entry kind {}/{}: modelseal checks dsse/0.0.1 entries (what model-signing \
                 writes to Rekor v1)",
                self.kind, self.version
            )));
        }
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
    integrated_time: Int64,
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
