//! Object identifiers that key and certificate parsing dispatch on, and the algorithm identifier
//! of a PKCS#8 or SPKI document.

use spki::ObjectIdentifier;

/// id-ecPublicKey (RFC 5480).
pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / P-256.
pub(crate) const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 / P-384.
pub(crate) const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// secp521r1 / P-521.
pub(crate) const SECP521R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
/// secp256k1 (named only to reject it clearly).
pub(crate) const SECP256K1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.10");
/// id-Ed25519 (RFC 8410).
pub(crate) const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// id-X25519 (RFC 8410): the `x25519-hpke` encryption keys.
pub(crate) const X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
/// rsaEncryption: `rsa-oaep` encryption keys (refused for signing).
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-RSASSA-PSS (named only to reject it clearly).
pub(crate) const RSASSA_PSS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// A readable name for an algorithm or curve OID we do not support, for error messages.
pub(crate) fn describe(oid: &ObjectIdentifier) -> String {
    match *oid {
        RSA_ENCRYPTION | RSASSA_PSS => "RSA (encryption keys here, not signing keys)".to_string(),
        X25519 => {
            "X25519 (encryption keys: recipients and decryption keys, not signing keys)".to_string()
        }
        SECP256K1 => "EC secp256k1".to_string(),
        other => format!("algorithm or curve {other}"),
    }
}

/// Said after every "unsupported key" message so the user knows what to use instead, and how to
/// make one.
pub(crate) const SUPPORTED: &str = "supported: ec-p256, ec-p384, ec-p521, ed25519; make a signing key with `modelseal keygen --algorithm ec-p256 --out release.pem --public-out release.pub.pem`";

/// What an encryption-key slot accepts, and how to make one: said when a signing key is given
/// as a recipient or a decryption key.
pub(crate) const ENCRYPTION_KEYS: &str = "an encryption key is an X25519 or RSA key pair (the public key encrypts, the private key decrypts) or an aes256-kek file; make one with `modelseal keygen --algorithm x25519 --out deploy.pem` (recipient: deploy.pem.pub)";

/// What kind of key an algorithm OID (of a key that is not an encryption key) names.
pub(crate) fn signing_kind(oid: Option<ObjectIdentifier>) -> &'static str {
    match oid {
        Some(EC_PUBLIC_KEY) => "an EC (ECDSA) key, a signing key",
        Some(ED25519) => "an Ed25519 key, a signing key",
        _ => "not an X25519 or RSA key",
    }
}

/// The algorithm OID of a PKCS#8 `PrivateKeyInfo` (v1 or v2) in `der`, or `None` if `der` is not one.
pub(crate) fn pkcs8_algorithm(der: &[u8]) -> Option<ObjectIdentifier> {
    use der::Decode as _;
    pkcs8::PrivateKeyInfo::from_der(der)
        .ok()
        .map(|info| info.algorithm.oid)
}

/// The algorithm OID of a `SubjectPublicKeyInfo` in `der`, or `None` if `der` is not one.
pub(crate) fn spki_algorithm(der: &[u8]) -> Option<ObjectIdentifier> {
    use der::Decode as _;
    spki::SubjectPublicKeyInfoRef::from_der(der)
        .ok()
        .map(|info| info.algorithm.oid)
}
