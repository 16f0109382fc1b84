//! The user PIN: from the `pin-source` secret reference (`file:`, `fd:`, `env:`, `awssm://`:
//! [`crate::keys::secret`]), or asked for on the terminal, and nothing else.
//!
//! Guarantees: the PIN is held only in zeroizing buffers, the last ([`cryptoki::types::RawAuthPin`])
//! going straight to `C_Login`; it never appears in an error, `Debug` output or argv. A PIN file
//! that someone besides its owner may read (the one rule of [`crate::fs::TrustedFile::readers`],
//! which accepts a Kubernetes Secret volume as mounted) or that group or others could replace is
//! refused. Without a `pin-source` the PIN is asked for only when stdin is a terminal (no echo), so
//! that unattended runs fail with a clear reason instead of hanging.

use super::error::ErrorKind;
use super::uri::{PinSource, Pkcs11Uri};
use crate::keys::error::KeyError;
use crate::keys::secret::{self, SecretRef};
use cryptoki::types::RawAuthPin;
use zeroize::Zeroizing;

/// Longest PIN accepted (a PIN is a short line; anything bigger is the wrong file or secret).
const MAX_PIN_BYTES: usize = 1024;

/// Obtains the user PIN for `uri`'s token.
pub(crate) fn obtain(uri: &Pkcs11Uri, token_label: &str) -> Result<RawAuthPin, ErrorKind> {
    let pin = match &uri.pin_source {
        Some(source) => read_pin(source)?,
        None => prompt(token_label)?,
    };
    Ok(RawAuthPin::new(Box::new(pin.to_vec())))
}

/// Reads one line from the PIN's source.
fn read_pin(source: &PinSource) -> Result<Zeroizing<Vec<u8>>, ErrorKind> {
    let named = match source {
        SecretRef::File(path) => format!("PIN file {}", path.display()),
        other => format!("PIN from {other}"),
    };
    let fail = |reason: String| ErrorKind::Pin(format!("{named}: {reason}"));
    if let SecretRef::File(path) = source {
        // A PIN file others could replace is refused too (they would choose the PIN we send).
        let opened =
            crate::fs::open_trusted(path).map_err(|e| fail(format!("cannot open ({e})")))?;
        if let Some(reason) = opened.exposure {
            return Err(fail(format!("{reason}; chmod go-w it")));
        }
    }
    let pin = secret::resolve(source, false).map_err(|e| match e {
        KeyError::InsecurePermissions { mode, .. } => fail(format!(
            "permissions {mode:o} let others read the PIN; {}",
            crate::fs::open::SECRET_MODE_FIX
        )),
        KeyError::Secret { reason, .. } => fail(reason),
        KeyError::Parse { reason, .. } => fail(reason),
        other => fail(other.to_string()),
    })?;
    if pin.len() > MAX_PIN_BYTES {
        return Err(fail(format!("larger than {MAX_PIN_BYTES} bytes")));
    }
    if pin.is_empty() {
        return Err(fail("is empty".into()));
    }
    if pin.contains(&b'\n') {
        return Err(fail("holds more than one line".into()));
    }
    Ok(pin)
}

/// Asks on the terminal (without echo), only if stdin is one.
fn prompt(token_label: &str) -> Result<Zeroizing<Vec<u8>>, ErrorKind> {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return Err(ErrorKind::Pin(
            "the URI has no pin-source and stdin is not a terminal to ask for the PIN; add ?pin-source=file:/path/to/pin-file (a file only you can read, or another secret reference: docs/secrets.md)".into(),
        ));
    }
    let pin = rpassword::prompt_password(format!("User PIN for PKCS#11 token {token_label:?}: "))
        .map(|s| Zeroizing::new(s.into_bytes()))
        .map_err(|e| ErrorKind::Pin(format!("cannot read the PIN from the terminal ({e})")))?;
    if pin.is_empty() {
        return Err(ErrorKind::Pin("no PIN entered".into()));
    }
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn read_pin_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, ErrorKind> {
        read_pin(&SecretRef::File(path.to_path_buf()))
    }

    #[test]
    fn pin_files_are_checked_and_never_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, "s3cret-pin\r\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(&read_pin_file(&path).unwrap()[..], b"s3cret-pin");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_pin_file(&path).unwrap_err().to_string();
        assert!(err.contains("permissions 640"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "a\nb\n").unwrap();
        let err = read_pin_file(&path).unwrap_err().to_string();
        assert!(err.contains("more than one line"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        assert!(read_pin_file(&path)
            .unwrap_err()
            .to_string()
            .contains("empty"));

        // A symlink is followed only inside the PIN file's own directory (a Kubernetes Secret
        // volume's `pin -> ..data/pin`), never out of it (issue 17).
        std::fs::write(&path, "s3cret-pin\n").unwrap();
        let sub = dir.path().join("secret");
        std::fs::create_dir(&sub).unwrap();
        std::os::unix::fs::symlink("../pin", sub.join("out")).unwrap();
        let err = read_pin_file(&sub.join("out")).unwrap_err().to_string();
        assert!(err.contains("leading out"), "{err}");
        std::os::unix::fs::symlink("pin", dir.path().join("inside")).unwrap();
        assert_eq!(
            &read_pin_file(&dir.path().join("inside")).unwrap()[..],
            b"s3cret-pin"
        );
        assert!(read_pin_file(&dir.path().join("missing")).is_err());
    }

    /// Issue 17 item 2: a FIFO as the PIN file is refused at once instead of blocking the open.
    #[test]
    fn a_fifo_pin_file_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pin");
        crate::fs::open::make_fifo(&fifo).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(read_pin_file(&fifo).map(|_| ()).map_err(|e| e.to_string()));
        });
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO PIN file blocked");
        let err = result.unwrap_err();
        assert!(err.contains("fifo"), "{err}");
    }
}
