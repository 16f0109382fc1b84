//! `env:NAME`: a secret in an environment variable the user names — the weakest source: every
//! child process inherits it and `/proc/PID/environ` shows it to the same user, so `docs/secrets.md`
//! recommends it only where nothing else is available (some CI runners).

use super::SecretBytes;
use std::os::unix::ffi::OsStringExt;
use zeroize::Zeroizing;

/// The variable's value; an unset or empty variable is an error naming it.
pub(super) fn read(name: &str) -> Result<SecretBytes, String> {
    let value = std::env::var_os(name)
        .map(|v| Zeroizing::new(v.into_vec()))
        .ok_or_else(|| format!("the environment variable {name} is not set"))?;
    if value.is_empty() {
        return Err(format!("the environment variable {name} is empty"));
    }
    Ok(value)
}
