//! Secret references: the one syntax for where a PIN or a key passphrase comes from, in the CLI
//! (`--key-password REF`), PKCS#11 URIs (`pin-source=REF`), Python (`key_password=REF`) and
//! policy files (through their `pkcs11:` URIs). `docs/secrets.md` is the user's guide.
//!
//! The sources, one file each:
//! - `file:PATH` (`file`): a file only its owner can read (or the Kubernetes Secret
//!   volume layout, by the one rule of [`crate::fs::TrustedFile::readers`]);
//! - `fd:N` (`fd`): a descriptor the process inherited (a pipe), read once and closed;
//! - `env:NAME` (`env`): an environment variable the user names, the weakest source (children
//!   inherit it and `/proc/PID/environ` shows it to the same user);
//! - `awssm://SECRET-ID[?version-id=V][&json-key=K]` (`awssm`): AWS Secrets Manager through the
//!   SDK's standard credential chain (environment, profile, web identity, container and instance
//!   metadata), behind the `awssm` cargo feature.
//!
//! Room for more: a Vault KV or Azure Key Vault source is one variant of [`SecretRef`], one file
//! here and one arm in [`resolve`]; until then `vault://` and `azurekv://` are recognised and
//! refused with a reason, so that such a string is never mistaken for something else.
//!
//! Guarantees: a resolved value lives only in a [`Zeroizing`] buffer and never appears in an
//! error, a log line or `Debug` output (a [`SecretRef`] holds no value, only where it is). A source
//! that cannot be read twice (`fd:`) or costs a request (`awssm://`) is read once per process:
//! later uses get the same value.

mod awssm;
mod env;
mod fd;
mod file;
pub mod reference;

pub use reference::{AwsSecretRef, SecretRef};

use crate::keys::error::KeyError;
use std::collections::HashMap;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// The largest secret accepted from any source (a PIN or a passphrase is a short line; the
/// bound of key files, so that a wrong file or variable is refused rather than held).
pub const MAX_SECRET_BYTES: usize = 1 << 20;

impl std::str::FromStr for SecretRef {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<SecretRef, KeyError> {
        SecretRef::parse(text).map_err(|reason| KeyError::Secret {
            reference: reference::shown_if_reference(text),
            reason,
        })
    }
}

/// A resolved secret: the bytes, zeroized on drop, with one trailing `\n` or `\r\n` removed (what
/// `echo pass > file` and editors add).
pub type SecretBytes = Zeroizing<Vec<u8>>;

/// Values read once per process (`fd:`, `awssm://`), by reference text (with `json-key` left out,
/// so that two keys of one secret cost one request).
static READ_ONCE: Mutex<Option<HashMap<String, SecretBytes>>> = Mutex::new(None);

/// Obtains the secret `reference` names. A `file:` is refused when someone besides its owner may
/// read it (the one rule, [`crate::fs::TrustedFile::readers`]) unless `allow_insecure`, with
/// [`KeyError::InsecurePermissions`]; other failures are [`KeyError::Secret`] or the file's I/O
/// and parse errors, all naming the reference and never the value.
pub fn resolve(reference: &SecretRef, allow_insecure: bool) -> Result<SecretBytes, KeyError> {
    let fail = |reason: String| KeyError::Secret {
        reference: reference.to_string(),
        reason,
    };
    let mut value = match reference {
        SecretRef::File(path) => file::read(path, allow_insecure)?,
        SecretRef::Env(name) => env::read(name).map_err(fail)?,
        SecretRef::Fd(n) => read_once(&reference.to_string(), || fd::read(*n)).map_err(fail)?,
        SecretRef::AwsSm(r) => {
            let whole = read_once(&r.without_json_key(), || awssm::fetch(r)).map_err(fail)?;
            match r.json_key() {
                Some(key) => awssm::json_field(&whole, key).map_err(fail)?,
                None => whole,
            }
        }
    };
    if value.len() > MAX_SECRET_BYTES {
        return Err(fail(format!(
            "larger than {MAX_SECRET_BYTES} bytes; not a PIN or passphrase"
        )));
    }
    strip_newline(&mut value);
    Ok(value)
}

/// The value cached under `key`, or `read()`'s, kept for the rest of the process.
fn read_once(
    key: &str,
    read: impl FnOnce() -> Result<SecretBytes, String>,
) -> Result<SecretBytes, String> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
    let mut cache = READ_ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    if let Some(value) = map.get(key) {
        return Ok(value.clone());
    }
    let value = read()?;
    map.insert(key.to_string(), value.clone());
    Ok(value)
}

/// Removes one trailing `\n` or `\r\n`.
fn strip_newline(value: &mut SecretBytes) {
    if value.last() == Some(&b'\n') {
        value.pop();
        if value.last() == Some(&b'\r') {
            value.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_lose_one_newline_and_never_show() {
        let name = "MODELSEAL_TEST_SECRET_ENV_UNIT";
        std::env::set_var(name, "s3cret-value\n");
        let reference = SecretRef::parse(&format!("env:{name}")).unwrap();
        assert_eq!(&resolve(&reference, false).unwrap()[..], b"s3cret-value");
        std::env::remove_var(name);
        let err = resolve(&reference, false).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(text.contains(name) && text.contains("not set"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
}
