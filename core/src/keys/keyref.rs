//! Parsing key references: the one string that names a key in the CLI, Python and policy files.
//!
//! `path` or `file:path` (also `file:///abs/path`) name a PEM file; `pkcs11:` an RFC 7512 URI
//! (parsed strictly by [`Pkcs11Uri`]); `awskms://` an AWS KMS key (parsed by [`KmsKeyRef`]). The
//! two reference parsers are on the floor of this module (`docs/ARCHITECTURE.md`), below their
//! backends, so that naming a key needs no backend. The other KMS schemes (`gcpkms://`, `azurekms://`, `hashivault://`)
//! are recognised and refused with a clear reason, so that such a string is never mistaken for a
//! file name. A refused `pkcs11:` reference is quoted with any `pin-value` redacted.

use super::error::KeyError;
use crate::keys::awskms::reference::{self as awskms, KmsKeyRef};
use crate::keys::pkcs11::uri::{self as pkcs11, Pkcs11Uri};
use crate::keys::secret::reference::SecretRef;
use std::path::PathBuf;

/// A parsed key reference: the one string that names a key in the CLI, Python and policy files.
/// Parsing never touches the key: [`crate::keys::open`] opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRef {
    /// A PEM (or, for a KEK, hex) file on disk (`path` or `file:path`).
    File(PathBuf),
    /// A key in a PKCS#11 token (RFC 7512 `pkcs11:` URI).
    Pkcs11(Pkcs11Uri),
    /// A key in AWS KMS (`awskms:///<key>` or `awskms://HOST:PORT/<key>`).
    AwsKms(KmsKeyRef),
}

impl KeyRef {
    /// The reference as it may be shown in messages and audit events: a `pkcs11:` URI's
    /// `pin-value` is redacted; a file is its path.
    pub fn shown(&self) -> String {
        match self {
            KeyRef::File(path) => path.display().to_string(),
            KeyRef::Pkcs11(uri) => pkcs11::redact(&uri.to_string()),
            KeyRef::AwsKms(kms) => kms.to_string(),
        }
    }
}

/// How to open a private key.
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// Where the passphrase of an encrypted PKCS#8 key comes from (`file:PATH`, `fd:N`,
    /// `env:NAME`, `awssm://…`: [`SecretRef`]).
    pub password: Option<SecretRef>,
    /// Accept secret files that group/others may read.
    pub allow_insecure_permissions: bool,
}

/// Schemes of keys that live in an HSM or a KMS (cosign's spelling), not yet supported.
const REMOTE_SCHEMES: &[(&str, &str)] = &[
    ("gcpkms://", "Google Cloud KMS"),
    ("azurekms://", "Azure Key Vault"),
    ("hashivault://", "HashiCorp Vault"),
];

impl std::str::FromStr for KeyRef {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<KeyRef, KeyError> {
        let refuse = |reason: String| KeyError::Reference {
            reference: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(refuse("empty key reference".into()));
        }
        if s.starts_with(pkcs11::SCHEME) {
            return Pkcs11Uri::parse(s)
                .map(KeyRef::Pkcs11)
                .map_err(|reason| KeyError::Reference {
                    reference: pkcs11::redact(s),
                    reason,
                });
        }
        if s.starts_with(awskms::SCHEME) {
            return KmsKeyRef::parse(s).map(KeyRef::AwsKms).map_err(refuse);
        }
        for (scheme, name) in REMOTE_SCHEMES {
            if s.starts_with(scheme) {
                return Err(refuse(format!(
                    "{name} keys are not supported by this build yet"
                )));
            }
        }
        if let Some(rest) = s.strip_prefix("file:") {
            // `file:///abs` is a URI with an empty authority; `file:rel` and `file:/abs` are paths.
            let path = match rest.strip_prefix("//") {
                Some(abs) if abs.starts_with('/') => abs,
                Some(_) => {
                    return Err(refuse(
                        "file URIs with a host are not supported; use file:/path".into(),
                    ))
                }
                None => rest,
            };
            if path.is_empty() {
                return Err(refuse("file: names no path".into()));
            }
            return Ok(KeyRef::File(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            {
                return Err(refuse(format!(
                    "unknown key scheme {scheme:?}; use a file path, file:, pkcs11: or awskms://"
                )));
            }
        }
        Ok(KeyRef::File(PathBuf::from(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(s: &str) -> PathBuf {
        match s.parse::<KeyRef>().unwrap() {
            KeyRef::File(p) => p,
            other => panic!("{s:?}: expected a file, got {other:?}"),
        }
    }

    fn reason(s: &str) -> String {
        match s.parse::<KeyRef>() {
            Err(KeyError::Reference { reference, reason }) => {
                assert_eq!(reference, s);
                reason
            }
            other => panic!("{s:?}: expected a reference error, got {other:?}"),
        }
    }

    #[test]
    fn paths_and_file_prefix() {
        assert_eq!(file("keys/release.pem"), PathBuf::from("keys/release.pem"));
        assert_eq!(file("/abs/key.pem"), PathBuf::from("/abs/key.pem"));
        assert_eq!(
            file("file:keys/release.pem"),
            PathBuf::from("keys/release.pem")
        );
        assert_eq!(file("file:/abs/key.pem"), PathBuf::from("/abs/key.pem"));
        assert_eq!(file("file:///abs/key.pem"), PathBuf::from("/abs/key.pem"));
        assert_eq!(file("weird:name.pem"), PathBuf::from("weird:name.pem"));
    }

    #[test]
    fn remote_schemes_are_refused_with_a_reason() {
        assert_eq!(
            reason("gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k"),
            "Google Cloud KMS keys are not supported by this build yet"
        );
        assert!(reason("azurekms://vault.vault.azure.net/key")
            .contains("not supported by this build yet"));
        assert!(reason("hashivault://transit-key").contains("not supported by this build yet"));
    }

    #[test]
    fn pkcs11_uris_parse_and_refusals_redact_the_pin() {
        let key: KeyRef = "pkcs11:token=ml;object=release".parse().unwrap();
        match key {
            KeyRef::Pkcs11(uri) => {
                assert_eq!(uri.token.as_deref(), Some("ml"));
                assert_eq!(uri.object.as_deref(), Some("release"));
            }
            other => panic!("{other:?}"),
        }
        let err = "pkcs11:token=ml;object=o?pin-value=1234"
            .parse::<KeyRef>()
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("pin-value=<redacted>"), "{text}");
        assert!(!text.contains("1234"), "{text}");
        assert!(reason("pkcs11:token=ml").contains("names no object"));
    }

    #[test]
    fn awskms_references_parse() {
        match "awskms://127.0.0.1:4566/alias/model-release".parse::<KeyRef>() {
            Ok(KeyRef::AwsKms(k)) => {
                assert_eq!(
                    (k.endpoint(), k.key()),
                    (Some("127.0.0.1:4566"), "alias/model-release")
                )
            }
            other => panic!("expected an AWS KMS key, got {other:?}"),
        }
        assert!(reason("awskms:///").contains("names no key"));
    }

    #[test]
    fn empty_and_malformed_are_refused() {
        assert_eq!(reason(""), "empty key reference");
        assert_eq!(reason("file:"), "file: names no path");
        assert!(reason("file://host/key.pem").contains("host"));
        assert!(reason("s3://bucket/key.pem").contains("unknown key scheme \"s3\""));
    }
}
