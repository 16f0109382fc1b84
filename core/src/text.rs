//! Text shown to people: [`escape`] makes untrusted text — file names, unverified bundle fields
//! (subject names, key hints), error messages that quote them — safe to print on a terminal or
//! into a CI log. Every control character (C0 including newline and tab, DEL, C1 including the
//! 8-bit CSI), and the Unicode bidirectional overrides that reorder what is displayed, becomes a
//! visible `\u{…}` escape (`\n`, `\t`, `\r`, `\e` for the common ones), so that a name can neither
//! start a new, fake "verified" line, move the cursor, recolour the terminal, nor issue a CI
//! log command. JSON output does not go through it: JSON escapes control characters itself and
//! its consumers need the exact values.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must not reach a terminal as is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// `text` with every control character and bidirectional override replaced by a visible escape;
/// borrowed unchanged when there is none (the common case).
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' => out.push_str("\\e"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Displays `T` through [`escape`]: `println!("{}", Escaped(&path.display()))`.
pub struct Escaped<T>(pub T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.0.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_become_visible() {
        assert!(matches!(escape("weights/model.bin"), Cow::Borrowed(_)));
        assert_eq!(escape("ünïcödé ok"), "ünïcödé ok");
        assert_eq!(
            escape("a\nVerified OK\x1b[2J\r\t\u{7f}\u{9b}x"),
            "a\\nVerified OK\\e[2J\\r\\t\\u{7f}\\u{9b}x"
        );
        assert_eq!(escape("evil\u{202E}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(
            Escaped(&"::set-output\n::error").to_string(),
            "::set-output\\n::error"
        );
    }
}
