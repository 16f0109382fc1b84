//! Claims files: many OMS signatures of one model in one file, as JSON Lines (`claims.jsonl`, the
//! open proposal of model-transparency issues #586/#587 and spec PR #5), one Sigstore bundle per
//! line, accumulated over the model's life (release, security review, evaluation).
//!
//! Which files are claims files: a path ending in `.jsonl` ([`is_claims_path`]); every other
//! signature file (`.sig`, `.json`, …) holds exactly one bundle, as before.
//!
//! Reading ([`parse_claims`]) is as strict as for a single bundle, line by line: each non-blank
//! line must be a whole bundle of at most [`MAX_LINE_BYTES`]; a line that is not is an error
//! naming its (1-based) number ([`OmsError::Line`]), never skipped, so a damaged file cannot lose
//! a signature silently. Blank lines (an editor's trailing newline) are skipped. A file holds at
//! most [`MAX_LINES`] bundles and at least one. Writing appends ([`crate::fs::append`]), so
//! earlier lines are never rewritten.

use super::{check_size, Bundle, OmsError};
use std::path::Path;

/// Largest line of a claims file accepted (bytes, without its newline): 16 MiB, far above any
/// bundle a signer writes (a few KiB; a keyless bundle with its log entry, tens of KiB).
pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Most bundles (non-blank lines) a claims file may hold; each is a candidate signature that a
/// verifier checks against its trust.
pub const MAX_LINES: usize = 10_000;

/// The file extension of claims files.
pub const EXTENSION: &str = "jsonl";

/// One signature of a signature file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Its 1-based line number in a claims file; `None` for a single-bundle file.
    pub line: Option<usize>,
    /// The bundle, parsed and unverified.
    pub bundle: Bundle,
}

/// True when `path` names a claims file (`.jsonl`): read as JSON Lines of bundles.
pub fn is_claims_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == EXTENSION)
}

/// Parses the bundles of a claims file, in file order, each with its line number.
///
/// Errors: a line that is not a bundle (or is over [`MAX_LINE_BYTES`]) is [`OmsError::Line`]
/// naming it; more than [`MAX_LINES`] bundles is [`OmsError::TooMany`]; no bundle at all is
/// [`OmsError::Malformed`].
pub fn parse_claims(bytes: &[u8]) -> Result<Vec<Claim>, OmsError> {
    let mut claims = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if claims.len() == MAX_LINES {
            return Err(OmsError::TooMany {
                what: "signatures in a claims file",
                count: (MAX_LINES + 1) as u64,
                limit: MAX_LINES as u64,
            });
        }
        let at_line = |source| OmsError::Line {
            line: number,
            source: Box::new(source),
        };
        check_size("claims line", line.len(), MAX_LINE_BYTES).map_err(at_line)?;
        let bundle = Bundle::parse(line).map_err(at_line)?;
        claims.push(Claim {
            line: Some(number),
            bundle,
        });
    }
    if claims.is_empty() {
        return Err(super::malformed("the claims file holds no signature"));
    }
    Ok(claims)
}

/// The one line a bundle takes in a claims file: its compact JSON and a newline.
pub fn claim_line(bundle: &Bundle) -> String {
    let mut line = bundle.to_json();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oms::VerificationMaterial;

    fn bundle(n: u8) -> Bundle {
        Bundle {
            material: VerificationMaterial::PublicKey {
                hint: Some(format!("{n:02x}")),
            },
            payload_type: crate::oms::PAYLOAD_TYPE.into(),
            payload: vec![b'{', n, b'}'],
            signature: vec![n; 8],
        }
    }

    #[test]
    fn lines_are_bundles_numbered_from_one_and_blank_lines_skipped() {
        let text = format!(
            "{}\n{}\n   \n\n{}\n",
            bundle(1).to_json(),
            bundle(2).to_json(),
            bundle(3).to_json()
        );
        let claims = parse_claims(text.as_bytes()).unwrap();
        let lines: Vec<_> = claims.iter().map(|c| c.line).collect();
        assert_eq!(lines, [Some(1), Some(2), Some(5)]);
        assert_eq!(claims[2].bundle, bundle(3));
        // No final newline: the last line still counts.
        let text = format!("{}\n{}", bundle(1).to_json(), bundle(2).to_json());
        assert_eq!(parse_claims(text.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn a_malformed_line_is_an_error_naming_it() {
        let text = format!("{}{{\"mediaType\": 1}}\n", claim_line(&bundle(1)));
        let err = parse_claims(text.as_bytes()).unwrap_err();
        assert!(matches!(err, OmsError::Line { line: 2, .. }), "{err}");
        assert!(err.to_string().starts_with("line 2: "), "{err}");
        // A truncated last line (a writer killed mid-line) is malformed too, not dropped.
        let full = claim_line(&bundle(2));
        let text = format!("{}{}", claim_line(&bundle(1)), &full[..full.len() / 2]);
        let err = parse_claims(text.as_bytes()).unwrap_err();
        assert!(matches!(err, OmsError::Line { line: 2, .. }), "{err}");
    }

    #[test]
    fn empty_files_and_oversized_lines_are_refused() {
        for empty in [&b""[..], b"\n\n", b"  \n"] {
            let err = parse_claims(empty).unwrap_err();
            assert!(err.to_string().contains("holds no signature"), "{err}");
        }
        let long = vec![b' '; MAX_LINE_BYTES as usize + 1];
        let mut text = claim_line(&bundle(1)).into_bytes();
        text.extend_from_slice(b"x");
        text.extend_from_slice(&long);
        let err = parse_claims(&text).unwrap_err();
        let OmsError::Line { line: 2, source } = err else {
            panic!("{err}")
        };
        assert!(matches!(*source, OmsError::TooLarge { .. }), "{source}");
    }

    #[test]
    fn too_many_lines_are_refused() {
        let text = claim_line(&bundle(1)).repeat(MAX_LINES);
        assert_eq!(parse_claims(text.as_bytes()).unwrap().len(), MAX_LINES);
        let text = claim_line(&bundle(1)).repeat(MAX_LINES + 1);
        let err = parse_claims(text.as_bytes()).unwrap_err();
        assert!(matches!(err, OmsError::TooMany { .. }), "{err}");
    }

    #[test]
    fn only_jsonl_names_claims_files() {
        assert!(is_claims_path(Path::new("m/claims.jsonl")));
        for single in ["m.sig", "m.json", "m.jsonl.sig", "jsonl"] {
            assert!(!is_claims_path(Path::new(single)), "{single}");
        }
    }
}
