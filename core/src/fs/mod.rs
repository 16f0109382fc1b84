//! The file system: atomic writes of small files ([`atomic`]), the temporary-then-commit of every
//! operation's output and the cleanup of what killed runs left ([`commit`]), appends under a lock
//! to files many writers share ([`append`]), and confinement of request paths to a root
//! ([`confine`]).
//!
//! This is the only module of the crate allowed `unsafe` (the crate root denies it elsewhere):
//! the calls std does not offer — `linkat` to name an `O_TMPFILE`, `renameat2` for renames that
//! never clobber or that exchange atomically, `sync_file_range` to start writeback early,
//! `geteuid` and `kill(pid, 0)` to recognise a dead process's temporaries. Each block carries a
//! `// SAFETY:` comment saying why it is sound; all of them only pass integers and NUL-terminated
//! strings that outlive the call, and none hands memory to the kernel to keep.
#![allow(unsafe_code)]

pub mod append;
pub mod atomic;
pub mod commit;
pub mod confine;

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for reading without following a symlink at its last component (a symlink fails
/// with `ELOOP`), so that what is read is the entry that was checked, not where a link points.
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}
