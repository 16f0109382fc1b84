//! Appending a record to a shared file that several writers may append to at once (a claims file
//! of signatures): one whole record per call, never a torn or interleaved one, never a rewrite of
//! what is already there.
//!
//! How: the file is opened `O_APPEND` (every write lands at the end, whatever others wrote) and
//! `O_NOFOLLOW` (a symlink put in its place is not followed into another file), an exclusive
//! `flock` is held while the record is written with one `write_all` and fsynced, so concurrent
//! appenders on this machine are serialized and a reader that takes the shared lock never sees
//! half a record. A new file is created with the given mode and its directory fsynced, so the
//! record survives a crash once this returns.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Appends `record` to `path` (created with `mode` if missing) under an exclusive lock, and
/// fsyncs it. `path` must be a regular file (a symlink is refused with `ELOOP`, anything else
/// with [`io::ErrorKind::InvalidInput`]).
///
/// A file with other hard links is refused too: appending to it would change the other names,
/// which may be files of a model.
pub fn append_locked(path: &Path, record: &[u8], mode: u32) -> io::Result<()> {
    let file = open_shared(
        path,
        OpenOptions::new().append(true).create(true).mode(mode),
    )?;
    file.lock()?;
    let empty_before = file.metadata()?.len() == 0;
    let written = write_record(&file, record);
    // Unlocked by the drop as well; explicit so the lock never outlives the fsync.
    let _ = file.unlock();
    written?;
    if empty_before {
        // Possibly a new file: make its directory entry durable too.
        super::atomic::sync_dir(&super::commit::parent_dir(path))?;
    }
    Ok(())
}

/// Reads `path` (at most `limit` bytes, else [`io::ErrorKind::InvalidData`]) under a shared lock,
/// so that no record an [`append_locked`] is writing is seen half-written.
pub fn read_locked(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = open_shared(path, OpenOptions::new().read(true))?;
    file.lock_shared()?;
    let mut bytes = Vec::new();
    (&file).take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit"),
        ));
    }
    Ok(bytes)
}

/// Opens with `O_NOFOLLOW` (a symlink put in its place is not followed into another file) and
/// `O_NONBLOCK` (a FIFO put in its place does not hang us), and refuses anything but a regular
/// file with one link.
fn open_shared(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let file = options
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    if meta.nlink() > 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the file has other hard links, which appending would change too",
        ));
    }
    Ok(file)
}

fn write_record(mut file: &File, record: &[u8]) -> io::Result<()> {
    file.write_all(record)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_whole_records_and_refuses_links_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("claims.jsonl");
        append_locked(&path, b"one\n", 0o644).unwrap();
        append_locked(&path, b"two\n", 0o644).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(append_locked(&link, b"three\n", 0o644).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"one\ntwo\n");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        assert!(append_locked(&sub, b"x\n", 0o644).is_err());
        let hard = dir.path().join("hard.jsonl");
        std::fs::hard_link(&path, &hard).unwrap();
        assert!(append_locked(&hard, b"four\n", 0o644).is_err());
        assert!(read_locked(&path, 100).is_err());
        std::fs::remove_file(&hard).unwrap();
        assert_eq!(read_locked(&path, 8).unwrap(), b"one\ntwo\n");
        assert!(read_locked(&path, 7).is_err());
    }
}
