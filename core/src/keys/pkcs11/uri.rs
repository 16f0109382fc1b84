//! RFC 7512 `pkcs11:` URIs: the strict parser and the canonical text form.
//!
//! Accepted: path attributes `token`, `manufacturer`, `model`, `serial`, `slot-id`, `object`, `id`,
//! `type` (separated by `;`), query attributes `module-path`, `pin-source` and the vendor attribute
//! `x-wrap` (`aes-gcm` | `aes-kwp`, separated by `&`). Values are percent-decoded (RFC 7512 §2.3);
//! characters outside the RFC's grammar, unknown or repeated attributes and empty values are refused
//! with a reason. `pin-value` is refused: a PIN in a URI ends up in shell history, argv and logs, and
//! this refusal never echoes it (see [`redact`]). A URI must name its object (`object=` or `id=`).
//!
//! Guarantees: a parsed [`Pkcs11Uri`] holds no secret, so its `Debug`/`Display` (the canonical text)
//! may appear in errors and logs.

use crate::keys::secret::reference::SecretRef;
use std::fmt;
use std::path::PathBuf;

/// The scheme prefix.
pub const SCHEME: &str = "pkcs11:";

/// Characters every attribute value may hold unencoded (RFC 7512 `unreserved` / `pk11-res-avail`).
const VALUE_CHARS: &str = "-._~:[]@!$'()*+,=";
/// Extra characters a path value may hold (`pk11-path-res-avail`).
const PATH_EXTRA: &str = "&";
/// Extra characters a query value may hold (`pk11-query-res-avail`).
const QUERY_EXTRA: &str = "/?|";

/// The PKCS#11 object class a URI may restrict to (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectType {
    /// `type=private`: a private key.
    Private,
    /// `type=public`: a public key.
    Public,
    /// `type=secret-key`: a secret (symmetric) key.
    SecretKey,
    /// `type=cert`: a certificate.
    Cert,
}

impl ObjectType {
    fn name(self) -> &'static str {
        match self {
            ObjectType::Private => "private",
            ObjectType::Public => "public",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Cert => "cert",
        }
    }
}

/// Which wrap algorithm a `pkcs11-aes` recipient should use (`x-wrap=`, docs/FORMAT.md §8.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrapChoice {
    /// AES-256-GCM through `C_Encrypt` (binds the stanza context as AAD).
    AesGcm,
    /// RFC 5649 key wrap with padding through `C_WrapKey`.
    AesKwp,
}

impl WrapChoice {
    /// The name recorded in the stanza's `params[1]`.
    pub fn name(self) -> &'static str {
        match self {
            WrapChoice::AesGcm => "aes-gcm",
            WrapChoice::AesKwp => "aes-kwp",
        }
    }
}

/// Where the user PIN comes from (`pin-source=`): a secret reference (`file:/abs/path`, `fd:N`,
/// `env:NAME`, `awssm://…`, percent-encoded inside the URI), `docs/secrets.md`.
pub type PinSource = SecretRef;

/// A parsed `pkcs11:` URI naming one object in one token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Pkcs11Uri {
    /// `token=`: the token label.
    pub token: Option<String>,
    /// `manufacturer=`: the token manufacturer.
    pub manufacturer: Option<String>,
    /// `model=`: the token model.
    pub model: Option<String>,
    /// `serial=`: the token serial number.
    pub serial: Option<String>,
    /// `slot-id=`: the slot number.
    pub slot_id: Option<u64>,
    /// `object=`: the object label (`CKA_LABEL`).
    pub object: Option<String>,
    /// `id=`: the object identifier (`CKA_ID`, raw bytes).
    pub id: Option<Vec<u8>>,
    /// `type=`: the object class.
    pub object_type: Option<ObjectType>,
    /// `module-path=`: the PKCS#11 library (else `MODELSEAL_PKCS11_MODULE`).
    pub module_path: Option<PathBuf>,
    /// `pin-source=`: where the PIN comes from (else an interactive prompt on a terminal).
    pub pin_source: Option<PinSource>,
    /// `x-wrap=`: the wrap algorithm for an AES recipient (else chosen from the token's mechanisms).
    pub wrap: Option<WrapChoice>,
}

impl Pkcs11Uri {
    /// Parses `text` strictly; the error is the reason (the caller names the redacted reference).
    pub fn parse(text: &str) -> Result<Pkcs11Uri, String> {
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| format!("a PKCS#11 URI starts with {SCHEME:?}"))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        let mut seen = Vec::new();
        if !path.is_empty() {
            for attr in path.split(';') {
                let (name, value) = split_attr(attr)?;
                once(&mut seen, name)?;
                uri.set_path_attr(name, value)?;
            }
        }
        if let Some(query) = query {
            for attr in query.split('&') {
                let (name, value) = split_attr(attr)?;
                once(&mut seen, name)?;
                uri.set_query_attr(name, value)?;
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err("the URI names no object: add object=<label> or id=<%xx bytes>".into());
        }
        Ok(uri)
    }

    fn set_path_attr(&mut self, name: &str, raw: &str) -> Result<(), String> {
        if matches!(
            name,
            "pin-value" | "pin-source" | "module-path" | "module-name" | "x-wrap"
        ) {
            return Err(format!("{name} belongs in the query part (after '?')"));
        }
        let bytes = decode(name, raw, PATH_EXTRA)?;
        match name {
            "token" => self.token = Some(utf8(name, bytes)?),
            "manufacturer" => self.manufacturer = Some(utf8(name, bytes)?),
            "model" => self.model = Some(utf8(name, bytes)?),
            "serial" => self.serial = Some(utf8(name, bytes)?),
            "object" => self.object = Some(utf8(name, bytes)?),
            "id" => self.id = Some(bytes),
            "slot-id" => {
                let text = utf8(name, bytes)?;
                let ok = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
                self.slot_id = Some(
                    text.parse()
                        .ok()
                        .filter(|_| ok)
                        .ok_or_else(|| format!("slot-id={text:?} is not a decimal number"))?,
                );
            }
            "type" => {
                self.object_type = Some(match utf8(name, bytes)?.as_str() {
                    "private" => ObjectType::Private,
                    "public" => ObjectType::Public,
                    "secret-key" => ObjectType::SecretKey,
                    "cert" => ObjectType::Cert,
                    other => return Err(format!(
                        "type={other:?} is not one of private, public, secret-key, cert"
                    )),
                })
            }
            "library-manufacturer" | "library-description" | "library-version"
            | "slot-description" | "slot-manufacturer" => {
                return Err(format!(
                    "the {name} attribute is not supported; select the token with token=, serial= or slot-id="
                ))
            }
            other => return Err(format!(
                "unknown attribute {other:?} (known: token, manufacturer, model, serial, slot-id, object, id, type)"
            )),
        }
        Ok(())
    }

    fn set_query_attr(&mut self, name: &str, raw: &str) -> Result<(), String> {
        if name == "pin-value" {
            // Never decode or echo the value.
            return Err("pin-value is refused: a PIN written in a key reference leaks into shell history, process lists and logs; put the PIN in a file only you can read and use pin-source=file:/path/to/pin (or omit it to be asked on a terminal)".into());
        }
        let bytes = decode(name, raw, QUERY_EXTRA)?;
        match name {
            "module-path" => {
                let path = utf8(name, bytes)?;
                if !path.starts_with('/') {
                    return Err(format!(
                        "module-path={path:?} must be an absolute path to the PKCS#11 library"
                    ));
                }
                self.module_path = Some(PathBuf::from(path));
            }
            "pin-source" => self.pin_source = Some(pin_source(&utf8(name, bytes)?)?),
            "x-wrap" => {
                self.wrap = Some(match utf8(name, bytes)?.as_str() {
                    "aes-gcm" => WrapChoice::AesGcm,
                    "aes-kwp" => WrapChoice::AesKwp,
                    other => return Err(format!("x-wrap={other:?} is not aes-gcm or aes-kwp")),
                })
            }
            "module-name" => {
                return Err(
                    "module-name is not supported; give the library with module-path=/path/to/lib.so (or MODELSEAL_PKCS11_MODULE)".into(),
                )
            }
            other => {
                return Err(format!(
                    "unknown query attribute {other:?} (known: module-path, pin-source, x-wrap)"
                ))
            }
        }
        Ok(())
    }

    /// A short description of the token selection, for messages (`token "ml", serial "…"`).
    pub fn token_description(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token {t:?}"));
        }
        if let Some(s) = &self.serial {
            parts.push(format!("serial {s:?}"));
        }
        if let Some(s) = self.slot_id {
            parts.push(format!("slot {s}"));
        }
        if let Some(m) = &self.manufacturer {
            parts.push(format!("manufacturer {m:?}"));
        }
        if let Some(m) = &self.model {
            parts.push(format!("model {m:?}"));
        }
        if parts.is_empty() {
            "any token".into()
        } else {
            parts.join(", ")
        }
    }
}

/// `name=value`, both non-empty.
fn split_attr(attr: &str) -> Result<(&str, &str), String> {
    let (name, value) = attr
        .split_once('=')
        .ok_or_else(|| format!("attribute {attr:?} has no '=value'"))?;
    if name.is_empty() {
        return Err(format!("attribute {attr:?} has no name"));
    }
    if value.is_empty() {
        return Err(format!("attribute {name} has an empty value"));
    }
    Ok((name, value))
}

fn once<'a>(seen: &mut Vec<&'a str>, name: &'a str) -> Result<(), String> {
    if seen.contains(&name) {
        return Err(format!("attribute {name} appears more than once"));
    }
    seen.push(name);
    Ok(())
}

/// Percent-decodes `raw`, refusing characters outside the grammar of the part it is in.
fn decode(name: &str, raw: &str, extra: &str) -> Result<Vec<u8>, String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = raw
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|_| bytes[i + 1..i + 3].iter().all(u8::is_ascii_hexdigit))
                .ok_or_else(|| format!("{name}: '%' must be followed by two hex digits"))?;
            out.push(hex);
            i += 3;
        } else if b.is_ascii_alphanumeric()
            || VALUE_CHARS.contains(b as char)
            || extra.contains(b as char)
        {
            out.push(b);
            i += 1;
        } else {
            let c = raw[i..].chars().next().unwrap_or('?');
            return Err(format!(
                "{name}: character {c:?} must be percent-encoded (RFC 7512)"
            ));
        }
    }
    Ok(out)
}

fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("{name}: the decoded value is not UTF-8"))
}

/// A secret reference (`file:` with an absolute path, `fd:N`, `env:NAME`, `awssm://…`), or a bare
/// absolute path (the file form before secret references).
fn pin_source(text: &str) -> Result<PinSource, String> {
    let hint = "use file:/absolute/path/to/pin-file, fd:N, env:NAME or awssm://SECRET-ID";
    if text.starts_with('/') {
        return Ok(SecretRef::File(PathBuf::from(text)));
    }
    let source = SecretRef::parse(text)
        .map_err(|reason| format!("pin-source={text:?}: {reason}; {hint}"))?;
    if let SecretRef::File(path) = &source {
        if !path.is_absolute() {
            return Err("pin-source: the PIN file path must be absolute".into());
        }
    }
    Ok(source)
}

/// Percent-encodes everything but unreserved characters and the `extra` ones.
fn encode(value: &[u8], keep: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(b as char) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical text: path attributes in a fixed order, then the query.
impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path = Vec::new();
        let text = |name: &str, v: &Option<String>| {
            v.as_ref()
                .map(|v| format!("{name}={}", encode(v.as_bytes(), "")))
        };
        path.extend(text("token", &self.token));
        path.extend(text("manufacturer", &self.manufacturer));
        path.extend(text("model", &self.model));
        path.extend(text("serial", &self.serial));
        path.extend(self.slot_id.map(|s| format!("slot-id={s}")));
        path.extend(text("object", &self.object));
        if let Some(id) = &self.id {
            let hex: String = id.iter().map(|b| format!("%{b:02X}")).collect();
            path.push(format!("id={hex}"));
        }
        path.extend(self.object_type.map(|t| format!("type={}", t.name())));
        let mut query = Vec::new();
        if let Some(p) = &self.module_path {
            query.push(format!(
                "module-path={}",
                encode(p.to_string_lossy().as_bytes(), "/")
            ));
        }
        if let Some(source) = &self.pin_source {
            query.push(format!(
                "pin-source={}",
                encode(source.to_string().as_bytes(), "/:")
            ));
        }
        if let Some(w) = self.wrap {
            query.push(format!("x-wrap={}", w.name()));
        }
        write!(f, "{SCHEME}{}", path.join(";"))?;
        if !query.is_empty() {
            write!(f, "?{}", query.join("&"))?;
        }
        Ok(())
    }
}

/// The canonical text (a parsed URI holds no secret).
impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({self})")
    }
}

/// `text` with the value of every `pin-value=` replaced by `<redacted>`, for error messages about a
/// reference that could not be parsed.
pub fn redact(text: &str) -> String {
    let Some((head, query)) = text.split_once('?') else {
        // A pin-value in the path is refused too; redact it there as well.
        return redact_attrs(text, ';');
    };
    format!("{}?{}", redact_attrs(head, ';'), redact_attrs(query, '&'))
}

fn redact_attrs(part: &str, sep: char) -> String {
    part.split(sep)
        .map(|attr| {
            if attr.starts_with("pin-value=") || attr.contains(":pin-value=") {
                match attr.split_once("pin-value=") {
                    Some((before, _)) => format!("{before}pin-value=<redacted>"),
                    None => attr.to_string(),
                }
            } else {
                attr.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(&sep.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_uri_parses_and_prints_canonically() {
        let text = "pkcs11:token=ml%20release;object=model-signing;id=%01%AB;serial=42;slot-id=3;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/hsm-pin";
        let uri = Pkcs11Uri::parse(text).unwrap();
        assert_eq!(uri.token.as_deref(), Some("ml release"));
        assert_eq!(uri.object.as_deref(), Some("model-signing"));
        assert_eq!(uri.id.as_deref(), Some(&[0x01, 0xAB][..]));
        assert_eq!(uri.serial.as_deref(), Some("42"));
        assert_eq!(uri.slot_id, Some(3));
        assert_eq!(uri.object_type, Some(ObjectType::Private));
        assert_eq!(
            uri.module_path.as_deref(),
            Some(std::path::Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(
            uri.pin_source,
            Some(PinSource::File("/run/secrets/hsm-pin".into()))
        );
        let canonical = uri.to_string();
        assert_eq!(canonical, "pkcs11:token=ml%20release;serial=42;slot-id=3;object=model-signing;id=%01%AB;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/hsm-pin");
        assert_eq!(Pkcs11Uri::parse(&canonical).unwrap(), uri);
    }

    #[test]
    fn pin_value_is_refused_and_redacted() {
        let text = "pkcs11:token=t;object=o?pin-value=123456&module-path=/x.so";
        let err = Pkcs11Uri::parse(text).unwrap_err();
        assert!(err.contains("pin-value is refused"), "{err}");
        assert!(err.contains("pin-source=file:"), "{err}");
        assert!(!err.contains("123456"));
        let red = redact(text);
        assert_eq!(
            red,
            "pkcs11:token=t;object=o?pin-value=<redacted>&module-path=/x.so"
        );
        let err = Pkcs11Uri::parse("pkcs11:token=t;pin-value=9999;object=o").unwrap_err();
        assert!(err.contains("query part"), "{err}");
        assert_eq!(
            redact("pkcs11:token=t;pin-value=9999;object=o"),
            "pkcs11:token=t;pin-value=<redacted>;object=o"
        );
    }

    #[test]
    fn strictness() {
        let cases = [
            ("pkcs11:token=t", "names no object"),
            ("pkcs11:object=a;object=b", "more than once"),
            ("pkcs11:object=a;colour=red", "unknown attribute \"colour\""),
            ("pkcs11:object=a b", "must be percent-encoded"),
            ("pkcs11:object=a/b", "must be percent-encoded"),
            ("pkcs11:object=%4", "two hex digits"),
            ("pkcs11:object=%zz", "two hex digits"),
            ("pkcs11:object=", "empty value"),
            ("pkcs11:object", "no '=value'"),
            ("pkcs11:object=%FF", "not UTF-8"),
            ("pkcs11:object=o;slot-id=-1", "not a decimal"),
            ("pkcs11:object=o;type=data", "not one of"),
            ("pkcs11:object=o?module-path=lib.so", "absolute"),
            ("pkcs11:object=o?module-name=softhsm2", "module-path="),
            ("pkcs11:object=o?pin-source=pin.txt", "file:/absolute"),
            ("pkcs11:object=o?pin-source=file:pin.txt", "absolute"),
            ("pkcs11:object=o?x-wrap=aes-cbc", "aes-gcm or aes-kwp"),
            ("pkcs11:object=o?foo=bar", "unknown query attribute"),
            ("pkcs11:object=o;module-path=/x.so", "query part"),
            ("pkcs11:object=o;slot-description=x", "not supported"),
        ];
        for (text, want) in cases {
            let err = Pkcs11Uri::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn id_only_and_pin_source_forms() {
        let uri = Pkcs11Uri::parse("pkcs11:id=%03?pin-source=file:///p&x-wrap=aes-kwp").unwrap();
        assert_eq!(uri.id.as_deref(), Some(&[3u8][..]));
        assert_eq!(uri.pin_source, Some(PinSource::File("/p".into())));
        assert_eq!(uri.wrap, Some(WrapChoice::AesKwp));
        assert_eq!(
            uri.to_string(),
            "pkcs11:id=%03?pin-source=file:/p&x-wrap=aes-kwp"
        );
        let uri = Pkcs11Uri::parse("pkcs11:object=a&b?pin-source=/abs/pin").unwrap();
        assert_eq!(uri.object.as_deref(), Some("a&b"));
        assert_eq!(uri.token_description(), "any token");
    }
}
