//! Reading key, certificate and password files: bounded in size, into zeroizing buffers, with the
//! file's permission bits taken from the open file itself (no check-then-open race).
//!
//! A secret file (private key, passphrase) that group or others may read is refused unless the
//! caller allows it: the key is already exposed to them, and signing with it would hide that.
//! Likewise a key file that group or others can write (or whose directory they can write, outside
//! a read-only mount): they could swap in their own key. Files are opened under the one rule for
//! trust material ([`crate::fs::open_trusted`]): never blocking on a FIFO, a last-component
//! symlink only inside the file's own directory.

use crate::keys::error::KeyError;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use zeroize::Zeroizing;

/// The largest key, certificate or password file we read. Real ones are a few KiB; a chain file
/// with a handful of certificates stays far below this.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;

/// A file's bytes (zeroized on drop), its permission bits, why others could change it, and why
/// others could read it ([`crate::fs::TrustedFile::readers`]).
pub(crate) struct FileBytes {
    pub(crate) bytes: Zeroizing<Vec<u8>>,
    pub(crate) mode: u32,
    pub(crate) exposure: Option<String>,
    pub(crate) readers: Option<String>,
}

/// Reads `path` whole, refusing files over [`MAX_FILE_BYTES`].
pub(crate) fn read(path: &Path) -> Result<FileBytes, KeyError> {
    let io_err = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let opened = crate::fs::open_trusted(path).map_err(|e| match e.kind() {
        // Not readable by this user: say whose it is and how a Kubernetes pod gets to read it.
        _ if e.raw_os_error() == Some(libc::EACCES) => {
            parse_err(path, crate::fs::unreadable_reason(path, &e))
        }
        // Not a regular file, or a symlink out of its directory: the wrong file, not an I/O fault.
        std::io::ErrorKind::InvalidInput | std::io::ErrorKind::PermissionDenied => {
            parse_err(path, e.to_string())
        }
        _ => io_err(e),
    })?;
    let readers = opened.readers().map_err(io_err)?;
    let file = opened.file;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(parse_err(path, "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(parse_err(
            path,
            format!("larger than {MAX_FILE_BYTES} bytes; not a key file"),
        ));
    }
    // Allocate once so that no reallocation leaves an unzeroized copy of a secret behind.
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize + 1));
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(parse_err(
            path,
            format!("larger than {MAX_FILE_BYTES} bytes; not a key file"),
        ));
    }
    Ok(FileBytes {
        bytes,
        mode: meta.permissions().mode() & 0o7777,
        exposure: opened.exposure,
        readers,
    })
}

/// Refuses a key file that group or others can change (see [`FileBytes::exposure`]), unless
/// `allow_insecure`.
pub(crate) fn check_not_writable(
    path: &Path,
    contents: &FileBytes,
    allow_insecure: bool,
) -> Result<(), KeyError> {
    match &contents.exposure {
        Some(reason) if !allow_insecure => Err(KeyError::WritableByOthers {
            path: path.to_path_buf(),
            reason: reason.clone(),
        }),
        _ => Ok(()),
    }
}

/// Refuses a secret file that someone besides its owner may read (the one rule,
/// [`crate::fs::TrustedFile::readers`]: a 0440 file of the process's group on a read-only mount,
/// a Kubernetes Secret volume with `fsGroup`, is not refused), unless `allow_insecure`.
pub(crate) fn check_secret_mode(
    path: &Path,
    contents: &FileBytes,
    allow_insecure: bool,
) -> Result<(), KeyError> {
    if !allow_insecure && contents.readers.is_some() {
        return Err(KeyError::InsecurePermissions {
            path: path.to_path_buf(),
            mode: contents.mode,
        });
    }
    Ok(())
}

/// Reads a secret key file (a KEK, a private key) through the one permission check: refused when
/// group or others may read it, unless `options.allow_insecure_permissions`. The mode is taken
/// from the open file.
pub(crate) fn read_secret(
    path: &Path,
    options: &crate::keys::keyref::KeyOptions,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let contents = read(path)?;
    check_secret_mode(path, &contents, options.allow_insecure_permissions)?;
    check_not_writable(path, &contents, options.allow_insecure_permissions)?;
    Ok(contents.bytes)
}

/// A [`KeyError::Parse`] for `path`.
pub(crate) fn parse_err(path: &Path, reason: impl Into<String>) -> KeyError {
    KeyError::Parse {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Adds the file name to a public-key error (those are raised without one).
pub(crate) fn in_file(path: &Path, err: KeyError) -> KeyError {
    match err {
        KeyError::Invalid { what, reason } => parse_err(path, format!("{what}: {reason}")),
        KeyError::Unsupported(what) => KeyError::Unsupported(format!("{}: {what}", path.display())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A passphrase file as `file:PATH` reads it (the permission check and newline rule live in
    /// `keys::secret`, over this module's reader).
    fn read_password(path: &Path, allow_insecure: bool) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let source = crate::keys::secret::SecretRef::File(path.to_path_buf());
        crate::keys::secret::resolve(&source, allow_insecure)
    }

    fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn password_loses_exactly_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let lf = write(dir.path(), "lf", b"secret\n", 0o600);
        assert_eq!(&read_password(&lf, false).unwrap()[..], b"secret");
        let crlf = write(dir.path(), "crlf", b"secret\r\n", 0o600);
        assert_eq!(&read_password(&crlf, false).unwrap()[..], b"secret");
        let two = write(dir.path(), "two", b"secret\n\n", 0o600);
        assert_eq!(&read_password(&two, false).unwrap()[..], b"secret\n");
        let none = write(dir.path(), "none", b" secret ", 0o600);
        assert_eq!(&read_password(&none, false).unwrap()[..], b" secret ");
    }

    #[test]
    fn refuses_readable_secrets_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o644] {
            let path = write(dir.path(), "pw", b"secret\n", mode);
            match read_password(&path, false) {
                Err(KeyError::InsecurePermissions { mode: m, .. }) => assert_eq!(m, mode),
                other => panic!("mode {mode:o}: expected InsecurePermissions, got {other:?}"),
            }
            assert_eq!(&read_password(&path, true).unwrap()[..], b"secret");
        }
        // Write or execute bits for others do not expose the secret.
        let path = write(dir.path(), "pw2", b"secret", 0o620);
        assert!(read_password(&path, false).is_ok());
    }

    #[test]
    fn refuses_oversized_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let big = write(
            dir.path(),
            "big",
            &vec![b'a'; MAX_FILE_BYTES as usize + 1],
            0o600,
        );
        let err = read(&big).err().unwrap().to_string();
        assert!(err.contains("big") && err.contains("larger than"), "{err}");
        let err = read(dir.path()).err().unwrap().to_string();
        assert!(err.contains("only regular files"), "{err}");
        let err = read(&dir.path().join("missing")).err().unwrap();
        assert!(matches!(err, KeyError::Io { .. }), "{err:?}");
    }
}
