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

#[cfg(test)]
mod tests {
    use super::*;

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
