//! Parsing `awskms://` key references (cosign's convention): `awskms:///<key>` uses the SDK's
//! endpoint (the region's KMS, or `AWS_ENDPOINT_URL`), `awskms://HOST:PORT/<key>` a custom one.
//!
//! `<key>` is a key id (`1234abcd-…` or `mrk-…`), an alias (`alias/name`), a key ARN or an alias
//! ARN. Parsing needs no SDK, so every build recognises these references; only a build with the
//! `awskms` feature can use them. The parsed form says what can be known without asking KMS:
//! whether a stanza's `key_id` (always a key ARN, FORMAT.md §8.7) is this key's.

use std::fmt;

/// A parsed `awskms://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsKeyRef {
    /// The reference as the user wrote it (for messages and audit; holds no secret).
    text: String,
    /// `HOST[:PORT]` of a custom endpoint, if the URI has an authority.
    endpoint: Option<String>,
    /// The key as KMS `KeyId` takes it: key id, alias name, key ARN or alias ARN.
    key: String,
}

/// What kind of name [`KmsKeyRef::key`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsKeyKind {
    /// A bare key id (`1234abcd-12ab-…`, `mrk-…`).
    KeyId,
    /// `alias/name`.
    Alias,
    /// `arn:…:kms:REGION:ACCOUNT:key/ID`.
    KeyArn,
    /// `arn:…:kms:REGION:ACCOUNT:alias/name`.
    AliasArn,
}

/// The URI scheme.
pub const SCHEME: &str = "awskms://";

/// KMS's own limit on a `KeyId` (API reference: 1–2048 characters).
const MAX_KEY_LEN: usize = 2048;

impl KmsKeyRef {
    /// Parses a full `awskms://…` reference; the error is the reason, without the reference.
    pub fn parse(text: &str) -> Result<KmsKeyRef, String> {
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| format!("does not start with {SCHEME}"))?;
        let (authority, key) = rest.split_once('/').ok_or(
            "names no key: use awskms:///<key-id|alias/name|arn> or awskms://HOST:PORT/<key>",
        )?;
        let endpoint = match authority {
            "" => None,
            a => Some(parse_endpoint(a)?),
        };
        if key.is_empty() {
            return Err("names no key after the endpoint".into());
        }
        if key.len() > MAX_KEY_LEN {
            return Err(format!("key name longer than {MAX_KEY_LEN} characters"));
        }
        kind_of(key)?;
        Ok(KmsKeyRef {
            text: text.to_owned(),
            endpoint,
            key: key.to_owned(),
        })
    }

    /// The key as KMS `KeyId` takes it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The custom endpoint `HOST[:PORT]`, if any.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// What kind of name the key is.
    pub fn kind(&self) -> KmsKeyKind {
        // `parse` accepted it, so this cannot fail; fall back to the loosest kind regardless.
        kind_of(&self.key).unwrap_or(KmsKeyKind::Alias)
    }

    /// The region named by an ARN reference (KMS keys are regional, so it overrides the SDK's).
    pub fn arn_region(&self) -> Option<&str> {
        match self.kind() {
            KmsKeyKind::KeyArn | KmsKeyKind::AliasArn => {
                self.key.split(':').nth(3).filter(|r| !r.is_empty())
            }
            _ => None,
        }
    }

    /// Whether the key ARN `arn` (a stanza's `key_id`) is this key, as far as the reference tells
    /// without asking KMS: `Some(bool)` for a key ARN or key id, `None` for an alias.
    pub fn matches_key_arn(&self, arn: &str) -> Option<bool> {
        match self.kind() {
            KmsKeyKind::KeyArn => Some(arn == self.key),
            KmsKeyKind::KeyId => Some(
                arn.rsplit_once(":key/")
                    .is_some_and(|(_, id)| id == self.key),
            ),
            KmsKeyKind::Alias | KmsKeyKind::AliasArn => None,
        }
    }
}

impl fmt::Display for KmsKeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_endpoint(authority: &str) -> Result<String, String> {
    let bad = || format!("endpoint {authority:?} is not HOST or HOST:PORT");
    if authority.contains(['@', '?', '#', '\\']) || authority.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    // `[v6]:port`, `host:port` or `host`.
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, tail) = v6.split_once(']').ok_or_else(bad)?;
        (addr, tail.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    if let Some(port) = port {
        port.parse::<u16>().map_err(|_| bad())?;
    }
    Ok(authority.to_owned())
}

fn kind_of(key: &str) -> Result<KmsKeyKind, String> {
    if let Some(arn) = key.strip_prefix("arn:") {
        let parts: Vec<&str> = arn.splitn(5, ':').collect();
        let [partition, service, region, account, resource] = parts[..] else {
            return Err(format!(
                "{key:?} is not a KMS ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/ID)"
            ));
        };
        if !partition.starts_with("aws")
            || service != "kms"
            || region.is_empty()
            || account.is_empty()
        {
            return Err(format!("{key:?} is not a KMS key or alias ARN"));
        }
        return match resource.split_once('/') {
            Some(("key", id)) if id_ok(id) => Ok(KmsKeyKind::KeyArn),
            Some(("alias", name)) if alias_ok(name) => Ok(KmsKeyKind::AliasArn),
            _ => Err(format!("{key:?}: an ARN must end in key/ID or alias/NAME")),
        };
    }
    if let Some(name) = key.strip_prefix("alias/") {
        return if alias_ok(name) {
            Ok(KmsKeyKind::Alias)
        } else {
            Err(format!(
                "{key:?}: alias names use letters, digits, '/', '_' and '-'"
            ))
        };
    }
    if id_ok(key) {
        Ok(KmsKeyKind::KeyId)
    } else {
        Err(format!("{key:?} is not a key id, alias/NAME or KMS ARN"))
    }
}

fn id_ok(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn alias_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn parses_every_key_form() {
        let cases = [
            (
                "awskms:///1234abcd-12ab-34cd-56ef-1234567890ab",
                KmsKeyKind::KeyId,
            ),
            ("awskms:///alias/model-release", KmsKeyKind::Alias),
            (
                "awskms:///arn:aws:kms:eu-west-1:111122223333:alias/ml/release",
                KmsKeyKind::AliasArn,
            ),
        ];
        for (text, kind) in cases {
            let r = KmsKeyRef::parse(text).unwrap();
            assert_eq!(r.kind(), kind, "{text}");
            assert_eq!(r.endpoint(), None);
            assert_eq!(r.to_string(), text);
        }
        let r = KmsKeyRef::parse(&format!("awskms:///{ARN}")).unwrap();
        assert_eq!((r.kind(), r.key()), (KmsKeyKind::KeyArn, ARN));
        assert_eq!(r.arn_region(), Some("eu-west-1"));
    }

    #[test]
    fn parses_custom_endpoints() {
        let r = KmsKeyRef::parse("awskms://127.0.0.1:4566/alias/x").unwrap();
        assert_eq!((r.endpoint(), r.key()), (Some("127.0.0.1:4566"), "alias/x"));
        let r = KmsKeyRef::parse("awskms://[::1]:4566/k-1").unwrap();
        assert_eq!(r.endpoint(), Some("[::1]:4566"));
        let r = KmsKeyRef::parse("awskms://kms.example.com/alias/x").unwrap();
        assert_eq!(r.endpoint(), Some("kms.example.com"));
        assert_eq!(r.arn_region(), None);
    }

    #[test]
    fn refuses_malformed_references() {
        for (text, needle) in [
            ("awskms://", "names no key"),
            ("awskms:///", "names no key"),
            ("awskms://host:99999/alias/x", "HOST:PORT"),
            ("awskms://user@host/alias/x", "HOST:PORT"),
            ("awskms://:80/alias/x", "HOST:PORT"),
            ("awskms:///alias/", "alias names"),
            ("awskms:///alias/a b", "alias names"),
            ("awskms:///arn:aws:s3:::bucket", "not a KMS"),
            ("awskms:///arn:aws:kms:r:1:secret/x", "key/ID or alias/NAME"),
            ("awskms:///key with space", "not a key id"),
        ] {
            let err = KmsKeyRef::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn matches_stanza_key_ids_without_asking_kms() {
        let by_arn = KmsKeyRef::parse(&format!("awskms:///{ARN}")).unwrap();
        assert_eq!(by_arn.matches_key_arn(ARN), Some(true));
        assert_eq!(
            by_arn.matches_key_arn(&ARN.replace("1234abcd", "ffffffff")),
            Some(false)
        );
        let by_id = KmsKeyRef::parse("awskms:///1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
        assert_eq!(by_id.matches_key_arn(ARN), Some(true));
        assert_eq!(
            by_id.matches_key_arn("arn:aws:kms:r:1:key/other"),
            Some(false)
        );
        let by_alias = KmsKeyRef::parse("awskms:///alias/model").unwrap();
        assert_eq!(by_alias.matches_key_arn(ARN), None);
    }
}
