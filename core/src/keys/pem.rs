//! PEM (RFC 7468) blocks: finds every `-----BEGIN X-----` … `-----END X-----` block in a text and
//! decodes its base64 body.
//!
//! Lenient where real files differ (text before, between and after blocks, as `openssl x509 -text`
//! or PKCS#12 "Bag Attributes" leave; CRLF line ends; any line width) and strict where it matters:
//! a block must end with the END line of its own label, and its body must be valid base64.
//! Decoded bodies are [`Zeroizing`] because a block may be a private key.

use zeroize::Zeroizing;

/// One decoded PEM block.
pub(crate) struct PemBlock {
    /// The label between `BEGIN ` and the closing dashes, e.g. `PRIVATE KEY`.
    pub(crate) label: String,
    /// Whether the block carries RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: …`), as
    /// OpenSSL's legacy encrypted keys do. Such a body is not decoded (`der` stays empty).
    pub(crate) has_headers: bool,
    /// The decoded body.
    pub(crate) der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PemBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The body may be a private key: show only its label and size.
        write!(f, "PemBlock({}, {} bytes)", self.label, self.der.len())
    }
}

/// Decodes every PEM block in `text`, in order. Errors name the problem, not the file (callers add it).
pub(crate) fn parse_blocks(text: &[u8]) -> Result<Vec<PemBlock>, String> {
    let text =
        std::str::from_utf8(text).map_err(|_| "not a PEM text file (not UTF-8)".to_string())?;
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r').trim());
    while let Some(line) = lines.next() {
        let Some(label) = boundary_label(line, "-----BEGIN ") else {
            continue;
        };
        blocks.push(read_block(label, &mut lines)?);
    }
    Ok(blocks)
}

/// Reads the body of a block whose BEGIN line named `label`, through its END line.
fn read_block<'a>(
    label: &str,
    lines: &mut impl Iterator<Item = &'a str>,
) -> Result<PemBlock, String> {
    let mut body_lines: Vec<&str> = Vec::new();
    let mut has_headers = false;
    for line in lines.by_ref() {
        if let Some(end) = boundary_label(line, "-----END ") {
            if end != label {
                return Err(format!("PEM block BEGIN {label} ends with END {end}"));
            }
            let der = if has_headers {
                Zeroizing::new(Vec::new())
            } else {
                decode_body(label, &body_lines)?
            };
            return Ok(PemBlock {
                label: label.to_string(),
                has_headers,
                der,
            });
        }
        if line.contains(':') {
            has_headers = true;
        } else {
            body_lines.push(line);
        }
    }
    Err(format!("PEM block BEGIN {label} has no END line"))
}

fn decode_body(label: &str, lines: &[&str]) -> Result<Zeroizing<Vec<u8>>, String> {
    use base64::Engine as _;
    // Sized exactly: growing would leave unzeroized copies of a private key's base64 behind.
    let mut body = Zeroizing::new(String::with_capacity(lines.iter().map(|l| l.len()).sum()));
    for line in lines {
        body.push_str(line);
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map(Zeroizing::new)
        .map_err(|e| format!("PEM block {label}: invalid base64 ({e})"))
}

/// The label of a `-----BEGIN X-----` / `-----END X-----` line, if `line` is one.
fn boundary_label<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix)?.strip_suffix("-----")
}

/// Encodes `der` as one PEM block the way OpenSSL prints it: 64-column base64 lines, `\n` line
/// ends, a trailing newline.
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    // base64 output is ASCII, so byte chunks are char boundaries.
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_among_text_and_crlf() {
        let text = "Bag Attributes\r\n-----BEGIN EC PARAMETERS-----\r\nBggqhkjOPQMBBw==\r\n-----END EC PARAMETERS-----\r\nnoise\n-----BEGIN CERTIFICATE-----\nAAEC\nAw==\n-----END CERTIFICATE-----\n";
        let blocks = parse_blocks(text.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].label, "EC PARAMETERS");
        assert_eq!(&blocks[0].der[..], &[6, 8, 42, 134, 72, 206, 61, 3, 1, 7]);
        assert_eq!(blocks[1].label, "CERTIFICATE");
        assert_eq!(&blocks[1].der[..], &[0, 1, 2, 3]);
    }

    #[test]
    fn rejects_mismatched_or_unterminated_blocks_and_bad_base64() {
        let mismatched = "-----BEGIN PUBLIC KEY-----\nAAEC\n-----END PRIVATE KEY-----\n";
        assert!(parse_blocks(mismatched.as_bytes())
            .unwrap_err()
            .contains("ends with END PRIVATE KEY"));
        let open = "-----BEGIN PUBLIC KEY-----\nAAEC\n";
        assert!(parse_blocks(open.as_bytes())
            .unwrap_err()
            .contains("no END line"));
        let bad = "-----BEGIN PUBLIC KEY-----\nA*EC\n-----END PUBLIC KEY-----\n";
        assert!(parse_blocks(bad.as_bytes())
            .unwrap_err()
            .contains("invalid base64"));
    }

    #[test]
    fn flags_legacy_headers() {
        let text = "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAEC\n-----END EC PRIVATE KEY-----\n";
        let blocks = parse_blocks(text.as_bytes()).unwrap();
        assert!(blocks[0].has_headers);
    }

    #[test]
    fn encodes_in_64_columns_with_trailing_newline() {
        let der: Vec<u8> = (0..=99).collect();
        let pem = encode("PUBLIC KEY", &der);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PUBLIC KEY-----");
        // 100 bytes are 136 base64 characters: two full lines and one of 8.
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3].len(), 8);
        assert_eq!(lines[4], "-----END PUBLIC KEY-----");
        assert_eq!(lines.len(), 5);
        assert!(pem.ends_with("-----\n"));
        let back = parse_blocks(pem.as_bytes()).unwrap();
        assert_eq!(&back[0].der[..], &der[..]);
    }
}
