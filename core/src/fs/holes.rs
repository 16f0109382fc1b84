//! Where a file's holes are: ranges that read as zeros without being stored (a sparse file's
//! gaps, or extents allocated but never written), found with `lseek(SEEK_DATA/SEEK_HOLE)`.
//!
//! Why the hashing engine asks: on Linux 6.18 with ext4, reading a hole — by `read` or through a
//! map alike — can zero the same page-cache folio over and over (`perf`: 91–93% of the samples in
//! `memset` under `ext4_mpage_readpages`, reached from `page_cache_ra_order`), so 8 GiB of holes
//! took 66 s, 58 s of it system time. A hole's bytes are known without reading them; feeding
//! zeros instead costs only the hash, and a hostile file made of holes costs no more than its
//! length in hashing, and no page cache.
//!
//! A writer filling a hole after it was found changes the file's change stamp, which the
//! hashing engine checks after the read, exactly as it catches a write between two `read`s.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

/// One piece of a range: `offset..end` is a hole (zeros) or data (to be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Where the piece ends (exclusive).
    pub end: u64,
    /// True when the piece reads as zeros without being stored.
    pub hole: bool,
}

/// The piece of `offset..end` of `file` that starts at `offset`. Anything the file system cannot
/// say (no `SEEK_DATA`, an error, a file now shorter than `end`) is data to the end, so the reader
/// does the real work and finds any change itself.
pub fn segment_at(file: &File, offset: u64, end: u64) -> Segment {
    let data_to_end = Segment { end, hole: false };
    // A file with as many blocks as bytes has no holes: not asked about, because `SEEK_HOLE` on
    // tmpfs walks every page up to the next hole, so asking once per leaf or shard of a large
    // file costs time quadratic in its size (BLAKE3 of 1 GiB in /dev/shm: 5.3 s of system time).
    if file
        .metadata()
        .is_ok_and(|meta| meta.blocks().saturating_mul(512) >= meta.len())
    {
        return data_to_end;
    }
    let Ok(from) = libc::off_t::try_from(offset) else {
        return data_to_end;
    };
    match seek(file, from, libc::SEEK_DATA) {
        // Data starts here: it runs to the next hole (the end of the file counts as one).
        Ok(data) if data == offset => match seek(file, from, libc::SEEK_HOLE) {
            Ok(hole) if hole > offset => Segment {
                end: hole.min(end),
                hole: false,
            },
            _ => data_to_end,
        },
        Ok(data) if data > offset => Segment {
            end: data.min(end),
            hole: true,
        },
        // ENXIO: no data from `offset` to the end of the file. A hole only if the file still
        // reaches `end`; if it shrank, the reader must see that.
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => match file.metadata() {
            Ok(meta) if meta.len() >= end => Segment { end, hole: true },
            _ => data_to_end,
        },
        _ => data_to_end,
    }
}

/// `lseek` on `file`'s descriptor. Moves its offset, which no reader of these files uses: every
/// read of them is positioned (`pread`) or mapped.
fn seek(file: &File, offset: libc::off_t, whence: libc::c_int) -> io::Result<u64> {
    // SAFETY: integer arguments on an open descriptor.
    let at = unsafe { libc::lseek(file.as_raw_fd(), offset, whence) };
    u64::try_from(at).map_err(|_| io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    /// Every piece of `0..end`, in order.
    fn segments(file: &File, end: u64) -> Vec<(u64, u64, bool)> {
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < end {
            let s = segment_at(file, offset, end);
            assert!(s.end > offset, "progress at {offset}");
            out.push((offset, s.end, s.hole));
            offset = s.end;
        }
        out
    }

    #[test]
    fn holes_and_data_are_told_apart_and_a_shrunk_file_is_data() {
        // Tests run on ext4 or tmpfs, which both report holes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        let mib = 1u64 << 20;
        file.set_len(8 * mib).unwrap();
        file.write_all_at(&[1; 4096], 2 * mib).unwrap();
        file.write_all_at(&[2; 4096], 8 * mib - 4096).unwrap();
        assert_eq!(
            segments(&file, 8 * mib),
            [
                (0, 2 * mib, true),
                (2 * mib, 2 * mib + 4096, false),
                (2 * mib + 4096, 8 * mib - 4096, true),
                (8 * mib - 4096, 8 * mib, false),
            ]
        );
        // A range ending inside data or a hole is cut at its end.
        assert_eq!(
            segment_at(&file, 0, mib),
            Segment {
                end: mib,
                hole: true
            }
        );
        // A sparse tail, then the file shrinks under the reader: past the end is data, so the
        // read finds the file short.
        file.set_len(16 * mib).unwrap();
        assert_eq!(
            segment_at(&file, 9 * mib, 16 * mib),
            Segment {
                end: 16 * mib,
                hole: true
            }
        );
        file.set_len(10 * mib).unwrap();
        assert_eq!(
            segment_at(&file, 9 * mib, 16 * mib),
            Segment {
                end: 16 * mib,
                hole: false
            }
        );
    }
}
