//! The Sigstore trusted root a keyless verification is pinned to: Fulcio CAs, Rekor log keys, CT
//! log keys, each with the time window in which the root trusts it.
//!
//! Read from a `trusted_root.json` (`application/vnd.dev.sigstore.trustedroot+json;version=0.1` or
//! `…trustedroot.v0.2+json`) or from a ClientTrustConfig (`…clienttrustconfig.v0.1+json`) that
//! holds one under `trustedRoot`. The public-good production root ships inside modelseal
//! ([`TrustedRoot::production`]); nothing here fetches anything.
//!
//! Guarantees: every certificate parses as X.509 and every usable key parses when the root is
//! loaded, so a broken root is an input error up front, not a verification failure later. Log
//! keys are named by the SHA-256 of their SubjectPublicKeyInfo DER (RFC 6962 §3.2 log id; Rekor
//! uses the same for its log id and checkpoint key hash). Keys of types modelseal cannot verify
//! (RSA) are skipped, as sigstore-python does. Timestamp authorities (`timestampAuthorities`) are
//! read as certificate chains: the roots against which a bundle's RFC 3161 timestamps are checked
//! ([`TrustedRoot::timestamp_roots`]).

use super::SigstoreError;
use crate::keys::PublicKey;
use crate::oms::json::{self, Obj};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use der::Decode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The copy of the public-good instance's root shipped with modelseal (from sigstore-python
/// 4.5.1's TUF cache of `tuf-repo-cdn.sigstore.dev`).
const PRODUCTION_JSON: &str = include_str!("production_trusted_root.json");
/// Largest trust file read (bytes); the production root is 7 KB.
const MAX_ROOT_BYTES: u64 = 4 * 1024 * 1024;
const TRUSTED_ROOT_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";
const TRUST_CONFIG_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json";
/// The key types sigstore-python verifies that [`PublicKey`] supports.
const SUPPORTED_KEY_DETAILS: &[&str] = &[
    "PKIX_ECDSA_P256_SHA_256",
    "PKIX_ECDSA_P384_SHA_384",
    "PKIX_ECDSA_P521_SHA_512",
    "PKIX_ED25519",
];

/// A time window in Unix milliseconds, both ends inclusive; a missing end is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    pub start_ms: u64,
    pub end_ms: Option<u64>,
}

impl Window {
    /// True when `time_ms` lies inside the window.
    pub fn contains(&self, time_ms: u64) -> bool {
        self.start_ms <= time_ms
            && match self.end_ms {
                Some(end) => time_ms <= end,
                None => true,
            }
    }
}

/// A transparency or CT log's key.
#[derive(Debug, Clone)]
pub(crate) struct LogKey {
    /// SHA-256 of the key's SPKI DER.
    pub key_id: [u8; 32],
    /// The log's id as the trusted root names it (`logId.keyId`): the same as `key_id` for
    /// Rekor v1 and CT logs; for a Rekor v2 (tiles) log, the C2SP signed-note key id (SHA-256 of
    /// origin, `\n`, `0x01` and the key), whose first 4 bytes prefix its checkpoint signatures.
    pub log_id: Vec<u8>,
    pub key: PublicKey,
    pub valid: Window,
}

/// A Fulcio CA: its chain (issuing certificate first, root last) and when the root trusts it.
#[derive(Debug, Clone)]
pub(crate) struct Authority {
    pub chain: Vec<Vec<u8>>,
    pub valid: Window,
}

/// A parsed trusted root.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub(crate) tlogs: Vec<LogKey>,
    pub(crate) ctlogs: Vec<LogKey>,
    pub(crate) authorities: Vec<Authority>,
    pub(crate) timestamp_authorities: Vec<Authority>,
}

impl TrustedRoot {
    /// The public-good production root shipped with modelseal.
    pub fn production() -> Result<TrustedRoot, SigstoreError> {
        TrustedRoot::from_trusted_root_json(PRODUCTION_JSON.as_bytes())
            .map_err(|reason| root_error(Path::new("(built-in production trusted root)"), reason))
    }

    /// Loads a `trusted_root.json` file.
    pub fn load_trusted_root(path: &Path) -> Result<TrustedRoot, SigstoreError> {
        let bytes = read(path)?;
        TrustedRoot::from_trusted_root_json(&bytes).map_err(|reason| root_error(path, reason))
    }

    /// Loads a ClientTrustConfig file and takes the trusted root inside it.
    pub fn load_trust_config(path: &Path) -> Result<TrustedRoot, SigstoreError> {
        let bytes = read(path)?;
        TrustedRoot::from_trust_config_json(&bytes).map_err(|reason| root_error(path, reason))
    }

    /// Loads either kind of file, told apart by its `mediaType`.
    pub fn load(path: &Path) -> Result<TrustedRoot, SigstoreError> {
        let bytes = read(path)?;
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Kind {
            media_type: String,
        }
        let is_config =
            json::from_slice::<Kind>(&bytes).is_ok_and(|k| k.media_type == TRUST_CONFIG_MEDIA_TYPE);
        if is_config {
            TrustedRoot::from_trust_config_json(&bytes)
        } else {
            TrustedRoot::from_trusted_root_json(&bytes)
        }
        .map_err(|reason| root_error(path, reason))
    }

    /// Parses the JSON of a trusted root.
    pub fn from_trusted_root_json(bytes: &[u8]) -> Result<TrustedRoot, String> {
        let raw: RootIn =
            json::from_slice(bytes).map_err(|e| format!("not a Sigstore trusted root ({e})"))?;
        raw.into_root()
    }

    /// Parses the JSON of a ClientTrustConfig.
    pub fn from_trust_config_json(bytes: &[u8]) -> Result<TrustedRoot, String> {
        let raw: ConfigIn = json::from_slice(bytes)
            .map_err(|e| format!("not a Sigstore ClientTrustConfig ({e})"))?;
        if raw.media_type != TRUST_CONFIG_MEDIA_TYPE {
            return Err(format!(
                "mediaType is {:?}, expected {TRUST_CONFIG_MEDIA_TYPE:?}",
                raw.media_type
            ));
        }
        raw.trusted_root.0.into_root()
    }

    /// The certificates of the root's timestamp authorities (each chain: TSA leaf, intermediates,
    /// root), against which RFC 3161 timestamps are checked.
    pub fn timestamp_roots(&self) -> crate::timestamp::TimestampRoots {
        crate::timestamp::TimestampRoots::new(
            self.timestamp_authorities
                .iter()
                .flat_map(|a| a.chain.iter().cloned())
                .collect(),
        )
    }

    /// The transparency log whose key id is `key_id`.
    pub(crate) fn tlog(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.tlogs
            .iter()
            .find(|k| k.key_id == key_id || k.log_id == key_id)
    }

    /// The CT log whose key id is `key_id`.
    pub(crate) fn ctlog(&self, key_id: &[u8]) -> Option<&LogKey> {
        self.ctlogs.iter().find(|k| k.key_id == key_id)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SigstoreError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    crate::fs::open_trusted(path)
        .and_then(|f| f.file.take(MAX_ROOT_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| root_error(path, e.to_string()))?;
    if bytes.len() as u64 > MAX_ROOT_BYTES {
        return Err(root_error(
            path,
            format!("larger than the {MAX_ROOT_BYTES}-byte limit for a trust file"),
        ));
    }
    Ok(bytes)
}

fn root_error(path: &Path, reason: String) -> SigstoreError {
    SigstoreError::Root {
        path: path.to_path_buf(),
        reason,
    }
}

// ---- JSON shapes (protobuf-specs `TrustedRoot`, `ClientTrustConfig`) ------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigIn {
    media_type: String,
    trusted_root: Obj<RootIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootIn {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<Obj<LogIn>>,
    #[serde(default)]
    certificate_authorities: Vec<Obj<AuthorityIn>>,
    #[serde(default)]
    ctlogs: Vec<Obj<LogIn>>,
    #[serde(default)]
    timestamp_authorities: Vec<Obj<AuthorityIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIn {
    public_key: Obj<PublicKeyIn>,
    log_id: Option<Obj<LogIdIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogIdIn {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyIn {
    raw_bytes: String,
    key_details: String,
    valid_for: Option<Obj<WindowIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthorityIn {
    cert_chain: Obj<ChainIn>,
    valid_for: Option<Obj<WindowIn>>,
}

#[derive(Deserialize)]
struct ChainIn {
    certificates: Vec<Obj<CertIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertIn {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct WindowIn {
    start: Option<String>,
    end: Option<String>,
}

impl RootIn {
    fn into_root(self) -> Result<TrustedRoot, String> {
        if !self.media_type.starts_with(TRUSTED_ROOT_PREFIX) {
            return Err(format!(
                "mediaType is {:?}, expected a {TRUSTED_ROOT_PREFIX}… type",
                self.media_type
            ));
        }
        let tlogs = log_keys("tlogs", self.tlogs)?;
        let ctlogs = log_keys("ctlogs", self.ctlogs)?;
        let authorities = self
            .certificate_authorities
            .into_iter()
            .enumerate()
            .map(|(i, Obj(a))| a.into_authority("certificateAuthorities", i))
            .collect::<Result<Vec<_>, _>>()?;
        let timestamp_authorities = self
            .timestamp_authorities
            .into_iter()
            .enumerate()
            .map(|(i, Obj(a))| a.into_authority("timestampAuthorities", i))
            .collect::<Result<Vec<_>, _>>()?;
        if authorities.is_empty() || tlogs.is_empty() || ctlogs.is_empty() {
            return Err(
                "a trusted root for keyless verification needs at least one certificate authority, \
                 one transparency log key and one CT log key"
                    .into(),
            );
        }
        Ok(TrustedRoot {
            tlogs,
            ctlogs,
            authorities,
            timestamp_authorities,
        })
    }
}

fn log_keys(what: &str, logs: Vec<Obj<LogIn>>) -> Result<Vec<LogKey>, String> {
    let mut keys = Vec::new();
    for (i, Obj(log)) in logs.into_iter().enumerate() {
        let key = log.public_key.0;
        if !SUPPORTED_KEY_DETAILS.contains(&key.key_details.as_str()) {
            continue;
        }
        let der = STANDARD
            .decode(&key.raw_bytes)
            .map_err(|e| format!("{what}[{i}].publicKey.rawBytes is not base64 ({e})"))?;
        let public =
            PublicKey::from_spki_der(&der).map_err(|e| format!("{what}[{i}].publicKey: {e}"))?;
        let key_id: [u8; 32] = Sha256::digest(&der).into();
        let log_id = match log.log_id {
            Some(Obj(id)) => STANDARD
                .decode(&id.key_id)
                .map_err(|e| format!("{what}[{i}].logId.keyId is not base64 ({e})"))?,
            None => key_id.to_vec(),
        };
        keys.push(LogKey {
            key_id,
            log_id,
            key: public,
            valid: window(&format!("{what}[{i}]"), key.valid_for)?,
        });
    }
    Ok(keys)
}

impl AuthorityIn {
    fn into_authority(self, what: &str, index: usize) -> Result<Authority, String> {
        let name = format!("{what}[{index}]");
        let chain = self
            .cert_chain
            .0
            .certificates
            .iter()
            .enumerate()
            .map(|(j, Obj(c))| {
                let der = STANDARD.decode(&c.raw_bytes).map_err(|e| {
                    format!("{name}.certChain.certificates[{j}] is not base64 ({e})")
                })?;
                x509_cert::Certificate::from_der(&der).map_err(|e| {
                    format!("{name}.certChain.certificates[{j}] is not X.509 ({e})")
                })?;
                Ok(der)
            })
            .collect::<Result<Vec<_>, String>>()?;
        if chain.is_empty() {
            return Err(format!("{name} has no certificate"));
        }
        Ok(Authority {
            chain,
            valid: window(&name, self.valid_for)?,
        })
    }
}

fn window(name: &str, valid_for: Option<Obj<WindowIn>>) -> Result<Window, String> {
    let Some(Obj(w)) = valid_for else {
        return Ok(Window {
            start_ms: 0,
            end_ms: None,
        });
    };
    let parse = |field: &str, text: &str| {
        rfc3339_millis(text)
            .ok_or_else(|| format!("{name}.validFor.{field} {text:?} is not an RFC 3339 UTC time"))
    };
    Ok(Window {
        start_ms: w
            .start
            .as_deref()
            .map(|t| parse("start", t))
            .transpose()?
            .unwrap_or(0),
        end_ms: w.end.as_deref().map(|t| parse("end", t)).transpose()?,
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (the protobuf JSON form of a Timestamp) into Unix
/// milliseconds; the fraction is truncated to milliseconds.
pub(crate) fn rfc3339_millis(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (main, fraction) = match text.split_once('.') {
        Some((main, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (main, f),
        Some(_) => return None,
        None => (text, ""),
    };
    let b = main.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u16> {
        let s = main.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let date = der::DateTime::new(
        num(0..4)?,
        u8::try_from(num(5..7)?).ok()?,
        u8::try_from(num(8..10)?).ok()?,
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    let millis: u64 = format!("{fraction:0<3}").get(..3)?.parse().ok()?;
    let seconds = date.unix_duration().as_secs();
    seconds.checked_mul(1000)?.checked_add(millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shipped_production_root() {
        let root = TrustedRoot::production().unwrap();
        // Two Rekor keys (ECDSA v1 log, Ed25519 log2025-1), two CT logs, two Fulcio CAs.
        assert_eq!(root.tlogs.len(), 2);
        assert_eq!(root.ctlogs.len(), 2);
        assert_eq!(root.authorities.len(), 2);
        // The Rekor v1 log id as the bundles name it.
        let rekor = STANDARD
            .decode("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0=")
            .unwrap();
        let log = root.tlog(&rekor).unwrap();
        assert_eq!(log.valid.start_ms, 1_610_452_407_000);
        assert_eq!(log.valid.end_ms, None);
        // The retired CT log ends 2022-10-31T23:59:59.999Z.
        let ct = STANDARD
            .decode("CGCS8ChS/2hF0dFrJ4ScRWcYrBY9wzjSbea8IgY2b3I=")
            .unwrap();
        assert_eq!(
            root.ctlog(&ct).unwrap().valid.end_ms,
            Some(1_667_260_799_999)
        );
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_millis("2021-01-12T11:53:27Z"),
            Some(1_610_452_407_000)
        );
        assert_eq!(
            rfc3339_millis("2021-01-12T11:53:27.5Z"),
            Some(1_610_452_407_500)
        );
        assert_eq!(
            rfc3339_millis("2021-01-12T11:53:27.123456789Z"),
            Some(1_610_452_407_123)
        );
        for bad in [
            "2021-01-12T11:53:27",
            "2021-01-12 11:53:27Z",
            "2021-01-12T11:53:27+00:00",
            "2021-01-12T11:53:27.Z",
            "2021-13-12T11:53:27Z",
            "2021-01-12T11:53:+7Z",
            "",
        ] {
            assert_eq!(rfc3339_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn windows_are_inclusive() {
        let w = Window {
            start_ms: 10,
            end_ms: Some(20),
        };
        assert!(!w.contains(9) && w.contains(10) && w.contains(20) && !w.contains(21));
        let open = Window {
            start_ms: 10,
            end_ms: None,
        };
        assert!(open.contains(u64::MAX));
    }

    #[test]
    fn trust_config_wraps_a_root() {
        let config = format!(
            r#"{{"mediaType": "{TRUST_CONFIG_MEDIA_TYPE}", "trustedRoot": {PRODUCTION_JSON}, "signingConfig": {{}}}}"#
        );
        let root = TrustedRoot::from_trust_config_json(config.as_bytes()).unwrap();
        assert_eq!(root.authorities.len(), 2);
        // A bare root is not a trust config, and the other way round.
        assert!(TrustedRoot::from_trust_config_json(PRODUCTION_JSON.as_bytes()).is_err());
        let err = TrustedRoot::from_trusted_root_json(config.as_bytes()).unwrap_err();
        assert!(err.contains("mediaType"), "{err}");
    }

    #[test]
    fn an_empty_root_is_refused() {
        let err = TrustedRoot::from_trusted_root_json(
            br#"{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1"}"#,
        )
        .unwrap_err();
        assert!(err.contains("at least one"), "{err}");
    }
}
