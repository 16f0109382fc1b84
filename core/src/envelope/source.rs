//! Where the encryption engine reads a file's bytes: a [`Source`] of positioned reads. A local
//! file is one as it stands; a model in object storage (issue 19) is served by [`InOrder`] from
//! the one stream that fetches each object ahead, so that every byte is fetched once.
//!
//! Why positioned reads over a stream work here: the engine claims a file's units in order and
//! reads each unit once, so its reads arrive in order but for the few units claimed by other
//! workers and not yet read. [`InOrder`] keeps the bytes it passed for those (a bounded amount)
//! and refuses a read of bytes it no longer has, rather than fetch them a second time.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::Mutex;

/// A file's bytes by position, for the workers of the encryption engine (several at once).
pub trait Source: Send + Sync {
    /// Fills `buf` with the bytes from `at`; fewer bytes than asked is
    /// [`io::ErrorKind::UnexpectedEof`].
    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> io::Result<()>;
    /// The source's current length.
    fn len(&self) -> io::Result<u64>;
    /// The local file behind it (its metadata is checked after the run), if it is one.
    fn file(&self) -> Option<&File> {
        None
    }
}

impl Source for File {
    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, at)
    }
    fn len(&self) -> io::Result<u64> {
        self.metadata().map(|m| m.len())
    }
    fn file(&self) -> Option<&File> {
        Some(self)
    }
}

impl<T: Source + ?Sized> Source for &T {
    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, at)
    }
    fn len(&self) -> io::Result<u64> {
        (**self).len()
    }
    fn file(&self) -> Option<&File> {
        (**self).file()
    }
}

/// How far ahead of the oldest unread byte a read may start: the bytes skipped are kept until
/// they are read, so this bounds what one source holds (a few units of the engine, which claims
/// them in order, fit many times over).
pub const MAX_SKIPPED: u64 = 64 << 20;

/// Positioned reads served from a stream read once, from its start (see the module doc): a read
/// at the stream's position takes the next bytes; a read further on keeps the bytes it skips
/// (up to [`MAX_SKIPPED`]) for the reads that come for them; a read of bytes already handed out
/// is refused, as is one past `len`.
pub struct InOrder {
    len: u64,
    state: Mutex<Stream>,
}

struct Stream {
    reader: Box<dyn Read + Send>,
    /// Bytes taken from `reader` so far.
    pos: u64,
    /// Bytes taken but not yet read, by their offset.
    skipped: BTreeMap<u64, Vec<u8>>,
}

impl InOrder {
    /// Serves the `len` bytes `reader` yields.
    pub fn new(reader: Box<dyn Read + Send>, len: u64) -> InOrder {
        InOrder {
            len,
            state: Mutex::new(Stream {
                reader,
                pos: 0,
                skipped: BTreeMap::new(),
            }),
        }
    }
}

impl Source for InOrder {
    fn read_exact_at(&self, buf: &mut [u8], at: u64) -> io::Result<()> {
        let end = at + buf.len() as u64;
        if end > self.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut stream = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if at < stream.pos {
            return stream.take_skipped(buf, at);
        }
        let gap = at - stream.pos;
        if gap + stream.skipped.values().map(|v| v.len() as u64).sum::<u64>() > MAX_SKIPPED {
            return Err(io::Error::other(
                "read too far ahead of the stream (an encryption engine error)",
            ));
        }
        if gap > 0 {
            let mut kept = vec![0u8; gap as usize];
            stream.reader.read_exact(&mut kept)?;
            let from = stream.pos;
            stream.skipped.insert(from, kept);
        }
        stream.reader.read_exact(buf)?;
        stream.pos = end;
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.len)
    }
}

impl Stream {
    /// Hands out skipped bytes `at .. at + buf.len()`, keeping the rest of their span.
    fn take_skipped(&mut self, buf: &mut [u8], at: u64) -> io::Result<()> {
        let end = at + buf.len() as u64;
        let span = self
            .skipped
            .range(..=at)
            .next_back()
            .map(|(from, bytes)| (*from, bytes.len() as u64))
            .filter(|(from, len)| from + len >= end);
        let Some((from, _)) = span else {
            return Err(io::Error::other(
                "read of bytes already read (an encryption engine error)",
            ));
        };
        let Some(bytes) = self.skipped.remove(&from) else {
            return Err(io::Error::other("skipped bytes lost"));
        };
        let lo = (at - from) as usize;
        let hi = lo + buf.len();
        buf.copy_from_slice(&bytes[lo..hi]);
        if lo > 0 {
            self.skipped.insert(from, bytes[..lo].to_vec());
        }
        if hi < bytes.len() {
            self.skipped.insert(end, bytes[hi..].to_vec());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads arriving out of order (as two workers make them) get the right bytes, each byte is
    /// taken from the stream once, and a read of bytes already handed out is refused.
    #[test]
    fn reads_out_of_order_are_served_from_one_pass() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let source = InOrder::new(Box::new(io::Cursor::new(data.clone())), data.len() as u64);
        let mut got = vec![0u8; data.len()];
        for (from, to) in [
            (1000, 2000),
            (0, 1000),
            (3000, 4000),
            (2000, 2500),
            (2500, 3000),
        ] {
            source
                .read_exact_at(&mut got[from..to], from as u64)
                .unwrap();
        }
        source.read_exact_at(&mut got[4000..], 4000).unwrap();
        assert_eq!(got, data);
        assert!(source.read_exact_at(&mut [0u8; 10], 0).is_err());
        let past = source.read_exact_at(&mut [0u8; 10], 9995).unwrap_err();
        assert_eq!(past.kind(), io::ErrorKind::UnexpectedEof);
    }
}
