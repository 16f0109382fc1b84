//! The payload: chunked AES-256-GCM in the STREAM construction (`docs/FORMAT.md` §7).
//!
//! [`ChunkLayout`] is the arithmetic of §7.1/§7.4; [`FileCipher`] seals and opens one chunk with
//! `nonce(i) = NP ‖ u32be(i) ‖ last(i)`, where `last(i)` always comes from the authenticated size,
//! never from trying both flags. On top of it: [`encrypt_jobs`] / [`decrypt_jobs`] run many files
//! through the bulk engine ([`super::pipeline`]) — [`encrypt_jobs_observed`] can also show a
//! file's plaintext, in order, to a [`StreamObserver`] (seal's check against the signed
//! digests) —,
//! [`StreamWriter`] encrypts sequentially into any `Write`, and
//! [`ChunkReader`] is a `Read + Seek` view that decrypts only the chunks it needs and returns only
//! bytes whose chunk tag verified.
//!
//! AES-256-GCM comes from `aws-lc-rs` (3.3× faster than RustCrypto `aes-gcm` here; a differential
//! test checks both give the same bytes).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::format::{NONCE_PREFIX_LEN, TAG_LEN};
use super::keyschedule::FileKeys;
use super::pipeline::{self, Direction, FileJob, Held, Opened};
use super::SealError;
use crate::progress::{NoProgress, Progress};

/// Chunk arithmetic of one file (§7.1, §7.4): chunk size `C` and plaintext size `S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLayout {
    chunk: u64,
    size: u64,
}

impl ChunkLayout {
    /// Layout of a file of `size` plaintext bytes in chunks of `chunk_size` (a valid §3 chunk size).
    pub fn new(chunk_size: u32, size: u64) -> ChunkLayout {
        ChunkLayout {
            chunk: u64::from(chunk_size),
            size,
        }
    }
    /// Plaintext size `S`.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Chunk size `C`.
    pub fn chunk_size(&self) -> u64 {
        self.chunk
    }
    /// `n(S) = max(1, ceil(S / C))`.
    pub fn chunks(&self) -> u64 {
        self.size.div_ceil(self.chunk).max(1)
    }
    /// `ct_len(S) = S + 16·n(S)`.
    pub fn ct_len(&self) -> u64 {
        self.size + TAG_LEN as u64 * self.chunks()
    }
    /// Whether chunk `i` is the final one.
    pub fn is_last(&self, i: u64) -> bool {
        i + 1 == self.chunks()
    }
    /// Plaintext bytes in chunk `i`.
    pub fn pt_len(&self, i: u64) -> u64 {
        if self.is_last(i) {
            self.size - i * self.chunk
        } else {
            self.chunk
        }
    }
    /// `chunk_offset(i) − base`: where chunk `i`'s ciphertext starts.
    pub fn ct_offset(&self, i: u64) -> u64 {
        i * (self.chunk + TAG_LEN as u64)
    }
}

/// Seals and opens the chunks of one file (§7.2).
pub struct FileCipher {
    key: LessSafeKey,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    layout: ChunkLayout,
}

/// A chunk failed authentication (the caller adds the file name and index).
#[derive(Debug)]
pub struct ChunkAuthError;

impl FileCipher {
    /// A cipher for the file with derived `keys` and `layout`.
    pub fn new(keys: &FileKeys, layout: ChunkLayout) -> Result<FileCipher, SealError> {
        let key = UnboundKey::new(&AES_256_GCM, &keys.key[..])
            .map_err(|_| SealError::Crypto("AES-256-GCM rejected a 32-byte key".into()))?;
        Ok(FileCipher {
            key: LessSafeKey::new(key),
            nonce_prefix: keys.nonce_prefix,
            layout,
        })
    }

    /// The file's chunk layout.
    pub fn layout(&self) -> ChunkLayout {
        self.layout
    }

    /// `nonce(i) = NP ‖ u32be(i) ‖ last(i)` (§7.2).
    pub fn nonce(&self, i: u64) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[..7].copy_from_slice(&self.nonce_prefix);
        // i < n(S) ≤ 2^28 under the limits of §3, so it fits the 32-bit counter.
        n[7..11].copy_from_slice(&(i as u32).to_be_bytes());
        n[11] = u8::from(self.layout.is_last(i));
        n
    }

    /// Encrypts chunk `i` in place: `buf` is `pt_len(i) + 16` bytes with the plaintext first;
    /// afterwards it holds `ciphertext ‖ tag`.
    pub fn seal_chunk(&self, i: u64, buf: &mut [u8]) -> Result<(), SealError> {
        let pt = buf.len() - TAG_LEN;
        let (data, tag_out) = buf.split_at_mut(pt);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(self.nonce(i)),
                Aad::empty(),
                data,
            )
            .map_err(|_| SealError::Crypto("AES-256-GCM seal failed".into()))?;
        tag_out.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypts and verifies chunk `i` from `sealed` (`ciphertext ‖ tag`) into `out` (the
    /// ciphertext's length), so that a reader fills its destination without a second copy. On
    /// failure `out` holds no plaintext.
    pub fn open_chunk_into(
        &self,
        i: u64,
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<(), ChunkAuthError> {
        let Some(split) = sealed
            .len()
            .checked_sub(TAG_LEN)
            .filter(|n| *n == out.len())
        else {
            return Err(ChunkAuthError);
        };
        let (ciphertext, tag) = sealed.split_at(split);
        let nonce = Nonce::assume_unique_for_key(self.nonce(i));
        match self
            .key
            .open_separate_gather(nonce, Aad::empty(), ciphertext, tag, out)
        {
            Ok(()) => Ok(()),
            Err(_) => {
                // Unverified output may have been written: never let it escape.
                out.fill(0);
                Err(ChunkAuthError)
            }
        }
    }

    /// Decrypts and verifies chunk `i` in place (`buf` = `ciphertext ‖ tag`); on success the first
    /// `buf.len() − 16` bytes are the plaintext. On failure `buf` holds no plaintext.
    pub fn open_chunk(&self, i: u64, buf: &mut [u8]) -> Result<(), ChunkAuthError> {
        let nonce = Nonce::assume_unique_for_key(self.nonce(i));
        match self.key.open_in_place(nonce, Aad::empty(), buf) {
            Ok(_) => Ok(()),
            Err(_) => {
                // aws-lc-rs leaves unverified output in the buffer; never let it escape.
                buf.fill(0);
                Err(ChunkAuthError)
            }
        }
    }
}

/// One file to encrypt or decrypt with positional I/O, its files open by the caller.
pub struct Job<'a> {
    /// The file's cipher (and layout).
    pub cipher: &'a FileCipher,
    /// Where to read: the plaintext (encrypt) or the ciphertext (decrypt).
    pub src: &'a File,
    /// Name of `src` for errors.
    pub src_name: &'a Path,
    /// Offset of the first ciphertext byte in the ciphertext file (`base`, §7.4).
    pub ct_base: u64,
    /// Where to write: the ciphertext (encrypt) or the plaintext (decrypt).
    pub dst: &'a File,
    /// Name of `dst` for errors.
    pub dst_name: &'a Path,
}

impl FileJob for Job<'_> {
    fn layout(&self) -> ChunkLayout {
        self.cipher.layout()
    }
    fn ct_base(&self) -> u64 {
        self.ct_base
    }
    fn src_name(&self) -> &Path {
        self.src_name
    }
    fn dst_name(&self) -> &Path {
        self.dst_name
    }
    fn open(&self) -> Result<Opened<'_>, SealError> {
        Ok(Opened {
            cipher: Held::Borrowed(self.cipher),
            src: Box::new(self.src),
            dst: Held::Borrowed(self.dst),
        })
    }
}

/// Something that must see every byte of one of a file's two streams, in order, as the engine
/// moves it: the plaintext (before it is encrypted, or once it was decrypted and authenticated) or
/// the ciphertext of its chunks (as it is written, or as it was read). `seal` hashes the plaintext
/// for its inner signature and the ciphertext for its outer one in the pass that encrypts;
/// `unseal` hashes both in the pass that decrypts. Ciphertext means the chunks from `ct_base` on
/// (all of a directory model's data file). The two observers of one file run on different
/// threads at once (each on one thread at a time), so that two digests of one file use two cores.
pub trait StreamObserver: Send {
    /// The stream's next bytes.
    fn observe(&mut self, bytes: &[u8]);
    /// Called after the file's last byte was observed and moved; an error fails the run. `file`
    /// names the source file for the error.
    fn finish(self: Box<Self>, file: &Path) -> Result<(), SealError>;
}

/// What observes one file's streams (either, both or neither).
#[derive(Default)]
pub struct FileObservers {
    /// Sees the plaintext.
    pub plaintext: Option<Box<dyn StreamObserver>>,
    /// Sees the ciphertext (decryption then keeps a copy of each unit's ciphertext, which opening
    /// the chunks in place overwrites).
    pub ciphertext: Option<Box<dyn StreamObserver>>,
}

impl FileObservers {
    /// Only the plaintext is observed.
    pub fn plaintext(observer: Box<dyn StreamObserver>) -> FileObservers {
        FileObservers {
            plaintext: Some(observer),
            ciphertext: None,
        }
    }
}

/// A [`FileObservers`] per job, in job order (missing ones observe nothing).
pub type Observers = Vec<FileObservers>;

/// Encrypts every job's plaintext (`src`, chunk `i` at `i·C`) into its ciphertext (`dst` at
/// `ct_base + chunk_offset(i)`), in parallel. A plaintext shorter than its recorded size is
/// [`SealError::Changed`]; the caller checks afterwards that it did not grow.
pub fn encrypt_jobs<J: FileJob>(jobs: &[J]) -> Result<(), SealError> {
    encrypt_jobs_with_progress(jobs, &NoProgress)
}

/// [`encrypt_jobs`], reporting the plaintext bytes of every written unit to `progress`.
pub fn encrypt_jobs_with_progress<J: FileJob>(
    jobs: &[J],
    progress: &dyn Progress,
) -> Result<(), SealError> {
    encrypt_jobs_observed(jobs, Vec::new(), progress)
}

/// [`encrypt_jobs_with_progress`], showing each job's plaintext and ciphertext to its observers
/// (`observers[i]` for `jobs[i]`; missing: not observed), in order, then failing the run if an
/// observer's [`StreamObserver::finish`] does. The engine is
/// [`super::pipeline`]: chunk-sized units on every core, one ordered writer per file.
pub fn encrypt_jobs_observed<J: FileJob>(
    jobs: &[J],
    observers: Observers,
    progress: &dyn Progress,
) -> Result<(), SealError> {
    pipeline::run(jobs, Direction::Encrypt, observers, progress)
}

/// Decrypts every job's ciphertext (`src` at `ct_base + chunk_offset(i)`) into its plaintext
/// (`dst`, chunk `i` at `i·C`), in parallel. A chunk is written only after its tag verified.
pub fn decrypt_jobs<J: FileJob>(jobs: &[J]) -> Result<(), SealError> {
    decrypt_jobs_with_progress(jobs, &NoProgress)
}

/// [`decrypt_jobs`], reporting the plaintext bytes of every verified unit to `progress`.
pub fn decrypt_jobs_with_progress<J: FileJob>(
    jobs: &[J],
    progress: &dyn Progress,
) -> Result<(), SealError> {
    decrypt_jobs_observed(jobs, Vec::new(), progress)
}

/// [`decrypt_jobs_with_progress`], showing each job's authenticated plaintext and its ciphertext
/// to its observers (`observers[i]` for `jobs[i]`), in order, then failing the run if an
/// observer's [`StreamObserver::finish`] does.
pub fn decrypt_jobs_observed<J: FileJob>(
    jobs: &[J],
    observers: Observers,
    progress: &dyn Progress,
) -> Result<(), SealError> {
    pipeline::run(jobs, Direction::Decrypt, observers, progress)
}

/// Sequential encryption of one file of known size into any `Write` (§7.2).
pub struct StreamWriter<W: Write> {
    inner: W,
    cipher: FileCipher,
    buf: Vec<u8>,
    next: u64,
    written: u64,
}

impl<W: Write> StreamWriter<W> {
    /// Starts a stream; exactly `cipher.layout().size()` bytes must be written before [`finish`](Self::finish).
    pub fn new(inner: W, cipher: FileCipher) -> StreamWriter<W> {
        let cap = cipher.layout().chunk_size() as usize + TAG_LEN;
        StreamWriter {
            inner,
            cipher,
            buf: Vec::with_capacity(cap),
            next: 0,
            written: 0,
        }
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        self.buf.resize(self.buf.len() + TAG_LEN, 0);
        self.cipher
            .seal_chunk(self.next, &mut self.buf)
            .map_err(io::Error::other)?;
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        self.next += 1;
        Ok(())
    }

    /// Writes the final chunk and returns the inner writer; fails unless exactly `S` bytes came.
    pub fn finish(mut self) -> io::Result<W> {
        let layout = self.cipher.layout();
        if self.written != layout.size() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} bytes written, {} declared", self.written, layout.size()),
            ));
        }
        // The last chunk is still buffered (full chunks are held until more data proves they are
        // not final), or, for an empty file, the single empty chunk is due.
        if self.next < layout.chunks() {
            self.flush_chunk()?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for StreamWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let layout = self.cipher.layout();
        if self.written + data.len() as u64 > layout.size() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more bytes than the declared size",
            ));
        }
        let chunk = layout.chunk_size() as usize;
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() == chunk {
                self.flush_chunk()?;
            }
            let take = (chunk - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
        }
        self.written += data.len() as u64;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Random-access reader of one encrypted file (§11): decrypts only the chunks it needs and returns
/// only bytes of chunks whose tag verified. Errors are `io::Error`s wrapping a [`SealError`].
pub struct ChunkReader<R: Read + Seek> {
    inner: R,
    cipher: FileCipher,
    base: u64,
    pos: u64,
    name: PathBuf,
    /// The last verified chunk: (index, plaintext).
    cached: Option<(u64, Vec<u8>)>,
}

impl<R: Read + Seek> ChunkReader<R> {
    /// A reader over ciphertext starting at `base` in `inner`. Checks that `inner` ends exactly at
    /// `base + ct_len(S)` (§11: the length is known for a seekable source).
    pub fn new(
        mut inner: R,
        cipher: FileCipher,
        base: u64,
        name: &Path,
    ) -> Result<Self, SealError> {
        let len = inner
            .seek(SeekFrom::End(0))
            .map_err(|e| SealError::io(name, e))?;
        check_ct_len(len, base + cipher.layout().ct_len(), name)?;
        Ok(ChunkReader {
            inner,
            cipher,
            base,
            pos: 0,
            name: name.to_path_buf(),
            cached: None,
        })
    }

    /// Plaintext size `S`.
    pub fn len(&self) -> u64 {
        self.cipher.layout().size()
    }

    /// Whether the plaintext is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn load(&mut self, i: u64) -> Result<&[u8], SealError> {
        if self.cached.as_ref().map(|c| c.0) != Some(i) {
            self.cached = None;
            let layout = self.cipher.layout();
            let pt = layout.pt_len(i) as usize;
            let mut buf = vec![0u8; pt + TAG_LEN];
            let at = self.base + layout.ct_offset(i);
            let io_err = |e: io::Error| SealError::io(&self.name, e);
            self.inner.seek(SeekFrom::Start(at)).map_err(io_err)?;
            self.inner
                .read_exact(&mut buf)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => SealError::Truncated {
                        path: self.name.clone(),
                        expected: self.base + layout.ct_len(),
                        found: at,
                    },
                    _ => SealError::io(&self.name, e),
                })?;
            self.cipher
                .open_chunk(i, &mut buf)
                .map_err(|_| SealError::ChunkAuth {
                    path: self.name.clone(),
                    chunk: i,
                })?;
            buf.truncate(pt);
            self.cached = Some((i, buf));
        }
        Ok(self.cached.as_ref().map(|c| c.1.as_slice()).unwrap_or(&[]))
    }
}

/// Compares a ciphertext length with the one the header requires.
pub fn check_ct_len(found: u64, expected: u64, name: &Path) -> Result<(), SealError> {
    match found.cmp(&expected) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(SealError::Truncated {
            path: name.to_path_buf(),
            expected,
            found,
        }),
        std::cmp::Ordering::Greater => Err(SealError::Extended {
            path: name.to_path_buf(),
            expected,
            found,
        }),
    }
}

impl<R: Read + Seek> Read for ChunkReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let layout = self.cipher.layout();
        if self.pos >= layout.size() {
            // §11: an empty file's single chunk is verified before end of stream is reported.
            if layout.size() == 0 {
                self.load(0).map_err(io::Error::other)?;
            }
            return Ok(0);
        }
        let i = self.pos / layout.chunk_size();
        let within = (self.pos - i * layout.chunk_size()) as usize;
        let chunk = self.load(i).map_err(io::Error::other)?;
        let n = (chunk.len() - within).min(out.len());
        out[..n].copy_from_slice(&chunk[within..within + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for ChunkReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let size = self.len() as i128;
        let target = match to {
            SeekFrom::Start(n) => n as i128,
            SeekFrom::End(d) => size + d as i128,
            SeekFrom::Current(d) => self.pos as i128 + d as i128,
        };
        if target < 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            ));
        }
        self.pos = u64::try_from(target).unwrap_or(u64::MAX);
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::keyschedule::KeySchedule;
    use crate::keys::wrapping::DataKey;
    use std::io::Cursor;

    fn cipher(chunk: u32, size: u64, path: &str) -> FileCipher {
        let keys = DataKey::from_bytes([7; 32]).file_keys(path, &[9; 32]);
        FileCipher::new(&keys, ChunkLayout::new(chunk, size)).unwrap()
    }

    fn encrypt(chunk: u32, pt: &[u8], path: &str) -> Vec<u8> {
        let mut w = StreamWriter::new(Vec::new(), cipher(chunk, pt.len() as u64, path));
        // Odd write sizes exercise chunk boundaries.
        for part in pt.chunks(1000) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn layout_matches_spec_example() {
        // FORMAT.md §7.4: C = 1 MiB, S = 2 500 000.
        let l = ChunkLayout::new(1 << 20, 2_500_000);
        assert_eq!(l.chunks(), 3);
        assert_eq!(l.pt_len(2), 402_848);
        assert_eq!(l.ct_len(), 2_500_048);
        assert_eq!(l.ct_offset(2), 2_097_184);
        let empty = ChunkLayout::new(4096, 0);
        assert_eq!(
            (empty.chunks(), empty.ct_len(), empty.pt_len(0)),
            (1, 16, 0)
        );
        let exact = ChunkLayout::new(4096, 8192);
        assert_eq!((exact.chunks(), exact.pt_len(1)), (2, 4096));
    }

    #[test]
    fn nonce_has_index_and_final_flag() {
        let c = cipher(4096, 8193, "a");
        let n0 = c.nonce(0);
        let n2 = c.nonce(2);
        assert_eq!(n0[..7], n2[..7]);
        assert_eq!(n0[7..], [0, 0, 0, 0, 0]);
        assert_eq!(n2[7..], [0, 0, 0, 2, 1]);
    }

    #[test]
    fn differential_against_rustcrypto_aes_gcm() {
        use aes_gcm::aead::{Aead, KeyInit};
        let pt = data(3 * 4096 + 5);
        let ct = encrypt(4096, &pt, "x/y");
        let keys = DataKey::from_bytes([7; 32]).file_keys("x/y", &[9; 32]);
        let rc = aes_gcm::Aes256Gcm::new_from_slice(&keys.key[..]).unwrap();
        let c = cipher(4096, pt.len() as u64, "x/y");
        let mut expected = Vec::new();
        for (i, chunk) in pt.chunks(4096).enumerate() {
            let nonce = c.nonce(i as u64);
            expected.extend(rc.encrypt((&nonce).into(), chunk).unwrap());
        }
        assert_eq!(ct, expected);
    }

    #[test]
    fn reader_round_trips_and_seeks() {
        for size in [0usize, 1, 4095, 4096, 4097, 3 * 4096, 3 * 4096 + 17] {
            let pt = data(size);
            let ct = encrypt(4096, &pt, "f");
            let mut r = ChunkReader::new(
                Cursor::new(ct),
                cipher(4096, size as u64, "f"),
                0,
                Path::new("f"),
            )
            .unwrap();
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert_eq!(got, pt, "size {size}");
            if size > 10 {
                r.seek(SeekFrom::End(-10)).unwrap();
                let mut tail = Vec::new();
                r.read_to_end(&mut tail).unwrap();
                assert_eq!(tail, pt[size - 10..]);
            }
            if size > 4097 {
                // A read across a chunk boundary.
                r.seek(SeekFrom::Start(4095)).unwrap();
                let mut two = [0u8; 2];
                r.read_exact(&mut two).unwrap();
                assert_eq!(two, pt[4095..4097]);
            }
        }
    }

    fn open_err(ct: Vec<u8>, size: u64, path: &str) -> SealError {
        let r = ChunkReader::new(Cursor::new(ct), cipher(4096, size, path), 0, Path::new("f"));
        match r {
            Err(e) => e,
            Ok(mut r) => {
                let e = r.read_to_end(&mut Vec::new()).unwrap_err();
                *e.into_inner().unwrap().downcast::<SealError>().unwrap()
            }
        }
    }

    #[test]
    fn tampering_fails() {
        let pt = data(3 * 4096);
        let ct = encrypt(4096, &pt, "f");
        let mut flip = ct.clone();
        flip[5000] ^= 1;
        assert!(matches!(
            open_err(flip, 12288, "f"),
            SealError::ChunkAuth { chunk: 1, .. }
        ));
        let short = ct[..ct.len() - 1].to_vec();
        assert_eq!(open_err(short, 12288, "f").code(), "truncated");
        let mut long = ct.clone();
        long.push(0);
        assert_eq!(open_err(long, 12288, "f").code(), "extended");
        // Swap chunks 0 and 1.
        let mut swapped = ct.clone();
        let (a, b) = swapped.split_at_mut(4112);
        a.swap_with_slice(&mut b[..4112]);
        assert_eq!(open_err(swapped, 12288, "f").code(), "chunk-auth");
        // Drop the final chunk and claim the shorter size: chunk 1 was sealed as non-final.
        let dropped = ct[..2 * 4112].to_vec();
        assert_eq!(open_err(dropped, 8192, "f").code(), "chunk-auth");
        // Same bytes under another path.
        assert_eq!(open_err(ct, 12288, "g").code(), "chunk-auth");
    }

    #[test]
    fn parallel_jobs_match_stream_writer() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [0usize, 1, 4096, 40_000, 3 << 20];
        let mut names = Vec::new();
        for (k, s) in sizes.iter().enumerate() {
            let p = dir.path().join(format!("p{k}"));
            std::fs::write(&p, data(*s)).unwrap();
            names.push(p);
        }
        let ciphers: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(k, s)| cipher(4096, *s as u64, &format!("p{k}")))
            .collect();
        let srcs: Vec<_> = names.iter().map(|p| File::open(p).unwrap()).collect();
        let cts: Vec<_> = (0..sizes.len())
            .map(|k| dir.path().join(format!("c{k}")))
            .collect();
        let dsts: Vec<_> = cts.iter().map(|p| File::create(p).unwrap()).collect();
        let jobs: Vec<_> = (0..sizes.len())
            .map(|k| Job {
                cipher: &ciphers[k],
                src: &srcs[k],
                src_name: &names[k],
                ct_base: 3,
                dst: &dsts[k],
                dst_name: &cts[k],
            })
            .collect();
        encrypt_jobs(&jobs).unwrap();
        for (k, s) in sizes.iter().enumerate() {
            let on_disk = std::fs::read(&cts[k]).unwrap();
            assert_eq!(on_disk[3..], encrypt(4096, &data(*s), &format!("p{k}")));
        }
        // And back.
        let srcs: Vec<_> = cts.iter().map(|p| File::open(p).unwrap()).collect();
        let outs: Vec<_> = (0..sizes.len())
            .map(|k| dir.path().join(format!("o{k}")))
            .collect();
        let dsts: Vec<_> = outs.iter().map(|p| File::create(p).unwrap()).collect();
        let jobs: Vec<_> = (0..sizes.len())
            .map(|k| Job {
                cipher: &ciphers[k],
                src: &srcs[k],
                src_name: &cts[k],
                ct_base: 3,
                dst: &dsts[k],
                dst_name: &outs[k],
            })
            .collect();
        decrypt_jobs(&jobs).unwrap();
        for (k, s) in sizes.iter().enumerate() {
            assert_eq!(std::fs::read(&outs[k]).unwrap(), data(*s));
        }
    }

    /// Collects what it observes; its finish fails when told to.
    struct Collect {
        seen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
        fail: bool,
    }

    impl StreamObserver for Collect {
        fn observe(&mut self, plaintext: &[u8]) {
            self.seen.lock().unwrap().extend_from_slice(plaintext);
        }
        fn finish(self: Box<Self>, file: &Path) -> Result<(), SealError> {
            match self.fail {
                true => Err(SealError::Changed {
                    path: file.to_path_buf(),
                    reason: "observer refused".into(),
                }),
                false => Ok(()),
            }
        }
    }

    /// `dir/{prefix}{k}` for `k < n`.
    fn numbered(dir: &Path, prefix: &str, n: usize) -> Vec<PathBuf> {
        (0..n).map(|k| dir.join(format!("{prefix}{k}"))).collect()
    }

    /// Plaintext files `dir/p{k}` holding `data(sizes[k])`, and the cipher of each.
    fn plaintext_files(dir: &Path, sizes: &[usize]) -> (Vec<PathBuf>, Vec<FileCipher>) {
        let names = numbered(dir, "p", sizes.len());
        for (p, s) in names.iter().zip(sizes) {
            std::fs::write(p, data(*s)).unwrap();
        }
        let ciphers = sizes
            .iter()
            .enumerate()
            .map(|(k, s)| cipher(4096, *s as u64, &format!("p{k}")))
            .collect();
        (names, ciphers)
    }

    #[test]
    fn observed_jobs_give_the_same_bytes_and_show_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [0usize, 1, 4096, 40_000, 3 << 20, (1 << 20) + 5];
        let (names, ciphers) = plaintext_files(dir.path(), &sizes);
        let srcs: Vec<_> = names.iter().map(|p| File::open(p).unwrap()).collect();
        let cts = numbered(dir.path(), "c", sizes.len());
        let run = |fail: bool| {
            let dsts: Vec<_> = cts.iter().map(|p| File::create(p).unwrap()).collect();
            let jobs: Vec<_> = (0..sizes.len())
                .map(|k| Job {
                    cipher: &ciphers[k],
                    src: &srcs[k],
                    src_name: &names[k],
                    ct_base: 5,
                    dst: &dsts[k],
                    dst_name: &cts[k],
                })
                .collect();
            // Every job but the second is observed.
            let seen: Vec<_> = sizes.iter().map(|_| Default::default()).collect();
            let observers: Observers = seen
                .iter()
                .enumerate()
                .map(|(k, seen)| match k {
                    1 => FileObservers::default(),
                    _ => FileObservers::plaintext(Box::new(Collect {
                        seen: std::sync::Arc::clone(seen),
                        fail: fail && k == 3,
                    })),
                })
                .collect();
            let result = encrypt_jobs_observed(&jobs, observers, &NoProgress);
            (result, seen)
        };
        let (result, seen) = run(false);
        result.unwrap();
        for (k, s) in sizes.iter().enumerate() {
            let on_disk = std::fs::read(&cts[k]).unwrap();
            assert_eq!(on_disk[5..], encrypt(4096, &data(*s), &format!("p{k}")));
            let observed = seen[k].lock().unwrap().clone();
            if k == 1 {
                assert!(observed.is_empty());
            } else {
                assert_eq!(observed, data(*s), "p{k}");
            }
        }
        let (result, _) = run(true);
        let err = result.unwrap_err();
        assert!(err.to_string().contains("p3"), "{err}");
        assert_eq!(err.code(), "changed");
    }

    /// Both streams of every file, in both directions, with the two observers of a file on their
    /// own lanes: each sees its whole stream in order.
    #[test]
    fn plaintext_and_ciphertext_observers_each_see_their_stream() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = [0usize, 4096, 3 << 20, (1 << 20) + 5];
        let (names, ciphers) = plaintext_files(dir.path(), &sizes);
        let cts = numbered(dir.path(), "c", sizes.len());
        let outs = numbered(dir.path(), "o", sizes.len());
        type Seen = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;
        let observe = |seen: &[(Seen, Seen)]| -> Observers {
            seen.iter()
                .map(|(pt, ct)| FileObservers {
                    plaintext: Some(Box::new(Collect {
                        seen: std::sync::Arc::clone(pt),
                        fail: false,
                    })),
                    ciphertext: Some(Box::new(Collect {
                        seen: std::sync::Arc::clone(ct),
                        fail: false,
                    })),
                })
                .collect()
        };
        let jobs = |from: &[PathBuf], to: &[PathBuf], run: &dyn Fn(&[Job<'_>])| {
            let srcs: Vec<_> = from.iter().map(|p| File::open(p).unwrap()).collect();
            let dsts: Vec<_> = to.iter().map(|p| File::create(p).unwrap()).collect();
            let jobs: Vec<_> = (0..sizes.len())
                .map(|k| Job {
                    cipher: &ciphers[k],
                    src: &srcs[k],
                    src_name: &from[k],
                    ct_base: 5,
                    dst: &dsts[k],
                    dst_name: &to[k],
                })
                .collect();
            run(&jobs);
        };
        let sealed: Vec<(Seen, Seen)> = sizes.iter().map(|_| Default::default()).collect();
        jobs(&names, &cts, &|j| {
            encrypt_jobs_observed(j, observe(&sealed), &NoProgress).unwrap()
        });
        let opened: Vec<(Seen, Seen)> = sizes.iter().map(|_| Default::default()).collect();
        jobs(&cts, &outs, &|j| {
            decrypt_jobs_observed(j, observe(&opened), &NoProgress).unwrap()
        });
        for (k, s) in sizes.iter().enumerate() {
            let ct = std::fs::read(&cts[k]).unwrap();
            for (pt_seen, ct_seen) in [&sealed[k], &opened[k]] {
                assert_eq!(*pt_seen.lock().unwrap(), data(*s), "plaintext of p{k}");
                assert_eq!(ct_seen.lock().unwrap()[..], ct[5..], "ciphertext of p{k}");
            }
            assert_eq!(std::fs::read(&outs[k]).unwrap(), data(*s));
        }
    }
}
