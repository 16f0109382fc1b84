//! The encoder: deterministic CBOR (RFC 8949 core deterministic encoding: integer keys ascending,
//! definite lengths, shortest forms) of the body and the header, and the prefix (`docs/FORMAT.md`
//! §4.1, §5).
//!
//! Guarantee: [`Body::encode`] and [`Header::encode`] never write what the decoder would reject —
//! they apply the same [`super::validate`] rules first.

use cbor4ii::core::enc::Encode;
use cbor4ii::core::types;
use cbor4ii::core::utils::BufWriter;
use std::path::Path;

use super::validate::{validate_body, validate_stanzas};
use super::{Body, Header, ParamValue, Stanza, MAGIC, MAX_HEADER_LEN, PREFIX_LEN, VERSION};
use crate::envelope::SealError;

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

    /// The body's deterministic CBOR without the checks (the decoder compares its input with it).
    pub(crate) fn encode_unchecked(&self) -> Vec<u8> {
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
pub(in crate::envelope) fn encode_header_unchecked(
    body_bytes: &[u8],
    stanzas: &[Stanza],
) -> Vec<u8> {
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
