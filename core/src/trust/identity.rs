//! Who a certificate names: the leaf's subject alternative names (e-mail and URI) and its issuer,
//! for identity constraints on the certificate method (a trust policy's `identities` and `issuer`).
//!
//! This reads a certificate that [`super::Trust::check`] has already validated; it does not
//! validate anything itself. Names are returned exactly as encoded (no case folding, no
//! normalisation), so a constraint matches only the exact string the CA issued.

use der::Decode;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

/// The identities a leaf certificate asserts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateIdentity {
    /// SAN `rfc822Name` (e-mail) and `uniformResourceIdentifier` entries, in certificate order.
    pub sans: Vec<String>,
    /// The issuer's distinguished name as an RFC 4514 string.
    pub issuer: String,
}

/// Reads the SAN e-mail and URI entries and the issuer name of a DER leaf certificate.
///
/// A certificate that does not parse, or whose SAN extension is malformed, is an error with the
/// reason; a certificate without a SAN extension has no `sans`.
pub fn leaf_identity(leaf_der: &[u8]) -> Result<CertificateIdentity, String> {
    let leaf = Certificate::from_der(leaf_der)
        .map_err(|e| format!("the leaf certificate is not valid X.509 ({e})"))?;
    let tbs = &leaf.tbs_certificate;
    let mut sans = Vec::new();
    let san = tbs
        .get::<SubjectAltName>()
        .map_err(|e| format!("the leaf certificate has a malformed subjectAltName ({e})"))?;
    if let Some((_, SubjectAltName(names))) = san {
        for name in names {
            match name {
                GeneralName::Rfc822Name(email) => sans.push(email.to_string()),
                GeneralName::UniformResourceIdentifier(uri) => sans.push(uri.to_string()),
                _ => {}
            }
        }
    }
    Ok(CertificateIdentity {
        sans,
        issuer: tbs.issuer.to_string(),
    })
}
