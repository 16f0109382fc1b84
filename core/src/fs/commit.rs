//! Committing outputs: every file or directory tree an operation writes is built under a temporary
//! name beside its target and moved into place only when it is complete and fsynced.
//!
//! Guarantees: an existing target is never replaced unless the caller asks, and then by an atomic
//! exchange; a failure removes the temporary; a temporary is named
//! `.<target name>.modelseal-tmp.<pid>.<random>`, so that what a killed process (SIGKILL, power
//! loss) left behind is recognised and removed by the next run for the same target
//! ([`clean_stale_temporaries`]), never the temporaries of a process that still runs. A single file
//! is, where Linux allows, an unnamed `O_TMPFILE` that gets a name only when complete, so a killed
//! run leaves nothing at all.
//!
//! Errors are [`CommitError`]s naming the path concerned; the layers above convert them into their
//! own error types. What to check *before* committing (authentication, the signed digests) is the
//! caller's business: this module only moves bytes that are final.

use std::fs::File;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::atomic::{remove_tree, sync_dir};

/// Why an output could not be committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// The target exists and the caller did not ask to replace it.
    #[error(
        "{}: already exists (use the overwrite option to replace it)",
        .0.display()
    )]
    Exists(PathBuf),
    /// A file-system step failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Maps an `io::Error` to a [`CommitError`] naming `path`.
fn io_at(path: &Path) -> impl FnOnce(io::Error) -> CommitError + '_ {
    move |source| CommitError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory that holds `target`, for temporaries beside it (`.` for a bare name).
pub fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The directory that will hold `target`, created with its missing ancestors (mode 0755 less the
/// umask, as `mkdir -p` makes them) when it does not exist yet: `decrypt -o out/plain/llm` and
/// `unseal --out /models/llm` work when `out/plain` or `/models` is missing, and the error, when
/// it cannot be made, names that directory and not a temporary inside it.
fn output_parent(target: &Path) -> Result<PathBuf, CommitError> {
    let parent = parent_dir(target);
    if !parent.is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&parent)
            .map_err(io_at(&parent))?;
    }
    Ok(parent)
}

/// Writes the file `target` through a private (0600) temporary file beside it (the missing
/// directories above `target` are created first, as `mkdir -p` does): `fill` writes the content, then the file gets `mode`, is fsynced, and is moved into place (never replacing an
/// existing target unless `overwrite`: else [`CommitError::Exists`]). On any error nothing remains.
///
/// On Linux the temporary is an unnamed `O_TMPFILE`, linked into the directory only after `fill`
/// succeeded (after authentication, for decryption): a process killed before that leaves nothing
/// at all, not even a temporary for the next run to remove. Where `O_TMPFILE` is unavailable (other
/// systems, file systems without it, no `/proc`), a named temporary that the next run removes.
pub fn write_file_beside<E: From<CommitError>>(
    target: &Path,
    mode: u32,
    overwrite: bool,
    fill: impl FnOnce(&File) -> Result<(), E>,
) -> Result<(), E> {
    let parent = output_parent(target)?;
    match unnamed_temporary(&parent) {
        Some(file) => {
            fill(&file)?;
            finish_file(&file, target, mode)?;
            Ok(link_into_place(&file, target, overwrite)?)
        }
        None => write_named_beside(target, &parent, mode, overwrite, fill),
    }
}

fn finish_file(f: &File, target: &Path, mode: u32) -> Result<(), CommitError> {
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|_| f.sync_all())
        .map_err(io_at(target))
}

/// An unnamed temporary file in `dir` (Linux `O_TMPFILE`, mode 0600), if the system and the file
/// system support it and `/proc/self/fd` is there to link it by.
fn unnamed_temporary(dir: &Path) -> Option<File> {
    #[cfg(target_os = "linux")]
    {
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
fn link_into_place(file: &File, target: &Path, overwrite: bool) -> Result<(), CommitError> {
    use std::os::unix::io::AsRawFd;
    let proc_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let link = |to: &Path| -> io::Result<()> {
        let (from, to) = (c_path(&proc_path)?, c_path(to)?);
        // SAFETY: `linkat` only reads its arguments: both pointers come from `CString`s that live
        // until the call returns and are NUL-terminated; `AT_FDCWD` needs no open descriptor. Why
        // unsafe at all: std has no `linkat`, and only `linkat(AT_SYMLINK_FOLLOW)` on the
        // `/proc/self/fd` link gives an `O_TMPFILE` a name.
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
            Err(io::Error::last_os_error())
        }
    };
    let exists = target.symlink_metadata().is_ok();
    if !exists {
        match link(target) {
            Ok(()) => {
                let parent = parent_dir(target);
                return sync_dir(&parent).map_err(io_at(&parent));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && overwrite => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(CommitError::Exists(target.to_path_buf()))
            }
            Err(e) => return Err(io_at(target)(e)),
        }
    } else if !overwrite {
        return Err(CommitError::Exists(target.to_path_buf()));
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
    link(&tmp).map_err(io_at(target))?;
    let result = commit(&tmp, target, true);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// [`write_file_beside`] with a named temporary (`tempfile`, 0600), for systems without
/// `O_TMPFILE`.
fn write_named_beside<E: From<CommitError>>(
    target: &Path,
    parent: &Path,
    mode: u32,
    overwrite: bool,
    fill: impl FnOnce(&File) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(target))
        .tempfile_in(parent)
        .map_err(io_at(parent))?;
    fill(tmp.as_file())?;
    finish_file(tmp.as_file(), target, mode)?;
    let tmp_path = tmp.into_temp_path();
    commit(&tmp_path, target, overwrite)?;
    // Renamed away: nothing left for the guard to delete.
    let _ = tmp_path.keep();
    Ok(())
}

/// Moves the finished temporary output `tmp` (a file or a directory) to `target` atomically: never
/// replacing an existing target unless `overwrite` (else [`CommitError::Exists`]), and then by an
/// atomic exchange (the old target is removed after); the parent directory is fsynced.
pub fn commit(tmp: &Path, target: &Path, overwrite: bool) -> Result<(), CommitError> {
    let exists = target.symlink_metadata().is_ok();
    if exists && !overwrite {
        return Err(CommitError::Exists(target.to_path_buf()));
    }
    if exists {
        rename_exchange(tmp, target).map_err(io_at(target))?;
        // `tmp` now names the old target.
        let old = tmp.symlink_metadata().map_err(io_at(tmp))?;
        let removed = if old.is_dir() {
            std::fs::remove_dir_all(tmp)
        } else {
            std::fs::remove_file(tmp)
        };
        removed.map_err(io_at(tmp))?;
    } else {
        rename_noreplace(tmp, target).map_err(io_at(target))?;
    }
    let parent = parent_dir(target);
    sync_dir(&parent).map_err(io_at(&parent))
}

/// A private temporary directory beside a target, where an operation builds a tree before it is
/// committed ([`StagingDir::commit`]) or published ([`publish_read_only`]).
///
/// Guarantee: when dropped it is removed with everything in it — also when the operation returns
/// early or panics, and also when directories in it are already read-only — so no byte written
/// into it (decrypted plaintext included) outlives a failure. It is named like every temporary
/// output (`.<target name>.modelseal-tmp.<pid>.<random>`), so what a killed run leaves is found by
/// [`clean_stale_temporaries`].
#[derive(Debug)]
pub struct StagingDir {
    path: PathBuf,
    committed: bool,
}

impl StagingDir {
    /// Creates the directory beside `target` with `mode` (not taken from the umask's default, so a
    /// private 0700 stays private even in a shared directory), after creating the missing
    /// directories above `target` (0755 less the umask, as `mkdir -p` does).
    pub fn beside(target: &Path, mode: u32) -> Result<StagingDir, CommitError> {
        let parent = output_parent(target)?;
        let dir = tempfile::Builder::new()
            .prefix(&temp_prefix(target))
            .permissions(std::fs::Permissions::from_mode(mode))
            .tempdir_in(&parent)
            .map_err(io_at(&parent))?;
        Ok(StagingDir {
            path: dir.keep(),
            committed: false,
        })
    }

    /// Where the directory is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// fsyncs every directory of the tree (the caller fsynced the files it wrote) and moves it to
    /// `target` with [`commit`]; on failure the directory is removed.
    pub fn commit(mut self, target: &Path, overwrite: bool) -> Result<(), CommitError> {
        sync_tree(&self.path)?;
        commit(&self.path, target, overwrite)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.committed {
            // Directories may already be 0500 (a failure while publishing read-only).
            let _ = remove_tree(&self.path);
        }
    }
}

/// Creates the file `path` exclusively with `mode`, never following a symlink at its last
/// component, after creating its missing parent directories with `dir_mode`. Names that collide on
/// a case-insensitive file system fail here rather than overwrite each other.
pub fn create_new(path: &Path, mode: u32, dir_mode: u32) -> Result<File, CommitError> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(dir_mode)
            .create(dir)
            .map_err(io_at(dir))?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(io_at(path))
}

/// fsyncs every directory below and including `root`, so that the names in it are durable (files
/// are synced by whoever wrote them).
pub fn sync_tree(root: &Path) -> Result<(), CommitError> {
    for entry in std::fs::read_dir(root).map_err(io_at(root))? {
        let entry = entry.map_err(io_at(root))?;
        if entry.file_type().map_err(io_at(root))?.is_dir() {
            sync_tree(&entry.path())?;
        }
    }
    sync_dir(root).map_err(io_at(root))
}

/// Publishes the finished directory `dir` at `target`, read-only: every directory below it 0500
/// (deepest first), then `dir` moved to `target` (never replacing anything there), then `target`
/// itself 0500 (a directory must stay writable while it moves to another parent), then the parent
/// fsynced. File modes are the caller's.
pub fn publish_read_only(dir: &Path, target: &Path) -> Result<(), CommitError> {
    let mut dirs = Vec::new();
    collect_dirs(dir, &mut dirs)?;
    for d in dirs.iter().rev() {
        set_mode(d, 0o500)?;
    }
    rename_noreplace(dir, target).map_err(io_at(target))?;
    set_mode(target, 0o500)?;
    sync_dir(&parent_dir(target)).map_err(io_at(target))
}

/// Every directory below `dir`, parents before their children.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CommitError> {
    for entry in std::fs::read_dir(dir).map_err(io_at(dir))? {
        let entry = entry.map_err(io_at(dir))?;
        if entry.file_type().map_err(io_at(dir))?.is_dir() {
            out.push(entry.path());
            collect_dirs(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// Sets the mode of the directory `path` through a descriptor (`fchmod`), opened without
/// following a symlink: a link swapped in for a directory of the output makes this fail instead
/// of changing the mode of whatever it points to.
fn set_mode(path: &Path, mode: u32) -> Result<(), CommitError> {
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(io_at(path))?;
    dir.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(io_at(path))
}

fn c_path(p: &Path) -> io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    let (f, t) = (c_path(from)?, c_path(to)?);
    // SAFETY: `renameat2` only reads its arguments: both pointers come from `CString`s that live
    // until the call returns and are NUL-terminated; `AT_FDCWD` needs no open descriptor. Why
    // unsafe at all: std's `rename` always replaces the target, and only `renameat2` offers
    // `RENAME_NOREPLACE` (never clobber) and `RENAME_EXCHANGE` (replace atomically, keep the old
    // one to remove).
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
        Err(io::Error::last_os_error())
    }
}

fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    renameat2(from, to, libc::RENAME_NOREPLACE)
}

fn rename_exchange(from: &Path, to: &Path) -> io::Result<()> {
    renameat2(from, to, libc::RENAME_EXCHANGE)
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
/// the pid make it recognisable, so a later run can remove it if this process dies.
fn temp_prefix(target: &Path) -> String {
    format!("{}{}.", temp_stem(target), std::process::id())
}

/// Removes temporaries beside `target` left by modelseal processes that no longer run (killed or
/// crashed mid-way): entries named `.<target name>.modelseal-tmp.<pid>.*` whose process is gone
/// and which the current user owns. Entries of a live process are left alone, so a run never
/// disturbs a concurrent one. Returns how many were removed.
pub fn clean_stale_temporaries(target: &Path) -> Result<usize, CommitError> {
    use std::os::unix::fs::MetadataExt;
    let parent = parent_dir(target);
    let stem = temp_stem(target);
    let entries = match std::fs::read_dir(&parent) {
        Ok(entries) => entries,
        // A missing parent fails later with a clearer error when the output is created.
        Err(_) => return Ok(0),
    };
    let me = effective_uid();
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
        remove_tree(&path).map_err(io_at(&path))?;
        removed += 1;
    }
    Ok(removed)
}

/// This process's effective user id: whose temporaries it may remove.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: `geteuid` takes no arguments, touches no memory of ours and cannot fail. Why unsafe
    // at all: std exposes no user id of the current process.
    unsafe { libc::geteuid() }
}

/// Whether process `pid` exists (signal 0 checks without sending anything). A pid that is not
/// ours to signal counts as alive: only a certainly dead owner's temporaries are removed.
fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: `kill` with signal 0 sends nothing and touches no memory of ours: it only reports
    // whether `pid` exists (`pid > 0` here, so it never addresses a process group). Why unsafe at
    // all: std cannot ask about a process it did not spawn.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn outputs_under_missing_directories_create_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a/b/plain.bin");
        write_file_beside(&file, 0o600, false, |mut f| {
            f.write_all(b"x").map_err(io_at(Path::new("t")))
        })
        .unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"x");
        let staged = StagingDir::beside(&dir.path().join("c/d/model"), 0o700).unwrap();
        assert_eq!(
            staged.path().parent(),
            Some(dir.path().join("c/d").as_path())
        );
        // A parent that cannot be made is named, not a temporary inside it.
        std::fs::write(dir.path().join("blocker"), b"").unwrap();
        let err = StagingDir::beside(&dir.path().join("blocker/model"), 0o700).unwrap_err();
        assert!(
            matches!(&err, CommitError::Io { path, .. } if path == &dir.path().join("blocker")),
            "{err:?}"
        );
    }

    #[test]
    fn single_file_outputs_are_unnamed_until_complete() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        write_file_beside(&target, 0o600, false, |mut f| {
            // On Linux (O_TMPFILE) the file being written has no name in the directory.
            #[cfg(target_os = "linux")]
            assert_eq!(names(dir.path()), Vec::<String>::new());
            f.write_all(b"plaintext").map_err(io_at(Path::new("t")))
        })
        .unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"plaintext");
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A failed fill leaves nothing, and an existing target is kept unless overwriting.
        let err = write_file_beside(&dir.path().join("other"), 0o600, false, |_| {
            Err(CommitError::Exists("fill failed".into()))
        });
        assert!(err.is_err());
        let err = write_file_beside(&target, 0o600, false, |_| Ok::<_, CommitError>(()));
        assert!(matches!(err, Err(CommitError::Exists(p)) if p == target));
        assert_eq!(names(dir.path()), ["out"]);
        write_file_beside(&target, 0o644, true, |mut f| {
            f.write_all(b"new").map_err(io_at(Path::new("t")))
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

    /// Issue 17 item 14: modes are set through a descriptor that does not follow a symlink.
    #[test]
    fn set_mode_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::create_dir(&victim).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(set_mode(&link, 0o500).is_err());
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755, "the link's target was changed");
        set_mode(&victim, 0o700).unwrap();
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700);
        // Publishing never replaces what appeared at the target meanwhile, even an empty directory.
        let staged = dir.path().join("staged");
        std::fs::create_dir(&staged).unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        assert!(publish_read_only(&staged, &target).is_err());
        assert!(staged.exists());
    }

    #[test]
    fn staging_dirs_commit_or_vanish_and_publish_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("tree");
        // Dropped without committing: gone, read-only directories and all.
        let staging = StagingDir::beside(&target, 0o700).unwrap();
        let mode = std::fs::metadata(staging.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
        create_new(&staging.path().join("a/b/f"), 0o600, 0o700).unwrap();
        set_mode(&staging.path().join("a/b"), 0o500).unwrap();
        drop(staging);
        assert_eq!(names(dir.path()), Vec::<String>::new());
        // Committed: in place, never over an existing target unless asked.
        let staging = StagingDir::beside(&target, 0o700).unwrap();
        create_new(&staging.path().join("x"), 0o644, 0o755).unwrap();
        staging.commit(&target, false).unwrap();
        assert!(target.join("x").is_file());
        let staging = StagingDir::beside(&target, 0o700).unwrap();
        let err = staging.commit(&target, false).unwrap_err();
        assert!(matches!(err, CommitError::Exists(_)), "{err}");
        assert_eq!(names(dir.path()), ["tree"]);
        // Published read-only from inside a staging directory, which then goes away empty.
        let published = dir.path().join("published");
        let staging = StagingDir::beside(&published, 0o700).unwrap();
        let model = staging.path().join("model");
        create_new(&model.join("sub/w"), 0o400, 0o700).unwrap();
        publish_read_only(&model, &published).unwrap();
        drop(staging);
        for d in [published.clone(), published.join("sub")] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o500, "{}", d.display());
        }
        assert_eq!(names(dir.path()), ["published", "tree"]);
        // Never over something that appeared meanwhile, not even an empty directory (which a
        // plain rename would replace).
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let staging = StagingDir::beside(&empty, 0o700).unwrap();
        create_new(&staging.path().join("model/w"), 0o400, 0o700).unwrap();
        assert!(publish_read_only(&staging.path().join("model"), &empty).is_err());
        drop(staging);
        assert_eq!(names(dir.path()), ["empty", "published", "tree"]);
        for d in [published.clone(), published.join("sub")] {
            set_mode(&d, 0o700).unwrap();
        }
    }
}
