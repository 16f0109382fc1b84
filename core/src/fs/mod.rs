//! The file system: atomic writes of small files ([`atomic`]), the temporary-then-commit of every
//! operation's output and the cleanup of what killed runs left ([`commit`]), appends under a lock
//! to files many writers share ([`append`]), confinement of request paths to a root
//! ([`confine`]), the one rule for opening a file that is read ([`open`]), and keeping secrets out
//! of core dumps ([`process`]), bounded memory maps that survive a truncation ([`mapped`]), and where
//! a file's holes are ([`holes`]).
//!
//! This is the only module of the crate allowed `unsafe` (the crate root denies it elsewhere):
//! the calls std does not offer — `linkat` to name an `O_TMPFILE`, `renameat2` for renames that
//! never clobber or that exchange atomically, `sync_file_range` to start writeback early,
//! `geteuid` and `kill(pid, 0)` to recognise a dead process's temporaries, `fcntl` to clear
//! `O_NONBLOCK` after an open, `fstatvfs` to recognise a read-only mount, `getgroups` to
//! know the process's groups, `from_raw_fd` to take an inherited descriptor (a `fd:N` secret), `prctl` and `setrlimit`
//! to keep secrets out of core dumps, `mmap`/`madvise`/`posix_fadvise` and a `SIGBUS` handler to hash
//! files without copying them ([`mapped`]), `lseek` to find holes ([`holes`]). Each block carries a `// SAFETY:` comment saying why it is sound; all of them only pass integers and NUL-terminated
//! strings or buffers that outlive the call, and none hands memory to the kernel to keep.
#![allow(unsafe_code)]

pub mod append;
pub mod atomic;
pub mod commit;
pub mod confine;
pub mod holes;
pub mod mapped;
pub mod open;
pub mod process;

pub use open::{
    exposure_of, open_following, open_nofollow, open_trusted, take_inherited_fd, unreadable_reason,
    TrustedFile,
};
