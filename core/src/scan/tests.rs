//! A positive and a negative test per rule, with documented example credentials (AWS's
//! `AKIAIOSFODNN7EXAMPLE`, Azurite's published account key, jwt.io's example token) or ones
//! generated here; and the format-aware walk (metadata searched, payloads not).

use super::*;
use sha2::{Digest, Sha256};

/// `n` characters of `alphabet`, derived from `seed`: shaped like a credential, valid for none.
pub(crate) fn generated(seed: &str, alphabet: &[u8], n: usize) -> String {
    let mut out = String::new();
    let mut block = Sha256::digest(seed.as_bytes());
    while out.len() < n {
        for b in block.iter() {
            if out.len() < n {
                out.push(alphabet[*b as usize % alphabet.len()] as char);
            }
        }
        block = Sha256::digest(block);
    }
    out
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn rules_in(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = rules::rules()
        .find(text.as_bytes())
        .into_iter()
        .map(|h| rules::rules().rules[h.rule].id.clone())
        .collect();
    ids.dedup();
    ids
}

fn assert_finds(rule: &str, text: &str) {
    assert_eq!(rules_in(text), [rule], "{rule} should match {text:?}");
}

fn assert_clean(text: &str) {
    assert_eq!(rules_in(text), Vec::<String>::new(), "{text:?}");
}

fn pem_private_key() -> String {
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    let key = p256::SecretKey::random(&mut rand_core::OsRng);
    key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
}

#[test]
fn private_key() {
    assert_finds("private-key", &format!("notes\n{}", pem_private_key()));
    let rsa_header = format!(
        "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
        generated("rsa", B64, 64)
    );
    assert_finds("private-key", &rsa_header);
    // A header alone (documentation, code that parses keys) and a certificate are not keys.
    assert_clean("if line == \"-----BEGIN PRIVATE KEY-----\":\n    parse()\n");
    assert_clean(&format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        generated("cert", B64, 64)
    ));
}

#[test]
fn aws_access_key_id() {
    assert_finds(
        "aws-access-key-id",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
    );
    assert_finds(
        "aws-access-key-id",
        &format!("\"key\": \"ASIA{}\"", generated("asia", UPPER_DIGITS, 16)),
    );
    assert_clean("AKIA is the prefix of long-term keys; AKIAIOSFODNN7 is too short\n");
    assert_clean("XAKIAIOSFODNN7EXAMPLEX\n");
}

#[test]
fn aws_secret_access_key() {
    assert_finds(
        "aws-secret-access-key",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    );
    assert_finds(
        "aws-secret-access-key",
        &format!(
            "\"SecretAccessKey\": \"{}\"",
            generated("aws-secret", B64, 40)
        ),
    );
    assert_clean("aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}\n");
}

#[test]
fn gcp_service_account_key() {
    let json = format!(
        r#"{{"type": "service_account", "project_id": "example", "private_key": "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n"}}"#,
        generated("gcp", B64, 64)
    );
    assert_finds("gcp-service-account-key", &json);
    assert_clean(r#"{"type": "service_account", "private_key": ""}"#);
}

#[test]
fn azure_storage_connection_string() {
    // Azurite's well-known development account key (published in Microsoft's docs).
    assert_finds(
        "azure-storage-connection-string",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
    );
    assert_finds(
        "azure-storage-connection-string",
        &format!(
            "AccountName=models;AccountKey={}==",
            generated("azure", B64, 86)
        ),
    );
    assert_clean("DefaultEndpointsProtocol=https;AccountName=models;AccountKey=<your key>;");
}

#[test]
fn github_token() {
    assert_finds(
        "github-token",
        &format!("token: ghp_{}\n", generated("ghp", ALNUM, 36)),
    );
    assert_finds(
        "github-token",
        &format!(
            "github_pat_{}_{}",
            generated("pat1", ALNUM, 22),
            generated("pat2", ALNUM, 59)
        ),
    );
    assert_clean("see https://github.com/settings/tokens for a ghp_ token\n");
}

#[test]
fn huggingface_token() {
    assert_finds(
        "huggingface-token",
        &format!("HfApi(token=\"hf_{}\")", generated("hf", ALNUM, 34)),
    );
    assert_clean("hf_hub_download(repo_id=\"gpt2\", filename=\"config.json\")\n");
    assert_clean("hf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"); // low entropy
}

#[test]
fn openai_api_key() {
    assert_finds(
        "openai-api-key",
        &format!(
            "OpenAI(api_key=\"sk-proj-{}T3BlbkFJ{}\")",
            generated("oa1", ALNUM, 20),
            generated("oa2", ALNUM, 20)
        ),
    );
    assert_clean("sk-learn is not a key; sk-proj-... is a placeholder\n");
}

#[test]
fn slack_token() {
    assert_finds(
        "slack-token",
        &format!(
            "xoxb-{}-{}",
            generated("slack1", b"0123456789", 12),
            generated("slack2", ALNUM, 24)
        ),
    );
    assert_finds(
        "slack-token",
        &format!(
            "https://hooks.slack.com/services/T{}/B{}/{}",
            generated("t", UPPER_DIGITS, 8),
            generated("b", UPPER_DIGITS, 8),
            generated("w", ALNUM, 24)
        ),
    );
    assert_clean("xoxb-your-token-here\n");
}

#[test]
fn jwt() {
    // jwt.io's example token.
    assert_finds(
        "jwt",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n",
    );
    assert_clean("eyJhbGciOiJIUzI1NiJ9 alone is a header, not a token\n");
}

#[test]
fn env_assignment() {
    assert_finds(
        "env-assignment",
        &format!("export DATABASE_PASSWORD={}7\n", generated("db", ALNUM, 24)),
    );
    assert_finds(
        "env-assignment",
        &format!("api_key = \"{}4\"\n", generated("api", ALNUM, 32)),
    );
    assert_clean("PASSWORD=changeme\n");
    assert_clean("TOKENIZER_CLASS=LlamaTokenizerFast\n");
    assert_clean("MAX_TOKEN=4096\nSECRET_NAME=prod-model-signing-key\n");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A safetensors file: 8-byte header length, the JSON header, then `payload`.
pub(crate) fn safetensors(metadata: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let meta: serde_json::Map<String, serde_json::Value> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
        .collect();
    let header = serde_json::json!({
        "__metadata__": meta,
        "w": {"dtype": "U8", "shape": [payload.len()], "data_offsets": [0, payload.len()]},
    })
    .to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

fn gguf(kv: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
    for (k, v) in kv {
        out.extend_from_slice(&(k.len() as u64).to_le_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Bytes that would match a rule if they were searched as text.
fn planted_in_payload() -> Vec<u8> {
    let mut payload = vec![0u8; 4096];
    payload.extend_from_slice(b"\naws_access_key_id=AKIAIOSFODNN7EXAMPLE\n");
    payload
}

#[test]
fn weights_metadata_is_searched_and_payloads_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let key = "AKIAIOSFODNN7EXAMPLE";
    write(
        dir.path(),
        "a.safetensors",
        &safetensors(&[("note", &format!("uploaded with {key}"))], &[1, 2, 3]),
    );
    write(
        dir.path(),
        "clean.safetensors",
        &safetensors(&[("format", "pt")], &planted_in_payload()),
    );
    write(
        dir.path(),
        "m.gguf",
        &gguf(
            &[("general.name", "tiny"), ("general.description", key)],
            &planted_in_payload(),
        ),
    );
    write(dir.path(), "weights.raw", &planted_in_payload()); // unknown binary: skipped
    let result = scan_model(dir.path(), &ScanOptions::default()).unwrap();
    let found: Vec<(&str, Option<&str>)> = result
        .findings
        .iter()
        .map(|f| (f.path.as_str(), f.field.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            ("a.safetensors", Some("__metadata__.note")),
            ("m.gguf", Some("general.description"))
        ]
    );
    assert_eq!(result.skipped, ["weights.raw"]);
    let formats: Vec<&str> = result
        .formats
        .iter()
        .map(|f| f.detected.format.name())
        .collect();
    assert_eq!(formats, ["safetensors", "safetensors", "gguf"]);
    // The payloads were not read: far fewer bytes than the files hold.
    assert!(result.bytes_read < 3 * 8192 + 2000, "{}", result.bytes_read);
}

#[test]
fn random_weights_give_no_finding() {
    let dir = tempfile::tempdir().unwrap();
    let mut payload = vec![0u8; 4 << 20];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut payload);
    write(
        dir.path(),
        "model.safetensors",
        &safetensors(&[("format", "pt")], &payload),
    );
    write(dir.path(), "noise.bin", &payload);
    let result = scan_model(dir.path(), &ScanOptions::default()).unwrap();
    assert!(result.clean(), "{:?}", result.findings);
}

#[test]
fn a_finding_has_position_and_fingerprint_but_not_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let secret = format!("{}3", generated("env", ALNUM, 24));
    write(
        dir.path(),
        ".env",
        format!("# settings\nMODEL=tiny\nHF_TOKEN={secret}\n").as_bytes(),
    );
    let first = scan_model(dir.path(), &ScanOptions::default()).unwrap();
    let f = &first.findings[0];
    assert_eq!(
        (f.path.as_str(), f.line, f.rule.as_str()),
        (".env", 3, "env-assignment")
    );
    assert_eq!(f.offset, Some(31));
    assert!(!format!("{f:?}").contains(&secret));
    // Stable across runs; accepted by an allow-list holding it.
    let again = scan_model(dir.path(), &ScanOptions::default()).unwrap();
    assert_eq!(again.findings[0].fingerprint, f.fingerprint);
    let allow =
        AllowList::parse(&format!("# reviewed\n{}  # test fixture\n", f.fingerprint)).unwrap();
    let allowed = scan_model(
        dir.path(),
        &ScanOptions {
            allow,
            ..ScanOptions::default()
        },
    )
    .unwrap();
    assert!(allowed.clean());
    assert_eq!(allowed.allowed.len(), 1);
    assert_eq!(AllowList::parse("not-a-fingerprint\n").unwrap_err().0, 1);
}

#[test]
fn notebook_strings_are_searched_with_their_json_path() {
    let dir = tempfile::tempdir().unwrap();
    let nb = serde_json::json!({
        "cells": [
            {"cell_type": "markdown", "source": ["# Fine-tuning\n"]},
            {"cell_type": "code", "source": ["import os\n", "os.environ['X'] = 'AKIAIOSFODNN7EXAMPLE'\n"]},
        ],
        "nbformat": 4,
    });
    write(dir.path(), "train.ipynb", nb.to_string().as_bytes());
    let result = scan_model(dir.path(), &ScanOptions::default()).unwrap();
    assert_eq!(result.findings.len(), 1);
    assert_eq!(
        result.findings[0].field.as_deref(),
        Some("/cells/1/source/1")
    );
}

#[test]
fn pickles_and_archives_are_recognized_with_their_globals() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "model.pkl", b"\x80\x02cos\nsystem\nq\x00.");
    write(
        dir.path(),
        "arr.npy",
        b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n",
    );
    write(
        dir.path(),
        "pytorch_model.bin",
        &torch_zip(b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\nq\x00."),
    );
    write(dir.path(), "model.onnx", b"\x08\x07\x12\x04test");
    let result = scan_model(dir.path(), &ScanOptions::default()).unwrap();
    let got: Vec<(&str, Vec<&str>, Vec<String>)> = result
        .formats
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.detected.names(),
                f.detected.globals.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("arr.npy", vec!["numpy", "pickle"], vec![]),
            ("model.onnx", vec!["onnx"], vec![]),
            ("model.pkl", vec!["pickle"], vec!["os.system".to_string()]),
            (
                "pytorch_model.bin",
                vec!["pytorch", "pickle"],
                vec!["torch._utils._rebuild_tensor_v2".to_string()]
            ),
        ]
    );
}

/// A stored (uncompressed) ZIP holding `archive/data.pkl`, as `torch.save` writes it.
pub(crate) fn torch_zip(pickle: &[u8]) -> Vec<u8> {
    let name = b"archive/data.pkl";
    let mut out = Vec::new();
    out.extend_from_slice(b"PK\x03\x04");
    out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    out.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(pickle);
    let dir_at = out.len() as u32;
    out.extend_from_slice(b"PK\x01\x02");
    out.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    out.extend_from_slice(&(pickle.len() as u32).to_le_bytes());
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&[0; 12]); // extra, comment, disk, internal attrs, external attrs
    out.extend_from_slice(&0u32.to_le_bytes()); // local header at 0
    out.extend_from_slice(name);
    let dir_len = out.len() as u32 - dir_at;
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    out.extend_from_slice(&dir_len.to_le_bytes());
    out.extend_from_slice(&dir_at.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

#[test]
fn real_public_model_configs_and_tokenizers_give_no_finding() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-vectors/scan-corpus");
    let result = scan_model(&corpus, &ScanOptions::default()).unwrap();
    assert!(result.files >= 20, "{}", result.files);
    assert!(result.clean(), "{:?}", result.findings);
    assert!(result.skipped.is_empty() && result.partial.is_empty());
}

#[test]
fn a_hostile_pickle_is_bounded_in_memory_and_time() {
    let dir = tempfile::tempdir().unwrap();
    // Deep nesting (a million MARKs and empty lists), then a BINUNICODE8 claiming 2^62 bytes.
    let mut p = vec![0x80, 4];
    for _ in 0..1_000_000 {
        p.extend_from_slice(b"(]");
    }
    p.push(0x8d);
    p.extend_from_slice(&(1u64 << 62).to_le_bytes());
    write(dir.path(), "evil.pkl", &p);
    let started = std::time::Instant::now();
    let result = scan_model(dir.path(), &ScanOptions::default()).unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let f = &result.formats[0];
    assert_eq!(f.detected.names(), ["pickle"]);
    assert!(
        f.detected.note.as_deref().unwrap().contains("exceeds"),
        "{f:?}"
    );
}
