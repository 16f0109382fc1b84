//! The in-toto statement v1 with the model_signing v1.0 predicate: the JSON document an OMS
//! signature covers, mapped to and from [`Statement`].
//!
//! Writing produces one compact line whose field names and structure are those model-signing 1.1.1
//! writes and reads (`ignore_paths` only when non-empty, `shard_size` as a JSON integer and only for
//! shards). Reading accepts what 1.1.1 writes (pretty-printed JSON in any key order, `shard_size` as
//! a float such as `1000000000.0`) and applies the OMS v1.0 schemas' strictness
//! (`schemas/v1.0/statement.schema.json`, `predicate.schema.json`): an unknown field of the
//! statement, of the predicate or of `serialization` is refused, `method` and `hash_type` are
//! closed enums, `shard_size` is required for shards and absent for files. Subjects and resource
//! descriptors keep allowing extra fields (in-toto annotations, `uri`, …), as the schemas do. A
//! known field given twice is refused (a JSON parser differential). Then every check of
//! [`super::check`] runs. Nothing here compares JSON text.
//!
//! The deprecated v0.2 layout (`predicateType` `https://model_signing/Digests/v0.1`: one subject
//! per file, no `serialization`) is read too, as OMS v1.0 §11.2 allows, into a files/SHA-256
//! statement ([`PredicateKind::DigestsV0_1`]); it is never written.

use super::json::{self, Obj};
use super::{
    check_size, malformed, OmsError, MAX_PAYLOAD_BYTES, MAX_SHARD_SIZE, PREDICATE_TYPE,
    STATEMENT_TYPE,
};
use crate::digest::{HashAlgorithm, Method, Resource, SerializationConfig};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// `predicateType` of model-signing v0.2.0's format: one subject per file, no serialization record
/// (OMS v1.0 §5.1, §11). Read, never written.
pub const PREDICATE_TYPE_DIGESTS_V0_1: &str = "https://model_signing/Digests/v0.1";

/// Which predicate a statement was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredicateKind {
    /// `https://model_signing/signature/v1.0`: what every signer since model-signing 0.3 writes,
    /// and the only kind modelseal writes.
    SignatureV1_0,
    /// `https://model_signing/Digests/v0.1` (model-signing v0.2.0): the files, SHA-256 each, are
    /// the subjects; there is no signed root digest (the statement's is computed from the files
    /// in listed order), no model name (read as empty) and no recorded serialization: files,
    /// SHA-256, symlinks refused and no ignore paths beyond the defaults are assumed.
    DigestsV0_1,
}

/// The signed statement: a model name, its root digest, and how it was serialized and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Informative model name (basename of the model path).
    pub subject_name: String,
    /// SHA-256 over the raw resource digests in `resources` order.
    pub root_digest: [u8; 32],
    /// The serialization recorded in the predicate.
    pub serialization: SerializationConfig,
    /// Resources in the order they were signed.
    pub resources: Vec<Resource>,
    /// The predicate it was read from; [`Statement::new`] makes [`PredicateKind::SignatureV1_0`],
    /// and [`Statement::to_json`] always writes that.
    pub kind: PredicateKind,
}

impl Statement {
    /// Builds a statement, computing the root digest from `resources`.
    ///
    /// Nothing is validated here; [`Statement::check`] says whether the result is what
    /// [`Statement::parse`] would accept, and a signer should call it before signing.
    pub fn new(
        subject_name: String,
        serialization: SerializationConfig,
        resources: Vec<Resource>,
    ) -> Statement {
        let root_digest = root_digest(&resources);
        Statement {
            subject_name,
            root_digest,
            serialization,
            resources,
            kind: PredicateKind::SignatureV1_0,
        }
    }

    /// Compact JSON bytes accepted by model-signing 1.1.1 (the DSSE payload).
    pub fn to_json(&self) -> Vec<u8> {
        let out = StatementOut::from(self);
        // Serializing plain structs of strings, bools and integers into memory cannot fail.
        serde_json::to_vec(&out).unwrap_or_default()
    }

    /// Parses and checks a DSSE payload: `_type`, `predicateType`, no unknown field in the
    /// statement, predicate or serialization, exactly one subject with a sha256 digest, a known
    /// serialization (accepting 1.1.1's float `shard_size`), at least one resource, well-formed
    /// resources (valid hex, safe relative names, no duplicates), and the root digest. A v0.2
    /// (`Digests/v0.1`) payload is read as described in the module documentation.
    pub fn parse(payload: &[u8]) -> Result<Statement, OmsError> {
        check_size("statement", payload.len(), MAX_PAYLOAD_BYTES)?;
        let shape = |e: serde_json::Error| {
            malformed(format!(
                "statement is not valid JSON of the expected shape: {e}"
            ))
        };
        // Two passes: the type fields first (everything else skipped without allocating), so
        // a statement of another kind is refused for its type, not for a missing field.
        let kind = json::from_slice::<HeaderIn>(payload)
            .map_err(shape)?
            .check()?;
        let statement = match kind {
            PredicateKind::SignatureV1_0 => json::from_slice::<StatementIn>(payload)
                .map_err(shape)?
                .into_statement()?,
            PredicateKind::DigestsV0_1 => json::from_slice::<DigestsStatementIn>(payload)
                .map_err(shape)?
                .into_statement()?,
        };
        statement.check()?;
        Ok(statement)
    }
}

pub use crate::digest::root_digest;

/// The predicate a payload declares (after its `_type`), without reading the rest; `None` when
/// it is not a statement of either kind.
pub(crate) fn predicate_kind(payload: &[u8]) -> Option<PredicateKind> {
    check_size("statement", payload.len(), MAX_PAYLOAD_BYTES).ok()?;
    json::from_slice::<HeaderIn>(payload).ok()?.check().ok()
}

/// The `hash_type` names of the predicate. Exact spellings only: 1.1.1 writes `blake2b`, and its
/// API alias `blake2` never reaches a signature.
fn hash_from_name(name: &str) -> Option<HashAlgorithm> {
    [
        HashAlgorithm::Sha256,
        HashAlgorithm::Blake2b,
        HashAlgorithm::Blake3,
    ]
    .into_iter()
    .find(|h| h.name() == name)
}

// ---- writing -------------------------------------------------------------------------------

/// The statement as written; field order follows 1.1.1's output for easy reading side by side.
#[derive(Serialize)]
struct StatementOut<'a> {
    #[serde(rename = "_type")]
    type_: &'static str,
    subject: [SubjectOut<'a>; 1],
    #[serde(rename = "predicateType")]
    predicate_type: &'static str,
    predicate: PredicateOut<'a>,
}

#[derive(Serialize)]
struct SubjectOut<'a> {
    name: &'a str,
    digest: DigestSetOut,
}

#[derive(Serialize)]
struct DigestSetOut {
    sha256: String,
}

#[derive(Serialize)]
struct PredicateOut<'a> {
    serialization: SerializationOut<'a>,
    resources: Vec<ResourceOut<'a>>,
}

#[derive(Serialize)]
struct SerializationOut<'a> {
    method: &'static str,
    hash_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    shard_size: Option<u64>,
    allow_symlinks: bool,
    // 1.1.1 writes the key only when the list is non-empty; an absent key reads back as empty.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    ignore_paths: &'a [String],
}

#[derive(Serialize)]
struct ResourceOut<'a> {
    name: &'a str,
    algorithm: &'a str,
    digest: String,
}

impl<'a> From<&'a Statement> for StatementOut<'a> {
    fn from(s: &'a Statement) -> Self {
        let config = &s.serialization;
        let (method, shard_size) = match config.method {
            Method::Files => ("files", None),
            Method::Shards { shard_size } => ("shards", Some(shard_size)),
        };
        StatementOut {
            type_: STATEMENT_TYPE,
            subject: [SubjectOut {
                name: &s.subject_name,
                digest: DigestSetOut {
                    sha256: hex::encode(s.root_digest),
                },
            }],
            predicate_type: PREDICATE_TYPE,
            predicate: PredicateOut {
                serialization: SerializationOut {
                    method,
                    hash_type: config.hash.name(),
                    shard_size,
                    allow_symlinks: config.allow_symlinks,
                    ignore_paths: &config.ignore_paths,
                },
                resources: s
                    .resources
                    .iter()
                    .map(|r| ResourceOut {
                        name: &r.name,
                        algorithm: &r.algorithm,
                        digest: hex::encode(&r.digest),
                    })
                    .collect(),
            },
        }
    }
}

// ---- reading -------------------------------------------------------------------------------
// Unknown fields are refused in the statement, the predicate and `serialization`
// (`additionalProperties: false` in the v1.0 schemas), and ignored in subjects, digest sets and
// resource descriptors (in-toto lets those grow; the schemas allow it). Known fields are typed, so
// `"allow_symlinks": "false"` or a number where a string belongs is an error, and a known key given
// twice is an error.

#[derive(Deserialize)]
struct HeaderIn {
    #[serde(rename = "_type")]
    type_: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatementIn {
    // Checked by `HeaderIn`; named here so that they are not unknown.
    #[serde(rename = "_type")]
    _type: IgnoredAny,
    #[serde(rename = "predicateType")]
    _predicate_type: IgnoredAny,
    subject: Vec<Obj<SubjectIn>>,
    predicate: Obj<PredicateIn>,
}

#[derive(Deserialize)]
struct SubjectIn {
    name: String,
    digest: Obj<DigestSetIn>,
}

#[derive(Deserialize)]
struct DigestSetIn {
    sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PredicateIn {
    serialization: Obj<SerializationIn>,
    resources: Vec<Obj<ResourceIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SerializationIn {
    method: String,
    hash_type: String,
    allow_symlinks: bool,
    #[serde(default)]
    ignore_paths: Vec<String>,
    #[serde(default)]
    shard_size: Option<serde_json::Number>,
}

#[derive(Deserialize)]
struct ResourceIn {
    name: String,
    algorithm: String,
    digest: String,
}

/// The v0.2 statement: only the subjects carry content (the predicate is a placeholder).
#[derive(Deserialize)]
struct DigestsStatementIn {
    subject: Vec<Obj<DigestsSubjectIn>>,
}

#[derive(Deserialize)]
struct DigestsSubjectIn {
    name: String,
    digest: Obj<DigestSetIn>,
    #[serde(default)]
    annotations: Option<Obj<AnnotationsIn>>,
}

#[derive(Deserialize)]
struct AnnotationsIn {
    actual_hash_algorithm: Option<String>,
}

impl HeaderIn {
    /// Checks the type fields in the order 1.1.1 does; says which predicate follows.
    fn check(self) -> Result<PredicateKind, OmsError> {
        if self.type_ != STATEMENT_TYPE {
            return Err(malformed(format!(
                "statement _type is {:?}, expected {STATEMENT_TYPE:?}",
                self.type_
            )));
        }
        match self.predicate_type.as_str() {
            PREDICATE_TYPE => Ok(PredicateKind::SignatureV1_0),
            PREDICATE_TYPE_DIGESTS_V0_1 => Ok(PredicateKind::DigestsV0_1),
            other => Err(malformed(format!(
                "predicateType is {:?}, expected {PREDICATE_TYPE:?}",
                super::check::shown(other)
            ))),
        }
    }
}

impl StatementIn {
    /// Converts the typed content: one subject, the serialization, the resources.
    fn into_statement(self) -> Result<Statement, OmsError> {
        let [Obj(subject)] = <[Obj<SubjectIn>; 1]>::try_from(self.subject).map_err(|s| {
            malformed(format!(
                "statement has {} subjects, expected exactly one",
                s.len()
            ))
        })?;
        let Obj(predicate) = self.predicate;
        let root_digest = subject_digest(subject.digest.0)?;
        let serialization = predicate.serialization.0.into_config()?;
        let resources = predicate
            .resources
            .into_iter()
            .enumerate()
            .map(ResourceIn::into_resource)
            .collect::<Result<_, _>>()?;
        Ok(Statement {
            subject_name: subject.name,
            root_digest,
            serialization,
            resources,
            kind: PredicateKind::SignatureV1_0,
        })
    }
}

/// The only per-file algorithm of v0.2 statements that a v1.0 serialization can express.
const V0_1_FILE_SHA256: &str = "file-sha256";

impl DigestsStatementIn {
    /// One SHA-256 resource per subject, in listed order; what model-signing 1.1.1 reads from it.
    fn into_statement(self) -> Result<Statement, OmsError> {
        let resources = self
            .subject
            .into_iter()
            .enumerate()
            .map(|(index, Obj(s))| {
                let algorithm = s
                    .annotations
                    .and_then(|Obj(a)| a.actual_hash_algorithm)
                    .unwrap_or_else(|| V0_1_FILE_SHA256.to_string());
                if algorithm != V0_1_FILE_SHA256 {
                    return Err(malformed(format!(
                        "subject {index} ({:?}): v0.2 hash algorithm {:?} is not supported (only {V0_1_FILE_SHA256:?})",
                        super::check::shown(&s.name),
                        super::check::shown(&algorithm)
                    )));
                }
                Ok(Resource {
                    digest: subject_digest(s.digest.0)?.to_vec(),
                    name: s.name,
                    algorithm: HashAlgorithm::Sha256.name().to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let serialization = SerializationConfig {
            method: Method::Files,
            hash: HashAlgorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: Vec::new(),
        };
        Ok(Statement {
            kind: PredicateKind::DigestsV0_1,
            ..Statement::new(String::new(), serialization, resources)
        })
    }
}

/// The subject's `digest.sha256`: exactly 32 bytes of hex (either case).
fn subject_digest(set: DigestSetIn) -> Result<[u8; 32], OmsError> {
    let text = set
        .sha256
        .ok_or_else(|| malformed("subject digest has no sha256 entry"))?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(&text, &mut out).map_err(|_| {
        malformed(format!(
            "subject sha256 digest {:?} is not 64 hex digits",
            super::check::shown(&text)
        ))
    })?;
    Ok(out)
}

impl SerializationIn {
    fn into_config(self) -> Result<SerializationConfig, OmsError> {
        let hash = hash_from_name(&self.hash_type).ok_or_else(|| {
            malformed(format!(
                "unknown hash_type {:?} (expected sha256, blake2b or blake3)",
                self.hash_type
            ))
        })?;
        let method = match (self.method.as_str(), self.shard_size) {
            ("files", None) => Method::Files,
            ("files", Some(_)) => {
                return Err(malformed(
                    "serialization method \"files\" must not carry a shard_size",
                ))
            }
            ("shards", Some(n)) => Method::Shards {
                shard_size: shard_size(&n)?,
            },
            ("shards", None) => {
                return Err(malformed(
                    "serialization method \"shards\" has no shard_size",
                ))
            }
            (other, _) => {
                return Err(malformed(format!(
                    "unknown serialization method {other:?} (expected files or shards)"
                )))
            }
        };
        Ok(SerializationConfig {
            method,
            hash,
            allow_symlinks: self.allow_symlinks,
            ignore_paths: self.ignore_paths,
        })
    }
}

/// Reads `shard_size` as an integer, or as a float with an integral value (1.1.1 writes
/// `1000000000.0`), within `1..=MAX_SHARD_SIZE`.
fn shard_size(n: &serde_json::Number) -> Result<u64, OmsError> {
    let value = match n.as_u64() {
        Some(v) => Some(v),
        // Every float in (0, 2^53] with no fraction is an exact integer, so the cast is lossless.
        None => n
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 1.0 && *f <= MAX_SHARD_SIZE as f64)
            .map(|f| f as u64),
    };
    match value {
        Some(v) if (1..=MAX_SHARD_SIZE).contains(&v) => Ok(v),
        _ => Err(malformed(format!(
            "shard_size {n} is not an integer between 1 and {MAX_SHARD_SIZE}"
        ))),
    }
}

impl ResourceIn {
    fn into_resource((index, Obj(r)): (usize, Obj<ResourceIn>)) -> Result<Resource, OmsError> {
        // Length is checked against the algorithm later; here only "is it hex at all".
        let digest = hex::decode(&r.digest).map_err(|_| {
            malformed(format!(
                "resource {index} ({:?}): digest {:?} is not hex",
                super::check::shown(&r.name),
                super::check::shown(&r.digest)
            ))
        })?;
        Ok(Resource {
            name: r.name,
            algorithm: r.algorithm,
            digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use sha2::{Digest, Sha256};

    /// A named change to a valid document.
    type Edit = fn(&mut Value);

    fn sha(data: &[u8]) -> Vec<u8> {
        Sha256::digest(data).to_vec()
    }

    fn files_config() -> SerializationConfig {
        SerializationConfig {
            method: Method::Files,
            hash: HashAlgorithm::Sha256,
            allow_symlinks: false,
            ignore_paths: vec![],
        }
    }

    fn sample() -> Statement {
        Statement::new(
            "model".into(),
            files_config(),
            vec![
                Resource {
                    name: "a.txt".into(),
                    algorithm: "sha256".into(),
                    digest: sha(b"hello"),
                },
                Resource {
                    name: "sub/b.bin".into(),
                    algorithm: "sha256".into(),
                    digest: sha(b"world\n"),
                },
            ],
        )
    }

    fn to_value(s: &Statement) -> Value {
        serde_json::from_slice(&s.to_json()).unwrap()
    }

    fn reparse(v: &Value) -> Result<Statement, OmsError> {
        Statement::parse(&serde_json::to_vec(v).unwrap())
    }

    fn message(r: Result<Statement, OmsError>) -> String {
        r.expect_err("must be rejected").to_string()
    }

    #[test]
    fn root_digest_is_sha256_of_concatenated_raw_digests() {
        // Cross-checked with: python3 -c "import hashlib as h; print(h.sha256(h.sha256(b'hello').digest()
        //   + h.sha256(b'world\n').digest()).hexdigest())"
        assert_eq!(
            hex::encode(sample().root_digest),
            "dea51b5e273d0ae95d1e73d2831350bf98502b2ce74a81de43f8619e78025b0b"
        );
        let mut concat = sha(b"hello");
        concat.extend(sha(b"world\n"));
        assert_eq!(sample().root_digest.to_vec(), sha(&concat));
    }

    #[test]
    fn empty_resource_list_hashes_nothing() {
        let s = Statement::new("m".into(), files_config(), vec![]);
        assert_eq!(s.root_digest.to_vec(), sha(b""));
    }

    #[test]
    fn writes_the_exact_compact_shape() {
        let text = String::from_utf8(sample().to_json()).unwrap();
        let root = hex::encode(sample().root_digest);
        let expected = format!(
            concat!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"name":"model","digest":{{"sha256":"{}"}}}}],"#,
                r#""predicateType":"https://model_signing/signature/v1.0","predicate":{{"serialization":{{"method":"files","#,
                r#""hash_type":"sha256","allow_symlinks":false}},"resources":[{{"name":"a.txt","algorithm":"sha256","digest":"{}"}},"#,
                r#"{{"name":"sub/b.bin","algorithm":"sha256","digest":"{}"}}]}}}}"#
            ),
            root,
            hex::encode(sha(b"hello")),
            hex::encode(sha(b"world\n"))
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn writes_ignore_paths_only_when_non_empty_and_shard_size_as_integer() {
        let mut s = sample();
        s.serialization.ignore_paths = vec![".git".into(), "model.sig".into()];
        s.serialization.method = Method::Shards {
            shard_size: 1_000_000_000,
        };
        for r in &mut s.resources {
            r.name.push_str(":0:5");
            r.algorithm = "sha256-sharded-1000000000".into();
        }
        let v = to_value(&s);
        let ser = &v["predicate"]["serialization"];
        assert_eq!(ser["ignore_paths"], json!([".git", "model.sig"]));
        assert!(
            ser["shard_size"].is_u64(),
            "shard_size must be an integer: {ser}"
        );
        assert_eq!(ser["shard_size"], json!(1_000_000_000u64));
        assert!(to_value(&sample())["predicate"]["serialization"]
            .get("ignore_paths")
            .is_none());
        assert!(to_value(&sample())["predicate"]["serialization"]
            .get("shard_size")
            .is_none());
    }

    #[test]
    fn round_trips() {
        let s = sample();
        assert_eq!(Statement::parse(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn reads_pretty_printed_reordered_json_with_float_shard_size() {
        // The shape 1.1.1 emits for shards: pretty, predicate keys reordered, shard_size a float.
        let d0 = sha(b"hell");
        let d1 = sha(b"o");
        let mut concat = d0.clone();
        concat.extend(&d1);
        let payload = json!({
            "predicate": {
                "resources": [
                    {"digest": hex::encode(&d0), "algorithm": "sha256-sharded-4", "name": "a.txt:0:4"},
                    {"name": "a.txt:4:5", "digest": hex::encode(&d1), "algorithm": "sha256-sharded-4"}
                ],
                "serialization": {"shard_size": 4.0, "allow_symlinks": false, "hash_type": "sha256", "method": "shards",
                                  "ignore_paths": [".git"]}
            },
            "predicateType": PREDICATE_TYPE,
            "subject": [{"digest": {"sha256": hex::encode(sha(&concat))}, "name": "m"}],
            "_type": STATEMENT_TYPE
        });
        let text = serde_json::to_string_pretty(&payload).unwrap();
        let s = Statement::parse(text.as_bytes()).unwrap();
        assert_eq!(s.serialization.method, Method::Shards { shard_size: 4 });
        assert_eq!(s.serialization.ignore_paths, vec![".git".to_string()]);
        assert_eq!(s.resources[1].name, "a.txt:4:5");
        assert_eq!(s.resources[1].digest, d1);
    }

    #[test]
    fn accepts_uppercase_hex_and_normalizes_on_write() {
        let mut v = to_value(&sample());
        let up = |x: &Value| Value::String(x.as_str().unwrap().to_ascii_uppercase());
        v["subject"][0]["digest"]["sha256"] = up(&v["subject"][0]["digest"]["sha256"]);
        v["predicate"]["resources"][0]["digest"] = up(&v["predicate"]["resources"][0]["digest"]);
        assert_eq!(reparse(&v).unwrap(), sample());
    }

    #[test]
    fn extra_fields_are_read_where_the_schemas_allow_them() {
        // Subjects, digest sets and resource descriptors may grow (in-toto annotations, uri, …).
        let mut v = to_value(&sample());
        v["subject"][0]["annotations"] = json!({"k": "v"});
        v["subject"][0]["digest"]["sha512"] = json!("00");
        v["predicate"]["resources"][1]["uri"] = json!("x");
        v["predicate"]["resources"][0]["annotations"] = json!({"nested": [1, 2, 3]});
        assert_eq!(reparse(&v).unwrap(), sample());
    }

    #[test]
    fn unknown_fields_of_the_statement_predicate_and_serialization_are_refused() {
        // `additionalProperties: false` in schemas/v1.0/statement.schema.json and
        // predicate.schema.json (predicate and serialization).
        let cases: Vec<(&str, Edit)> = vec![
            ("extra", |v| v["extra"] = json!(1)),
            ("model_card", |v| {
                v["predicate"]["model_card"] = json!({"nested": [1, 2, 3]})
            }),
            ("future", |v| {
                v["predicate"]["serialization"]["future"] = json!(true)
            }),
        ];
        for (field, edit) in cases {
            let mut v = to_value(&sample());
            edit(&mut v);
            let msg = message(reparse(&v));
            assert!(
                msg.contains(&format!("unknown field `{field}`")),
                "{field}: {msg}"
            );
        }
    }

    #[test]
    fn reads_the_v0_2_digests_predicate_as_files_sha256() {
        // The shape of model-signing v0.2.0's statements (test-vectors/oms-unit/upstream/
        // v0.2.0-certificate.sig): one subject per file, a placeholder predicate.
        let (a, b) = (sha(b"hello"), sha(b"world\n"));
        let payload = json!({
            "_type": STATEMENT_TYPE,
            "subject": [
                {"name": "a.txt", "digest": {"sha256": hex::encode(&a)},
                 "annotations": {"actual_hash_algorithm": "file-sha256"}},
                {"name": "sub/b.bin", "digest": {"sha256": hex::encode(&b)}}
            ],
            "predicateType": PREDICATE_TYPE_DIGESTS_V0_1,
            "predicate": {"unused": "Unused, just passed due to API requirements"}
        });
        let s = reparse(&payload).unwrap();
        assert_eq!(s.kind, PredicateKind::DigestsV0_1);
        assert_eq!(s.subject_name, "");
        assert_eq!(s.serialization, files_config());
        assert_eq!(s.resources, sample().resources);
        assert_eq!(s.root_digest, sample().root_digest);
        // Written back, it is a v1.0 statement: v0.1 is never produced.
        assert_eq!(
            Statement::parse(&s.to_json()).unwrap().kind,
            PredicateKind::SignatureV1_0
        );

        let mut other = payload.clone();
        other["subject"][0]["annotations"]["actual_hash_algorithm"] = json!("file-blake2");
        assert!(message(reparse(&other)).contains("file-blake2"));
        let mut unsafe_name = payload.clone();
        unsafe_name["subject"][0]["name"] = json!("../x");
        assert!(message(reparse(&unsafe_name)).contains("'..'"));
        let mut none = payload.clone();
        none["subject"] = json!([]);
        assert!(matches!(reparse(&none), Err(OmsError::NoResources)));
        let mut bad_digest = payload;
        bad_digest["subject"][1]["digest"] = json!({"sha512": "00"});
        assert!(message(reparse(&bad_digest)).contains("sha256"));
    }

    #[test]
    fn a_statement_without_resources_is_refused() {
        let mut v = to_value(&sample());
        v["predicate"]["resources"] = json!([]);
        v["subject"][0]["digest"]["sha256"] = json!(hex::encode(sha(b"")));
        assert!(matches!(reparse(&v), Err(OmsError::NoResources)));
    }

    #[test]
    fn rejects_wrong_types_and_missing_fields() {
        let cases: Vec<(&str, Edit)> = vec![
            ("_type", |v| {
                v["_type"] = json!("https://in-toto.io/Statement/v0.1")
            }),
            ("predicateType", |v| {
                v["predicateType"] = json!("https://example/other")
            }),
            ("subjects", |v| v["subject"] = json!([])),
            ("subjects", |v| {
                let s = v["subject"][0].clone();
                v["subject"].as_array_mut().unwrap().push(s)
            }),
            ("no sha256", |v| {
                v["subject"][0]["digest"] = json!({"sha512": "00"})
            }),
            ("64 hex", |v| {
                v["subject"][0]["digest"]["sha256"] = json!("abcd")
            }),
            ("64 hex", |v| {
                v["subject"][0]["digest"]["sha256"] = json!("zz".repeat(32))
            }),
            ("predicate", |v| {
                v.as_object_mut()
                    .unwrap()
                    .remove("predicate")
                    .map(drop)
                    .unwrap()
            }),
            ("method", |v| {
                v["predicate"]["serialization"]["method"] = json!("tensors")
            }),
            ("hash_type", |v| {
                v["predicate"]["serialization"]["hash_type"] = json!("md5")
            }),
            ("hash_type", |v| {
                v["predicate"]["serialization"]["hash_type"] = json!("blake2")
            }),
            ("hash_type", |v| {
                v["predicate"]["serialization"]["hash_type"] = json!("SHA256")
            }),
            ("allow_symlinks", |v| {
                v["predicate"]["serialization"]["allow_symlinks"] = json!("false")
            }),
            ("allow_symlinks", |v| {
                v["predicate"]["serialization"]
                    .as_object_mut()
                    .unwrap()
                    .remove("allow_symlinks")
                    .map(drop)
                    .unwrap()
            }),
            ("ignore_paths", |v| {
                v["predicate"]["serialization"]["ignore_paths"] = json!(null)
            }),
            ("ignore_paths", |v| {
                v["predicate"]["serialization"]["ignore_paths"] = json!([1])
            }),
            ("shard_size", |v| {
                v["predicate"]["serialization"]["shard_size"] = json!(4)
            }),
            ("resources", |v| v["predicate"]["resources"] = json!({})),
            ("not hex", |v| {
                v["predicate"]["resources"][0]["digest"] = json!("xyz")
            }),
            ("not hex", |v| {
                v["predicate"]["resources"][0]["digest"] = json!("abc")
            }),
            ("digest", |v| {
                v["predicate"]["resources"][0]["digest"] = json!(null)
            }),
            ("name", |v| {
                v["predicate"]["resources"][0]["name"] = json!(7)
            }),
        ];
        for (needle, edit) in cases {
            let mut v = to_value(&sample());
            edit(&mut v);
            let msg = message(reparse(&v));
            assert!(
                msg.contains(needle) || msg.contains("expected") || msg.contains("missing field"),
                "{needle}: unhelpful message {msg}"
            );
        }
    }

    #[test]
    fn rejects_duplicate_known_keys() {
        // Python's json keeps the last duplicate; a strict reader refuses to guess.
        let root = hex::encode(sample().root_digest);
        let text = String::from_utf8(sample().to_json()).unwrap().replacen(
            &format!(r#""sha256":"{root}""#),
            &format!(r#""sha256":"{root}","sha256":"{root}""#),
            1,
        );
        assert!(message(Statement::parse(text.as_bytes())).contains("duplicate field"));
    }

    #[test]
    fn shard_size_accepts_integral_floats_only() {
        let ok = |t: &str| shard_size(&serde_json::from_str::<serde_json::Number>(t).unwrap());
        assert_eq!(ok("4").unwrap(), 4);
        assert_eq!(ok("1000000000.0").unwrap(), 1_000_000_000);
        assert_eq!(ok("1e9").unwrap(), 1_000_000_000);
        assert_eq!(ok("9007199254740992").unwrap(), MAX_SHARD_SIZE);
        assert_eq!(ok("9007199254740992.0").unwrap(), MAX_SHARD_SIZE);
        for bad in [
            "0",
            "0.0",
            "-0.0",
            "-4",
            "4.5",
            "1e300",
            "9007199254740993",
            "18446744073709551616",
        ] {
            assert!(ok(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn rejects_oversized_payload_before_parsing() {
        let big = vec![b' '; MAX_PAYLOAD_BYTES as usize + 1];
        assert!(matches!(
            Statement::parse(&big),
            Err(OmsError::TooLarge {
                what: "statement",
                ..
            })
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_or_skipped_never_a_stack_overflow() {
        let depth = 200_000;
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let objects = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        for deep in [&arrays, &objects] {
            // The whole document, and every typed position, refuses the nesting at its first level.
            assert!(Statement::parse(deep.as_bytes()).is_err());
            for pointer in [
                "/subject",
                "/subject/0/digest",
                "/predicate",
                "/predicate/serialization",
                "/predicate/serialization/hash_type",
                "/predicate/resources/0",
            ] {
                let mut v = to_value(&sample());
                *v.pointer_mut(pointer).unwrap() = json!("PLACEHOLDER");
                let text = serde_json::to_string(&v)
                    .unwrap()
                    .replace("\"PLACEHOLDER\"", deep);
                assert!(Statement::parse(text.as_bytes()).is_err(), "{pointer}");
            }
            // An unknown field where extras are allowed is skipped iteratively (serde_json keeps
            // one byte per level), so deep junk there costs memory proportional to its size and
            // nothing else; where they are not, it is refused at its name.
            let mut v = to_value(&sample());
            v["predicate"]["resources"][0]["junk"] = json!("PLACEHOLDER");
            let text = serde_json::to_string(&v)
                .unwrap()
                .replace("\"PLACEHOLDER\"", deep);
            assert_eq!(Statement::parse(text.as_bytes()).unwrap(), sample());
            let mut text = String::from_utf8(sample().to_json()).unwrap();
            text.insert_str(1, &format!(r#""junk":{deep},"#));
            assert!(message(Statement::parse(text.as_bytes())).contains("unknown field `junk`"));
        }
    }

    #[test]
    fn arrays_in_place_of_objects_are_refused() {
        let v = to_value(&sample());
        let as_array = |o: &Value| Value::Array(o.as_object().unwrap().values().cloned().collect());
        for pointer in [
            "",
            "/subject/0",
            "/subject/0/digest",
            "/predicate",
            "/predicate/serialization",
            "/predicate/resources/1",
        ] {
            let mut w = v.clone();
            let target = w.pointer_mut(pointer).unwrap();
            *target = as_array(target);
            assert!(reparse(&w).is_err(), "{pointer:?} accepted as an array");
        }
    }

    #[test]
    fn rejects_trailing_garbage_bom_and_non_json() {
        let mut t = sample().to_json();
        t.extend_from_slice(b"x");
        assert!(Statement::parse(&t).is_err());
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(sample().to_json());
        assert!(Statement::parse(&bom).is_err());
        assert!(Statement::parse(b"").is_err());
        assert!(Statement::parse(b"null").is_err());
        assert!(Statement::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn root_digest_mismatch_has_its_own_error() {
        let mut v = to_value(&sample());
        v["predicate"]["resources"][0]["digest"] = json!(hex::encode(sha(b"other")));
        assert!(matches!(
            reparse(&v),
            Err(OmsError::RootDigestMismatch { .. })
        ));
        let mut v = to_value(&sample());
        let r = v["predicate"]["resources"][0].clone();
        v["predicate"]["resources"][0] = v["predicate"]["resources"][1].clone();
        v["predicate"]["resources"][1] = r;
        assert!(
            matches!(reparse(&v), Err(OmsError::RootDigestMismatch { .. })),
            "order is signed"
        );
    }
}
