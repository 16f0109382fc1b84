//! Reading and authenticating an encrypted model's envelope (`docs/FORMAT.md` §10 steps 1–8), and
//! the file-system moves every operation ends with (atomic commit of a temporary output).
//!
//! Guarantee: an [`Opened`] exists only after the header parsed under every limit, one stanza
//! unwrapped, and the header MAC verified — the rest of `seal` never acts on an unauthenticated
//! header.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::format::{
    decode_prefix, envelope_len, Header, Layout, Stanza, ENVELOPE_NAME, MAC_LEN, PREFIX_LEN,
};
use super::keyschedule::{body_digest, KeySchedule};
use super::SealError;
use crate::keys::wrapping::DataKey;
use crate::keys::wrapping::{Identity, WrapContext};

/// Where the encrypted model lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// A directory `E` with `E/modelseal.envelope`.
    Directory(PathBuf),
    /// One file.
    SingleFile(PathBuf),
}

/// An authenticated envelope.
pub struct Opened {
    /// The encrypted model's form.
    pub form: Form,
    /// The authenticated header.
    pub header: Header,
    /// The data key (zeroized on drop).
    pub dek: DataKey,
    /// `SHA-256(body_bytes)`.
    pub body_digest: [u8; 32],
    /// `46 + header_len`: where a single-file payload starts.
    pub envelope_len: u64,
    /// The file holding the envelope.
    pub envelope_path: PathBuf,
}

/// Opens a file for reading without following a symlink at its last component.
pub(crate) fn open_nofollow(path: &Path) -> Result<File, SealError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| SealError::io(path, e))
}

/// §10 step 1: the form of `encrypted`.
pub fn find_form(encrypted: &Path) -> Result<(Form, PathBuf), SealError> {
    let meta = encrypted
        .symlink_metadata()
        .map_err(|e| SealError::io(encrypted, e))?;
    if meta.is_dir() {
        let env = encrypted.join(ENVELOPE_NAME);
        if env.symlink_metadata().is_err() {
            return Err(SealError::format(
                encrypted,
                format!("not an encrypted model directory (no {ENVELOPE_NAME})"),
            ));
        }
        Ok((Form::Directory(encrypted.to_path_buf()), env))
    } else if meta.is_file() {
        Ok((
            Form::SingleFile(encrypted.to_path_buf()),
            encrypted.to_path_buf(),
        ))
    } else {
        Err(SealError::format(
            encrypted,
            "neither a directory nor a regular file",
        ))
    }
}

/// The parsed (not yet authenticated) envelope.
pub struct RawEnvelope {
    /// The encrypted model's form.
    pub form: Form,
    /// The file holding the envelope.
    pub envelope_path: PathBuf,
    /// `prefix ‖ header_bytes`: the MAC input.
    pub mac_input: Vec<u8>,
    /// The header MAC read from the file.
    pub mac: [u8; MAC_LEN],
    /// The decoded header (unauthenticated).
    pub header: Header,
}

/// §10 steps 1–4: read and parse the envelope with limits; nothing is authenticated yet (this is
/// what `inspect` shows).
pub fn read_envelope(encrypted: &Path) -> Result<RawEnvelope, SealError> {
    let (form, env_path) = find_form(encrypted)?;
    let mut f = open_nofollow(&env_path)?;
    let meta = f.metadata().map_err(|e| SealError::io(&env_path, e))?;
    if !meta.is_file() {
        return Err(SealError::format(&env_path, "not a regular file"));
    }
    let total = meta.len();
    let mut prefix = [0u8; PREFIX_LEN];
    read_full(&mut f, &mut prefix, &env_path)?;
    let header_len = decode_prefix(&prefix, &env_path)?;
    let need = envelope_len(header_len) as u64;
    let fits = match form {
        Form::Directory(_) => need == total,
        Form::SingleFile(_) => need <= total,
    };
    if !fits {
        return Err(SealError::format(
            &env_path,
            format!("envelope of {need} bytes does not match the file length {total}"),
        ));
    }
    let mut mac_input = vec![0u8; PREFIX_LEN + header_len];
    mac_input[..PREFIX_LEN].copy_from_slice(&prefix);
    read_full(&mut f, &mut mac_input[PREFIX_LEN..], &env_path)?;
    let mut mac = [0u8; MAC_LEN];
    read_full(&mut f, &mut mac, &env_path)?;
    let header = Header::decode(&mac_input[PREFIX_LEN..], &env_path)?;
    let want = match form {
        Form::Directory(_) => Layout::Directory,
        Form::SingleFile(_) => Layout::SingleFile,
    };
    if header.body.layout != want {
        return Err(SealError::format(
            &env_path,
            format!(
                "layout {:?} does not match the input form",
                header.body.layout
            ),
        ));
    }
    Ok(RawEnvelope {
        form,
        envelope_path: env_path,
        mac_input,
        mac,
        header,
    })
}

fn read_full(f: &mut File, buf: &mut [u8], path: &Path) -> Result<(), SealError> {
    f.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            SealError::format(path, "file ends inside the envelope")
        }
        _ => SealError::io(path, e),
    })
}

/// The stanza for `identity` (§8.1), or [`SealError::NoRecipient`] listing every stanza.
pub fn select<'h>(
    stanzas: &'h [Stanza],
    identity: &dyn Identity,
    path: &Path,
) -> Result<&'h Stanza, SealError> {
    identity
        .select(stanzas)
        .map_err(|e| with_path(e, path))?
        .ok_or_else(|| SealError::NoRecipient {
            path: path.to_path_buf(),
            stanza_type: identity.stanza_type().to_owned(),
            key_id: identity.key_id().to_owned(),
            recipients: stanzas
                .iter()
                .map(|s| format!("{} {}", s.stanza_type, s.key_id))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// §10 steps 1–8: parse, select, unwrap, verify the header MAC.
pub fn open_authenticated(encrypted: &Path, identity: &dyn Identity) -> Result<Opened, SealError> {
    let raw = read_envelope(encrypted)?;
    let path = raw.envelope_path.clone();
    let digest = body_digest(&raw.header.body_bytes);
    let ctx = WrapContext {
        body_digest: digest,
        model_name: &raw.header.body.model_name,
    };
    let stanza = select(&raw.header.stanzas, identity, &path)?;
    let dek = identity
        .unwrap(stanza, &ctx)
        .map_err(|e| with_path(e, &path))?;
    if !dek.verify_header_mac(&raw.mac_input, &raw.mac) {
        return Err(SealError::HeaderAuth { path });
    }
    Ok(Opened {
        form: raw.form,
        envelope_len: raw.mac_input.len() as u64 + MAC_LEN as u64,
        header: raw.header,
        dek,
        body_digest: digest,
        envelope_path: path,
    })
}

/// Converts a key's error and fills in the envelope path of errors raised without one.
fn with_path(e: impl Into<SealError>, path: &Path) -> SealError {
    match e.into() {
        SealError::Unwrap {
            stanza_type,
            key_id,
            ..
        } => SealError::Unwrap {
            path: path.to_path_buf(),
            stanza_type,
            key_id,
        },
        SealError::UnwrapRefused {
            stanza_type,
            key_id,
            reason,
            ..
        } => SealError::UnwrapRefused {
            path: path.to_path_buf(),
            stanza_type,
            key_id,
            reason,
        },
        SealError::Format { path: p, reason } if p.as_os_str().is_empty() => SealError::Format {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    }
}

/// `prefix ‖ header_bytes ‖ header_mac` for `header` under `dek` (§4.1, §6.3).
pub fn build_envelope(header: &Header, dek: &DataKey) -> Result<Vec<u8>, SealError> {
    let header_bytes = header.encode()?;
    let mut out = super::format::encode_prefix(header_bytes.len())?.to_vec();
    out.extend_from_slice(&header_bytes);
    let mac = dek.header_mac(&out);
    out.extend_from_slice(&mac);
    Ok(out)
}

/// Writes the file `target` through a private (0600) temporary file beside it: `fill` writes the
/// content, then the file gets `mode`, is fsynced, and is moved into place (never replacing an
/// existing target unless `overwrite`). On any error nothing remains.
///
/// On Linux the temporary is an unnamed `O_TMPFILE`, linked into the directory only after `fill`
/// succeeded (after authentication, for decryption): a process killed before that leaves nothing
/// at all, not even a temporary for the next run to remove. Where `O_TMPFILE` is unavailable (other
/// systems, file systems without it, no `/proc`), a named temporary that the next run removes.
pub(crate) fn write_file_beside(
    target: &Path,
    mode: u32,
    overwrite: bool,
    fill: impl FnOnce(&std::fs::File) -> Result<(), SealError>,
) -> Result<(), SealError> {
    let parent = parent_dir(target);
    match unnamed_temporary(&parent) {
        Some(file) => {
            fill(&file)?;
            finish_file(&file, target, mode)?;
            link_into_place(&file, target, overwrite)
        }
        None => write_named_beside(target, &parent, mode, overwrite, fill),
    }
}

fn finish_file(f: &std::fs::File, target: &Path, mode: u32) -> Result<(), SealError> {
    use std::os::unix::fs::PermissionsExt;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|_| f.sync_all())
        .map_err(|e| SealError::io(target, e))
}

/// An unnamed temporary file in `dir` (Linux `O_TMPFILE`, mode 0600), if the system and the file
/// system support it and `/proc/self/fd` is there to link it by.
fn unnamed_temporary(dir: &Path) -> Option<std::fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if !Path::new("/proc/self/fd").is_dir() {
            return None;
        }
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
            .ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        None
    }
}

/// Gives the unnamed `file` the name `target`: directly when the target must not exist (the link
/// fails if it does, so a racing creator is never replaced), else under a temporary name that
/// [`commit`] then exchanges with the old target.
fn link_into_place(file: &std::fs::File, target: &Path, overwrite: bool) -> Result<(), SealError> {
    use std::os::unix::io::AsRawFd;
    let proc_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let link = |to: &Path| -> std::io::Result<()> {
        let (from, to) = (c_path(&proc_path)?, c_path(to)?);
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    let exists = target.symlink_metadata().is_ok();
    if !exists {
        match link(target) {
            Ok(()) => return sync_parent(target),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && overwrite => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(already_exists(target))
            }
            Err(e) => return Err(SealError::io(target, e)),
        }
    } else if !overwrite {
        return Err(already_exists(target));
    }
    // Replacing: a named temporary (removed by the next run if we die now), then an exchange.
    let tmp = parent_dir(target).join(format!(
        "{}{}",
        temp_prefix(target),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    ));
    link(&tmp).map_err(|e| SealError::io(target, e))?;
    let result = commit(&tmp, target, true);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn already_exists(target: &Path) -> SealError {
    SealError::Usage(format!(
        "{}: already exists (use the overwrite option to replace it)",
        target.display()
    ))
}

fn sync_parent(target: &Path) -> Result<(), SealError> {
    let parent = parent_dir(target);
    crate::fs::atomic::sync_dir(&parent).map_err(|e| SealError::io(&parent, e))
}

/// [`write_file_beside`] with a named temporary (`tempfile`, 0600), for systems without
/// `O_TMPFILE`.
fn write_named_beside(
    target: &Path,
    parent: &Path,
    mode: u32,
    overwrite: bool,
    fill: impl FnOnce(&std::fs::File) -> Result<(), SealError>,
) -> Result<(), SealError> {
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .tempfile_in(parent)
        .map_err(|e| SealError::io(parent, e))?;
    fill(tmp.as_file())?;
    finish_file(tmp.as_file(), target, mode)?;
    let tmp_path = tmp.into_temp_path();
    commit(&tmp_path, target, overwrite)?;
    // Renamed away: nothing left for the guard to delete.
    let _ = tmp_path.keep();
    Ok(())
}

/// Moves the finished temporary output `tmp` to `target` atomically: never replacing an existing
/// target unless `overwrite`, and then by an atomic exchange (the old target is removed after).
pub(crate) fn commit(tmp: &Path, target: &Path, overwrite: bool) -> Result<(), SealError> {
    let exists = target.symlink_metadata().is_ok();
    if exists && !overwrite {
        return Err(SealError::Usage(format!(
            "{}: already exists (use the overwrite option to replace it)",
            target.display()
        )));
    }
    if exists {
        rename_exchange(tmp, target).map_err(|e| SealError::io(target, e))?;
        // `tmp` now names the old target.
        let old = tmp.symlink_metadata().map_err(|e| SealError::io(tmp, e))?;
        let removed = if old.is_dir() {
            std::fs::remove_dir_all(tmp)
        } else {
            std::fs::remove_file(tmp)
        };
        removed.map_err(|e| SealError::io(tmp, e))?;
    } else {
        rename_noreplace(tmp, target).map_err(|e| SealError::io(target, e))?;
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::fs::atomic::sync_dir(parent).map_err(|e| SealError::io(parent, e))
}

fn c_path(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let (f, t) = (c_path(from)?, c_path(to)?);
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    renameat2(from, to, libc::RENAME_NOREPLACE)
}

fn rename_exchange(from: &Path, to: &Path) -> std::io::Result<()> {
    renameat2(from, to, libc::RENAME_EXCHANGE)
}

/// The directory that holds `target`, for temporaries beside it.
pub(crate) fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Marks a temporary output beside its target: `.<target name>.modelseal-tmp.<pid>.<random>`.
const TEMP_TAG: &str = ".modelseal-tmp.";

/// The name stem of temporaries for `target` (without the pid).
fn temp_stem(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    // Keep room for the tag, the pid and tempfile's random suffix within NAME_MAX (255 bytes).
    let mut cut = name.len().min(160);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}{TEMP_TAG}", &name[..cut])
}

/// The prefix for a temporary output beside `target` made by this process: the target name and
/// the pid make it recognisable, so a later run can remove it if this process dies (§14.7).
pub(crate) fn temp_prefix(target: &Path) -> String {
    format!("{}{}.", temp_stem(target), std::process::id())
}

/// Removes temporaries beside `target` left by modelseal processes that no longer run (killed or
/// crashed mid-way, §14.7): entries named `.<target name>.modelseal-tmp.<pid>.*` whose process is
/// gone and which the current user owns. Entries of a live process are left alone, so a run
/// never disturbs a concurrent one. Returns how many were removed.
pub(crate) fn clean_stale_temporaries(target: &Path) -> Result<usize, SealError> {
    use std::os::unix::fs::MetadataExt;
    let parent = parent_dir(target);
    let stem = temp_stem(target);
    let entries = match std::fs::read_dir(&parent) {
        Ok(entries) => entries,
        // A missing parent fails later with a clearer error when the output is created.
        Err(_) => return Ok(0),
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&stem)) else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.uid() != me || process_alive(pid) {
            continue;
        }
        let path = entry.path();
        // Read-only directories inside (a killed unseal's 0500 ones) must not stop the cleanup.
        crate::fs::atomic::remove_tree(&path).map_err(|e| SealError::io(&path, e))?;
        removed += 1;
    }
    Ok(removed)
}

/// Whether process `pid` exists (signal 0 checks without sending anything). A pid that is not
/// ours to signal counts as alive: only a certainly dead owner's temporaries are removed.
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 only checks for the process; it has no memory effects.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod temp_tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn single_file_outputs_are_unnamed_until_complete() {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        write_file_beside(&target, 0o600, false, |mut f| {
            // On Linux (O_TMPFILE) the file being written has no name in the directory.
            #[cfg(target_os = "linux")]
            assert_eq!(names(dir.path()), Vec::<String>::new());
            f.write_all(b"plaintext").map_err(|e| SealError::io("t", e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"plaintext");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A failed fill leaves nothing, and an existing target is kept unless overwriting.
        let err = write_file_beside(&dir.path().join("other"), 0o600, false, |_| {
            Err(SealError::Usage("fill failed".into()))
        });
        assert!(err.is_err());
        let err = write_file_beside(&target, 0o600, false, |_| Ok(())).unwrap_err();
        assert_eq!(err.code(), "usage");
        assert_eq!(names(dir.path()), ["out"]);
        write_file_beside(&target, 0o644, true, |mut f| {
            f.write_all(b"new").map_err(|e| SealError::io("t", e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["out"]);
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        // A pid above the kernel's maximum (4194304) never runs.
        let dead = dir.path().join(".out.modelseal-tmp.999999999.abc");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("plain"), b"secret").unwrap();
        let live = dir.path().join(format!("{}xyz", temp_prefix(&target)));
        std::fs::write(&live, b"in use").unwrap();
        let other = dir.path().join(".other.modelseal-tmp.999999999.abc");
        std::fs::write(&other, b"not ours").unwrap();
        assert_eq!(clean_stale_temporaries(&target).unwrap(), 1);
        assert!(!dead.exists());
        assert!(live.exists(), "this process is alive");
        assert!(
            other.exists(),
            "another target's temporaries are left alone"
        );
    }
}
