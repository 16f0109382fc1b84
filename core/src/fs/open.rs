//! The one rule for opening a file the tool reads.
//!
//! Model files, signatures and envelopes ([`open_nofollow`]; [`open_following`] for the files of a
//! model signed with `allow_symlinks`) are opened with `O_NONBLOCK | O_NOCTTY` — so that a FIFO or
//! a device swapped in for a file cannot block the open or become the controlling terminal —
//! `fstat`ed, refused unless they are regular files, and only then put back in blocking mode.
//! What is read is therefore the regular file that was checked, never whatever a path names later.
//!
//! Trust material — a policy, a Rego file, keys, PIN and password files — is opened with
//! [`open_trusted`]: the same rule, except that the last component may be a symlink as long as it
//! resolves inside its own directory (the Kubernetes atomic-writer layout
//! `x -> ..data/x -> ..2026_…/x`), never one that leads out of it. [`TrustedFile::exposure`] says
//! whether group or others could rewrite it (the file, or its directory unless sticky), except on
//! a read-only mount: Kubernetes Secret and ConfigMap volumes are read-only mounts whose roots
//! look world-writable. [`TrustedFile::readers`] is the one rule for who else may read a secret
//! (a PIN, a passphrase, a key): only the owner, or the file's group when it is 0440, the group is
//! one of the process's and the file sits on a read-only mount (a Secret volume with `fsGroup`).

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// Permission bits that let group or others write.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// Opens `path` for reading under the one rule, refusing a symlink at its last component (it fails
/// with `ELOOP`) and anything but a regular file (a FIFO, a device, a socket, a directory), without
/// ever blocking on the open.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    open_regular(path, libc::O_NOFOLLOW)
}

/// [`open_nofollow`] for a file reached through a symlink the caller allows (a model signed with
/// `allow_symlinks`): the link is followed, what it leads to must still be a regular file.
pub fn open_following(path: &Path) -> io::Result<File> {
    open_regular(path, 0)
}

fn open_regular(path: &Path, extra_flags: libc::c_int) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | extra_flags)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta));
    }
    set_blocking(&file)?;
    Ok(file)
}

/// What kind of file `meta` describes, in words for a message (`"a named pipe (fifo)"`).
pub fn kind_name(meta: &Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_file() {
        "a regular file"
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symlink"
    } else if kind.is_fifo() {
        "a named pipe (fifo)"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_char_device() {
        "a character device"
    } else {
        "an unknown kind of file"
    }
}

/// The error for a special file named where a regular file is read.
fn not_regular(meta: &Metadata) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("is {}; only regular files are read", kind_name(meta)),
    )
}

/// Clears `O_NONBLOCK` (set only so that the open itself cannot block) on a checked regular file.
fn set_blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is an open descriptor owned by `file` for the whole call; F_GETFL/F_SETFL only
    // read and set its status flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A trust file opened by [`open_trusted`].
#[derive(Debug)]
pub struct TrustedFile {
    /// The open regular file.
    pub file: File,
    /// Why group or others could replace or rewrite it (`None` when they cannot, or when it lies
    /// on a read-only mount). Callers refuse it unless the operator allows insecure permissions.
    pub exposure: Option<String>,
}

/// Permission bits that let group or others read a file.
const READABLE_BY_OTHERS: u32 = 0o044;

/// How to fix a secret file that others may read, for every message that refuses one.
pub const SECRET_MODE_FIX: &str = "chmod 400 it (on Kubernetes: `defaultMode: 0400` on the Secret volume, `runAsUser` matching the file's owner, or 0440 with `fsGroup` on the read-only Secret volume)";

/// Why this process may not read `path`, after opening it failed with `EACCES`: who owns it,
/// its mode, this process's user, and the fix on Kubernetes, where a Secret volume's files belong
/// to root unless the pod says otherwise. Falls back to the plain error when `path` cannot even
/// be looked at (a directory on the way is not searchable).
pub fn unreadable_reason(path: &Path, error: &io::Error) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return error.to_string();
    };
    let uid = crate::fs::commit::effective_uid();
    // A root-owned Secret is the kubelet's default; a non-root pod cannot become root.
    let run_as = if meta.uid() == 0 {
        String::new()
    } else {
        format!(" or `runAsUser: {}`", meta.uid())
    };
    format!(
        "{error}: it belongs to uid {} (group {}, mode {:o}) and this process runs as uid {uid}; \
         on Kubernetes, set the pod's `securityContext.fsGroup` (the kubelet then makes the \
         read-only Secret volume's files 0440 of that group, which is accepted){run_as}",
        meta.uid(),
        meta.gid(),
        meta.mode() & 0o7777,
    )
}

impl TrustedFile {
    /// Why someone besides the file's owner may read it, by the one rule for secret files: `None`
    /// for a file only its owner can read (0400, 0600), or for a 0440 file whose group is one of
    /// the process's groups on a read-only mount (a Kubernetes Secret volume with `fsGroup`);
    /// otherwise the reason, naming the fix (`defaultMode: 0400`, `fsGroup`, `runAsUser`).
    pub fn readers(&self) -> io::Result<Option<String>> {
        let meta = self.file.metadata()?;
        let group_shared = meta.mode() & 0o077 == 0o040 && in_process_groups(meta.gid())?;
        let read_only = group_shared && on_read_only_mount(&self.file)?;
        Ok(readers_rule(meta.mode(), group_shared, read_only))
    }
}

/// [`TrustedFile::readers`] on its facts: the file's `mode`, whether its group is one of the
/// process's (`group_shared`, only asked for a 0440-style mode) and whether it sits on a read-only
/// mount. Separate so that a test can reach every branch without mounting anything.
fn readers_rule(mode: u32, group_shared: bool, read_only: bool) -> Option<String> {
    let mode = mode & 0o777;
    if mode & READABLE_BY_OTHERS == 0 {
        return None;
    }
    if mode & 0o077 == 0o040 && group_shared && read_only {
        return None;
    }
    let why = if mode & 0o004 != 0 {
        "others can read it"
    } else if mode & 0o077 != 0o040 {
        "its group can do more than read it"
    } else if !group_shared {
        "its group is not one of this process's groups"
    } else {
        "its group can read it and it is not on a read-only mount"
    };
    Some(format!("mode {mode:o}: {why}; {SECRET_MODE_FIX}"))
}

/// Whether `gid` is the process's effective group or one of its supplementary groups.
fn in_process_groups(gid: u32) -> io::Result<bool> {
    // SAFETY: getegid has no preconditions.
    if unsafe { libc::getegid() } == gid {
        return Ok(true);
    }
    // SAFETY: with size 0 getgroups only returns the count, writing nothing.
    let count = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if count < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut groups = vec![0 as libc::gid_t; count as usize];
    // SAFETY: `groups` has room for `count` entries, the size passed.
    let got = unsafe { libc::getgroups(count, groups.as_mut_ptr()) };
    if got < 0 {
        return Err(io::Error::last_os_error());
    }
    groups.truncate(got as usize);
    Ok(groups.contains(&gid))
}

/// Opens trust material at `path` under the one rule, accepting a last-component symlink only when
/// it resolves inside `path`'s own directory.
pub fn open_trusted(path: &Path) -> io::Result<TrustedFile> {
    let target = resolve_inside_own_dir(path)?;
    let file = open_nofollow(&target)?;
    let exposure = exposure(&file, &target)?;
    Ok(TrustedFile { file, exposure })
}

/// Why group or others could change the regular file `path` finally names (every symlink
/// followed, as `dlopen` does) — see [`TrustedFile::exposure`]. For a file the process will load
/// as code, such as a PKCS#11 module.
pub fn exposure_of(path: &Path) -> io::Result<Option<String>> {
    let target = path.canonicalize()?;
    let file = open_nofollow(&target)?;
    exposure(&file, &target)
}

/// `path` itself when its last component is not a symlink, else its canonical target, which must
/// lie inside the canonical directory holding `path`.
fn resolve_inside_own_dir(path: &Path) -> io::Result<PathBuf> {
    if !path.symlink_metadata()?.file_type().is_symlink() {
        return Ok(path.to_path_buf());
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = dir.canonicalize()?;
    let target = path.canonicalize()?;
    if !target.starts_with(&dir) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "is a symlink leading out of its directory (to {}); trust files may only link inside their own directory",
                target.display()
            ),
        ));
    }
    Ok(target)
}

/// Why group or others could change the open `file` (found at `path`): its own mode, or its
/// directory's (unless sticky, where others cannot rename or remove what they do not own).
fn exposure(file: &File, path: &Path) -> io::Result<Option<String>> {
    if on_read_only_mount(file)? {
        return Ok(None);
    }
    let mode = file.metadata()?.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Ok(Some(format!("mode {mode:o} lets group or others write it")));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir_mode = std::fs::metadata(dir)?.mode() & 0o7777;
    if dir_mode & WRITABLE_BY_OTHERS != 0 && dir_mode & libc::S_ISVTX == 0 {
        return Ok(Some(format!(
            "its directory {} (mode {dir_mode:o}) lets group or others replace it",
            dir.display()
        )));
    }
    Ok(None)
}

/// Whether the file system holding `file` is mounted read-only.
fn on_read_only_mount(file: &File) -> io::Result<bool> {
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `stat` is a properly sized, writable buffer the call fills on success; the
    // descriptor stays open for the call.
    if unsafe { libc::fstatvfs(file.as_raw_fd(), stat.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatvfs returned 0, so it initialised the whole struct.
    let stat = unsafe { stat.assume_init() };
    Ok(stat.f_flag & libc::ST_RDONLY != 0)
}

/// Takes ownership of the descriptor `fd` the process inherited (a `fd:N` secret: a pipe or a file
/// the caller opened for it), so that reading it and dropping the [`File`] closes it and no child
/// process inherits the secret. Refuses stdout and stderr (`1`, `2`) and a number that is not an
/// open descriptor; stdin (`0`) is read through a duplicate so that the process keeps its stdin.
pub fn take_inherited_fd(fd: i32) -> io::Result<File> {
    use std::os::unix::io::FromRawFd;
    if fd < 0 || fd == 1 || fd == 2 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptors 1 and 2 are the output, not a secret",
        ));
    }
    // SAFETY: F_GETFD only asks whether `fd` is open; it touches no memory.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let owned = if fd == 0 {
        // SAFETY: fd 0 is open (checked above); the duplicate is a new descriptor we own.
        let dup = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 3) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        dup
    } else {
        fd
    };
    // SAFETY: `owned` is an open descriptor that nothing else in the process owns: an inherited
    // descriptor named by the operator for this one read (or our own duplicate of stdin).
    Ok(unsafe { File::from_raw_fd(owned) })
}

/// Creates a FIFO at `path` (mode 0600), for tests of the open rule anywhere in the crate.
#[cfg(test)]
pub(crate) fn make_fifo(path: &Path) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: a NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::time::{Duration, Instant};

    fn mkfifo(path: &Path) {
        make_fifo(path).unwrap();
    }

    #[test]
    fn fifos_and_directories_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let start = Instant::now();
        for open in [open_nofollow, open_following] {
            let err = open(&fifo).unwrap_err();
            assert!(err.to_string().contains("fifo"), "{err}");
            let err = open(dir.path()).unwrap_err();
            assert!(err.to_string().contains("directory"), "{err}");
        }
        let err = open_trusted(&fifo).unwrap_err();
        assert!(err.to_string().contains("fifo"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn regular_files_read_in_blocking_mode() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"bytes").unwrap();
        let mut file = open_nofollow(&path).unwrap();
        // SAFETY: an open descriptor, F_GETFL only reads its flags.
        let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);
        let mut s = String::new();
        file.read_to_string(&mut s).unwrap();
        assert_eq!(s, "bytes");
        symlink(&path, dir.path().join("link")).unwrap();
        assert!(open_nofollow(&dir.path().join("link")).is_err());
        assert!(open_following(&dir.path().join("link")).is_ok());
    }

    #[test]
    fn trust_symlinks_stay_inside_their_directory() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        // The Kubernetes atomic-writer layout.
        std::fs::create_dir_all(conf.join("..2026_01_01")).unwrap();
        std::fs::write(conf.join("..2026_01_01/policy.toml"), b"p").unwrap();
        symlink("..2026_01_01", conf.join("..data")).unwrap();
        symlink("..data/policy.toml", conf.join("policy.toml")).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o755)).unwrap();
        let opened = open_trusted(&conf.join("policy.toml")).unwrap();
        assert!(opened.exposure.is_none(), "{:?}", opened.exposure);
        // A link out of the directory is refused.
        std::fs::write(dir.path().join("elsewhere.toml"), b"x").unwrap();
        symlink("../elsewhere.toml", conf.join("out.toml")).unwrap();
        let err = open_trusted(&conf.join("out.toml")).unwrap_err();
        assert!(err.to_string().contains("leading out"), "{err}");
    }

    /// Issue 21: the secret-file rule on every combination of its facts (the test hook for the
    /// read-only mount; cli/tests/secrets_cli.rs builds the real mount).
    #[test]
    fn secret_readers_rule_accepts_owner_only_and_group_on_read_only_mounts() {
        for mode in [0o400, 0o600, 0o700, 0o100400] {
            assert_eq!(readers_rule(mode, false, false), None, "{mode:o}");
        }
        assert_eq!(readers_rule(0o440, true, true), None);
        let refused = |mode, shared, ro, why: &str| {
            let text = readers_rule(mode, shared, ro).unwrap();
            assert!(text.contains(why), "{mode:o}: {text}");
            for fix in ["defaultMode: 0400", "fsGroup", "runAsUser"] {
                assert!(text.contains(fix), "{text}");
            }
        };
        refused(0o440, true, false, "not on a read-only mount");
        refused(0o440, false, true, "not one of this process's groups");
        refused(0o460, true, true, "more than read");
        refused(0o444, true, true, "others can read");
        refused(0o644, false, false, "mode 644");
        refused(0o604, false, false, "others can read");
    }

    #[test]
    fn secret_readers_on_a_writable_mount() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, b"1234").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(open_trusted(&path).unwrap().readers().unwrap(), None);
        // The process's own group, but a writable mount: refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o440)).unwrap();
        let why = open_trusted(&path).unwrap().readers().unwrap().unwrap();
        assert!(why.contains("not on a read-only mount"), "{why}");
    }

    #[test]
    fn writable_trust_files_and_directories_are_exposed() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = sub.join("k.pem");
        std::fs::write(&path, b"k").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o664)).unwrap();
        let why = open_trusted(&path).unwrap().exposure.unwrap();
        assert!(why.contains("664"), "{why}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(open_trusted(&path).unwrap().exposure.is_none());
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = open_trusted(&path).unwrap().exposure.unwrap();
        assert!(why.contains("directory"), "{why}");
        // A sticky directory (like /tmp) does not let others replace the file.
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(open_trusted(&path).unwrap().exposure.is_none());
    }
}
