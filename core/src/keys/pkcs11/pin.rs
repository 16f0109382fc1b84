//! The user PIN: read from the `pin-source` file, or asked for on the terminal, and nothing else.
//!
//! Guarantees: the PIN is held only in a zeroizing buffer ([`cryptoki::types::RawAuthPin`]) that
//! goes straight to `C_Login`; it never appears in an error, `Debug` output or argv. A PIN file that
//! group or others may read is refused (secrets live in files only their owner can read). Without a
//! `pin-source` the PIN is asked for only when stdin is a terminal (no echo), so that unattended runs
//! fail with a clear reason instead of hanging.

use super::error::ErrorKind;
use super::uri::{PinSource, Pkcs11Uri};
use cryptoki::types::RawAuthPin;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use zeroize::Zeroizing;

/// Longest PIN file accepted (a PIN is a short line; anything bigger is the wrong file).
const MAX_PIN_FILE: u64 = 1024;

/// Obtains the user PIN for `uri`'s token.
pub(crate) fn obtain(uri: &Pkcs11Uri, token_label: &str) -> Result<RawAuthPin, ErrorKind> {
    let pin = match &uri.pin_source {
        Some(PinSource::File(path)) => read_pin_file(path)?,
        None => prompt(token_label)?,
    };
    Ok(RawAuthPin::new(Box::new(pin.to_vec())))
}

/// Reads one line from a PIN file that only its owner can read.
fn read_pin_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, ErrorKind> {
    let fail = |reason: String| ErrorKind::Pin(format!("PIN file {}: {reason}", path.display()));
    // The one rule for trust material: a FIFO is refused without blocking, a symlink only
    // inside the file's own directory (a Kubernetes Secret volume's layout).
    let mut file = crate::fs::open_trusted(path)
        .map_err(|e| fail(format!("cannot open ({e})")))?
        .file;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(fail(format!(
            "permissions {mode:o} let others read the PIN; chmod 400 it"
        )));
    }
    if meta.len() > MAX_PIN_FILE {
        return Err(fail(format!("larger than {MAX_PIN_FILE} bytes")));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.by_ref()
        .take(MAX_PIN_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| fail(format!("cannot read ({e})")))?;
    let line = strip_newline(&buf);
    if line.is_empty() {
        return Err(fail("is empty".into()));
    }
    if line.contains(&b'\n') {
        return Err(fail("holds more than one line".into()));
    }
    Ok(Zeroizing::new(line.to_vec()))
}

/// The PIN without one trailing LF or CRLF.
fn strip_newline(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.strip_suffix(b"\r").unwrap_or(buf)
}

/// Asks on the terminal (without echo), only if stdin is one.
fn prompt(token_label: &str) -> Result<Zeroizing<Vec<u8>>, ErrorKind> {
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        return Err(ErrorKind::Pin(
            "the URI has no pin-source and stdin is not a terminal to ask for the PIN; add ?pin-source=file:/path/to/pin-file (a file only you can read)".into(),
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
