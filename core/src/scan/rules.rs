//! The credential rules: `rules.toml` (data in the repository, compiled in), parsed and compiled
//! once per process, and matched against one text at a time.
//!
//! A text is first run through one [`RegexSet`] of every rule, so a text no rule matches (the
//! common case) costs one pass; only the rules that matched run again to find positions. A match
//! yields where the secret is and how long it is, never the secret: the caller builds a
//! fingerprint from the position, which cannot be reversed into the secret.

use regex::bytes::{Regex, RegexSet};
use serde::Deserialize;
use std::sync::OnceLock;

/// The rules as written in the repository.
const RULES_TOML: &str = include_str!("rules.toml");

/// Shortest secret any rule can find: texts shorter than this are not searched (the vocabulary
/// strings of a GGUF tokenizer, most metadata values).
pub(super) const MIN_TEXT_LEN: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    description: String,
    regex: String,
    #[serde(default)]
    min_entropy: Option<f64>,
    #[serde(default)]
    require_digit: bool,
}

/// One compiled rule.
pub(super) struct Rule {
    /// Stable name (`aws-access-key-id`).
    pub id: String,
    /// What it finds.
    pub description: String,
    regex: Regex,
    min_entropy: Option<f64>,
    require_digit: bool,
}

/// Every rule, and a set of all of them for the first pass.
pub(super) struct Rules {
    pub rules: Vec<Rule>,
    set: RegexSet,
}

/// One match: the rule (index into [`Rules::rules`]), where the secret starts in the text and
/// how many bytes it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Hit {
    pub rule: usize,
    pub start: usize,
    pub len: usize,
}

/// The compiled rules. The rules are part of the binary and tested, so a rule that does not
/// compile is a build defect: the process stops with the rule's id on the first scan.
pub(super) fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| match compile(RULES_TOML) {
        Ok(rules) => rules,
        Err(reason) => panic!("core/src/scan/rules.toml: {reason}"),
    })
}

/// Parses and compiles rules from TOML text.
fn compile(text: &str) -> Result<Rules, String> {
    let raw: RawRules = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut rules = Vec::new();
    let mut patterns = Vec::new();
    for r in raw.rules {
        // ASCII semantics (`\b`, `(?i)`): secrets are ASCII, and the Unicode tables are not built in.
        let pattern = format!("(?-u){}", r.regex);
        let regex = Regex::new(&pattern).map_err(|e| format!("rule {}: {e}", r.id))?;
        patterns.push(pattern);
        rules.push(Rule {
            id: r.id,
            description: r.description,
            regex,
            min_entropy: r.min_entropy,
            require_digit: r.require_digit,
        });
    }
    let set = RegexSet::new(&patterns).map_err(|e| e.to_string())?;
    Ok(Rules { rules, set })
}

impl Rules {
    /// Every secret in `text`, in rule order then position order; a match overlapping one of an
    /// earlier rule is left out.
    pub fn find(&self, text: &[u8]) -> Vec<Hit> {
        if text.len() < MIN_TEXT_LEN {
            return Vec::new();
        }
        let mut hits = Vec::new();
        for index in self.set.matches(text).iter() {
            let rule = &self.rules[index];
            for caps in rule.regex.captures_iter(text) {
                let Some(secret) = caps.name("secret").or_else(|| caps.get(0)) else {
                    continue;
                };
                if rule.accepts(secret.as_bytes()) {
                    hits.push(Hit {
                        rule: index,
                        start: secret.start(),
                        len: secret.len(),
                    });
                }
            }
        }
        // Rules are listed most specific first: a match inside one of an earlier rule (a GitHub
        // token that is also a high-entropy `token: …` assignment) is that rule's finding only.
        let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
        for hit in hits {
            let overlaps = kept.iter().any(|k| {
                k.rule < hit.rule && k.start < hit.start + hit.len && hit.start < k.start + k.len
            });
            if !overlaps {
                kept.push(hit);
            }
        }
        kept
    }
}

impl Rule {
    /// The rule's value checks (entropy, a digit) beyond its regex.
    fn accepts(&self, secret: &[u8]) -> bool {
        if self.require_digit && !secret.iter().any(u8::is_ascii_digit) {
            return false;
        }
        match self.min_entropy {
            Some(min) => shannon_entropy(secret) >= min,
            None => true,
        }
    }
}

/// Shannon entropy of `bytes` in bits per byte: random base64 is near 6, English words near 3.
pub(super) fn shannon_entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0usize; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_in_the_repository_compile() {
        let rules = compile(RULES_TOML).unwrap();
        assert!(rules.rules.len() >= 11);
    }

    #[test]
    fn entropy_separates_words_from_random_strings() {
        assert!(shannon_entropy(b"aaaaaaaaaaaaaaaa") < 0.1);
        assert!(shannon_entropy(b"Xk9fQ2mLp7ZrT4vB") > 3.5);
    }
}
