//! The certificate method's check: the bundle's leaf must chain to a trusted root, be allowed to
//! sign, and its key must verify the signature.
//!
//! Time: every certificate of the path, the leaf and the root included, must be within its
//! validity period at the *validation time*. OMS v1.0 §8.2 says the leaf must be within its
//! validity period; [`check`] takes the verification time (now), so an expired leaf fails.
//! [`check_at`] takes the time as a parameter: the seam for a verified RFC 3161 timestamp, whose
//! time (with the whole chain valid then) keeps a long-lived signature verifiable after its leaf
//! expired. (model-signing 1.1.1 validates at the leaf's own `notBefore` instead, so an expired
//! leaf verifies there for ever, and a leaf whose issuer was not yet valid when it was made does
//! not; see docs/oms-conformance.md.)
//!
//! Path validation is `rustls-webpki`'s. Around it we reproduce what OpenSSL, and so 1.1.1, does
//! differently:
//! - only self-issued trusted certificates are anchors; other trusted certificates serve as
//!   intermediates (OpenSSL builds through them but, without `X509_V_FLAG_PARTIAL_CHAIN`, never
//!   ends a path on them);
//! - the root's own validity period must cover the validation time (webpki ignores it; OpenSSL
//!   checks every certificate of the path);
//! - a leaf that is itself one of the trusted self-issued certificates is trusted as it stands
//!   (OpenSSL's one-certificate chain; webpki would refuse a CA certificate as end entity);
//! - a leaf with `basicConstraints CA:TRUE` (model-signing's own test PKI signs with one; 1.1.1 and
//!   the Go port accept it) is refused by webpki as `CaUsedAsEndEntity`; for exactly that case
//!   [`ca_leaf`] validates the path with webpki's rules, and the leaf must have KeyUsage
//!   digitalSignature (and codeSigning if it has an ExtendedKeyUsage).
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

mod ca_leaf;

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

/// Checks `chain` (DER, leaf first) against `trusted` at the verification time (now), and
/// `signature` over `pae` with the leaf key.
pub(super) fn check(
    trusted: &[Vec<u8>],
    chain: &[Vec<u8>],
    pae: &[u8],
    signature: &[u8],
) -> Result<SignerIdentity, TrustError> {
    check_at(trusted, chain, pae, signature, UnixTime::now())
}

/// [`check`] with every certificate of the path judged at `validity_time`: the verification
/// time, or the time of a verified RFC 3161 timestamp over the signature.
pub(super) fn check_at(
    trusted: &[Vec<u8>],
    chain: &[Vec<u8>],
    pae: &[u8],
    signature: &[u8],
    validity_time: UnixTime,
) -> Result<SignerIdentity, TrustError> {
    let (leaf_der, intermediates) = chain
        .split_first()
        .ok_or_else(|| cert_error("the bundle carries no certificate".into()))?;
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| cert_error(format!("the leaf certificate is not valid X.509 ({e})")))?;
    let store = split_trusted(trusted)?;
    let ca_leaf = if store
        .roots
        .iter()
        .any(|(root, _)| *root == leaf_der.as_slice())
    {
        check_validity(&leaf, validity_time).map_err(|e| cert_error(describe(&e)))?;
        false
    } else {
        match validate_path(&store, leaf_der, intermediates, validity_time) {
            Err(webpki::Error::CaUsedAsEndEntity) => {
                ca_leaf::validate(&store, leaf_der, &leaf, intermediates, validity_time).map_err(
                    |e| {
                        cert_error(format!(
                            "{} (the leaf is a CA:TRUE certificate)",
                            describe(&e)
                        ))
                    },
                )?;
                true
            }
            other => {
                other.map_err(|e| cert_error(describe(&e)))?;
                false
            }
        }
    };
    if ca_leaf {
        check_ca_leaf_may_sign(&leaf)?;
    } else {
        check_leaf_may_sign(&leaf)?;
    }
    let key = PublicKey::from_certificate_der(leaf_der).map_err(|e| {
        cert_error(format!(
            "the leaf certificate's key cannot verify OMS signatures: {e}"
        ))
    })?;
    let signed = key.verify(pae, signature).is_ok()
        || crate::oms::dsse::v0_2_0_message(pae)
            .is_some_and(|message| signed_by_v0_2_0(leaf_der, &message, signature));
    if !signed {
        return Err(TrustError::BadSignature);
    }
    Ok(SignerIdentity {
        method: "certificate",
        algorithm: key.algorithm(),
        key_hint: key.hint(),
        certificate_subject: Some(leaf.tbs_certificate.subject.to_string()),
        keyless: None,
    })
}

/// model-signing v0.2.0 signed another encoding of its own statements
/// ([`crate::oms::dsse::v0_2_0_message`]) and always with ECDSA over SHA-256, whatever the curve;
/// model-signing 1.1.1 verifies its certificate bundles that way, and so do we, for those
/// statements only.
fn signed_by_v0_2_0(leaf_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use webpki::aws_lc_rs::{ECDSA_P256_SHA256, ECDSA_P384_SHA256, ECDSA_P521_SHA256};
    let der = CertificateDer::from(leaf_der);
    let Ok(leaf) = webpki::EndEntityCert::try_from(&der) else {
        return false;
    };
    [ECDSA_P256_SHA256, ECDSA_P384_SHA256, ECDSA_P521_SHA256]
        .into_iter()
        .any(|algorithm| leaf.verify_signature(algorithm, message, signature).is_ok())
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
/// certificates) to a root valid at `time`. A webpki error is returned as is, so the caller can
/// tell `CaUsedAsEndEntity` apart.
fn validate_path(
    store: &TrustStore<'_>,
    leaf_der: &[u8],
    intermediates: &[Vec<u8>],
    time: UnixTime,
) -> Result<(), webpki::Error> {
    let root_ders: Vec<CertificateDer<'_>> = store
        .roots
        .iter()
        .map(|(der, _)| CertificateDer::from(*der))
        .collect();
    let anchors = root_ders
        .iter()
        .map(webpki::anchor_from_trusted_cert)
        .collect::<Result<Vec<TrustAnchor<'_>>, _>>()?;
    let chain: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .chain(store.others.iter().map(|der| CertificateDer::from(*der)))
        .collect();
    let leaf_der = CertificateDer::from(leaf_der);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der)?;
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
    )?;
    Ok(())
}

/// A certificate's validity period must cover `time`, as OpenSSL requires of every path
/// certificate (webpki checks all but the root).
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

/// The rule for a CA:TRUE leaf (see [`ca_leaf`]): KeyUsage digitalSignature, and codeSigning
/// if it has an ExtendedKeyUsage (that part is checked with the path).
fn check_ca_leaf_may_sign(leaf: &Certificate) -> Result<(), TrustError> {
    let digital_signature = leaf
        .tbs_certificate
        .get::<KeyUsage>()
        .map_err(|e| {
            cert_error(format!(
                "the leaf certificate has a malformed extension ({e})"
            ))
        })?
        .is_some_and(|(_, ku)| ku.digital_signature());
    if digital_signature {
        Ok(())
    } else {
        Err(cert_error(
            "the leaf certificate is a CA certificate (CA:TRUE) without KeyUsage digitalSignature: it may not sign".into(),
        ))
    }
}

/// A readable reason for a webpki error, with webpki's own name for it.
// The deprecated context-free variants are what `ca_leaf` reports (webpki's context types cannot
// be built outside it).
#[allow(deprecated)]
fn describe(err: &webpki::Error) -> String {
    use webpki::Error as E;
    let reason = match err {
        E::UnknownIssuer => "the chain does not lead to a trusted root".to_string(),
        E::CertNotValidYet { time, not_before } => format!(
            "a certificate in the chain is not yet valid at the validation time {} (it starts {})",
            date(time),
            date(not_before)
        ),
        E::CertExpired { time, not_after } => format!(
            "a certificate in the chain had expired at the validation time {} (it ended {})",
            date(time),
            date(not_after)
        ),
        E::RequiredEkuNotFoundContext(_) | E::RequiredEkuNotFound => {
            "a certificate in the chain has an ExtendedKeyUsage without codeSigning".to_string()
        }
        E::PathLenConstraintViolated => {
            "a CA in the chain has more CAs below it than its pathLenConstraint allows".to_string()
        }
        E::UnsupportedCriticalExtension => {
            "a certificate in the chain has a critical extension that is not understood (or name constraints)".to_string()
        }
        E::MaximumPathDepthExceeded
        | E::MaximumSignatureChecksExceeded
        | E::MaximumPathBuildCallsExceeded => {
            "no path to a trusted root within the search limits".to_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oms::{Bundle, VerificationMaterial};
    use std::path::PathBuf;

    fn upstream(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../test-vectors/oms-unit/upstream")
            .join(name)
    }

    /// The certificate chain, PAE and signature of a bundle made with model-signing's test PKI,
    /// whose leaf is `CA:TRUE` (valid 2025-05-02 to 2035-04-30).
    fn reference_bundle(name: &str) -> (Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
        let bundle = Bundle::parse(&std::fs::read(upstream(name)).unwrap()).unwrap();
        let VerificationMaterial::Certificates(chain) = bundle.material else {
            panic!("{name}: not a certificate bundle");
        };
        let pae = crate::oms::pae(&bundle.payload_type, &bundle.payload);
        (chain, pae, bundle.signature)
    }

    fn reference_root() -> Vec<Vec<u8>> {
        crate::keys::read_certificate_file(&upstream("ca-cert.pem")).unwrap()
    }

    fn day(year: u16, month: u8, day: u8) -> UnixTime {
        let t = der::DateTime::new(year, month, day, 0, 0, 0).unwrap();
        UnixTime::since_unix_epoch(t.unix_duration())
    }

    fn reason(r: Result<SignerIdentity, TrustError>) -> String {
        match r {
            Err(TrustError::Certificate(reason)) => reason,
            other => panic!("expected a certificate error, got {other:?}"),
        }
    }

    #[test]
    fn reference_ca_leaf_bundles_verify_while_the_leaf_is_valid() {
        let root = reference_root();
        for name in [
            "v0.2.0-certificate.sig",
            "v1.0.1-certificate.sig",
            "v1.1.0-certificate.sig",
        ] {
            let (chain, pae, sig) = reference_bundle(name);
            let who = check(&root, &chain, &pae, &sig).unwrap();
            assert_eq!(who.method, "certificate");
            assert_eq!(
                who.certificate_subject.as_deref(),
                Some("CN=intermediate-ca")
            );
            check_at(&root, &chain, &pae, &sig, day(2030, 1, 1)).unwrap();
            let expired = reason(check_at(&root, &chain, &pae, &sig, day(2036, 1, 1)));
            assert!(
                expired.contains("had expired at the validation time 2036-01-01"),
                "{name}: {expired}"
            );
            let early = reason(check_at(&root, &chain, &pae, &sig, day(2025, 1, 1)));
            assert!(early.contains("not yet valid"), "{name}: {early}");
            assert!(matches!(
                check(&root, &chain, &pae, b"not a signature"),
                Err(TrustError::BadSignature)
            ));
        }
    }

    #[test]
    fn a_ca_leaf_must_chain_to_a_configured_root() {
        let (chain, pae, sig) = reference_bundle("v1.1.0-certificate.sig");
        let root = reference_root();
        // Without its issuer, the leaf leads nowhere; with the issuer trusted, it does.
        let alone = reason(check(&root, &chain[..1], &pae, &sig));
        assert!(alone.contains("does not lead to a trusted root"), "{alone}");
        let mut trusted = root.clone();
        trusted.push(chain[1].clone());
        check(&trusted, &chain[..1], &pae, &sig).unwrap();
        // The intermediate alone is not a root (it is not self-issued).
        let no_root = reason(check(&chain[1..], &chain, &pae, &sig));
        assert!(no_root.contains("no trusted root"), "{no_root}");
        // Another root: the chain does not lead to it.
        let other = crate::keys::read_certificate_file(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../test-vectors/pki/certs/root-ca.pem"),
        )
        .unwrap();
        let untrusted = reason(check(&other, &chain, &pae, &sig));
        assert!(untrusted.contains("UnknownIssuer"), "{untrusted}");
        // A leaf whose issuer signature is broken: the name still matches, the signature does not.
        let mut forged = chain.clone();
        let last = forged[0].len() - 1;
        forged[0][last] ^= 1;
        let broken = reason(check(&root, &forged, &pae, &sig));
        assert!(broken.contains("CA:TRUE"), "{broken}");
    }
}
