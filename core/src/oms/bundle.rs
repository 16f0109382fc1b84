//! The signature file: a Sigstore bundle v0.3 holding one DSSE envelope with one signature, and the
//! verification material that names the signer (key hint, certificate chain, or a pre-1.1.0 raw key).
//!
//! Writing produces exactly the JSON model-signing 1.1.1 writes: one compact line, no trailing
//! newline, `tlogEntries: []`, `keyid: ""`, standard padded base64 (1.1.1's reader is a pydantic
//! model with `extra="forbid"`, so we write no field it does not know).
//!
//! Reading is strict on what matters and lenient on the rest:
//! - `mediaType` must be the v0.3 string 1.1.1 checks for; the `...bundle+json;version=0.x` forms are
//!   refused (1.1.1 refuses them too, and v0.1/v0.2 bundles differ in shape);
//! - exactly one of `dsseEnvelope`/`messageSignature`, exactly one signature, exactly one kind of
//!   verification material; `verificationMaterial.certificate` (Sigstore keyless) is read into
//!   [`KeylessMaterial`], whose log entries and timestamps stay raw JSON text for
//!   [`crate::sigstore`] to interpret (only a keyless check needs them);
//! - base64 is the standard alphabet with padding and canonical trailing bits, which is what every
//!   producer writes and 1.1.1 reads (it refuses unpadded input);
//! - `keyid` (a string or null) is ignored; `tlogEntries` may be missing (pre-1.1.0 bundles) and
//!   its entries are not interpreted here (they are skipped as raw JSON, iteratively, whatever their
//!   depth); unknown fields are ignored, since Sigstore bundles may grow.

use super::json::{self, Obj};
use super::{
    check_size, malformed, OmsError, BUNDLE_MEDIA_TYPE, MAX_BUNDLE_BYTES, MAX_CERTIFICATES,
};
use base64::engine::general_purpose::STANDARD;

/// The most RFC 3161 tokens read from one bundle (producers write one).
const MAX_TIMESTAMPS: usize = 16;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// What the bundle says about the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationMaterial {
    /// Key method: lowercase hex SHA-256 of the signer's SPKI PEM text (absent in some bundles).
    /// An empty hint reads as absent, as in 1.1.1.
    PublicKey {
        /// `publicKey.hint` as found, never `Some("")`. Untrusted: verification only compares it
        /// with the trusted key's hint, never uses it to pick or build a key.
        hint: Option<String>,
    },
    /// Pre-1.1.0 bundles: `publicKey.rawBytes` (decoded), no hint. model-signing 1.0.x wrote the
    /// SPKI *PEM text* here (the protobuf spec says DER); the bytes are kept as found.
    LegacyPublicKey {
        /// The base64-decoded `rawBytes`, unparsed: verification checks the signature under the
        /// trusted key and does not read a key from here.
        raw_bytes: Vec<u8>,
    },
    /// Certificate method: DER certificates, leaf first.
    Certificates(Vec<Vec<u8>>),
    /// Sigstore keyless: a Fulcio leaf certificate and the transparency-log evidence.
    Keyless(KeylessMaterial),
}

/// What a Sigstore keyless bundle (v0.3 `verificationMaterial.certificate`) carries besides the
/// envelope; unauthenticated until [`crate::sigstore`] checks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessMaterial {
    /// The signing (leaf) certificate, DER.
    pub certificate: Vec<u8>,
    /// The JSON text of each `tlogEntries` element, as found.
    pub tlog_entries: Vec<String>,
    /// The JSON text of `timestampVerificationData`, when present.
    pub timestamp_verification_data: Option<String>,
}

/// A parsed Sigstore bundle v0.3 holding one DSSE envelope with exactly one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Who the bundle says signed it; unauthenticated until [`crate::trust`] checks it.
    pub material: VerificationMaterial,
    /// DSSE `payloadType`.
    pub payload_type: String,
    /// The exact payload bytes (base64-decoded).
    pub payload: Vec<u8>,
    /// The signature bytes (DER ECDSA, or raw Ed25519).
    pub signature: Vec<u8>,
    /// RFC 3161 timestamps over `signature`: each the DER of a `TimeStampResp` (the Sigstore
    /// bundle's `RFC3161SignedTimestamp.signedTimestamp`; a bare token is read too), from
    /// `verificationMaterial.timestampVerificationData.rfc3161Timestamps[].signedTimestamp`;
    /// unauthenticated until [`crate::timestamp::verify`] checks one against trusted TSA roots.
    pub timestamps: Vec<Vec<u8>>,
}

impl Bundle {
    /// Parses a bundle strictly: mediaType, one envelope, exactly one signature, valid base64.
    pub fn parse(bytes: &[u8]) -> Result<Bundle, OmsError> {
        check_size("bundle", bytes.len(), MAX_BUNDLE_BYTES)?;
        let raw: BundleIn = json::from_slice(bytes).map_err(|e| {
            malformed(format!(
                "bundle is not valid JSON of the expected shape: {e}"
            ))
        })?;
        raw.into_bundle()
    }

    /// One compact JSON line as model-signing 1.1.1 writes it (`tlogEntries: []`).
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings into memory cannot fail.
        serde_json::to_string(&BundleOut::from(self)).unwrap_or_default()
    }
}

// ---- reading -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BundleIn {
    media_type: String,
    verification_material: Obj<MaterialIn>,
    dsse_envelope: Option<Obj<EnvelopeIn>>,
    message_signature: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MaterialIn {
    public_key: Option<Obj<PublicKeyIn>>,
    x509_certificate_chain: Option<Obj<ChainIn>>,
    certificate: Option<Obj<CertificateIn>>,
    // Typed as a list so that a non-list is an error; each entry is kept as raw JSON text and only
    // read by a keyless check (serde_json skips raw values without recursion).
    tlog_entries: Option<Vec<Box<RawValue>>>,
    timestamp_verification_data: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyIn {
    hint: Option<String>,
    raw_bytes: Option<String>,
    #[allow(dead_code)]
    key_details: Option<String>,
}

#[derive(Deserialize)]
struct ChainIn {
    certificates: Vec<Obj<CertificateIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CertificateIn {
    raw_bytes: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeIn {
    payload: String,
    payload_type: String,
    signatures: Vec<Obj<SignatureIn>>,
}

#[derive(Deserialize)]
struct SignatureIn {
    sig: String,
    // DSSE says keyid is an unauthenticated hint; 1.1.1 writes "" (older versions null) and
    // never reads it. Typed only so that garbage there is still an error.
    #[allow(dead_code)]
    keyid: Option<String>,
}

impl BundleIn {
    fn into_bundle(self) -> Result<Bundle, OmsError> {
        if self.media_type != BUNDLE_MEDIA_TYPE {
            return Err(malformed(format!(
                "bundle mediaType is {:?}, expected {BUNDLE_MEDIA_TYPE:?}",
                self.media_type
            )));
        }
        let envelope = match (self.dsse_envelope, self.message_signature) {
            (Some(Obj(envelope)), None) => envelope,
            (None, Some(_)) => {
                return Err(malformed(
                    "bundle holds a messageSignature, not a DSSE envelope",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(malformed(
                    "bundle holds both a dsseEnvelope and a messageSignature",
                ))
            }
            (None, None) => return Err(malformed("bundle has no dsseEnvelope")),
        };
        let timestamps = match &self.verification_material.0.timestamp_verification_data {
            Some(raw) => read_timestamps(raw.get())?,
            None => Vec::new(),
        };
        let material = self.verification_material.0.into_material()?;
        let [Obj(signature)] =
            <[Obj<SignatureIn>; 1]>::try_from(envelope.signatures).map_err(|s| {
                malformed(format!(
                    "dsseEnvelope has {} signatures, expected exactly one",
                    s.len()
                ))
            })?;
        let payload = decode("dsseEnvelope.payload", &envelope.payload)?;
        let signature = decode("dsseEnvelope.signatures[0].sig", &signature.sig)?;
        Ok(Bundle {
            material,
            payload_type: envelope.payload_type,
            payload,
            signature,
            timestamps,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimestampDataIn {
    rfc3161_timestamps: Option<Vec<Obj<TimestampIn>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimestampIn {
    signed_timestamp: String,
}

/// The DER tokens of `timestampVerificationData` (the Sigstore bundle's `RFC3161SignedTimestamp`
/// list); other members of that object are left alone.
fn read_timestamps(text: &str) -> Result<Vec<Vec<u8>>, OmsError> {
    let data: Obj<TimestampDataIn> = json::from_slice(text.as_bytes()).map_err(|e| {
        malformed(format!(
            "verificationMaterial.timestampVerificationData is not of the expected shape: {e}"
        ))
    })?;
    let list = data.0.rfc3161_timestamps.unwrap_or_default();
    if list.len() > MAX_TIMESTAMPS {
        return Err(OmsError::TooMany {
            what: "timestamps",
            count: list.len() as u64,
            limit: MAX_TIMESTAMPS as u64,
        });
    }
    list.iter()
        .enumerate()
        .map(|(i, Obj(t))| {
            decode_named(
                || format!("timestampVerificationData.rfc3161Timestamps[{i}].signedTimestamp"),
                &t.signed_timestamp,
            )
        })
        .collect()
}

impl MaterialIn {
    fn into_material(self) -> Result<VerificationMaterial, OmsError> {
        match (self.public_key, self.x509_certificate_chain, self.certificate) {
            (Some(Obj(key)), None, None) => key.into_material(),
            (None, Some(Obj(chain)), None) => chain.into_material(),
            (None, None, Some(Obj(certificate))) => Ok(VerificationMaterial::Keyless(
                KeylessMaterial {
                    certificate: decode(
                        "verificationMaterial.certificate.rawBytes",
                        &certificate.raw_bytes,
                    )?,
                    tlog_entries: self
                        .tlog_entries
                        .unwrap_or_default()
                        .iter()
                        .map(|e| e.get().to_string())
                        .collect(),
                    timestamp_verification_data: self
                        .timestamp_verification_data
                        .map(|t| t.get().to_string()),
                },
            )),
            (None, None, None) => Err(malformed(
                "verificationMaterial has none of publicKey, x509CertificateChain, certificate",
            )),
            _ => Err(malformed(
                "verificationMaterial has more than one of publicKey, x509CertificateChain, certificate",
            )),
        }
    }
}

impl PublicKeyIn {
    fn into_material(self) -> Result<VerificationMaterial, OmsError> {
        let hint = self.hint.filter(|h| !h.is_empty());
        match (hint, self.raw_bytes) {
            (Some(_), Some(_)) => Err(malformed(
                "verificationMaterial.publicKey has both a hint and rawBytes",
            )),
            (None, Some(raw)) => Ok(VerificationMaterial::LegacyPublicKey {
                raw_bytes: decode("verificationMaterial.publicKey.rawBytes", &raw)?,
            }),
            (hint, None) => Ok(VerificationMaterial::PublicKey { hint }),
        }
    }
}

impl ChainIn {
    fn into_material(self) -> Result<VerificationMaterial, OmsError> {
        let count = self.certificates.len();
        if count == 0 {
            return Err(malformed(
                "verificationMaterial.x509CertificateChain has no certificates",
            ));
        }
        if count > MAX_CERTIFICATES {
            return Err(OmsError::TooMany {
                what: "certificates",
                count: count as u64,
                limit: MAX_CERTIFICATES as u64,
            });
        }
        let ders = self
            .certificates
            .iter()
            .enumerate()
            .map(|(i, Obj(c))| {
                decode_named(
                    || format!("x509CertificateChain.certificates[{i}].rawBytes"),
                    &c.raw_bytes,
                )
            })
            .collect::<Result<_, _>>()?;
        Ok(VerificationMaterial::Certificates(ders))
    }
}

/// Standard, padded, canonical base64 of a field that must not be empty.
fn decode(field: &'static str, text: &str) -> Result<Vec<u8>, OmsError> {
    decode_named(|| field.to_string(), text)
}

fn decode_named(field: impl Fn() -> String, text: &str) -> Result<Vec<u8>, OmsError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| malformed(format!("{} is not standard padded base64: {e}", field())))?;
    if bytes.is_empty() {
        return Err(malformed(format!("{} is empty", field())));
    }
    Ok(bytes)
}

// ---- writing -------------------------------------------------------------------------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleOut<'a> {
    media_type: &'static str,
    verification_material: MaterialOut<'a>,
    dsse_envelope: EnvelopeOut<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MaterialOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<PublicKeyOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x509_certificate_chain: Option<ChainOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificateOut>,
    tlog_entries: Vec<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_verification_data: Option<&'a RawValue>,
    #[serde(
        rename = "timestampVerificationData",
        skip_serializing_if = "Option::is_none"
    )]
    timestamps_out: Option<TimestampDataOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimestampDataOut {
    rfc3161_timestamps: Vec<TimestampOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TimestampOut {
    signed_timestamp: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PublicKeyOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    hint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_bytes: Option<String>,
}

#[derive(Serialize)]
struct ChainOut {
    certificates: Vec<CertificateOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertificateOut {
    raw_bytes: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeOut<'a> {
    payload: String,
    payload_type: &'a str,
    signatures: [SignatureOut; 1],
}

#[derive(Serialize)]
struct SignatureOut {
    sig: String,
    keyid: &'static str,
}

impl<'a> From<&'a Bundle> for BundleOut<'a> {
    fn from(b: &'a Bundle) -> Self {
        let mut keyless_out = KeylessOut::default();
        let (public_key, x509_certificate_chain) = match &b.material {
            VerificationMaterial::PublicKey { hint } => {
                // An empty hint means "no hint" to every reader; write it as absent.
                (
                    Some(PublicKeyOut {
                        hint: hint.as_deref().filter(|h| !h.is_empty()),
                        raw_bytes: None,
                    }),
                    None,
                )
            }
            VerificationMaterial::LegacyPublicKey { raw_bytes } => (
                Some(PublicKeyOut {
                    hint: None,
                    raw_bytes: Some(STANDARD.encode(raw_bytes)),
                }),
                None,
            ),
            VerificationMaterial::Certificates(ders) => {
                let certificates = ders
                    .iter()
                    .map(|d| CertificateOut {
                        raw_bytes: STANDARD.encode(d),
                    })
                    .collect();
                (None, Some(ChainOut { certificates }))
            }
            VerificationMaterial::Keyless(keyless) => {
                keyless_out = KeylessOut::from(keyless);
                (None, None)
            }
        };
        BundleOut {
            media_type: BUNDLE_MEDIA_TYPE,
            verification_material: MaterialOut {
                public_key,
                x509_certificate_chain,
                certificate: keyless_out.certificate,
                tlog_entries: keyless_out.tlog_entries,
                // A keyless bundle's own text is written back as found; for the key and
                // certificate methods the tokens are written in the Sigstore bundle's shape.
                timestamps_out: (keyless_out.timestamp_verification_data.is_none()
                    && !b.timestamps.is_empty())
                .then(|| TimestampDataOut {
                    rfc3161_timestamps: b
                        .timestamps
                        .iter()
                        .map(|t| TimestampOut {
                            signed_timestamp: STANDARD.encode(t),
                        })
                        .collect(),
                }),
                timestamp_verification_data: keyless_out.timestamp_verification_data,
            },
            dsse_envelope: EnvelopeOut {
                payload: STANDARD.encode(&b.payload),
                payload_type: &b.payload_type,
                signatures: [SignatureOut {
                    sig: STANDARD.encode(&b.signature),
                    keyid: "",
                }],
            },
        }
    }
}

/// The keyless parts of [`MaterialOut`]; empty for the key and certificate methods.
#[derive(Default)]
struct KeylessOut<'a> {
    certificate: Option<CertificateOut>,
    tlog_entries: Vec<&'a RawValue>,
    timestamp_verification_data: Option<&'a RawValue>,
}

impl<'a> From<&'a KeylessMaterial> for KeylessOut<'a> {
    fn from(k: &'a KeylessMaterial) -> Self {
        // The texts were parsed as JSON values when read; one that is not (built by hand) is dropped
        // rather than written as invalid JSON.
        let raw = |text: &'a String| serde_json::from_str::<&'a RawValue>(text).ok();
        KeylessOut {
            certificate: Some(CertificateOut {
                raw_bytes: STANDARD.encode(&k.certificate),
            }),
            tlog_entries: k.tlog_entries.iter().filter_map(raw).collect(),
            timestamp_verification_data: k.timestamp_verification_data.as_ref().and_then(raw),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oms::PAYLOAD_TYPE;
    use serde_json::{json, Value};

    /// A named change to a valid document.
    type Edit = fn(&mut Value);

    const HINT: &str = "5f93d07aaf2aab7b3b26d6eeded158354b1fdd4b5303153a5ee29fe244158f9d";

    fn key_bundle() -> Bundle {
        Bundle {
            material: VerificationMaterial::PublicKey {
                hint: Some(HINT.into()),
            },
            payload_type: PAYLOAD_TYPE.into(),
            payload: b"{\"a\":1}".to_vec(),
            signature: vec![0x30, 0x45, 0x02, 0x21, 0xff],
            timestamps: Vec::new(),
        }
    }

    fn value(b: &Bundle) -> Value {
        serde_json::from_str(&b.to_json()).unwrap()
    }

    fn parse_value(v: &Value) -> Result<Bundle, OmsError> {
        Bundle::parse(&serde_json::to_vec(v).unwrap())
    }

    fn err(r: Result<Bundle, OmsError>) -> String {
        r.expect_err("must be rejected").to_string()
    }

    #[test]
    fn writes_the_exact_key_method_line() {
        // Same structure and field order as a `model_signing sign key` output (see
        // test-vectors/oms-unit/README.md), byte for byte apart from the values.
        let expected = format!(
            concat!(
                r#"{{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{{"publicKey":{{"hint":"{}"}},"tlogEntries":[]}},"#,
                r#""dsseEnvelope":{{"payload":"eyJhIjoxfQ==","payloadType":"application/vnd.in-toto+json","signatures":[{{"sig":"MEUCIf8=","keyid":""}}]}}}}"#
            ),
            HINT
        );
        assert_eq!(key_bundle().to_json(), expected);
    }

    #[test]
    fn writes_the_certificate_chain_shape() {
        let b = Bundle {
            material: VerificationMaterial::Certificates(vec![vec![1, 2, 3], vec![4]]),
            ..key_bundle()
        };
        let v = value(&b);
        assert_eq!(
            v["verificationMaterial"],
            json!({"x509CertificateChain": {"certificates": [{"rawBytes": "AQID"}, {"rawBytes": "BA=="}]}, "tlogEntries": []})
        );
        assert!(b.to_json().starts_with(r#"{"mediaType":"#));
        assert!(b.to_json().contains(
            r#""verificationMaterial":{"x509CertificateChain":{"certificates":[{"rawBytes":"AQID"}"#
        ));
    }

    #[test]
    fn round_trips_every_material() {
        for material in [
            VerificationMaterial::PublicKey {
                hint: Some(HINT.into()),
            },
            VerificationMaterial::PublicKey { hint: None },
            VerificationMaterial::LegacyPublicKey {
                raw_bytes: b"-----BEGIN PUBLIC KEY-----\n".to_vec(),
            },
            VerificationMaterial::Certificates(vec![vec![0x30, 0x82], vec![0x30]]),
        ] {
            let b = Bundle {
                material,
                ..key_bundle()
            };
            assert_eq!(Bundle::parse(b.to_json().as_bytes()).unwrap(), b);
        }
    }

    #[test]
    fn reads_pre_1_1_shapes() {
        // 1.0.x: publicKey {rawBytes, keyDetails}, no tlogEntries, keyid null.
        let v = json!({
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"publicKey": {"rawBytes": "LS0t", "keyDetails": "PKIX_ECDSA_P384_SHA_384"}},
            "dsseEnvelope": {"payload": "eyJhIjoxfQ==", "payloadType": PAYLOAD_TYPE, "signatures": [{"sig": "MEUCIf8=", "keyid": null}]}
        });
        let b = parse_value(&v).unwrap();
        assert_eq!(
            b.material,
            VerificationMaterial::LegacyPublicKey {
                raw_bytes: b"---".to_vec()
            }
        );
        assert_eq!(b.payload, b"{\"a\":1}");
    }

    #[test]
    fn hint_absent_null_or_empty_reads_as_none() {
        for key in [json!({}), json!({"hint": null}), json!({"hint": ""})] {
            let mut v = value(&key_bundle());
            v["verificationMaterial"]["publicKey"] = key;
            assert_eq!(
                parse_value(&v).unwrap().material,
                VerificationMaterial::PublicKey { hint: None }
            );
        }
        let b = Bundle {
            material: VerificationMaterial::PublicKey {
                hint: Some(String::new()),
            },
            ..key_bundle()
        };
        assert_eq!(value(&b)["verificationMaterial"]["publicKey"], json!({}));
    }

    #[test]
    fn tolerates_unknown_fields_and_missing_tlog() {
        let mut v = value(&key_bundle());
        v["extra"] = json!({"deep": [1, 2]});
        v["verificationMaterial"]["timestampVerificationData"] = json!({});
        v["verificationMaterial"]["tlogEntries"] = json!([{"logIndex": "1"}]);
        v["dsseEnvelope"]["signatures"][0]["other"] = json!(1);
        assert_eq!(parse_value(&v).unwrap(), key_bundle());
        v["verificationMaterial"]
            .as_object_mut()
            .unwrap()
            .remove("tlogEntries");
        v["dsseEnvelope"]["signatures"][0]
            .as_object_mut()
            .unwrap()
            .remove("keyid");
        assert_eq!(parse_value(&v).unwrap(), key_bundle());
    }

    #[test]
    fn rejects_structural_errors() {
        let cases: Vec<(&str, Edit)> = vec![
            ("mediaType", |v| {
                v["mediaType"] = json!("application/vnd.dev.sigstore.bundle+json;version=0.3")
            }),
            ("mediaType", |v| {
                v["mediaType"] = json!("application/vnd.dev.sigstore.bundle.v0.4+json")
            }),
            ("missing field `mediaType`", |v| {
                drop(v.as_object_mut().unwrap().remove("mediaType"))
            }),
            ("no dsseEnvelope", |v| {
                drop(v.as_object_mut().unwrap().remove("dsseEnvelope"))
            }),
            ("messageSignature", |v| v["messageSignature"] = json!({})),
            ("0 signatures", |v| {
                v["dsseEnvelope"]["signatures"] = json!([])
            }),
            ("2 signatures", |v| {
                let s = v["dsseEnvelope"]["signatures"][0].clone();
                v["dsseEnvelope"]["signatures"]
                    .as_array_mut()
                    .unwrap()
                    .push(s)
            }),
            ("invalid type", |v| {
                v["dsseEnvelope"]["signatures"][0]["keyid"] = json!(5)
            }),
            ("invalid type", |v| {
                v["verificationMaterial"]["tlogEntries"] = json!({})
            }),
            ("none of", |v| {
                drop(
                    v["verificationMaterial"]
                        .as_object_mut()
                        .unwrap()
                        .remove("publicKey"),
                )
            }),
            ("more than one", |v| {
                v["verificationMaterial"]["x509CertificateChain"] =
                    json!({"certificates": [{"rawBytes": "AA=="}]})
            }),
            ("certificate.rawBytes is not", |v| {
                v["verificationMaterial"] =
                    json!({"certificate": {"rawBytes": "AA"}, "tlogEntries": []})
            }),
            (
                "invalid type",
                |v| {
                    v["verificationMaterial"] =
                        json!({"certificate": {"rawBytes": "AA=="}, "tlogEntries": {}})
                },
            ),
            ("both a hint and rawBytes", |v| {
                v["verificationMaterial"]["publicKey"]["rawBytes"] = json!("AA==")
            }),
            ("no certificates", |v| {
                v["verificationMaterial"] = json!({"x509CertificateChain": {"certificates": []}})
            }),
            (
                "certificates[1].rawBytes",
                |v| v["verificationMaterial"] = json!({"x509CertificateChain": {"certificates": [{"rawBytes": "AA=="}, {"rawBytes": "!"}]}}),
            ),
            ("payload is not", |v| {
                v["dsseEnvelope"]["payload"] = json!("eyJhIjoxfQ")
            }),
            ("payload is not", |v| {
                v["dsseEnvelope"]["payload"] = json!("eyJhIjox fQ==")
            }),
            ("payload is not", |v| {
                v["dsseEnvelope"]["payload"] = json!("eyJhIjoxfR==")
            }),
            ("payload is not", |v| {
                v["dsseEnvelope"]["payload"] = json!("eyJhIjoxfQ-_")
            }),
            ("payload is empty", |v| {
                v["dsseEnvelope"]["payload"] = json!("")
            }),
            ("sig is empty", |v| {
                v["dsseEnvelope"]["signatures"][0]["sig"] = json!("")
            }),
            ("invalid type", |v| {
                v["dsseEnvelope"]["payload"] = json!(null)
            }),
        ];
        for (needle, edit) in cases {
            let mut v = value(&key_bundle());
            edit(&mut v);
            let msg = err(parse_value(&v));
            assert!(msg.contains(needle), "{needle}: {msg}");
        }
    }

    #[test]
    fn keyless_material_is_read_and_written_back() {
        let mut v = value(&key_bundle());
        v["verificationMaterial"] = json!({
            "certificate": {"rawBytes": "AAE="},
            "tlogEntries": [{"logIndex": "7", "kindVersion": {"kind": "dsse", "version": "0.0.1"}}],
            "timestampVerificationData": {}
        });
        let b = parse_value(&v).unwrap();
        let VerificationMaterial::Keyless(k) = &b.material else {
            panic!("not keyless: {:?}", b.material)
        };
        assert_eq!(k.certificate, [0, 1]);
        // Kept as the exact text found (here: serde_json's rendering of the test value).
        assert_eq!(k.tlog_entries.len(), 1);
        assert_eq!(
            serde_json::from_str::<Value>(&k.tlog_entries[0]).unwrap(),
            v["verificationMaterial"]["tlogEntries"][0]
        );
        assert_eq!(k.timestamp_verification_data.as_deref(), Some("{}"));
        assert_eq!(value(&b)["verificationMaterial"], v["verificationMaterial"]);
        assert_eq!(Bundle::parse(b.to_json().as_bytes()).unwrap(), b);
    }

    #[test]
    fn limits_certificates_and_size() {
        let certs = vec![json!({"rawBytes": "AA=="}); MAX_CERTIFICATES + 1];
        let mut v = value(&key_bundle());
        v["verificationMaterial"] = json!({"x509CertificateChain": {"certificates": certs}});
        assert!(matches!(
            parse_value(&v),
            Err(OmsError::TooMany {
                what: "certificates",
                ..
            })
        ));
        let big = vec![b' '; MAX_BUNDLE_BYTES as usize + 1];
        assert!(matches!(
            Bundle::parse(&big),
            Err(OmsError::TooLarge { what: "bundle", .. })
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_or_skipped_never_a_stack_overflow() {
        let depth = 200_000;
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(Bundle::parse(deep.as_bytes()).is_err());
        for pointer in [
            "/verificationMaterial",
            "/verificationMaterial/publicKey",
            "/dsseEnvelope/signatures",
        ] {
            let mut v = value(&key_bundle());
            *v.pointer_mut(pointer).unwrap() = json!("PLACEHOLDER");
            let text = serde_json::to_string(&v)
                .unwrap()
                .replace("\"PLACEHOLDER\"", &deep);
            assert!(Bundle::parse(text.as_bytes()).is_err(), "{pointer}");
        }
        // Unknown fields and tlog entries are skipped iteratively.
        let mut v = value(&key_bundle());
        v["verificationMaterial"]["tlogEntries"] = json!(["PLACEHOLDER"]);
        let text = serde_json::to_string(&v)
            .unwrap()
            .replace("\"PLACEHOLDER\"", &deep);
        assert_eq!(Bundle::parse(text.as_bytes()).unwrap(), key_bundle());
    }

    #[test]
    fn arrays_in_place_of_objects_are_refused() {
        let v = value(&key_bundle());
        let as_array = |o: &Value| Value::Array(o.as_object().unwrap().values().cloned().collect());
        for pointer in [
            "",
            "/verificationMaterial",
            "/verificationMaterial/publicKey",
            "/dsseEnvelope",
            "/dsseEnvelope/signatures/0",
        ] {
            let mut w = v.clone();
            let target = w.pointer_mut(pointer).unwrap();
            *target = as_array(target);
            assert!(parse_value(&w).is_err(), "{pointer:?} accepted as an array");
        }
    }

    #[test]
    fn accepts_surrounding_whitespace_only() {
        let text = format!(" \n{}\n", key_bundle().to_json());
        assert_eq!(Bundle::parse(text.as_bytes()).unwrap(), key_bundle());
        assert!(Bundle::parse(format!("{}x", key_bundle().to_json()).as_bytes()).is_err());
    }
}
