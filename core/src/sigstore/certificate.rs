//! The Fulcio leaf certificate: its path to a CA of the trusted root at the signing time, the
//! Sigstore X.509 profile (KeyUsage digitalSignature, ExtendedKeyUsage codeSigning), and the
//! identity it binds (Subject Alternative Name, OIDC issuer extensions).
//!
//! Path validation is `rustls-webpki`'s, at the signing time established from the log, against
//! each certificate authority of the trusted root whose `validFor` window contains that time: its
//! self-issued certificates are the anchors, the others intermediates. Guarantees beyond webpki:
//! the anchor's own validity covers the time too (webpki does not check anchors; sigstore-python's
//! verifier, like OpenSSL, does), and the leaf must carry both KeyUsage digitalSignature and EKU
//! codeSigning, as sigstore-python requires.

use super::root::TrustedRoot;
use super::SigstoreError;
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use std::time::Duration;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::Certificate;

/// id-kp-codeSigning as DER contents for webpki, and as an OID.
const CODE_SIGNING_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
const CODE_SIGNING: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// Fulcio's OIDC issuer extension, raw UTF-8 value (deprecated form).
const ISSUER_V1: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's OIDC issuer extension, DER UTF8String value.
const ISSUER_V2: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
/// Fulcio's otherName SAN type for usernames (UTF8String).
const OTHERNAME_USERNAME: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");

/// Validates the leaf's path to a certificate authority of `root` at `time_ms`; returns the
/// issuing CA's SubjectPublicKeyInfo DER (for the SCT).
pub(crate) fn verify_chain(
    root: &TrustedRoot,
    leaf_der: &[u8],
    leaf: &Certificate,
    time_ms: u64,
) -> Result<Vec<u8>, SigstoreError> {
    let time = UnixTime::since_unix_epoch(Duration::from_millis(time_ms));
    let mut last_error = None;
    let mut in_window = 0;
    for authority in root
        .authorities
        .iter()
        .filter(|a| a.valid.contains(time_ms))
    {
        in_window += 1;
        match verify_with(&authority.chain, leaf_der, time) {
            Ok(()) => return issuer_spki(&authority.chain, leaf),
            Err(e) => last_error = Some(e),
        }
    }
    Err(SigstoreError::Certificate(match last_error {
        Some(e) if in_window > 0 => e,
        _ => format!(
            "no certificate authority of the trusted root is valid at the signing time {}",
            date(time_ms)
        ),
    }))
}

/// webpki path validation of the leaf against one authority's chain.
fn verify_with(chain: &[Vec<u8>], leaf_der: &[u8], time: UnixTime) -> Result<(), String> {
    let parsed: Vec<(CertificateDer<'_>, Certificate)> = chain
        .iter()
        .filter_map(|der| {
            Some((
                CertificateDer::from(der.as_slice()),
                Certificate::from_der(der).ok()?,
            ))
        })
        .collect();
    let (roots, intermediates): (Vec<_>, Vec<_>) = parsed
        .iter()
        .partition(|(_, c)| c.tbs_certificate.subject == c.tbs_certificate.issuer);
    let anchors = roots
        .iter()
        .map(|(der, _)| webpki::anchor_from_trusted_cert(der))
        .collect::<Result<Vec<TrustAnchor<'_>>, _>>()
        .map_err(|e| format!("a CA certificate of the trusted root cannot be used ({e:?})"))?;
    let intermediates: Vec<CertificateDer<'_>> =
        intermediates.iter().map(|(der, _)| der.clone()).collect();
    let leaf_der = CertificateDer::from(leaf_der);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("the signing certificate cannot be parsed ({e:?})"))?;
    let anchor_valid = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
        let index = anchors.iter().position(|a| std::ptr::eq(a, path.anchor()));
        match index.map(|i| &roots[i].1) {
            Some(cert) if covers(cert, time) => Ok(()),
            _ => Err(webpki::Error::InvalidCertValidity),
        }
    };
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        time,
        webpki::KeyUsage::required_if_present(CODE_SIGNING_DER),
        None,
        Some(&anchor_valid),
    )
    .map(|_| ())
    .map_err(|e| describe(&e, time))
}

fn covers(cert: &Certificate, time: UnixTime) -> bool {
    let v = &cert.tbs_certificate.validity;
    let t = Duration::from_secs(time.as_secs());
    v.not_before.to_unix_duration() <= t && t <= v.not_after.to_unix_duration()
}

/// The SubjectPublicKeyInfo of the chain certificate named as the leaf's issuer.
fn issuer_spki(chain: &[Vec<u8>], leaf: &Certificate) -> Result<Vec<u8>, SigstoreError> {
    chain
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .find(|c| c.tbs_certificate.subject == leaf.tbs_certificate.issuer)
        .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der().ok())
        .ok_or_else(|| {
            SigstoreError::Certificate("the issuing CA is not in the trusted root's chain".into())
        })
}

/// The leaf's validity must contain the signing time (seconds).
pub(crate) fn check_validity_at(leaf: &Certificate, time_ms: u64) -> Result<(), SigstoreError> {
    let v = &leaf.tbs_certificate.validity;
    let t = Duration::from_millis(time_ms);
    if v.not_before.to_unix_duration() <= t && t <= v.not_after.to_unix_duration() {
        Ok(())
    } else {
        Err(SigstoreError::Time(format!(
            "the log integrated the entry at {}, outside the signing certificate's validity {} to {}",
            date(time_ms),
            v.not_before,
            v.not_after
        )))
    }
}

/// KeyUsage digitalSignature and ExtendedKeyUsage codeSigning, both required.
pub(crate) fn check_profile(leaf: &Certificate) -> Result<(), SigstoreError> {
    let tbs = &leaf.tbs_certificate;
    let bad = |e: der::Error| SigstoreError::Certificate(format!("malformed extension ({e})"));
    let signing = tbs
        .get::<KeyUsage>()
        .map_err(bad)?
        .is_some_and(|(_, ku)| ku.digital_signature());
    let code_signing = tbs
        .get::<ExtendedKeyUsage>()
        .map_err(bad)?
        .is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING));
    if signing && code_signing {
        Ok(())
    } else {
        Err(SigstoreError::Certificate(
            "the signing certificate lacks KeyUsage digitalSignature or ExtendedKeyUsage codeSigning".into(),
        ))
    }
}

/// The identities the SAN binds: emails, URIs and Fulcio username otherNames.
pub(crate) fn identities(leaf: &Certificate) -> Result<Vec<String>, SigstoreError> {
    let san = leaf
        .tbs_certificate
        .get::<SubjectAltName>()
        .map_err(|e| SigstoreError::Certificate(format!("malformed SubjectAltName ({e})")))?;
    let Some((_, san)) = san else {
        return Ok(Vec::new());
    };
    Ok(san
        .0
        .iter()
        .filter_map(|name| match name {
            GeneralName::Rfc822Name(s) => Some(s.as_str().to_string()),
            GeneralName::UniformResourceIdentifier(s) => Some(s.as_str().to_string()),
            GeneralName::OtherName(o) if o.type_id == OTHERNAME_USERNAME => o
                .value
                .decode_as::<der::asn1::Utf8StringRef<'_>>()
                .ok()
                .map(|s| s.as_str().to_string()),
            _ => None,
        })
        .collect())
}

/// The OIDC issuer values the leaf states: `(extension OID, value)` for .1.1 and .1.8.
pub(crate) fn issuers(leaf: &Certificate) -> Result<Vec<(&'static str, String)>, SigstoreError> {
    let mut out = Vec::new();
    for ext in leaf.tbs_certificate.extensions.iter().flatten() {
        let bytes = ext.extn_value.as_bytes();
        let (name, value) = if ext.extn_id == ISSUER_V1 {
            (
                "1.3.6.1.4.1.57264.1.1",
                std::str::from_utf8(bytes).ok().map(str::to_string),
            )
        } else if ext.extn_id == ISSUER_V2 {
            (
                "1.3.6.1.4.1.57264.1.8",
                der::asn1::Utf8StringRef::from_der(bytes)
                    .ok()
                    .map(|s| s.as_str().to_string()),
            )
        } else {
            continue;
        };
        let value = value.ok_or_else(|| {
            SigstoreError::Certificate(format!(
                "the OIDC issuer extension {name} is not UTF-8 text"
            ))
        })?;
        out.push((name, value));
    }
    Ok(out)
}

/// A readable reason for a webpki error.
fn describe(err: &webpki::Error, time: UnixTime) -> String {
    use webpki::Error as E;
    let at = date(time.as_secs().saturating_mul(1000));
    let reason = match err {
        E::UnknownIssuer => {
            "the signing certificate does not chain to a Fulcio CA of the trusted root".to_string()
        }
        E::CertNotValidYet { .. } | E::CertExpired { .. } | E::InvalidCertValidity => {
            format!("a certificate of the path is not valid at the signing time {at}")
        }
        E::InvalidSignatureForPublicKey => {
            "a certificate's signature does not verify under its issuer's key".to_string()
        }
        _ => "the certificate path is invalid".to_string(),
    };
    let name = format!("{err:?}");
    let name = name.split([' ', '(', '{']).next().unwrap_or_default();
    format!("{reason} (webpki: {name})")
}

/// A Unix-millisecond time as an RFC 3339 date.
pub(crate) fn date(time_ms: u64) -> String {
    der::DateTime::from_unix_duration(Duration::from_secs(time_ms / 1000))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| format!("{}s after 1970", time_ms / 1000))
}
