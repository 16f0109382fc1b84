//! The only place where a key scheme meets a backend (`docs/ARCHITECTURE.md`, "Seams"): a
//! [`KeyRef`] opens as a [`Signer`], a certificate signer, a [`PublicKey`], a [`Recipient`] or an
//! [`Identity`]. Adding a key backend adds one `match` arm per function here and nothing elsewhere.
//!
//! Key files: signing keys are PEM PKCS#8 (`PRIVATE KEY`, v1 or v2), SEC1 (`EC PRIVATE KEY`) or
//! PBES2-encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, passphrase from `options.password_file`),
//! curves P-256, P-384, P-521, or Ed25519; encryption keys are a KEK file, or an X25519 or RSA key
//! in PEM (`docs/FORMAT.md` §8.8). A secret file that group or others may read is refused unless
//! `options.allow_insecure_permissions`.

use std::path::{Path, PathBuf};

use super::awskms;
use super::error::KeyError;
use super::file::load::{self, WrappingKey};
use super::file::signer::FileSigner;
use super::keyref::{KeyOptions, KeyRef};
use super::pkcs11;
use super::public::PublicKey;
use super::signing::Signer;
use super::wrapping::{Identity, Recipient};

/// Opens a signer for `key` (a private key; the certificate method adds certificates afterwards).
pub fn open_signer(key: &KeyRef, options: &KeyOptions) -> Result<Box<dyn Signer>, KeyError> {
    match key {
        KeyRef::File(path) => Ok(Box::new(FileSigner::open(path, options)?)),
        KeyRef::Pkcs11(uri) => Ok(Box::new(pkcs11::Pkcs11Signer::open(uri)?)),
        KeyRef::AwsKms(kms) => awskms::open_signer(kms),
    }
}

/// Opens a signer and attaches a leaf certificate (its public key must match) and chain certificates.
///
/// `leaf` holds exactly one PEM certificate; each `chain` file one or more. The signer's
/// [`Signer::certificate_chain`] is the leaf's DER followed by the chain's, in file order. The
/// chain is not validated here: a verifier does that against its own roots.
pub fn open_certificate_signer(
    key: &KeyRef,
    options: &KeyOptions,
    leaf: &Path,
    chain: &[PathBuf],
) -> Result<Box<dyn Signer>, KeyError> {
    match key {
        KeyRef::File(path) => {
            let signer = FileSigner::open(path, options)?.with_certificates(leaf, chain)?;
            Ok(Box::new(signer))
        }
        KeyRef::Pkcs11(uri) => {
            let signer = pkcs11::Pkcs11Signer::open(uri)?.with_certificates(leaf, chain)?;
            Ok(Box::new(signer))
        }
        KeyRef::AwsKms(kms) => Err(KeyError::Unsupported(format!(
            "{kms}: the certificate method needs a key file"
        ))),
    }
}

/// The public key of any key reference (a private or public key file, or an EC key pair in a
/// PKCS#11 token, read from its `CKA_EC_PARAMS` and `CKA_EC_POINT`, or an asymmetric KMS key).
///
/// A file may hold a `PUBLIC KEY`, a `CERTIFICATE` (its key is used, the certificate is not
/// validated) or a private key (permission-checked and, if encrypted, decrypted per `options`).
pub fn public_key_of(key: &KeyRef, options: &KeyOptions) -> Result<PublicKey, KeyError> {
    match key {
        KeyRef::File(path) => load::public_key(path, options),
        KeyRef::Pkcs11(uri) => Ok(pkcs11::public_key(uri)?),
        KeyRef::AwsKms(kms) => Ok(awskms::open_signer(kms)?.public_key().clone()),
    }
}

/// Opens the recipient `key` names, for encrypting (and rewrap's additions): a KEK file, an X25519
/// or RSA public (or private) key file, a key in a PKCS#11 token (an AES-256 key → `pkcs11-aes`,
/// an RSA key → `rsa-oaep`), or a symmetric AWS KMS key (`docs/FORMAT.md` §8.7). A key file that
/// cannot be read is [`KeyError::Unreadable`].
pub fn open_recipient(key: &KeyRef, options: &KeyOptions) -> Result<Box<dyn Recipient>, KeyError> {
    match key {
        KeyRef::File(path) => Ok(match load_wrapping(path, options)? {
            WrappingKey::Kek(k) => Box::new(k),
            WrappingKey::X25519Public(k) => Box::new(k),
            WrappingKey::X25519Private(k) => Box::new(k),
            WrappingKey::RsaPublic(k) => Box::new(k),
            WrappingKey::RsaPrivate(k) => Box::new(k),
        }),
        KeyRef::Pkcs11(uri) => Ok(pkcs11::open_recipient(uri)?),
        KeyRef::AwsKms(kms) => awskms::open_recipient(kms),
    }
}

/// Opens the identity `key` names, for decrypting (or rewrapping): like [`open_recipient`], but the
/// key must hold its secret — a public key (a file, or an RSA key of which the token holds only the
/// public half) is refused here with a reason, as it could never decrypt.
pub fn open_identity(key: &KeyRef, options: &KeyOptions) -> Result<Box<dyn Identity>, KeyError> {
    let public_only = || KeyError::PublicOnly { key: key.shown() };
    match key {
        KeyRef::File(path) => match load_wrapping(path, options)? {
            WrappingKey::Kek(k) => Ok(Box::new(k)),
            WrappingKey::X25519Private(k) => Ok(Box::new(k)),
            WrappingKey::RsaPrivate(k) => Ok(Box::new(k)),
            WrappingKey::X25519Public(_) | WrappingKey::RsaPublic(_) => Err(public_only()),
        },
        KeyRef::Pkcs11(uri) => pkcs11::open_identity(uri)?.ok_or_else(public_only),
        KeyRef::AwsKms(kms) => awskms::open_identity(kms),
    }
}

/// [`open_recipient`] for a key reference as the CLI's `--recipient` and Python's `recipients=`
/// give it (parsed with [`KeyRef`]'s `FromStr`).
pub fn recipient(reference: &str, options: &KeyOptions) -> Result<Box<dyn Recipient>, KeyError> {
    open_recipient(&reference.parse()?, options)
}

/// The key id of a recipient to remove (`rewrap --remove-recipient`, Python `remove=`): the key
/// id itself, as `inspect` shows it, or a key reference — an existing key file (public, private
/// or KEK), a `pkcs11:` URI or an `awskms://` key — whose recipient's key id is used, so that
/// `--remove-recipient deploy.pem.pub` removes the recipient that `--recipient deploy.pem.pub`
/// added.
pub fn removal_key_id(reference: &str, options: &KeyOptions) -> Result<String, KeyError> {
    let names_a_key = Path::new(reference).exists()
        || reference.starts_with("pkcs11:")
        || reference.starts_with("awskms:");
    if !names_a_key {
        return Ok(reference.to_string());
    }
    Ok(recipient(reference, options)?.key_id().to_string())
}

/// [`open_identity`] for a key reference as the CLI's `--key` and Python's `key=` give it.
pub fn identity(reference: &str, options: &KeyOptions) -> Result<Box<dyn Identity>, KeyError> {
    open_identity(&reference.parse()?, options)
}

/// The encryption key in `path`; a file that cannot be read is an input error naming it.
fn load_wrapping(path: &Path, options: &KeyOptions) -> Result<WrappingKey, KeyError> {
    load::load_wrapping(path, options).map_err(|e| match e {
        KeyError::Io { path, source } => KeyError::Unreadable {
            path,
            error: source,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::file::generate;
    use crate::keys::kind::KeyKind;
    use crate::keys::wrapping::{DataKey, WrapContext};
    use crate::rng::OsEntropy;
    use std::os::unix::fs::PermissionsExt;

    fn ctx() -> WrapContext<'static> {
        WrapContext {
            body_digest: [5; 32],
            model_name: "m",
        }
    }

    fn file(path: &Path) -> KeyRef {
        KeyRef::File(path.to_path_buf())
    }

    fn recipient(path: &Path) -> Result<Box<dyn Recipient>, KeyError> {
        open_recipient(&file(path), &KeyOptions::default())
    }

    fn identity(path: &Path) -> Result<Box<dyn Identity>, KeyError> {
        open_identity(&file(path), &KeyOptions::default())
    }

    const ENCRYPTION_KINDS: [KeyKind; 3] = [KeyKind::Aes256Kek, KeyKind::X25519, KeyKind::Rsa3072];

    #[test]
    fn generated_keys_load_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for kind in ENCRYPTION_KINDS {
            let path = dir.path().join(format!("{kind:?}"));
            let g = generate(kind, &path, None, false).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            let secret = identity(&path).unwrap();
            assert_eq!(secret.key_id(), g.key_id);
            assert_eq!(Some(secret.stanza_type()), g.stanza_type);
            let wrapper = recipient(g.public.as_deref().unwrap_or(&path)).unwrap();
            assert_eq!(wrapper.key_id(), g.key_id);
            let dek = DataKey::from_bytes([9; 32]);
            let stanza = wrapper.wrap(&dek, &ctx(), &mut OsEntropy).unwrap();
            let back = secret.unwrap(&stanza, &ctx()).unwrap();
            assert_eq!(back.expose(), dek.expose());
            // Bound to the body (except rsa-oaep, bound by the header MAC only).
            let other = WrapContext {
                body_digest: [6; 32],
                model_name: "m",
            };
            let r = secret.unwrap(&stanza, &other);
            assert_eq!(r.is_err(), kind != KeyKind::Rsa3072, "{kind:?}");
            assert!(
                generate(kind, &path, None, false).is_err(),
                "never overwrites"
            );
        }
    }

    #[test]
    fn refuses_readable_secret_files_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let allow = KeyOptions {
            allow_insecure_permissions: true,
            ..KeyOptions::default()
        };
        for kind in ENCRYPTION_KINDS {
            let path = dir.path().join(format!("{kind:?}"));
            let g = generate(kind, &path, None, false).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let reference = path.to_str().unwrap();
            for err in [
                identity(&path).err().unwrap(),
                recipient(&path).err().unwrap(),
            ] {
                assert!(matches!(err, KeyError::InsecurePermissions { .. }), "{err}");
                let text = err.to_string();
                assert!(text.starts_with(reference), "{text}");
                assert!(text.contains("permissions 644"), "{text}");
                assert!(text.contains("--allow-insecure-key-permissions"), "{text}");
            }
            let key = open_identity(&file(&path), &allow).unwrap();
            assert_eq!(key.key_id(), g.key_id);
            // Write bits for others do not expose the secret, but let them swap the key (issue 17
            // item 10): refused too, under the same override.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
            let err = identity(&path).err().unwrap();
            assert!(matches!(err, KeyError::WritableByOthers { .. }), "{err}");
            assert!(err.to_string().contains("620"), "{err}");
            assert!(open_identity(&file(&path), &allow).is_ok());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(identity(&path).is_ok());
        }
    }

    #[test]
    fn key_files_follow_the_signing_key_rules() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.pem");
        let public = dir.path().join("x.pub.pem");
        let g = generate(KeyKind::X25519, &path, Some(&public), false).unwrap();
        assert_eq!(g.public.as_deref(), Some(public.as_path()));
        let mode = std::fs::metadata(&public).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let before = std::fs::read(&path).unwrap();
        // Refused without force, and nothing is written.
        let err = generate(KeyKind::X25519, &path, Some(&public), false).unwrap_err();
        assert!(matches!(err, KeyError::Exists { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let again = generate(KeyKind::X25519, &path, Some(&public), true).unwrap();
        assert_ne!(again.key_id, g.key_id);
        assert_eq!(recipient(&public).unwrap().key_id(), again.key_id);
        // A KEK has no public half.
        let kek = dir.path().join("kek");
        assert!(generate(KeyKind::Aes256Kek, &kek, Some(&public), true).is_err());
        assert!(!kek.exists());
    }

    #[test]
    fn references_open_typed_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.pem");
        let g = generate(KeyKind::X25519, &path, None, false).unwrap();
        let public = g.public.unwrap();
        let by_uri: KeyRef = format!("file:{}", public.display()).parse().unwrap();
        let r = open_recipient(&by_uri, &KeyOptions::default()).unwrap();
        assert_eq!(
            (r.stanza_type(), r.key_id()),
            ("x25519-hpke", g.key_id.as_str())
        );
        // A public key opens only as a recipient: as an identity it is refused with a reason.
        let err = identity(&public).err().unwrap();
        assert_eq!(err.class(), crate::error::ErrorClass::Input);
        assert!(err.to_string().contains("public key"), "{err}");
        assert!(identity(&path).is_ok());
        for refused in ["pkcs11:token=a", "awskms:///", ""] {
            assert!(refused.parse::<KeyRef>().is_err(), "{refused}");
        }
        let missing = recipient(&dir.path().join("nope")).err().unwrap();
        assert!(matches!(missing, KeyError::Unreadable { .. }), "{missing}");
        assert_eq!(missing.class(), crate::error::ErrorClass::Input);
    }

    #[test]
    fn x25519_and_rsa_files_are_told_apart_by_their_algorithm_identifier() {
        let dir = tempfile::tempdir().unwrap();
        for (kind, stanza_type) in [
            (KeyKind::X25519, "x25519-hpke"),
            (KeyKind::Rsa3072, "rsa-oaep"),
        ] {
            let path = dir.path().join(kind.name());
            let g = generate(kind, &path, None, false).unwrap();
            assert_eq!(identity(&path).unwrap().stanza_type(), stanza_type);
            let public = g.public.unwrap();
            assert_eq!(recipient(&public).unwrap().stanza_type(), stanza_type);
        }
        // A signing key is not an encryption key.
        let ec = dir.path().join("ec.pem");
        generate(KeyKind::EcP256, &ec, None, false).unwrap();
        assert!(identity(&ec).is_err());
    }
}
