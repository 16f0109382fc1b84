//! The path of a signing certificate that carries `basicConstraints CA:TRUE`.
//!
//! model-signing's own test PKI (and the OMS conformance suite built on it) signs with such a leaf
//! (`scripts/tests/keys/certificate/gen.sh` in sigstore/model-transparency: `ca`, `signing_key`,
//! `code_signing_key`), and model-signing 1.1.1 and the Go port accept it. rustls-webpki refuses
//! any CA certificate in the end-entity position (`CaUsedAsEndEntity`, checked before anything
//! else and final) and validates no CA certificate as a path's start, so for exactly this case the
//! path is validated here, with webpki's rules:
//! - every certificate of the path, the leaf included, is within its validity period at the
//!   validation time, and so is the trusted root that ends it (as for every other path, see the
//!   parent module);
//! - each link is a name match (issuer = subject, byte-exact DER) *and* a signature that verifies
//!   under the issuer's key, with webpki's own algorithms (`ALL_VERIFICATION_ALGS`);
//! - each issuer between the leaf and the root is a CA (`basicConstraints CA:TRUE`) whose
//!   `pathLenConstraint` allows the CAs below it, whose KeyUsage, when present, has keyCertSign,
//!   and whose ExtendedKeyUsage, when present, has codeSigning (webpki's `required_if_present`
//!   applies to every certificate of a path);
//! - a critical extension other than basicConstraints, keyUsage, extendedKeyUsage and
//!   subjectAltName is refused, and so is a name-constraints extension anywhere on the path (not
//!   evaluated here, so not trusted);
//! - the search is bounded: at most [`MAX_INTERMEDIATES`] certificates between leaf and root, at
//!   most [`MAX_SIGNATURE_CHECKS`] signatures tried, no certificate used twice.
//!
//! The leaf's own rule (KeyUsage digitalSignature, ExtendedKeyUsage codeSigning when present) is
//! checked by the caller; this module only says whether the leaf chains to a trusted root.

use super::TrustStore;
use der::asn1::BitStringRef;
use der::{Decode, Reader, SliceReader};
use rustls_pki_types::{CertificateDer, UnixTime};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
use x509_cert::Certificate;

/// Most CA certificates between the leaf and the root (webpki allows six intermediates too).
pub(super) const MAX_INTERMEDIATES: usize = 6;
/// Most signatures tried while searching for a path, so hostile chains cannot cost much.
pub(super) const MAX_SIGNATURE_CHECKS: usize = 64;

const BASIC_CONSTRAINTS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: der::asn1::ObjectIdentifier = der::asn1::ObjectIdentifier::new_unwrap("2.5.29.15");
const EXTENDED_KEY_USAGE: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.37");
const SUBJECT_ALT_NAME: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.17");
const NAME_CONSTRAINTS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("2.5.29.30");

/// A certificate that may serve as an issuer: its DER and parsed form.
struct Node<'a> {
    der: &'a [u8],
    cert: Certificate,
}

/// The search state: the pool of possible issuers, the time, and what is left of the budget.
struct Search<'s, 'a> {
    store: &'s TrustStore<'a>,
    pool: Vec<Node<'a>>,
    time: UnixTime,
    signatures_left: usize,
}

/// Validates the path of the CA:TRUE `leaf` (DER `leaf_der`) through `intermediates` and the
/// store's non-root certificates to one of its roots, every certificate valid at `time`.
pub(super) fn validate(
    store: &TrustStore<'_>,
    leaf_der: &[u8],
    leaf: &Certificate,
    intermediates: &[Vec<u8>],
    time: UnixTime,
) -> Result<(), webpki::Error> {
    check_extensions(leaf)?;
    super::check_validity(leaf, time)?;
    let pool = intermediates
        .iter()
        .map(Vec::as_slice)
        .chain(store.others.iter().copied())
        .map(|der| {
            Certificate::from_der(der)
                .map(|cert| Node { der, cert })
                .map_err(|_| webpki::Error::BadDer)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut search = Search {
        store,
        pool,
        time,
        signatures_left: MAX_SIGNATURE_CHECKS,
    };
    let mut path = vec![leaf_der];
    search.extend(leaf_der, leaf, 0, &mut path)
}

impl<'a> Search<'_, 'a> {
    /// Finds an issuer of `child` that ends the path at a root, or leads to one; `cas_below` is
    /// the number of CA certificates between the leaf and `child`'s issuer (for pathLen).
    fn extend(
        &mut self,
        child_der: &[u8],
        child: &Certificate,
        cas_below: usize,
        path: &mut Vec<&'a [u8]>,
    ) -> Result<(), webpki::Error> {
        let issuer_name = &child.tbs_certificate.issuer;
        let mut error = webpki::Error::UnknownIssuer;
        for (root_der, root) in &self.store.roots {
            if root.tbs_certificate.subject != *issuer_name {
                continue;
            }
            match self
                .signed_by(child_der, root_der)
                .and_then(|()| super::check_validity(root, self.time))
            {
                Ok(()) => return Ok(()),
                Err(e) => error = e,
            }
        }
        if cas_below >= MAX_INTERMEDIATES {
            return Err(webpki::Error::MaximumPathDepthExceeded);
        }
        for index in 0..self.pool.len() {
            let (der, matches) = {
                let node = &self.pool[index];
                (node.der, node.cert.tbs_certificate.subject == *issuer_name)
            };
            if !matches || path.contains(&der) {
                continue;
            }
            let attempt = self.signed_by(child_der, der).and_then(|()| {
                let issuer = &self.pool[index].cert;
                check_issuer(issuer, cas_below, self.time)?;
                Ok(issuer.clone())
            });
            let issuer = match attempt {
                Ok(issuer) => issuer,
                Err(e @ webpki::Error::MaximumSignatureChecksExceeded) => return Err(e),
                Err(e) => {
                    error = e;
                    continue;
                }
            };
            path.push(der);
            match self.extend(der, &issuer, cas_below + 1, path) {
                Ok(()) => return Ok(()),
                Err(e @ webpki::Error::MaximumSignatureChecksExceeded) => return Err(e),
                Err(e) => error = e,
            }
            path.pop();
        }
        Err(error)
    }

    /// Whether the key of the certificate `issuer_der` verifies `child_der`'s signature.
    // webpki's `UnsupportedSignatureAlgorithmContext` cannot be built outside it.
    #[allow(deprecated)]
    fn signed_by(&mut self, child_der: &[u8], issuer_der: &[u8]) -> Result<(), webpki::Error> {
        if self.signatures_left == 0 {
            return Err(webpki::Error::MaximumSignatureChecksExceeded);
        }
        self.signatures_left -= 1;
        let signed = split_signed(child_der).ok_or(webpki::Error::BadDer)?;
        let issuer_der = CertificateDer::from(issuer_der);
        // Parsing as an end entity only reads the certificate; no role is checked here.
        let issuer = webpki::EndEntityCert::try_from(&issuer_der)?;
        let mut error = webpki::Error::UnsupportedSignatureAlgorithm;
        for algorithm in webpki::ALL_VERIFICATION_ALGS {
            if algorithm.signature_alg_id().as_ref() != signed.algorithm {
                continue;
            }
            // Several algorithms share one identifier (ecdsa-with-SHA256 for every curve):
            // keep "does not verify" over "not for this key".
            match issuer.verify_signature(*algorithm, signed.tbs, signed.signature) {
                Ok(()) => return Ok(()),
                Err(e) if error != webpki::Error::InvalidSignatureForPublicKey => error = e,
                Err(_) => {}
            }
        }
        Err(error)
    }
}

/// The signed parts of a certificate, as they appear in its DER.
struct Signed<'a> {
    /// The whole `tbsCertificate` TLV: the bytes the issuer signed.
    tbs: &'a [u8],
    /// The contents of the outer `signatureAlgorithm` (webpki's `AlgorithmIdentifier` form).
    algorithm: &'a [u8],
    /// The signature bits.
    signature: &'a [u8],
}

/// Splits `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`
/// without re-encoding anything.
fn split_signed(der: &[u8]) -> Option<Signed<'_>> {
    let mut outer = SliceReader::new(der).ok()?;
    let body = outer.sequence(|r| r.read_slice(r.remaining_len())).ok()?;
    outer.finish(()).ok()?;
    let mut r = SliceReader::new(body).ok()?;
    let tbs = r.tlv_bytes().ok()?;
    let algorithm_tlv = r.tlv_bytes().ok()?;
    let signature = BitStringRef::decode(&mut r).ok()?.as_bytes()?;
    r.finish(()).ok()?;
    let mut a = SliceReader::new(algorithm_tlv).ok()?;
    let algorithm = a.sequence(|r| r.read_slice(r.remaining_len())).ok()?;
    Some(Signed {
        tbs,
        algorithm,
        signature,
    })
}

/// What an issuer between the leaf and the root must be (see the module documentation).
fn check_issuer(
    issuer: &Certificate,
    cas_below: usize,
    time: UnixTime,
) -> Result<(), webpki::Error> {
    check_extensions(issuer)?;
    super::check_validity(issuer, time)?;
    let tbs = &issuer.tbs_certificate;
    let bad = |_| webpki::Error::ExtensionValueInvalid;
    let constraints = tbs.get::<BasicConstraints>().map_err(bad)?;
    match constraints {
        Some((_, bc)) if bc.ca => {
            if let Some(limit) = bc.path_len_constraint {
                if cas_below > usize::from(limit) {
                    return Err(webpki::Error::PathLenConstraintViolated);
                }
            }
        }
        _ => return Err(webpki::Error::EndEntityUsedAsCa),
    }
    if let Some((_, ku)) = tbs.get::<KeyUsage>().map_err(bad)? {
        if !ku.key_cert_sign() {
            return Err(webpki::Error::EndEntityUsedAsCa);
        }
    }
    Ok(())
}

/// Critical extensions must be understood; name constraints are not evaluated, so refused; an
/// ExtendedKeyUsage must allow code signing.
// webpki's `RequiredEkuNotFoundContext` cannot be built outside it.
#[allow(deprecated)]
fn check_extensions(cert: &Certificate) -> Result<(), webpki::Error> {
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        if ext.extn_id == NAME_CONSTRAINTS {
            return Err(webpki::Error::UnsupportedCriticalExtension);
        }
        let known = [
            BASIC_CONSTRAINTS,
            KEY_USAGE,
            EXTENDED_KEY_USAGE,
            SUBJECT_ALT_NAME,
        ]
        .contains(&ext.extn_id);
        if ext.critical && !known {
            return Err(webpki::Error::UnsupportedCriticalExtension);
        }
    }
    let eku = cert
        .tbs_certificate
        .get::<ExtendedKeyUsage>()
        .map_err(|_| webpki::Error::ExtensionValueInvalid)?;
    match eku {
        Some((_, eku)) if !eku.0.contains(&super::CODE_SIGNING) => {
            Err(webpki::Error::RequiredEkuNotFound)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_signed_reads_the_parts_a_signature_covers() {
        let der = include_bytes!("../../../../test-vectors/oms-unit/upstream/signing-key-cert.der");
        let signed = split_signed(der).unwrap();
        let cert = Certificate::from_der(der).unwrap();
        use der::Encode;
        assert_eq!(signed.tbs, cert.tbs_certificate.to_der().unwrap());
        assert_eq!(signed.signature, cert.signature.raw_bytes());
        // sha256WithRSAEncryption, NULL parameters: the issuer (upstream int-ca) is RSA.
        assert_eq!(
            signed.algorithm,
            webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256
                .signature_alg_id()
                .as_ref()
        );
        let mut trailing = der.to_vec();
        trailing.push(0);
        assert!(split_signed(&trailing).is_none());
        assert!(split_signed(&der[..der.len() - 1]).is_none());
    }
}
