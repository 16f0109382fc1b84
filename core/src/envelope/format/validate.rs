//! The rules of `docs/FORMAT.md` §3 and §5.4 that the encoder applies before writing and the
//! decoder after reading, so that both accept exactly the same headers: chunk sizes, model names,
//! relative paths and their order, file counts and sizes, and each stanza's shape.

use std::cmp::Ordering;
use std::path::Path;

use super::{
    Body, Layout, ParamValue, Stanza, ENVELOPE_NAME, MAX_CHUNK_SIZE, MAX_COMPONENT_LEN, MAX_FILES,
    MAX_FILE_SIZE, MAX_KEY_ID_LEN, MAX_MODEL_NAME_LEN, MAX_PARAMS, MAX_PARAM_VALUE_LEN,
    MAX_PATH_LEN, MAX_STANZAS, MAX_STANZA_TYPE_LEN, MAX_WRAPPED_LEN, MIN_CHUNK_SIZE,
};
use crate::envelope::SealError;

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

/// Checks a body against §3 and §5.4; `origin` names the file in errors.
pub(super) fn validate_body(body: &Body, origin: &Path) -> Result<(), SealError> {
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

/// Checks the stanzas against §3 and §5.4 (count, names, lengths, registered shapes, no
/// duplicate `(type, key_id)`); `origin` names the file in errors.
pub(super) fn validate_stanzas(stanzas: &[Stanza], origin: &Path) -> Result<(), SealError> {
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
