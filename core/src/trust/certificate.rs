//! The certificate method's check: the bundle's leaf must chain to a trusted root, be allowed to
//! sign, and its key must verify the signature.
//!
//! Path validation is `rustls-webpki`'s, at the leaf's `notBefore` (model-signing 1.1.1 sets its
//! OpenSSL store to that time: the bundles carry no trusted timestamp, so the leaf's own start of
//! validity stands in for the signing time; a leaf that has since expired still verifies, one whose
//! issuer was not yet or no longer valid at that moment does not). Around webpki we reproduce what
//! OpenSSL, and so 1.1.1, does differently:
//! - only self-issued trusted certificates are anchors; other trusted certificates serve as
//!   intermediates (OpenSSL builds through them but, without `X509_V_FLAG_PARTIAL_CHAIN`, never
//!   ends a path on them);
//! - the root's own validity period must cover the validation time (webpki ignores it; OpenSSL
//!   checks every certificate of the path);
//! - a leaf that is itself one of the trusted self-issued certificates is trusted as it stands
//!   (OpenSSL's one-certificate chain; webpki would refuse a CA certificate as end entity).
//!
//! The EKU rule is webpki's `required_if_present(codeSigning)` on every certificate of the path;
//! then 1.1.1's rule on the leaf: KeyUsage digitalSignature, or ExtendedKeyUsage codeSigning.

use super::{SignerIdentity, TrustError};
use crate::keys::PublicKey;
use der::Decode;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use std::time::Duration;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};
use x509_cert::Certificate;

/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER contents octets as webpki wants them.
const CODE_SIGNING_OID_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// id-kp-codeSigning for x509-cert.
const CODE_SIGNING: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// Trusted certificates split the way OpenSSL's store uses them.
struct TrustStore<'a> {
    /// Self-issued trusted certificates (DER and parsed), the only possible path ends.
    roots: Vec<(&'a [u8], Certificate)>,
    /// Other trusted certificates: usable as intermediates.
    others: Vec<&'a [u8]>,
}

/// Checks `chain` (DER, leaf first) against `trusted` and `signature` over `pae` with the leaf key.
pub(super) fn check(
    trusted: &[Vec<u8>],
    chain: &[Vec<u8>],
    pae: &[u8],
    signature: &[u8],
) -> Result<SignerIdentity, TrustError> {
    let (leaf_der, intermediates) = chain
        .split_first()
        .ok_or_else(|| cert_error("the bundle carries no certificate".into()))?;
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| cert_error(format!("the leaf certificate is not valid X.509 ({e})")))?;
    let time =
        UnixTime::since_unix_epoch(leaf.tbs_certificate.validity.not_before.to_unix_duration());
    let store = split_trusted(trusted)?;
    if store
        .roots
        .iter()
        .any(|(root, _)| *root == leaf_der.as_slice())
    {
        check_validity(&leaf, time).map_err(|e| cert_error(describe(&e)))?;
    } else {
        validate_path(&store, leaf_der, intermediates, time)?;
    }
    check_leaf_may_sign(&leaf)?;
    let key = PublicKey::from_certificate_der(leaf_der).map_err(|e| {
        cert_error(format!(
            "the leaf certificate's key cannot verify OMS signatures: {e}"
        ))
    })?;
    key.verify(pae, signature)
        .map_err(|_| TrustError::BadSignature)?;
    Ok(SignerIdentity {
        method: "certificate",
        algorithm: key.algorithm(),
        key_hint: key.hint(),
        certificate_subject: Some(leaf.tbs_certificate.subject.to_string()),
        keyless: None,
    })
}

fn split_trusted(trusted: &[Vec<u8>]) -> Result<TrustStore<'_>, TrustError> {
    let mut store = TrustStore {
        roots: Vec::new(),
        others: Vec::new(),
    };
    for (i, der) in trusted.iter().enumerate() {
        let cert = Certificate::from_der(der).map_err(|e| {
            cert_error(format!(
                "trusted certificate #{} is not valid X.509 ({e})",
                i + 1
            ))
        })?;
        if cert.tbs_certificate.subject == cert.tbs_certificate.issuer {
            store.roots.push((der.as_slice(), cert));
        } else {
            store.others.push(der.as_slice());
        }
    }
    if store.roots.is_empty() {
        return Err(cert_error(
            "no trusted root: none of the trusted certificates is self-issued".into(),
        ));
    }
    Ok(store)
}

/// Runs webpki's path building from `leaf_der` through `intermediates` (and the non-root trusted
/// certificates) to a root valid at `time`.
fn validate_path(
    store: &TrustStore<'_>,
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    time: UnixTime,
) -> Result<(), TrustError> {
    let root_ders: Vec<CertificateDer<'_>> = store
        .roots
        .iter()
        .map(|(der, _)| CertificateDer::from(*der))
        .collect();
    let anchors = root_ders
        .iter()
        .map(webpki::anchor_from_trusted_cert)
        .collect::<Result<Vec<TrustAnchor<'_>>, _>>()
        .map_err(|e| cert_error(format!("a trusted root cannot be used: {}", describe(&e))))?;
    let chain: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .chain(store.others.iter().map(|der| CertificateDer::from(*der)))
        .collect();
    let leaf_der = CertificateDer::from(leaf_der);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| {
        cert_error(format!(
            "the leaf certificate cannot be used: {}",
            describe(&e)
        ))
    })?;
    let root_valid = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
        let index = anchors.iter().position(|a| std::ptr::eq(a, path.anchor()));
        match index.map(|i| &store.roots[i].1) {
            Some(root) => check_validity(root, time),
            None => Err(webpki::Error::UnknownIssuer),
        }
    };
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &chain,
        time,
        webpki::KeyUsage::required_if_present(CODE_SIGNING_OID_DER),
        None,
        Some(&root_valid),
    )
    .map_err(|e| cert_error(describe(&e)))?;
    Ok(())
}

/// A root's validity period must cover `time`, as OpenSSL requires of every path certificate.
fn check_validity(cert: &Certificate, time: UnixTime) -> Result<(), webpki::Error> {
    let validity = &cert.tbs_certificate.validity;
    let not_before = UnixTime::since_unix_epoch(validity.not_before.to_unix_duration());
    let not_after = UnixTime::since_unix_epoch(validity.not_after.to_unix_duration());
    if time < not_before {
        return Err(webpki::Error::CertNotValidYet { time, not_before });
    }
    if time > not_after {
        return Err(webpki::Error::CertExpired { time, not_after });
    }
    Ok(())
}

/// model-signing 1.1.1's rule: the leaf may sign if its KeyUsage has digitalSignature or its
/// ExtendedKeyUsage has codeSigning.
fn check_leaf_may_sign(leaf: &Certificate) -> Result<(), TrustError> {
    let tbs = &leaf.tbs_certificate;
    let bad_ext = |e: der::Error| {
        cert_error(format!(
            "the leaf certificate has a malformed extension ({e})"
        ))
    };
    let digital_signature = tbs
        .get::<KeyUsage>()
        .map_err(bad_ext)?
        .is_some_and(|(_, ku)| ku.digital_signature());
    let code_signing = tbs
        .get::<ExtendedKeyUsage>()
        .map_err(bad_ext)?
        .is_some_and(|(_, eku)| eku.0.contains(&CODE_SIGNING));
    if digital_signature || code_signing {
        Ok(())
    } else {
        Err(cert_error(
            "the leaf certificate may not sign: its KeyUsage lacks digitalSignature and its ExtendedKeyUsage lacks codeSigning".into(),
        ))
    }
}

/// A readable reason for a webpki error, with webpki's own name for it.
fn describe(err: &webpki::Error) -> String {
    use webpki::Error as E;
    let reason = match err {
        E::UnknownIssuer => "the chain does not lead to a trusted root".to_string(),
        E::CertNotValidYet { time, not_before } => format!(
            "a certificate in the chain is not yet valid at the leaf's notBefore {} (it starts {})",
            date(time),
            date(not_before)
        ),
        E::CertExpired { time, not_after } => format!(
            "a certificate in the chain had expired at the leaf's notBefore {} (it ended {})",
            date(time),
            date(not_after)
        ),
        E::RequiredEkuNotFoundContext(_) => {
            "a certificate in the chain has an ExtendedKeyUsage without codeSigning".to_string()
        }
        E::CaUsedAsEndEntity => "the leaf certificate is a CA certificate".to_string(),
        E::EndEntityUsedAsCa => "a chain certificate that is not a CA issued another".to_string(),
        E::InvalidSignatureForPublicKey => {
            "a certificate's signature does not verify under its issuer's key".to_string()
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => {
            "a certificate is signed with an unsupported algorithm".to_string()
        }
        _ => "the certificate chain is invalid".to_string(),
    };
    let name = format!("{err:?}");
    let name = name.split([' ', '(', '{']).next().unwrap_or_default();
    format!("{reason} (webpki: {name})")
}

fn date(time: &UnixTime) -> String {
    der::DateTime::from_unix_duration(Duration::from_secs(time.as_secs()))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| format!("{}s after 1970", time.as_secs()))
}

fn cert_error(reason: String) -> TrustError {
    TrustError::Certificate(reason)
}
