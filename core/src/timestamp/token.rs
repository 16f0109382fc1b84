//! Checking an RFC 3161 timestamp token against the signature it stamps and trusted TSA roots.

use super::TimestampError;
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use sha2::Digest;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;
use x509_tsp::TstInfo;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
pub(super) const ID_SHA_256: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA_384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA_512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// id-kp-timeStamping (1.3.6.1.5.5.7.3.8), DER contents octets as webpki wants them.
const TIME_STAMPING_OID_DER: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Certificates trusted to vouch for time: self-issued ones are anchors, the others (a TSA's
/// intermediates, or its leaf, as a Sigstore trusted root lists them) may be used on a path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimestampRoots {
    certificates: Vec<Vec<u8>>,
}

impl TimestampRoots {
    /// Trust these DER certificates (from a PEM file, or a trusted root's `timestampAuthorities`).
    pub fn new(certificates: Vec<Vec<u8>>) -> TimestampRoots {
        TimestampRoots { certificates }
    }

    /// No TSA is trusted: every timestamp is ignored.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    /// Adds more trusted certificates.
    pub fn extend(&mut self, more: &TimestampRoots) {
        self.certificates.extend(more.certificates.iter().cloned());
    }
}

/// A timestamp that verified: when, and who vouched for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    /// `genTime`, in seconds since 1970 (UTC; fractions dropped).
    pub unix_secs: u64,
    /// The TSA: the signing certificate's subject (RFC 4514).
    pub tsa: String,
}

impl VerifiedTimestamp {
    /// The time as RFC 3339 UTC.
    pub fn rfc3339(&self) -> String {
        super::rfc3339(self.unix_secs)
    }
}

/// What a token says, before any trust: parsed by [`parse`].
pub(super) struct Token {
    pub(super) signed_data: SignedData,
    pub(super) tst_info: TstInfo,
    /// The DER of `TSTInfo` (the eContent octets), which the signer's messageDigest covers.
    tst_der: Vec<u8>,
}

/// Parses a timestamp down to its `TSTInfo`: a `TimeStampResp` (what Sigstore bundles store in
/// `signedTimestamp`, and what we write) whose status is granted, or a bare `TimeStampToken`
/// (a CMS `ContentInfo`).
pub(super) fn parse(der_bytes: &[u8]) -> Result<Token, TimestampError> {
    let malformed = |what: &str, e: der::Error| TimestampError::Malformed(format!("{what}: {e}"));
    let info = match x509_tsp::TimeStampResp::from_der(der_bytes) {
        Ok(response) => {
            // PKIStatus 0 granted, 1 grantedWithMods (RFC 3161 §2.4.2).
            if !matches!(response.status.status as u8, 0 | 1) {
                return Err(TimestampError::Malformed(format!(
                    "the timestamp response is a refusal ({:?})",
                    response.status.status
                )));
            }
            response.time_stamp_token.ok_or_else(|| {
                TimestampError::Malformed("the timestamp response carries no token".into())
            })?
        }
        Err(_) => ContentInfo::from_der(der_bytes).map_err(|e| {
            malformed(
                "neither a TimeStampResp nor a TimeStampToken (CMS ContentInfo)",
                e,
            )
        })?,
    };
    if info.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::Malformed(format!(
            "content type {} is not SignedData",
            info.content_type
        )));
    }
    let signed_data: SignedData = info
        .content
        .decode_as()
        .map_err(|e| malformed("not a CMS SignedData", e))?;
    let encap = &signed_data.encap_content_info;
    if encap.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::Malformed(format!(
            "signed content type {} is not TSTInfo",
            encap.econtent_type
        )));
    }
    let econtent = encap
        .econtent
        .as_ref()
        .ok_or_else(|| TimestampError::Malformed("the TSTInfo content is absent".into()))?;
    let tst_der = econtent
        .decode_as::<der::asn1::OctetString>()
        .map_err(|e| malformed("the TSTInfo content is not an OCTET STRING", e))?
        .into_bytes();
    let tst_info = TstInfo::from_der(&tst_der).map_err(|e| malformed("not a TSTInfo", e))?;
    Ok(Token {
        signed_data,
        tst_info,
        tst_der,
    })
}

impl Token {
    /// Checks that the imprint is the hash of `message` under the algorithm the token names.
    pub(super) fn check_imprint(&self, message: &[u8]) -> Result<(), TimestampError> {
        let imprint = &self.tst_info.message_imprint;
        let expected = hash(&imprint.hash_algorithm.oid, message).ok_or_else(|| {
            TimestampError::Untrusted(format!(
                "the message imprint uses an unsupported hash {}",
                imprint.hash_algorithm.oid
            ))
        })?;
        if imprint.hashed_message.as_bytes() != expected.as_slice() {
            return Err(TimestampError::Untrusted(
                "the timestamp is over other bytes than this signature".into(),
            ));
        }
        Ok(())
    }

    /// The certificates the token carries (asked for with `certReq`).
    pub(super) fn certificates(&self) -> Vec<Vec<u8>> {
        let Some(set) = &self.signed_data.certificates else {
            return Vec::new();
        };
        set.0
            .iter()
            .filter_map(|choice| match choice {
                CertificateChoices::Certificate(cert) => cert.to_der().ok(),
                CertificateChoices::Other(_) => None,
            })
            .collect()
    }

    fn signer_info(&self) -> Result<&SignerInfo, TimestampError> {
        let infos = &self.signed_data.signer_infos.0;
        match infos.as_slice() {
            [one] => Ok(one),
            other => Err(TimestampError::Malformed(format!(
                "{} signers, RFC 3161 wants exactly one",
                other.len()
            ))),
        }
    }

    fn gen_time(&self) -> u64 {
        self.tst_info.gen_time.to_unix_duration().as_secs()
    }
}

/// What a token claims, unverified (for `inspect`): its time and the TSA's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampClaims {
    /// `genTime`, seconds since 1970 (UTC).
    pub unix_secs: u64,
    /// The TSA's name: the `tsa` field of `TSTInfo`, else the subject of the signing certificate
    /// the token carries; `None` when it names neither.
    pub tsa: Option<String>,
}

/// Reads what `token_der` (a `TimeStampResp` or a bare token) claims without checking anything but its form.
pub fn describe(token_der: &[u8]) -> Result<TimestampClaims, TimestampError> {
    let token = parse(token_der)?;
    let named = token.tst_info.tsa.as_ref().map(|name| match name {
        x509_cert::ext::pkix::name::GeneralName::DirectoryName(dn) => dn.to_string(),
        other => format!("{other:?}"),
    });
    let tsa = named.or_else(|| {
        let signer = token.signer_info().ok()?;
        token.certificates().iter().find_map(|der| {
            let cert = Certificate::from_der(der).ok()?;
            identifies(&signer.sid, &cert).then(|| cert.tbs_certificate.subject.to_string())
        })
    });
    Ok(TimestampClaims {
        unix_secs: token.gen_time(),
        tsa,
    })
}

/// Verifies `token_der` (a `TimeStampResp` or a bare token) as a timestamp over `signature` by a TSA that `roots` trust, and returns
/// its time and TSA. Fails if `roots` is empty.
pub fn verify(
    token_der: &[u8],
    signature: &[u8],
    roots: &TimestampRoots,
) -> Result<VerifiedTimestamp, TimestampError> {
    let token = parse(token_der)?;
    token.check_imprint(signature)?;
    let signer = token.signer_info()?;
    let attrs = signer.signed_attrs.as_ref().ok_or_else(|| {
        TimestampError::Malformed(
            "the signer has no signed attributes (RFC 3161 needs them)".into(),
        )
    })?;
    let attr = |oid: ObjectIdentifier| -> Result<&der::Any, TimestampError> {
        let found = attrs.iter().find(|a| a.oid == oid).ok_or_else(|| {
            TimestampError::Malformed(format!("the signed attribute {oid} is missing"))
        })?;
        match found.values.as_slice() {
            [value] => Ok(value),
            _ => Err(TimestampError::Malformed(format!(
                "the signed attribute {oid} has not exactly one value"
            ))),
        }
    };
    let content_type: ObjectIdentifier = attr(ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(|e| TimestampError::Malformed(format!("contentType attribute: {e}")))?;
    if content_type != ID_CT_TST_INFO {
        return Err(TimestampError::Untrusted(
            "the signed contentType attribute is not TSTInfo".into(),
        ));
    }
    let digest: der::asn1::OctetString = attr(ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(|e| TimestampError::Malformed(format!("messageDigest attribute: {e}")))?;
    let expected = hash(&signer.digest_alg.oid, &token.tst_der).ok_or_else(|| {
        TimestampError::Untrusted(format!(
            "the signer uses an unsupported digest {}",
            signer.digest_alg.oid
        ))
    })?;
    if digest.as_bytes() != expected.as_slice() {
        return Err(TimestampError::Untrusted(
            "the signed messageDigest does not match the TSTInfo".into(),
        ));
    }

    // Find the signing certificate among the token's and the trusted ones.
    let carried = token.certificates();
    let candidates: Vec<&[u8]> = carried
        .iter()
        .chain(roots.certificates.iter())
        .map(Vec::as_slice)
        .collect();
    let (signer_der, signer_cert) = candidates
        .iter()
        .find_map(|der| {
            let cert = Certificate::from_der(der).ok()?;
            identifies(&signer.sid, &cert).then_some((*der, cert))
        })
        .ok_or_else(|| {
            TimestampError::Untrusted(
                "the TSA's signing certificate is neither in the token nor among the trusted TSA certificates".into(),
            )
        })?;

    // The signature over the DER SET OF signed attributes.
    let signed_attrs_der = attrs
        .to_der()
        .map_err(|e| TimestampError::Malformed(format!("signed attributes: {e}")))?;
    let leaf_der = CertificateDer::from(signer_der);
    let leaf = webpki::EndEntityCert::try_from(&leaf_der).map_err(|e| {
        TimestampError::Untrusted(format!("the TSA certificate cannot be used ({e:?})"))
    })?;
    let signed = signature_algorithms(&signer.digest_alg.oid)
        .iter()
        .any(|alg| {
            leaf.verify_signature(*alg, &signed_attrs_der, signer.signature.as_bytes())
                .is_ok()
        });
    if !signed {
        return Err(TimestampError::Untrusted(
            "the TSA's signature over the timestamp does not verify".into(),
        ));
    }

    let gen_time = token.gen_time();
    check_chain(&leaf, &carried, roots, gen_time)?;
    Ok(VerifiedTimestamp {
        unix_secs: gen_time,
        tsa: signer_cert.tbs_certificate.subject.to_string(),
    })
}

/// The TSA certificate must chain to a trusted self-issued root, with `timeStamping` in its
/// extended key usage, every certificate valid at `gen_time`.
fn check_chain(
    leaf: &webpki::EndEntityCert<'_>,
    carried: &[Vec<u8>],
    roots: &TimestampRoots,
    gen_time: u64,
) -> Result<(), TimestampError> {
    if roots.is_empty() {
        return Err(TimestampError::Untrusted("no TSA root is trusted".into()));
    }
    let mut anchors_der = Vec::new();
    let mut intermediates: Vec<CertificateDer<'_>> = carried
        .iter()
        .map(|d| CertificateDer::from(d.as_slice()))
        .collect();
    for der in &roots.certificates {
        let self_issued = Certificate::from_der(der)
            .map(|c| c.tbs_certificate.subject == c.tbs_certificate.issuer)
            .unwrap_or(false);
        if self_issued {
            anchors_der.push(CertificateDer::from(der.as_slice()));
        } else {
            intermediates.push(CertificateDer::from(der.as_slice()));
        }
    }
    let anchors = anchors_der
        .iter()
        .filter_map(|d| webpki::anchor_from_trusted_cert(d).ok())
        .collect::<Vec<TrustAnchor<'_>>>();
    if anchors.is_empty() {
        return Err(TimestampError::Untrusted(
            "none of the trusted TSA certificates is a self-issued root".into(),
        ));
    }
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(gen_time));
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        time,
        webpki::KeyUsage::required(TIME_STAMPING_OID_DER),
        None,
        None,
    )
    .map_err(|e| {
        TimestampError::Untrusted(format!(
            "the TSA certificate does not chain to a trusted TSA root with the timeStamping usage at {} (webpki: {e:?})",
            super::rfc3339(gen_time)
        ))
    })?;
    Ok(())
}

/// Whether `sid` names `cert`.
fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            is.issuer == cert.tbs_certificate.issuer
                && is.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .get::<SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own == *ski),
    }
}

/// `message` hashed with the SHA-2 function `oid` names.
pub(super) fn hash(oid: &ObjectIdentifier, message: &[u8]) -> Option<Vec<u8>> {
    match *oid {
        ID_SHA_256 => Some(sha2::Sha256::digest(message).to_vec()),
        ID_SHA_384 => Some(sha2::Sha384::digest(message).to_vec()),
        ID_SHA_512 => Some(sha2::Sha512::digest(message).to_vec()),
        _ => None,
    }
}

/// The signature algorithms a TSA may have used with digest `oid`: ECDSA on each curve, RSA
/// PKCS#1 v1.5. Each is tried under the certificate's key; a key of another kind never verifies.
fn signature_algorithms(
    oid: &ObjectIdentifier,
) -> Vec<&'static dyn SignatureVerificationAlgorithm> {
    use webpki::aws_lc_rs as a;
    match *oid {
        ID_SHA_256 => vec![
            a::ECDSA_P256_SHA256,
            a::ECDSA_P384_SHA256,
            a::ECDSA_P521_SHA256,
            a::RSA_PKCS1_2048_8192_SHA256,
        ],
        ID_SHA_384 => vec![
            a::ECDSA_P256_SHA384,
            a::ECDSA_P384_SHA384,
            a::ECDSA_P521_SHA384,
            a::RSA_PKCS1_2048_8192_SHA384,
        ],
        ID_SHA_512 => vec![a::ECDSA_P521_SHA512, a::RSA_PKCS1_2048_8192_SHA512],
        _ => Vec::new(),
    }
}
