//! Formats judged from the bytes verification hashed, not from a second read of the model: the
//! hashing engine hands each file's first bytes as they streamed through the hasher, and a reader
//! for the further bytes a format needs (a pickle's opcodes, a ZIP archive's directory).
//!
//! Locally that reader is the descriptor that was hashed, read before the engine's final
//! change-stamp check: a file swapped or rewritten in between fails the verification itself. From
//! object storage it is [`StreamCopy`], the first and last bytes kept as the ranged reads
//! streamed by; what a format needs beyond them (a pickle longer than the head, a ZIP directory
//! before the tail) cannot be judged from the stream, and the file is then listed with a note
//! (a pickle's walk stops early; a ZIP whose directory is out of reach is not listed as a format).

use super::formats::{self, HEAD};
use super::FileFormat;
use std::io::{self, Read, Seek, SeekFrom};

/// Bytes of a remote file's head and of its tail kept for detection: a pickle or a `.npy` header
/// within the head, a ZIP end record and a directory within the tail.
pub const KEPT: usize = 1 << 20;

/// The format of the file `name` (`len` bytes) from `head`, its first bytes as hashed (at most
/// [`HEAD_BYTES`] are looked at), reading further bytes through `rest`; `None` for text and
/// unknown binaries.
pub fn detect_verified(
    name: &str,
    len: u64,
    head: &[u8],
    rest: &mut (impl Read + Seek),
) -> io::Result<Option<FileFormat>> {
    let head = &head[..head.len().min(HEAD)];
    let sniffed = formats::sniff(name, head, len);
    Ok(
        formats::detect(&sniffed, rest, len)?.map(|detected| FileFormat {
            path: name.to_string(),
            detected,
        }),
    )
}

/// How many first bytes of a file [`detect_verified`] looks at.
pub const HEAD_BYTES: usize = HEAD;

/// A file's first and last [`KEPT`] bytes, kept as they stream by in order, readable as the file
/// (reads outside them fail, as "not in the verified stream").
#[derive(Debug)]
pub struct StreamCopy {
    len: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    /// Offset of `tail[0]` in the file.
    tail_start: u64,
    seen: u64,
    pos: u64,
}

impl StreamCopy {
    /// Keeps bytes of a file of `len` bytes streamed from its start.
    pub fn new(len: u64) -> StreamCopy {
        StreamCopy {
            len,
            head: Vec::new(),
            tail: Vec::new(),
            tail_start: 0,
            seen: 0,
            pos: 0,
        }
    }

    /// The next streamed bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        let room = KEPT.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        self.seen += bytes.len() as u64;
        if self.len.saturating_sub(self.seen) < KEPT as u64 + bytes.len() as u64 {
            self.tail.extend_from_slice(bytes);
            if self.tail.len() > 2 * KEPT {
                let drop = self.tail.len() - KEPT;
                self.tail.drain(..drop);
            }
            self.tail_start = self.seen - self.tail.len() as u64;
        }
    }

    /// The first bytes kept.
    pub fn head(&self) -> &[u8] {
        &self.head
    }

    fn byte_range(&self, at: u64, want: usize) -> Option<&[u8]> {
        if at < self.head.len() as u64 {
            let at = at as usize;
            return Some(&self.head[at..self.head.len().min(at + want)]);
        }
        if self.seen == self.len && at >= self.tail_start && at < self.seen {
            let at = (at - self.tail_start) as usize;
            return Some(&self.tail[at..self.tail.len().min(at + want)]);
        }
        None
    }
}

impl Read for StreamCopy {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let Some(bytes) = self.byte_range(self.pos, buf.len()) else {
            return Err(io::Error::other(
                "beyond the bytes kept from the verified stream",
            ));
        };
        let n = bytes.len();
        buf[..n].copy_from_slice(bytes);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for StreamCopy {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let base = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = base.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_of_a_stream_and_refuses_the_middle() {
        let len = 3 * KEPT + 10;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut copy = StreamCopy::new(len as u64);
        for piece in data.chunks(65_536) {
            copy.push(piece);
        }
        let mut buf = vec![0u8; 100];
        copy.seek(SeekFrom::Start(5)).unwrap();
        copy.read_exact(&mut buf).unwrap();
        assert_eq!(buf, data[5..105]);
        copy.seek(SeekFrom::End(-100)).unwrap();
        copy.read_exact(&mut buf).unwrap();
        assert_eq!(buf, data[len - 100..]);
        copy.seek(SeekFrom::Start((KEPT + 5) as u64)).unwrap();
        assert!(copy.read(&mut buf).is_err());
    }
}
