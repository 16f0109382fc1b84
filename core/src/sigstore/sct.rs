//! The embedded Signed Certificate Timestamp of a Fulcio certificate (RFC 6962 §3.2–3.3): proof
//! that the certificate was submitted to a CT log the trusted root names.
//!
//! Fulcio logs a *precertificate* and embeds the SCT in the final certificate, so the signed data
//! is the precertificate entry: the issuer's key hash and the leaf's TBSCertificate without the
//! SCT-list extension, re-encoded in DER (RFC 6962 §3.2). Guarantees: [`verify`] accepts only a
//! leaf with exactly one SCT (as sigstore-python requires), version 1, SHA-256, from a CT log of
//! the trusted root whose validity window contains the SCT's timestamp, whose signature verifies
//! over that reconstruction.

use super::root::TrustedRoot;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

/// id-ce-embeddedSCTList (RFC 6962 §3.3).
const SCT_LIST_OID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11129.2.4.2");
/// TLS HashAlgorithm sha256.
const HASH_SHA256: u8 = 4;

/// One parsed SCT.
struct Sct<'a> {
    log_id: &'a [u8],
    timestamp_ms: u64,
    extensions: &'a [u8],
    signature: &'a [u8],
}

/// Verifies the leaf's embedded SCT; `issuer_spki_der` is the issuing CA's SubjectPublicKeyInfo.
pub(crate) fn verify(
    root: &TrustedRoot,
    leaf: &Certificate,
    issuer_spki_der: &[u8],
) -> Result<(), String> {
    let list = sct_list(leaf)?;
    let mut entries = Reader(&list).vector16("SCT list")?;
    let mut scts = Vec::new();
    while !entries.0.is_empty() {
        scts.push(parse_sct(entries.vector16("SCT")?.0)?);
    }
    let [sct] = <[Sct<'_>; 1]>::try_from(scts).map_err(|s| {
        format!(
            "the certificate carries {} SCTs, expected exactly one",
            s.len()
        )
    })?;
    let log = root
        .ctlog(sct.log_id)
        .ok_or("the SCT is from a CT log the trusted root does not name")?;
    if !log.valid.contains(sct.timestamp_ms) {
        return Err(
            "the SCT's timestamp lies outside the CT log key's validity in the trusted root".into(),
        );
    }
    let signed = signed_data(&sct, leaf, issuer_spki_der)?;
    log.key
        .verify(&signed, sct.signature)
        .map_err(|_| "the SCT's signature does not verify under the CT log key".to_string())
}

/// The TLS-encoded SignedCertificateTimestampList inside the extension's OCTET STRING.
fn sct_list(leaf: &Certificate) -> Result<Vec<u8>, String> {
    let ext = leaf
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == SCT_LIST_OID)
        .ok_or("the certificate has no embedded SCT")?;
    let inner = der::asn1::OctetString::from_der(ext.extn_value.as_bytes())
        .map_err(|e| format!("the SCT extension is not an OCTET STRING ({e})"))?;
    Ok(inner.into_bytes())
}

fn parse_sct(bytes: &[u8]) -> Result<Sct<'_>, String> {
    let mut r = Reader(bytes);
    if r.take(1, "SCT version")? != [0] {
        return Err("the SCT is not version 1".into());
    }
    let log_id = r.take(32, "SCT log id")?;
    let timestamp_ms =
        u64::from_be_bytes(r.take(8, "SCT timestamp")?.try_into().unwrap_or_default());
    let extensions = r.vector16("SCT extensions")?.0;
    let algorithm = r.take(2, "SCT signature algorithm")?;
    if algorithm[0] != HASH_SHA256 {
        return Err("the SCT's hash algorithm is not SHA-256".into());
    }
    let signature = r.vector16("SCT signature")?.0;
    if !r.0.is_empty() {
        return Err("trailing bytes after the SCT".into());
    }
    Ok(Sct {
        log_id,
        timestamp_ms,
        extensions,
        signature,
    })
}

/// The `digitally-signed` struct of RFC 6962 §3.2 for a precert entry.
fn signed_data(
    sct: &Sct<'_>,
    leaf: &Certificate,
    issuer_spki_der: &[u8],
) -> Result<Vec<u8>, String> {
    let mut tbs = leaf.tbs_certificate.clone();
    if let Some(exts) = tbs.extensions.as_mut() {
        exts.retain(|e| e.extn_id != SCT_LIST_OID);
    }
    let tbs_der = tbs
        .to_der()
        .map_err(|e| format!("cannot re-encode the precertificate ({e})"))?;
    let tbs_len = u32::try_from(tbs_der.len())
        .ok()
        .filter(|&n| n < 1 << 24)
        .ok_or("the certificate is too large for a CT entry")?;
    let ext_len = u16::try_from(sct.extensions.len()).map_err(|_| "SCT extensions too long")?;
    let mut out = Vec::with_capacity(tbs_der.len() + 96);
    out.push(0); // sct_version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&sct.timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(&Sha256::digest(issuer_spki_der));
    out.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    out.extend_from_slice(&tbs_der);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(sct.extensions);
    Ok(out)
}

/// A cursor over TLS-encoded bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("{what} is truncated"));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    /// A `<0..2^16-1>` vector.
    fn vector16(&mut self, what: &str) -> Result<Reader<'a>, String> {
        let len = self.take(2, what)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        Ok(Reader(self.take(len, what)?))
    }
}
