//! DSSE v1 pre-authentication encoding (PAE): the exact bytes an OMS signature covers.
//!
//! Spec: <https://github.com/secure-systems-lab/dsse/blob/v1.0.0/protocol.md>. The encoding binds the
//! payload type to the payload, so a signature over one statement cannot be replayed as another kind
//! of document. Lengths are byte counts in decimal ASCII; model-signing 1.1.1 counts characters of
//! the type, which is the same for the ASCII [`super::PAYLOAD_TYPE`].

/// DSSE v1 pre-authentication encoding: `"DSSEv1" SP len(type) SP type SP len(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(header.len() + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// The message model-signing v0.2.0 signed in place of the PAE, for the PAE `pae` of one of its
/// own statements (in-toto payload, `predicateType` `https://model_signing/Digests/v0.1`); `None`
/// for anything else.
///
/// v0.2.0's encoder spelled the prefix `DSSEV1` and formatted the payload with Python's bytes
/// `repr` (`b'{\n  "_type": …'`), so its signatures do not verify over the real PAE.
/// model-signing 1.1.1 tries this message when the PAE fails, for every bundle; modelseal only for
/// the statement format v0.2.0 wrote, so that no current statement is ever checked against a
/// second encoding.
pub fn v0_2_0_message(pae: &[u8]) -> Option<Vec<u8>> {
    let (payload_type, payload) = split_pae(pae)?;
    let is_v0_2_0 = payload_type == super::PAYLOAD_TYPE
        && super::statement::predicate_kind(payload)
            == Some(super::statement::PredicateKind::DigestsV0_1);
    is_v0_2_0.then(|| {
        let mut out = format!(
            "DSSEV1 {} {} {} ",
            payload_type.len(),
            payload_type,
            payload.len()
        )
        .into_bytes();
        out.extend(python_bytes_repr(payload));
        out
    })
}

/// Reads a PAE back into its payload type and payload; `None` unless `pae` is exactly one.
fn split_pae(pae: &[u8]) -> Option<(&str, &[u8])> {
    fn length(rest: &[u8]) -> Option<(usize, &[u8])> {
        let end = rest.iter().position(|&b| b == b' ')?;
        let digits = std::str::from_utf8(&rest[..end]).ok()?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((digits.parse().ok()?, &rest[end + 1..]))
    }
    let rest = pae.strip_prefix(b"DSSEv1 ")?;
    let (type_len, rest) = length(rest)?;
    let (payload_type, rest) = (rest.get(..type_len)?, rest.get(type_len..)?);
    let rest = rest.strip_prefix(b" ")?;
    let (payload_len, payload) = length(rest)?;
    (payload.len() == payload_len).then_some(())?;
    Some((std::str::from_utf8(payload_type).ok()?, payload))
}

/// Python's `repr()` of a `bytes` value, as CPython writes it: `b'…'` (or `b"…"` when the bytes
/// hold `'` but no `"`), with `\\`, the quote, `\t`, `\n`, `\r` escaped and every other byte
/// outside printable ASCII as `\xhh`.
fn python_bytes_repr(bytes: &[u8]) -> Vec<u8> {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8 + 3);
    out.extend([b'b', quote]);
    for &b in bytes {
        match b {
            b'\\' => out.extend(b"\\\\"),
            b'\t' => out.extend(b"\\t"),
            b'\n' => out.extend(b"\\n"),
            b'\r' => out.extend(b"\\r"),
            _ if b == quote => out.extend([b'\\', b]),
            0x20..=0x7e => out.push(b),
            _ => out.extend(format!("\\x{b:02x}").into_bytes()),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_bytes_repr_matches_cpython() {
        // Expected values from CPython 3: repr(b"...").
        let cases: [(&[u8], &str); 6] = [
            (b"", "b''"),
            (b"{\n  \"a\": 1}", r#"b'{\n  "a": 1}'"#),
            (b"it's", r#"b"it's""#),
            (b"it's \"q\"", r#"b'it\'s "q"'"#),
            (b"\\\t\r\x00\x7f\xff~ ", r"b'\\\t\r\x00\x7f\xff~ '"),
            ("é".as_bytes(), r"b'\xc3\xa9'"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                String::from_utf8(python_bytes_repr(bytes)).unwrap(),
                expected,
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn split_pae_inverts_pae() {
        let pae_bytes = pae("t y", b"a 1 b");
        assert_eq!(split_pae(&pae_bytes), Some(("t y", &b"a 1 b"[..])));
        assert_eq!(split_pae(b"DSSEv1 1 t 2 a"), None);
        assert_eq!(split_pae(b"DSSEv1 1 t 1 ab"), None);
        assert_eq!(split_pae(b"DSSEv1 +1 t 1 a"), None);
        assert_eq!(split_pae(b"DSSEV1 1 t 1 a"), None);
    }

    #[test]
    fn the_v0_2_0_message_is_made_for_v0_2_0_statements_only() {
        let v0 = br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://model_signing/Digests/v0.1"}"#;
        let message = v0_2_0_message(&pae(super::super::PAYLOAD_TYPE, v0)).unwrap();
        let expected = format!(
            "DSSEV1 28 application/vnd.in-toto+json {} b'{}'",
            v0.len(),
            std::str::from_utf8(v0).unwrap()
        );
        assert_eq!(String::from_utf8(message).unwrap(), expected);
        let v1 = br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://model_signing/signature/v1.0"}"#;
        assert_eq!(v0_2_0_message(&pae(super::super::PAYLOAD_TYPE, v1)), None);
        assert_eq!(v0_2_0_message(&pae("text/plain", v0)), None);
        assert_eq!(v0_2_0_message(b"not a pae"), None);
    }

    #[test]
    fn matches_the_dsse_spec_test_vector() {
        // The worked example of the DSSE v1.0.0 protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn empty_type_and_payload_keep_all_separators() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn lengths_are_bytes_not_characters() {
        // "é" is two bytes in UTF-8; DSSE counts bytes.
        assert_eq!(
            pae("é", "ü".as_bytes()),
            "DSSEv1 2 é 2 ü".as_bytes().to_vec()
        );
    }

    #[test]
    fn payload_is_copied_verbatim_including_spaces_and_binary() {
        let payload = [0u8, b' ', 0xff, b'\n'];
        let out = pae(super::super::PAYLOAD_TYPE, &payload);
        let prefix = b"DSSEv1 28 application/vnd.in-toto+json 4 ";
        assert_eq!(&out[..prefix.len()], prefix);
        assert_eq!(&out[prefix.len()..], &payload);
    }
}
