//! The decoder: strict, typed reading of the header and body (`docs/FORMAT.md` §5.1–§5.4, §10
//! steps 2–5), with every limit checked before an allocation that depends on a length read.
//!
//! Guarantee: [`Header::decode`] accepts exactly one encoding per header — after the typed decode
//! and the [`super::validate`] rules, it re-encodes and requires the input byte for byte.

use cbor4ii::core::dec::{Decode, Read};
use cbor4ii::core::types;
use cbor4ii::core::utils::SliceReader;
use std::collections::BTreeMap;
use std::path::Path;

use super::encode::encode_header_unchecked;
use super::validate::{chunk_size_ok, validate_body, validate_stanzas};
use super::{
    Body, FileEntry, Header, Layout, ParamValue, Stanza, MAGIC, MAX_CHUNK_SIZE, MAX_FILES,
    MAX_HEADER_LEN, MAX_KEY_ID_LEN, MAX_MODEL_NAME_LEN, MAX_PARAMS, MAX_PARAM_VALUE_LEN,
    MAX_PATH_LEN, MAX_STANZAS, MAX_STANZA_TYPE_LEN, MAX_WRAPPED_LEN, MIN_CHUNK_SIZE, PREFIX_LEN,
    SALT_LEN, VERSION,
};
use crate::envelope::SealError;

impl Header {
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

/// A reader of one CBOR item (the header or the body) that checks each value's major type and
/// limit before reading it and words every failure as a format error naming `origin` and `what`.
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

pub(super) fn decode_body(bytes: &[u8], origin: &Path) -> Result<Body, SealError> {
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
