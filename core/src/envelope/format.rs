//! The bytes of the envelope: prefix, deterministic CBOR header and body, limits (`docs/FORMAT.md`
//! §3–§5). Parsing and serialisation only — no cryptography, no file system.
//!
//! Guarantees: [`Header::encode`] writes RFC 8949 core deterministic CBOR with integer keys in
//! ascending order and definite lengths, and refuses anything beyond a §3 limit; [`Header::decode`]
//! accepts exactly one encoding per header: it decodes with limits checked before any allocation that
//! depends on a length read, applies every rule of §5.4, then re-encodes and requires the input byte
//! for byte (§5.1: catches non-shortest integers, unsorted or duplicate keys, trailing bytes).

use cbor4ii::core::dec::{Decode, Read};
use cbor4ii::core::enc::Encode;
use cbor4ii::core::types;
use cbor4ii::core::utils::{BufWriter, SliceReader};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

use super::SealError;

/// `\x89MSEAL\r\n` (§3).
pub const MAGIC: [u8; 8] = [0x89, b'M', b'S', b'E', b'A', b'L', 0x0D, 0x0A];
/// The format version this module reads and writes.
pub const VERSION: u16 = 1;
/// magic 8 + version 2 + header length 4.
pub const PREFIX_LEN: usize = 14;
/// HMAC-SHA-256 output length.
pub const MAC_LEN: usize = 32;
/// Bound on the CBOR header.
pub const MAX_HEADER_LEN: usize = 32 * 1024 * 1024;
/// Data key length.
pub const DEK_LEN: usize = 32;
/// Per-file salt length.
pub const SALT_LEN: usize = 32;
/// Derived nonce prefix length.
pub const NONCE_PREFIX_LEN: usize = 7;
/// AES-GCM tag length.
pub const TAG_LEN: usize = 16;
/// Smallest chunk size.
pub const MIN_CHUNK_SIZE: u32 = 4096;
/// Largest chunk size.
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Encoder default chunk size (§7.6).
pub const DEFAULT_CHUNK_SIZE: u32 = 1024 * 1024;
/// Largest plaintext file (2^40 bytes).
pub const MAX_FILE_SIZE: u64 = 1 << 40;
/// Most files per model.
pub const MAX_FILES: usize = 100_000;
/// Longest relative path in UTF-8 bytes.
pub const MAX_PATH_LEN: usize = 4096;
/// Longest path component in bytes.
pub const MAX_COMPONENT_LEN: usize = 255;
/// Longest model name in bytes.
pub const MAX_MODEL_NAME_LEN: usize = 255;
/// Most stanzas per header.
pub const MAX_STANZAS: usize = 64;
/// Longest stanza type name.
pub const MAX_STANZA_TYPE_LEN: usize = 64;
/// Most parameters per stanza.
pub const MAX_PARAMS: usize = 16;
/// Longest parameter value (bytes or text).
pub const MAX_PARAM_VALUE_LEN: usize = 1024;
/// File name of the envelope in the directory layout.
pub const ENVELOPE_NAME: &str = "modelseal.envelope";
/// Length of the envelope around a header of `header_len` bytes.
pub const fn envelope_len(header_len: usize) -> usize {
    PREFIX_LEN + header_len + MAC_LEN
}

/// How the encrypted model is stored (§4.2, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A directory mirroring the model, plus `modelseal.envelope`.
    Directory,
    /// One file: envelope then the chunks of the only file, named `"."`.
    SingleFile,
}

impl Layout {
    fn code(self) -> u64 {
        match self {
            Layout::Directory => 0,
            Layout::SingleFile => 1,
        }
    }
}

/// One plaintext file of the model (§5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative path (`"."` in the single-file layout), bound into the file key.
    pub path: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Random per-file salt.
    pub salt: [u8; SALT_LEN],
}

/// Everything in the header that does not depend on the recipients (§5.2 `body`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// Directory or single file.
    pub layout: Layout,
    /// Informational model name.
    pub model_name: String,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    /// Files in component-wise path order.
    pub files: Vec<FileEntry>,
}

/// A stanza and its parameters are the key seam's types (`keys::wrapping`): this module encodes
/// and decodes them, the way a format encodes a seam type.
pub use crate::keys::wrapping::{ParamValue, Stanza, MAX_KEY_ID_LEN, MAX_WRAPPED_LEN};

/// The decoded header: the body's exact bytes, the body, and the stanzas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `body_bytes`: hashed into `body_digest` and copied unchanged by rewrap.
    pub body_bytes: Vec<u8>,
    /// The decoded body.
    pub body: Body,
    /// The recipients.
    pub stanzas: Vec<Stanza>,
}

// ---------------------------------------------------------------------------------------------
// Encoding

type Cbor = BufWriter;

fn put<T: Encode>(w: &mut Cbor, value: T) {
    // Writing into a Vec cannot fail; the error type is `Infallible`-like.
    let _ = value.encode(w);
}
fn put_map(w: &mut Cbor, len: usize) {
    let _ = types::Map::bounded(len, w);
}
fn put_array(w: &mut Cbor, len: usize) {
    let _ = types::Array::bounded(len, w);
}
fn put_bytes(w: &mut Cbor, bytes: &[u8]) {
    put(w, types::Bytes(bytes));
}

impl Body {
    /// Deterministic CBOR of the body, after checking it against §3 and §5.4 (an encoder never
    /// writes what a decoder would reject).
    pub fn encode(&self) -> Result<Vec<u8>, SealError> {
        validate_body(self, Path::new("<body>"))?;
        Ok(self.encode_unchecked())
    }

    fn encode_unchecked(&self) -> Vec<u8> {
        let mut w = BufWriter::new(Vec::with_capacity(64 + self.files.len() * 80));
        put_map(&mut w, 4);
        put(&mut w, 1u64);
        put(&mut w, self.layout.code());
        put(&mut w, 2u64);
        put(&mut w, self.model_name.as_str());
        put(&mut w, 3u64);
        put(&mut w, u64::from(self.chunk_size));
        put(&mut w, 4u64);
        put_array(&mut w, self.files.len());
        for f in &self.files {
            put_map(&mut w, 3);
            put(&mut w, 1u64);
            put(&mut w, f.path.as_str());
            put(&mut w, 2u64);
            put(&mut w, f.size);
            put(&mut w, 3u64);
            put_bytes(&mut w, &f.salt);
        }
        w.into_inner()
    }
}

fn encode_stanza(w: &mut Cbor, s: &Stanza) {
    put_map(w, 4);
    put(w, 1u64);
    put(w, s.stanza_type.as_str());
    put(w, 2u64);
    put(w, s.key_id.as_str());
    put(w, 3u64);
    put_bytes(w, &s.wrapped);
    put(w, 4u64);
    put_map(w, s.params.len());
    for (k, v) in &s.params {
        put(w, u64::from(*k));
        match v {
            ParamValue::Uint(n) => put(w, *n),
            ParamValue::Bytes(b) => put_bytes(w, b),
            ParamValue::Text(t) => put(w, t.as_str()),
        }
    }
}

/// Deterministic CBOR of a header `{1: body_bytes, 2: stanzas}` (no validation; the test-vector
/// generator also uses it to forge headers that break a later rule).
pub(super) fn encode_header_unchecked(body_bytes: &[u8], stanzas: &[Stanza]) -> Vec<u8> {
    let mut w = BufWriter::new(Vec::with_capacity(
        body_bytes.len() + 16 + stanzas.len() * 200,
    ));
    put_map(&mut w, 2);
    put(&mut w, 1u64);
    put_bytes(&mut w, body_bytes);
    put(&mut w, 2u64);
    put_array(&mut w, stanzas.len());
    for s in stanzas {
        encode_stanza(&mut w, s);
    }
    w.into_inner()
}

impl Header {
    /// Builds a header from a body and stanzas, encoding the body.
    pub fn new(body: Body, stanzas: Vec<Stanza>) -> Result<Header, SealError> {
        let body_bytes = body.encode()?;
        Ok(Header {
            body_bytes,
            body,
            stanzas,
        })
    }

    /// Deterministic CBOR of the header, refusing anything beyond §3 or against §5.4.
    pub fn encode(&self) -> Result<Vec<u8>, SealError> {
        let origin = Path::new("<header>");
        validate_stanzas(&self.stanzas, origin)?;
        let bytes = encode_header_unchecked(&self.body_bytes, &self.stanzas);
        if bytes.len() > MAX_HEADER_LEN {
            return Err(SealError::limit(
                origin,
                format!(
                    "header of {} bytes exceeds {MAX_HEADER_LEN} bytes",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    /// Strictly decodes `header_bytes` (§5.1–§5.4); `origin` names the file in errors.
    pub fn decode(header_bytes: &[u8], origin: &Path) -> Result<Header, SealError> {
        let (body_bytes, stanzas) = decode_header_items(header_bytes, origin)?;
        let body = decode_body(&body_bytes, origin)?;
        validate_stanzas(&stanzas, origin)?;
        // §5.1: one encoding per header. Re-encoding catches everything the typed decoder let
        // through (non-shortest integers and lengths, unsorted or duplicate keys).
        if encode_header_unchecked(&body_bytes, &stanzas) != header_bytes {
            return Err(SealError::format(
                origin,
                "header is not in deterministic CBOR encoding",
            ));
        }
        Ok(Header {
            body_bytes,
            body,
            stanzas,
        })
    }
}

/// Prefix bytes `MAGIC ‖ u16be(1) ‖ u32be(header_len)` (§4.1).
pub fn encode_prefix(header_len: usize) -> Result<[u8; PREFIX_LEN], SealError> {
    if header_len == 0 || header_len > MAX_HEADER_LEN {
        return Err(SealError::limit(
            "<header>",
            format!("header length {header_len} outside 1..={MAX_HEADER_LEN}"),
        ));
    }
    let mut p = [0u8; PREFIX_LEN];
    p[..8].copy_from_slice(&MAGIC);
    p[8..10].copy_from_slice(&VERSION.to_be_bytes());
    // header_len ≤ 32 MiB fits in u32 (checked above).
    p[10..14].copy_from_slice(&(header_len as u32).to_be_bytes());
    Ok(p)
}

/// Checks a prefix (§10 step 2) and returns `header_len`.
pub fn decode_prefix(prefix: &[u8], origin: &Path) -> Result<usize, SealError> {
    if prefix.len() < PREFIX_LEN {
        return Err(SealError::format(
            origin,
            "not a modelseal encrypted model (shorter than the 14-byte prefix)",
        ));
    }
    if prefix[..8] != MAGIC {
        return Err(SealError::format(
            origin,
            "not a modelseal encrypted model (bad magic)",
        ));
    }
    let version = u16::from_be_bytes([prefix[8], prefix[9]]);
    if version != VERSION {
        return Err(SealError::Version {
            path: origin.to_path_buf(),
            found: version,
        });
    }
    let len = u32::from_be_bytes([prefix[10], prefix[11], prefix[12], prefix[13]]) as usize;
    if len == 0 || len > MAX_HEADER_LEN {
        return Err(SealError::limit(
            origin,
            format!("header length {len} outside 1..={MAX_HEADER_LEN}"),
        ));
    }
    Ok(len)
}

// ---------------------------------------------------------------------------------------------
// Decoding (typed, with limits; determinism is then checked by re-encoding)

struct Dec<'a, 'o> {
    r: SliceReader<'a>,
    origin: &'o Path,
    what: &'static str,
}

impl<'a, 'o> Dec<'a, 'o> {
    fn new(bytes: &'a [u8], origin: &'o Path, what: &'static str) -> Self {
        Dec {
            r: SliceReader::new(bytes),
            origin,
            what,
        }
    }

    fn err(&self, reason: impl std::fmt::Display) -> SealError {
        SealError::format(self.origin, format!("{}: {reason}", self.what))
    }

    /// A decoding error of `field` in words (cbor4ii's own `Display` is its `Debug`).
    fn cbor_err<E>(&self, field: &str, e: cbor4ii::core::error::DecodeError<E>) -> SealError {
        use cbor4ii::core::error::DecodeError as D;
        let reason = match e {
            D::Eof { .. } | D::RequireLength { .. } | D::Read(_) => {
                "declares more bytes than the header holds"
            }
            D::Mismatch { .. } | D::Unsupported { .. } => "has the wrong CBOR type",
            D::RequireUtf8 { .. } => "is not valid UTF-8",
            D::LengthOverflow { .. } | D::CastOverflow { .. } | D::ArithmeticOverflow { .. } => {
                "declares a length or value out of range"
            }
            _ => "is not valid CBOR",
        };
        self.err(format!("{field} {reason}"))
    }

    fn peek_major(&mut self) -> Result<u8, SealError> {
        let byte = match self.r.fill(1) {
            Ok(r) => r.as_ref().first().copied(),
            Err(_) => None,
        };
        byte.map(|b| b >> 5)
            .ok_or_else(|| self.err("unexpected end of CBOR"))
    }

    fn uint(&mut self, field: &str) -> Result<u64, SealError> {
        if self.peek_major()? != 0 {
            return Err(self.err(format!("{field}: expected an unsigned integer")));
        }
        u64::decode(&mut self.r).map_err(|e| self.cbor_err(field, e))
    }

    fn bytes(&mut self, field: &str, max: usize) -> Result<&'a [u8], SealError> {
        if self.peek_major()? != 2 {
            return Err(self.err(format!("{field}: expected a byte string")));
        }
        let types::Bytes(b) =
            <types::Bytes<&'a [u8]>>::decode(&mut self.r).map_err(|e| self.cbor_err(field, e))?;
        if b.len() > max {
            return Err(SealError::limit(
                self.origin,
                format!("{}: {field} of {} bytes exceeds {max}", self.what, b.len()),
            ));
        }
        Ok(b)
    }

    fn text(&mut self, field: &str, max: usize) -> Result<&'a str, SealError> {
        if self.peek_major()? != 3 {
            return Err(self.err(format!("{field}: expected a text string")));
        }
        let s = <&'a str>::decode(&mut self.r).map_err(|e| self.cbor_err(field, e))?;
        if s.len() > max {
            return Err(SealError::limit(
                self.origin,
                format!("{}: {field} of {} bytes exceeds {max}", self.what, s.len()),
            ));
        }
        Ok(s)
    }

    /// A definite-length array of at most `max` items.
    fn array(&mut self, field: &str, max: usize) -> Result<usize, SealError> {
        if self.peek_major()? != 4 {
            return Err(self.err(format!("{field}: expected an array")));
        }
        match types::Array::len(&mut self.r) {
            Ok(Some(n)) if n <= max => Ok(n),
            Ok(Some(n)) => Err(SealError::limit(
                self.origin,
                format!("{}: {field} has {n} items, more than {max}", self.what),
            )),
            Ok(None) => Err(self.err(format!("{field}: indefinite-length array"))),
            Err(e) => Err(self.cbor_err(field, e)),
        }
    }

    /// A definite-length map of at most `max` entries.
    fn map(&mut self, field: &str, max: usize) -> Result<usize, SealError> {
        if self.peek_major()? != 5 {
            return Err(self.err(format!("{field}: expected a map")));
        }
        match types::Map::len(&mut self.r) {
            Ok(Some(n)) if n <= max => Ok(n),
            Ok(Some(n)) => Err(self.err(format!("{field}: map of {n} entries, at most {max}"))),
            Ok(None) => Err(self.err(format!("{field}: indefinite-length map"))),
            Err(e) => Err(self.cbor_err(field, e)),
        }
    }

    /// A map with exactly the keys `1..=n`, in that order (determinism: sorted, no duplicates).
    fn fixed_map(&mut self, field: &str, n: usize) -> Result<(), SealError> {
        let len = self.map(field, n)?;
        if len != n {
            return Err(self.err(format!("{field}: expected {n} keys, found {len}")));
        }
        Ok(())
    }

    fn key(&mut self, field: &str, expected: u64) -> Result<(), SealError> {
        let k = self.uint(field)?;
        if k != expected {
            return Err(self.err(format!("{field}: expected key {expected}, found {k}")));
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), SealError> {
        let more = self
            .r
            .fill(1)
            .map(|r| !r.as_ref().is_empty())
            .unwrap_or(false);
        if more {
            return Err(self.err("trailing bytes after the CBOR item"));
        }
        Ok(())
    }
}

fn decode_header_items(bytes: &[u8], origin: &Path) -> Result<(Vec<u8>, Vec<Stanza>), SealError> {
    let mut d = Dec::new(bytes, origin, "header");
    d.fixed_map("header", 2)?;
    d.key("header", 1)?;
    let body = d.bytes("body", MAX_HEADER_LEN)?.to_vec();
    d.key("header", 2)?;
    let n = d.array("stanzas", MAX_STANZAS)?;
    if n == 0 {
        return Err(d.err("no stanza (at least one recipient is required)"));
    }
    let mut stanzas = Vec::with_capacity(n);
    for _ in 0..n {
        stanzas.push(decode_stanza(&mut d)?);
    }
    d.end()?;
    Ok((body, stanzas))
}

fn decode_stanza(d: &mut Dec<'_, '_>) -> Result<Stanza, SealError> {
    d.fixed_map("stanza", 4)?;
    d.key("stanza", 1)?;
    let stanza_type = d.text("stanza type", MAX_STANZA_TYPE_LEN)?.to_owned();
    d.key("stanza", 2)?;
    let key_id = d.text("key id", MAX_KEY_ID_LEN)?.to_owned();
    d.key("stanza", 3)?;
    let wrapped = d.bytes("wrapped key", MAX_WRAPPED_LEN)?.to_vec();
    d.key("stanza", 4)?;
    let n = d.map("stanza params", MAX_PARAMS)?;
    let mut params = BTreeMap::new();
    for _ in 0..n {
        let k = d.uint("param key")?;
        let k = u8::try_from(k).map_err(|_| d.err(format!("param key {k} exceeds 255")))?;
        let v = match d.peek_major()? {
            0 => ParamValue::Uint(d.uint("param value")?),
            2 => ParamValue::Bytes(d.bytes("param value", MAX_PARAM_VALUE_LEN)?.to_vec()),
            3 => ParamValue::Text(d.text("param value", MAX_PARAM_VALUE_LEN)?.to_owned()),
            _ => return Err(d.err("param value must be an integer, bytes or text")),
        };
        // A duplicate key collapses here and is then caught by the re-encoding check.
        params.insert(k, v);
    }
    Ok(Stanza {
        stanza_type,
        key_id,
        wrapped,
        params,
    })
}

fn decode_body(bytes: &[u8], origin: &Path) -> Result<Body, SealError> {
    let mut d = Dec::new(bytes, origin, "body");
    d.fixed_map("body", 4)?;
    d.key("body", 1)?;
    let layout = match d.uint("layout")? {
        0 => Layout::Directory,
        1 => Layout::SingleFile,
        n => return Err(d.err(format!("unknown layout {n}"))),
    };
    d.key("body", 2)?;
    let model_name = d.text("model name", MAX_MODEL_NAME_LEN)?.to_owned();
    d.key("body", 3)?;
    let chunk = d.uint("chunk size")?;
    let chunk_size = u32::try_from(chunk)
        .ok()
        .filter(|c| chunk_size_ok(*c))
        .ok_or_else(|| {
            d.err(format!(
                "chunk size {chunk} is not a power of two in {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
            ))
        })?;
    d.key("body", 4)?;
    let n = d.array("files", MAX_FILES)?;
    let mut files = Vec::with_capacity(n);
    for _ in 0..n {
        d.fixed_map("file entry", 3)?;
        d.key("file entry", 1)?;
        let path = d.text("path", MAX_PATH_LEN)?.to_owned();
        d.key("file entry", 2)?;
        let size = d.uint("file size")?;
        d.key("file entry", 3)?;
        let salt = d.bytes("salt", SALT_LEN)?;
        let salt: [u8; SALT_LEN] = salt
            .try_into()
            .map_err(|_| d.err(format!("salt of {} bytes, expected 32", salt.len())))?;
        files.push(FileEntry { path, size, salt });
    }
    d.end()?;
    let body = Body {
        layout,
        model_name,
        chunk_size,
        files,
    };
    validate_body(&body, origin)?;
    if body.encode_unchecked() != bytes {
        return Err(SealError::format(
            origin,
            "body is not in deterministic CBOR encoding",
        ));
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Validation (§5.4)

/// Whether `c` is a valid chunk size (power of two in `[MIN, MAX]`).
pub fn chunk_size_ok(c: u32) -> bool {
    c.is_power_of_two() && (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&c)
}

fn is_control(c: char) -> bool {
    matches!(c as u32, 0x00..=0x1F | 0x7F..=0x9F)
}

/// Checks a model name (§5.4 rule 2).
pub fn check_model_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_MODEL_NAME_LEN {
        return Err(format!(
            "model name must be 1..={MAX_MODEL_NAME_LEN} bytes, found {}",
            name.len()
        ));
    }
    if name.chars().any(is_control) {
        return Err("model name contains a control character".into());
    }
    Ok(())
}

/// Checks a directory-layout relative path (§5.4 rules 3–4).
pub fn check_rel_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(format!(
            "path {path:?}: must be 1..={MAX_PATH_LEN} bytes, found {}",
            path.len()
        ));
    }
    for c in path.split('/') {
        let bad = if c.is_empty() {
            Some("empty component (leading, trailing or doubled '/')")
        } else if c.len() > MAX_COMPONENT_LEN {
            Some("component longer than 255 bytes")
        } else if c == "." || c == ".." {
            Some("'.' or '..' component")
        } else if c.contains('\0') {
            Some("NUL in a component")
        } else if c.contains('\\') {
            Some("backslash in a component")
        } else {
            None
        };
        if let Some(reason) = bad {
            return Err(format!("path {path:?}: {reason}"));
        }
    }
    if path == ENVELOPE_NAME || path.starts_with("modelseal.envelope/") {
        return Err(format!("path {path:?}: {ENVELOPE_NAME} is a reserved name"));
    }
    Ok(())
}

/// Component-wise path order (§5.4 rule 5): `tree::RelPath`'s and model-signing's order.
pub fn path_order(a: &str, b: &str) -> Ordering {
    a.split('/')
        .map(str::as_bytes)
        .cmp(b.split('/').map(str::as_bytes))
}

/// Whether `dir` is a proper component prefix of `path` (`a` of `a/b`, not of `ab`).
fn is_component_prefix(dir: &str, path: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

fn validate_body(body: &Body, origin: &Path) -> Result<(), SealError> {
    let bad = |reason: String| SealError::format(origin, format!("body: {reason}"));
    if !chunk_size_ok(body.chunk_size) {
        return Err(bad(format!(
            "chunk size {} is not a power of two in {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}",
            body.chunk_size
        )));
    }
    check_model_name(&body.model_name).map_err(bad)?;
    if body.files.is_empty() {
        return Err(bad("no file".into()));
    }
    if body.files.len() > MAX_FILES {
        return Err(SealError::limit(
            origin,
            format!("{} files, more than {MAX_FILES}", body.files.len()),
        ));
    }
    for f in &body.files {
        if f.size > MAX_FILE_SIZE {
            return Err(SealError::limit(
                origin,
                format!("{}: size {} exceeds 2^40 bytes", f.path, f.size),
            ));
        }
    }
    match body.layout {
        Layout::SingleFile => {
            if body.files.len() != 1 || body.files[0].path != "." {
                return Err(bad(
                    "single-file layout needs exactly one file named \".\"".into()
                ));
            }
        }
        Layout::Directory => {
            for f in &body.files {
                check_rel_path(&f.path).map_err(bad)?;
            }
            for pair in body.files.windows(2) {
                let (a, b) = (&pair[0].path, &pair[1].path);
                if path_order(a, b) != Ordering::Less {
                    return Err(bad(format!(
                        "paths not in strictly ascending component-wise order: {a:?} then {b:?}"
                    )));
                }
                // In component-wise order every path below `a` follows `a` directly.
                if is_component_prefix(a, b) {
                    return Err(bad(format!(
                        "{a:?} is both a file and a directory of {b:?}"
                    )));
                }
            }
        }
    }
    Ok(())
}

fn stanza_type_ok(t: &str) -> bool {
    let mut bytes = t.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'/' | b'-'))
}

fn validate_stanzas(stanzas: &[Stanza], origin: &Path) -> Result<(), SealError> {
    if stanzas.is_empty() || stanzas.len() > MAX_STANZAS {
        return Err(SealError::limit(
            origin,
            format!("{} stanzas, must be 1..={MAX_STANZAS}", stanzas.len()),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for s in stanzas {
        let bad = |reason: String| {
            SealError::format(
                origin,
                format!("stanza {} {}: {reason}", s.stanza_type, s.key_id),
            )
        };
        if s.stanza_type.len() > MAX_STANZA_TYPE_LEN || !stanza_type_ok(&s.stanza_type) {
            return Err(bad("invalid stanza type name".into()));
        }
        if s.key_id.is_empty()
            || s.key_id.len() > MAX_KEY_ID_LEN
            || !s.key_id.bytes().all(|b| (0x21..=0x7E).contains(&b))
        {
            return Err(bad(
                "key id must be 1..=256 printable ASCII characters".into()
            ));
        }
        if s.wrapped.is_empty() || s.wrapped.len() > MAX_WRAPPED_LEN {
            return Err(bad(format!("wrapped key of {} bytes", s.wrapped.len())));
        }
        if s.params.len() > MAX_PARAMS {
            return Err(bad(format!(
                "{} params, at most {MAX_PARAMS}",
                s.params.len()
            )));
        }
        for v in s.params.values() {
            let len = match v {
                ParamValue::Uint(_) => 0,
                ParamValue::Bytes(b) => b.len(),
                ParamValue::Text(t) => t.len(),
            };
            if len > MAX_PARAM_VALUE_LEN {
                return Err(bad(format!("param value of {len} bytes")));
            }
        }
        check_registered_shape(s).map_err(bad)?;
        if !seen.insert((s.stanza_type.as_str(), s.key_id.as_str())) {
            return Err(bad("duplicate (type, key_id)".into()));
        }
    }
    Ok(())
}

fn bytes_param(s: &Stanza, key: u8, len: usize) -> bool {
    matches!(s.params.get(&key), Some(ParamValue::Bytes(b)) if b.len() == len)
}
fn text_param(s: &Stanza, key: u8) -> Option<&str> {
    match s.params.get(&key) {
        Some(ParamValue::Text(t)) => Some(t),
        _ => None,
    }
}

/// §5.4 rule 8 / §8.2: a registered type's exact `params` map and `wrapped` length, checked by every
/// decoder for every stanza so that all decoders accept the same headers.
fn check_registered_shape(s: &Stanza) -> Result<(), String> {
    let n = s.params.len();
    let w = s.wrapped.len();
    let ok = match s.stanza_type.as_str() {
        "aes256-kek" => n == 1 && bytes_param(s, 1, 12) && w == 48,
        "x25519-hpke" => n == 1 && bytes_param(s, 1, 32) && w == 48,
        "rsa-oaep" => {
            n == 1
                && matches!(text_param(s, 1), Some("sha256" | "sha1"))
                && (384..=2048).contains(&w)
        }
        "pkcs11-aes" => match text_param(s, 1) {
            Some("aes-kwp") => n == 1 && w == 40,
            Some("aes-gcm") => n == 2 && bytes_param(s, 2, 12) && w == 48,
            _ => false,
        },
        "awskms" => n == 1 && text_param(s, 1) == Some("SYMMETRIC_DEFAULT"),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "params or wrapped length ({w} bytes) do not match the registered type (§8.2)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        Body {
            layout: Layout::Directory,
            model_name: "llm-7b".into(),
            chunk_size: 4096,
            files: vec![
                FileEntry {
                    path: "B".into(),
                    size: 0,
                    salt: [1; 32],
                },
                FileEntry {
                    path: "a/b".into(),
                    size: 5000,
                    salt: [2; 32],
                },
                FileEntry {
                    path: "a-b".into(),
                    size: 1 << 40,
                    salt: [3; 32],
                },
            ],
        }
    }

    fn stanza() -> Stanza {
        Stanza {
            stanza_type: "aes256-kek".into(),
            key_id: "00112233445566778899aabbccddeeff".into(),
            wrapped: vec![7; 48],
            params: BTreeMap::from([(1, ParamValue::Bytes(vec![9; 12]))]),
        }
    }

    fn header_bytes() -> Vec<u8> {
        Header::new(body(), vec![stanza()])
            .unwrap()
            .encode()
            .unwrap()
    }

    #[test]
    fn round_trip() {
        let h = Header::new(body(), vec![stanza()]).unwrap();
        let bytes = h.encode().unwrap();
        assert_eq!(Header::decode(&bytes, Path::new("e")).unwrap(), h);
    }

    #[test]
    fn body_encoding_matches_hand_written_cbor() {
        let b = Body {
            layout: Layout::SingleFile,
            model_name: "m".into(),
            chunk_size: 4096,
            files: vec![FileEntry {
                path: ".".into(),
                size: 24,
                salt: [0xAB; 32],
            }],
        };
        // {1: 1, 2: "m", 3: 4096, 4: [{1: ".", 2: 24, 3: h'ab…'}]} per RFC 8949 §3.
        let mut want = vec![
            0xA4, 0x01, 0x01, 0x02, 0x61, b'm', 0x03, 0x19, 0x10, 0x00, 0x04,
        ];
        want.extend([0x81, 0xA3, 0x01, 0x61, b'.', 0x02, 0x18, 24, 0x03, 0x58, 32]);
        want.extend([0xAB; 32]);
        assert_eq!(b.encode().unwrap(), want);
    }

    #[test]
    fn component_order_differs_from_bytewise() {
        assert_eq!(path_order("a/b", "a-b"), Ordering::Less);
        assert!("a/b" > "a-b");
        assert_eq!(path_order("a", "a/b"), Ordering::Less);
        assert_eq!(path_order("B", "a"), Ordering::Less);
    }

    #[test]
    fn rejects_non_deterministic_encodings() {
        let good = header_bytes();
        // Non-shortest integer: key 1 of the header written as 0x18 0x01.
        let mut bad = vec![0xA2, 0x18, 0x01];
        bad.extend_from_slice(&good[2..]);
        assert!(Header::decode(&bad, Path::new("e")).is_err());
        // Trailing byte.
        let mut bad = good.clone();
        bad.push(0);
        let err = Header::decode(&bad, Path::new("e")).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");
        // Indefinite-length map.
        let mut bad = vec![0xBF];
        bad.extend_from_slice(&good[1..]);
        bad.push(0xFF);
        assert!(Header::decode(&bad, Path::new("e")).is_err());
    }

    #[test]
    fn rejects_bad_bodies() {
        type Edit = Box<dyn Fn(&mut Body)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("chunk", Box::new(|b| b.chunk_size = 5000)),
            ("chunk", Box::new(|b| b.chunk_size = 2048)),
            ("control", Box::new(|b| b.model_name = "a\nb".into())),
            ("'..'", Box::new(|b| b.files[1].path = "a/..".into())),
            ("empty", Box::new(|b| b.files[1].path = "/a".into())),
            ("backslash", Box::new(|b| b.files[1].path = "a\\b".into())),
            ("ascending", Box::new(|b| b.files.swap(1, 2))),
            (
                "reserved",
                Box::new(|b| b.files[2].path = ENVELOPE_NAME.into()),
            ),
            ("both a file", Box::new(|b| b.files[0].path = "a".into())),
            ("2^40", Box::new(|b| b.files[2].size = (1 << 40) + 1)),
            ("single-file", Box::new(|b| b.layout = Layout::SingleFile)),
        ];
        for (needle, edit) in cases {
            let mut b = body();
            edit(&mut b);
            let err = b.encode().unwrap_err();
            assert!(err.to_string().contains(needle), "{needle}: {err}");
            // The decoder rejects the same body when an encoder wrote it anyway.
            let bytes = b.encode_unchecked();
            assert!(decode_body(&bytes, Path::new("e")).is_err(), "{needle}");
        }
    }

    #[test]
    fn rejects_bad_stanzas() {
        let mut dup = vec![stanza(), stanza()];
        assert!(validate_stanzas(&dup, Path::new("e")).is_err());
        dup[1].key_id = "other".into();
        validate_stanzas(&dup, Path::new("e")).unwrap();
        let mut s = stanza();
        s.wrapped.pop();
        assert!(validate_stanzas(&[s], Path::new("e")).is_err());
        let mut s = stanza();
        s.stanza_type = "Upper".into();
        assert!(validate_stanzas(&[s], Path::new("e")).is_err());
        let mut s = stanza();
        s.stanza_type = "example.com/unknown".into();
        s.params.clear();
        validate_stanzas(&[s], Path::new("e")).unwrap();
        assert!(validate_stanzas(&[], Path::new("e")).is_err());
    }

    #[test]
    fn prefix_checks() {
        let p = encode_prefix(10).unwrap();
        assert_eq!(decode_prefix(&p, Path::new("e")).unwrap(), 10);
        let mut v2 = p;
        v2[9] = 2;
        assert!(matches!(
            decode_prefix(&v2, Path::new("e")),
            Err(SealError::Version { found: 2, .. })
        ));
        let mut big = p;
        big[10..14].copy_from_slice(&((MAX_HEADER_LEN as u32) + 1).to_be_bytes());
        assert_eq!(
            decode_prefix(&big, Path::new("e")).unwrap_err().code(),
            "limit"
        );
        assert_eq!(
            decode_prefix(&p[..5], Path::new("e")).unwrap_err().code(),
            "format"
        );
    }
}
