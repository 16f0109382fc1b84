//! Secret references as data: the parser and canonical text of `file:PATH`, `fd:N`, `env:NAME` and
//! `awssm://SECRET-ID[?version-id=V][&json-key=K]` (`docs/secrets.md`). On the floor of the
//! reference parsers (`docs/ARCHITECTURE.md`): it imports nothing of the crate, so that a
//! `pkcs11:` URI's `pin-source=` and [`crate::keys::KeyOptions`] can name a secret without the
//! code that reads it ([`crate::keys::secret::resolve`]).
//!
//! `awssm://`: SECRET-ID is the secret's name or ARN, percent-decoded (`prod%2Fhsm-pin` and
//! `prod/hsm-pin` are the same); `version-id` pins one version (without it, `AWSCURRENT`, so a
//! rotation is picked up by the next run); `json-key` takes one string field of a JSON secret
//! (`{"pin": "…"}`). The endpoint is the SDK's (`AWS_ENDPOINT_URL`, a profile), the region the
//! SDK chain's or the ARN's.

use std::fmt;
use std::path::PathBuf;

/// The scheme of Secrets Manager references.
pub const AWSSM_SCHEME: &str = "awssm://";

/// Where a secret comes from. Parsing never reads it; [`resolve`] does.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretRef {
    /// `file:PATH`: a file only its owner may read (or a Kubernetes Secret volume's layout).
    File(PathBuf),
    /// `fd:N`: an inherited file descriptor, read to its end once.
    Fd(i32),
    /// `env:NAME`: an environment variable (the weakest source).
    Env(String),
    /// `awssm://SECRET-ID`: a secret in AWS Secrets Manager.
    AwsSm(AwsSecretRef),
}

/// Secret stores that have a place in this seam but no source yet (no server to test against).
const FUTURE_SCHEMES: &[(&str, &str)] = &[
    ("vault://", "HashiCorp Vault KV"),
    ("azurekv://", "Azure Key Vault"),
];

impl SecretRef {
    /// Parses a reference: `file:PATH` (also `file:///abs`), `fd:N`, `env:NAME` or `awssm://…`.
    /// The error is the reason; the caller names the reference.
    pub fn parse(text: &str) -> Result<SecretRef, String> {
        if let Some(rest) = text.strip_prefix("file:") {
            let path = match rest.strip_prefix("//") {
                Some(abs) if abs.starts_with('/') => abs,
                Some(_) => {
                    return Err("file URIs with a host are not supported; use file:/path".into())
                }
                None => rest,
            };
            if path.is_empty() {
                return Err("file: names no path".into());
            }
            return Ok(SecretRef::File(PathBuf::from(path)));
        }
        if let Some(n) = text.strip_prefix("fd:") {
            return parse_fd(n).map(SecretRef::Fd);
        }
        if let Some(name) = text.strip_prefix("env:") {
            return parse_env_name(name).map(SecretRef::Env);
        }
        if text.starts_with(AWSSM_SCHEME) {
            return AwsSecretRef::parse(text).map(SecretRef::AwsSm);
        }
        for (scheme, name) in FUTURE_SCHEMES {
            if text.starts_with(scheme) {
                return Err(format!(
                    "{name} secrets are not supported by this build yet (docs/secrets.md)"
                ));
            }
        }
        Err(format!(
            "not a secret reference; use file:PATH, fd:N, env:NAME or {}SECRET-ID",
            AWSSM_SCHEME
        ))
    }
}

/// `text` for a message when it starts like a secret reference; otherwise a placeholder, because a
/// string that is no reference at all may be the secret itself, typed where its reference belongs.
pub fn shown_if_reference(text: &str) -> String {
    let schemes = ["file:", "fd:", "env:", AWSSM_SCHEME];
    let future = FUTURE_SCHEMES.iter().map(|(scheme, _)| *scheme);
    if schemes
        .into_iter()
        .chain(future)
        .any(|s| text.starts_with(s))
    {
        text.to_string()
    } else {
        "(a value that is not a secret reference, not shown)".to_string()
    }
}

/// The canonical text of the reference (it holds no secret).
impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File(path) => write!(f, "file:{}", path.display()),
            SecretRef::Fd(n) => write!(f, "fd:{n}"),
            SecretRef::Env(name) => write!(f, "env:{name}"),
            SecretRef::AwsSm(r) => write!(f, "{r}"),
        }
    }
}

/// The reference only: a secret reference holds no secret, but say so explicitly.
impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretRef({self})")
    }
}

/// Checks a variable name: a letter or `_`, then letters, digits and `_` (what a shell can set).
fn parse_env_name(name: &str) -> Result<String, String> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!(
            "env: needs a variable name (letters, digits and _, not starting with a digit), not {name:?}"
        ));
    }
    Ok(name.to_string())
}

/// A descriptor number: a non-negative decimal integer.
fn parse_fd(n: &str) -> Result<i32, String> {
    match n.parse::<i32>() {
        Ok(fd) if fd >= 0 && n.bytes().all(|b| b.is_ascii_digit()) => Ok(fd),
        _ => Err(format!("fd: needs a descriptor number (fd:3), not {n:?}")),
    }
}

/// A parsed `awssm://` reference (it holds no secret).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct AwsSecretRef {
    secret_id: String,
    version_id: Option<String>,
    json_key: Option<String>,
}

impl AwsSecretRef {
    /// Parses `awssm://SECRET-ID[?version-id=V][&json-key=K]`; the error is the reason.
    pub fn parse(text: &str) -> Result<AwsSecretRef, String> {
        let rest = text
            .strip_prefix(AWSSM_SCHEME)
            .ok_or_else(|| format!("a Secrets Manager reference starts with {AWSSM_SCHEME}"))?;
        let (id, query) = match rest.split_once('?') {
            Some((id, q)) => (id, Some(q)),
            None => (rest, None),
        };
        let secret_id = decode(id)?;
        if secret_id.is_empty() {
            return Err(format!(
                "{AWSSM_SCHEME} names no secret ({AWSSM_SCHEME}SECRET-ID)"
            ));
        }
        let mut out = AwsSecretRef {
            secret_id,
            version_id: None,
            json_key: None,
        };
        for attr in query.into_iter().flat_map(|q| q.split('&')) {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| format!("query attribute {attr:?} has no value"))?;
            let value = decode(value)?;
            if value.is_empty() {
                return Err(format!("{name}= is empty"));
            }
            let slot = match name {
                "version-id" => &mut out.version_id,
                "json-key" => &mut out.json_key,
                other => {
                    return Err(format!(
                        "unknown query attribute {other:?} (known: version-id, json-key)"
                    ))
                }
            };
            if slot.replace(value).is_some() {
                return Err(format!("{name}= given twice"));
            }
        }
        Ok(out)
    }

    /// The secret's name or ARN.
    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The pinned version, if any.
    pub fn version_id(&self) -> Option<&str> {
        self.version_id.as_deref()
    }

    /// The JSON field to take, if any.
    pub fn json_key(&self) -> Option<&str> {
        self.json_key.as_deref()
    }

    /// The region an ARN names (`arn:aws:secretsmanager:REGION:…`), which overrides the chain's.
    pub fn arn_region(&self) -> Option<&str> {
        let mut parts = self.secret_id.split(':');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("arn"), Some(_), Some("secretsmanager"), Some(region)) if !region.is_empty() => {
                Some(region)
            }
            _ => None,
        }
    }

    /// The reference without its `json-key`: what one request fetches.
    pub fn without_json_key(&self) -> String {
        AwsSecretRef {
            json_key: None,
            ..self.clone()
        }
        .to_string()
    }
}

/// The canonical text: the id and values percent-encoded where they must be.
impl fmt::Display for AwsSecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{AWSSM_SCHEME}{}", encode(&self.secret_id, "/:+=@,"))?;
        let mut sep = '?';
        for (name, value) in [
            ("version-id", &self.version_id),
            ("json-key", &self.json_key),
        ] {
            if let Some(v) = value {
                write!(f, "{sep}{name}={}", encode(v, ""))?;
                sep = '&';
            }
        }
        Ok(())
    }
}

impl fmt::Debug for AwsSecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AwsSecretRef({self})")
    }
}

/// Percent-decodes `text` (UTF-8).
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {text:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} does not decode to UTF-8"))
}

/// Percent-encodes all but unreserved characters and `keep`.
fn encode(text: &str, keep: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.as_bytes().contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_canonically() {
        for (text, shown) in [
            ("file:/run/secrets/pin", "file:/run/secrets/pin"),
            ("file:///run/pin", "file:/run/pin"),
            ("file:rel/pass.txt", "file:rel/pass.txt"),
            ("fd:3", "fd:3"),
            ("fd:0", "fd:0"),
            ("env:HSM_PIN", "env:HSM_PIN"),
            ("awssm://prod/hsm-pin", "awssm://prod/hsm-pin"),
            (
                "awssm://prod/keys?version-id=v1&json-key=pin",
                "awssm://prod/keys?version-id=v1&json-key=pin",
            ),
        ] {
            let parsed = SecretRef::parse(text).unwrap();
            assert_eq!(parsed.to_string(), shown, "{text}");
            assert_eq!(format!("{parsed:?}"), format!("SecretRef({shown})"));
        }
    }

    #[test]
    fn a_value_that_is_no_reference_is_never_shown() {
        assert_eq!(shown_if_reference("env:X"), "env:X");
        assert_eq!(shown_if_reference("awssm://a"), "awssm://a");
        let hidden = shown_if_reference("hunter2-passphrase");
        assert!(!hidden.contains("hunter2"), "{hidden}");
        let err = SecretRef::parse("hunter2-passphrase").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn malformed_and_future_references_are_refused_with_a_reason() {
        for (text, why) in [
            ("/run/pin", "not a secret reference"),
            ("pin.txt", "file:PATH, fd:N, env:NAME or awssm://"),
            ("file:", "names no path"),
            ("file://host/pin", "host"),
            ("fd:", "descriptor number"),
            ("fd:-1", "descriptor number"),
            ("fd:x", "descriptor number"),
            ("env:", "variable name"),
            ("env:1X", "variable name"),
            ("env:A B", "variable name"),
            (
                "vault://kv/data/pin",
                "HashiCorp Vault KV secrets are not supported",
            ),
            (
                "azurekv://v/secrets/pin",
                "Azure Key Vault secrets are not supported",
            ),
        ] {
            let err = SecretRef::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }

    #[test]
    fn references_parse_decode_and_refuse() {
        let r = AwsSecretRef::parse("awssm://prod%2Fhsm-pin?json-key=pin&version-id=abc").unwrap();
        assert_eq!(
            (r.secret_id(), r.version_id(), r.json_key()),
            ("prod/hsm-pin", Some("abc"), Some("pin"))
        );
        assert_eq!(
            r.to_string(),
            "awssm://prod/hsm-pin?version-id=abc&json-key=pin"
        );
        assert_eq!(r.without_json_key(), "awssm://prod/hsm-pin?version-id=abc");
        let arn = AwsSecretRef::parse(
            "awssm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/pin-AbCdEf",
        )
        .unwrap();
        assert_eq!(arn.arn_region(), Some("eu-west-1"));
        assert_eq!(
            AwsSecretRef::parse("awssm://name").unwrap().arn_region(),
            None
        );
        for (text, why) in [
            ("awssm://", "names no secret"),
            ("awssm://?json-key=k", "names no secret"),
            ("awssm://s?version=1", "unknown query attribute \"version\""),
            ("awssm://s?json-key", "has no value"),
            ("awssm://s?json-key=", "is empty"),
            ("awssm://s?json-key=a&json-key=b", "given twice"),
            ("awssm://s%zz", "percent-encoding"),
        ] {
            let err = AwsSecretRef::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
