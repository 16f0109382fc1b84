//! Loading a policy: read the file (bounded), parse its shape, then give every field its meaning —
//! resolve relative paths against the policy's directory, fetch and pin `key` signers' public
//! keys, load certificate roots, compile globs, and check that rules name known signers and
//! possible thresholds. Every error names the file, the line and the field.

use super::file::{self, line_column, OneOrMany, RawPolicy, RawRule, RawSigner};
use super::rego::RegoPolicy;
use super::rules::{ModelRule, HASH_TYPES, METHODS};
use super::signers::PolicySigner;
use super::{Policy, PolicyError, PolicyOptions};
use crate::keys::{self, KeyOptions, KeyRef};
use crate::sigstore::{KeylessPolicy, TrustedRoot};
use crate::trust::{TimestampPolicy, Trust};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Largest policy file read.
const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Reads, parses and checks the policy at `path`.
pub(super) fn load(path: &Path, options: &PolicyOptions) -> Result<Policy, PolicyError> {
    let text = read_bounded(path, MAX_POLICY_BYTES, options.allow_insecure_permissions)?;
    let raw = file::parse(path, &text)?;
    Loader {
        path,
        text: &text,
        dir: path.parent().unwrap_or(Path::new("")).to_path_buf(),
        options,
    }
    .build(raw)
}

/// Reads a UTF-8 text file of at most `limit` bytes under the one rule for trust material
/// ([`crate::fs::open_trusted`]), refusing one that group or others can change unless
/// `allow_insecure`.
pub(super) fn read_bounded(
    path: &Path,
    limit: u64,
    allow_insecure: bool,
) -> Result<String, PolicyError> {
    use std::io::Read;
    let read_err = |source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    };
    let opened = crate::fs::open_trusted(path).map_err(read_err)?;
    if let (Some(reason), false) = (opened.exposure, allow_insecure) {
        return Err(PolicyError::WritableByOthers {
            path: path.to_path_buf(),
            reason,
        });
    }
    let file = opened.file;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than the {limit}-byte limit"),
        )));
    }
    String::from_utf8(bytes).map_err(|_| {
        read_err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text",
        ))
    })
}

struct Loader<'a> {
    path: &'a Path,
    text: &'a str,
    dir: PathBuf,
    options: &'a PolicyOptions,
}

impl Loader<'_> {
    fn build(&self, raw: RawPolicy) -> Result<Policy, PolicyError> {
        if *raw.version.get_ref() != 1 {
            return Err(self.invalid(
                &raw.version,
                "version",
                format!(
                    "unsupported policy version {}; this modelseal reads version 1",
                    raw.version.get_ref()
                ),
            ));
        }
        let audit_log = raw
            .audit_log
            .map(|a| self.nonempty_path(&a, "audit_log"))
            .transpose()?;
        let mut signers = Vec::new();
        for (name, signer) in raw.signers {
            signers.push(self.signer(&name, signer)?);
        }
        let names: BTreeMap<&str, &PolicySigner> = signers.iter().map(|s| (s.name(), s)).collect();
        let mut rules = Vec::new();
        for (i, rule) in raw.models.into_iter().enumerate() {
            rules.push(self.rule(i, rule.into_inner(), &names)?);
        }
        let rego = raw
            .rego
            .map(|r| {
                let r = r.into_inner();
                let file = self.nonempty_path(&r.file, "rego.file")?;
                // Named with the policy's line, like every other file a policy refers to.
                RegoPolicy::load(&file, self.options.allow_insecure_permissions)
                    .map_err(|e| self.invalid(&r.file, "rego.file", e.to_string()))
            })
            .transpose()?;
        let deny_formats = self
            .formats(raw.deny_formats, "deny_formats")?
            .unwrap_or_default();
        Ok(Policy {
            deny_formats,
            path: self.path.to_path_buf(),
            digest: {
                use sha2::Digest;
                hex::encode(sha2::Sha256::digest(self.text.as_bytes()))
            },
            audit_log,
            allow_name_override: raw.allow_name_override,
            signers,
            rules,
            rego,
        })
    }

    fn signer(&self, name: &str, spanned: Spanned<RawSigner>) -> Result<PolicySigner, PolicyError> {
        let field = format!("signers.{name}");
        let at = spanned.span().start;
        let mut raw = spanned.into_inner();
        let timestamps =
            self.signer_timestamps(&field, raw.tsa_roots.take(), raw.require_timestamp.take())?;
        let mut signer = self.signer_trust(name, at, raw)?;
        signer.timestamps = timestamps;
        Ok(signer)
    }

    /// `tsa_roots` (PEM roots, or a Sigstore trusted_root.json's timestampAuthorities, relative
    /// to the policy's directory) and `require_timestamp`, which needs them.
    fn signer_timestamps(
        &self,
        field: &str,
        roots: Option<Spanned<OneOrMany>>,
        required: Option<Spanned<bool>>,
    ) -> Result<TimestampPolicy, PolicyError> {
        let Some(roots) = roots else {
            return match required.filter(|r| *r.get_ref()) {
                Some(r) => Err(self.invalid(
                    &r,
                    &format!("{field}.require_timestamp"),
                    "needs tsa_roots (the time-stamping authorities whose timestamps count)".into(),
                )),
                None => Ok(TimestampPolicy::default()),
            };
        };
        let roots_field = format!("{field}.tsa_roots");
        let (paths, roots_at) = self.files(roots, &roots_field)?;
        let required = required.is_some_and(|r| *r.get_ref());
        TimestampPolicy::load(&paths, required)
            .map_err(|e| self.invalid_at(roots_at, &roots_field, e.to_string()))
    }

    /// The files a `cert_roots` / `tsa_roots` value names (at least one), resolved against the
    /// policy's directory, and the value's offset (for errors about loading them).
    fn files(
        &self,
        value: Spanned<OneOrMany>,
        field: &str,
    ) -> Result<(Vec<PathBuf>, usize), PolicyError> {
        let at = value.span().start;
        let paths: Vec<PathBuf> = value
            .into_inner()
            .into_vec()
            .iter()
            .map(|p| self.dir.join(p))
            .collect();
        if paths.is_empty() {
            return Err(self.invalid_at(at, field, "names no file".into()));
        }
        Ok((paths, at))
    }

    /// The signer's trust (key, certificate roots or Sigstore identity), without timestamps.
    fn signer_trust(
        &self,
        name: &str,
        at: usize,
        raw: RawSigner,
    ) -> Result<PolicySigner, PolicyError> {
        let field = format!("signers.{name}");
        let fail = |reason: &str| self.invalid_at(at, &field, reason.to_string());
        if raw.sigstore {
            return self.sigstore_signer(name, at, raw);
        }
        if raw.trusted_root.is_some() {
            return Err(fail(
                "trusted_root applies to sigstore signers (sigstore = true)",
            ));
        }
        if let Some(key) = &raw.key {
            if raw.cert_roots.is_some() {
                return Err(fail("give either key or cert_roots, not both"));
            }
            if raw.identities.is_some() || raw.issuer.is_some() {
                return Err(fail(
                    "identities and issuer apply to cert_roots signers, not to key signers",
                ));
            }
            return self.key_signer(name, key);
        }
        let Some(roots) = raw.cert_roots else {
            return Err(fail("needs key (a key reference) or cert_roots"));
        };
        let identities = match raw.identities {
            Some(ids) if !ids.get_ref().is_empty() => ids.into_inner(),
            Some(ids) => {
                return Err(self.invalid(
                    &ids,
                    &format!("{field}.identities"),
                    "must list at least one SAN e-mail or URI".into(),
                ))
            }
            None => {
                return Err(fail(
                    "cert_roots needs identities (the SAN e-mail or URI values to accept)",
                ))
            }
        };
        let roots_field = format!("{field}.cert_roots");
        let (paths, roots_at) = self.files(roots, &roots_field)?;
        let trust = Trust::load_certificate_roots(&paths)
            .map_err(|e| self.invalid_at(roots_at, &roots_field, e.to_string()))?;
        Ok(PolicySigner {
            name: name.to_string(),
            trust,
            key: None,
            identities,
            issuer: raw.issuer.map(Spanned::into_inner),
            timestamps: TimestampPolicy::default(),
        })
    }

    /// A Sigstore keyless signer: the certificate SAN must be one of `identities` and its OIDC
    /// issuer `issuer`, checked offline against `trusted_root` (default: the built-in public-good
    /// production root, `docs/sigstore.md`).
    fn sigstore_signer(
        &self,
        name: &str,
        at: usize,
        raw: RawSigner,
    ) -> Result<PolicySigner, PolicyError> {
        let field = format!("signers.{name}");
        let fail = |reason: &str| self.invalid_at(at, &field, reason.to_string());
        if raw.key.is_some() || raw.cert_roots.is_some() {
            return Err(fail(
                "a sigstore signer takes identities, issuer and optionally trusted_root, not key or cert_roots",
            ));
        }
        let identities = match raw.identities {
            Some(ids) if !ids.get_ref().is_empty() => ids.into_inner(),
            _ => {
                return Err(fail(
                    "sigstore needs identities (the certificate SAN values to accept)",
                ))
            }
        };
        let Some(issuer) = raw.issuer.map(Spanned::into_inner) else {
            return Err(fail("sigstore needs issuer (the OIDC issuer URL)"));
        };
        let root = match &raw.trusted_root {
            Some(p) => TrustedRoot::load(&self.dir.join(p.get_ref()))
                .map_err(|e| self.invalid(p, &format!("{field}.trusted_root"), e.to_string()))?,
            None => TrustedRoot::production().map_err(|e| fail(&e.to_string()))?,
        };
        let policy = KeylessPolicy {
            identity: identities[0].clone(),
            issuer: issuer.clone(),
        };
        Ok(PolicySigner {
            name: name.to_string(),
            trust: Trust::Sigstore {
                root: Box::new(root),
                policy,
            },
            key: None,
            identities,
            issuer: Some(issuer),
            timestamps: TimestampPolicy::default(),
        })
    }

    /// A `key` signer: parse the reference, resolve a file against the policy's directory, fetch
    /// the public key now and pin it.
    fn key_signer(&self, name: &str, key: &Spanned<String>) -> Result<PolicySigner, PolicyError> {
        let field = format!("signers.{name}.key");
        let parsed: KeyRef = key
            .get_ref()
            .parse()
            .map_err(|e: keys::KeyError| self.invalid(key, &field, e.to_string()))?;
        let resolved = match parsed {
            KeyRef::File(p) => KeyRef::File(self.dir.join(p)),
            KeyRef::Pkcs11(uri) => {
                self.check_module_allowed(uri.module_path.as_deref())
                    .map_err(|reason| self.invalid(key, &field, reason))?;
                KeyRef::Pkcs11(uri)
            }
            other => other,
        };
        let key_options = KeyOptions {
            allow_insecure_permissions: self.options.allow_insecure_permissions,
            ..KeyOptions::default()
        };
        let public = keys::open::public_key_of(&resolved, &key_options)
            .map_err(|e| self.invalid(key, &field, format!("cannot read the public key: {e}")))?;
        Ok(PolicySigner {
            name: name.to_string(),
            trust: Trust::PublicKey(public),
            key: Some(key.get_ref().clone()),
            identities: Vec::new(),
            issuer: None,
            timestamps: TimestampPolicy::default(),
        })
    }

    /// A policy's `module-path` must be one the operator allowed: otherwise whoever writes the
    /// policy chooses a library the verifier loads into its own process.
    fn check_module_allowed(&self, module: Option<&Path>) -> Result<(), String> {
        let Some(module) = module else { return Ok(()) };
        let same = |allowed: &PathBuf| {
            allowed == module
                || matches!(
                    (allowed.canonicalize(), module.canonicalize()),
                    (Ok(a), Ok(b)) if a == b
                )
        };
        if self.options.allow_pkcs11_modules.iter().any(same) {
            return Ok(());
        }
        Err(format!(
            "module-path={} is not an allowed PKCS#11 module; a policy file may not choose the library the verifier loads (allow it with --allow-pkcs11-module {}, or leave module-path out and set MODELSEAL_PKCS11_MODULE)",
            module.display(),
            module.display()
        ))
    }

    fn rule(
        &self,
        index: usize,
        raw: RawRule,
        signers: &BTreeMap<&str, &PolicySigner>,
    ) -> Result<ModelRule, PolicyError> {
        let field = |f: &str| format!("models[{index}].{f}");
        // A pattern is a model name whose components may be globs: the same normal form.
        crate::tree::check_model_name(raw.name.get_ref())
            .map_err(|e| self.invalid(&raw.name, &field("name"), e.to_string()))?;
        let glob = ModelRule::compile_glob(raw.name.get_ref())
            .map_err(|e| self.invalid(&raw.name, &field("name"), format!("invalid glob: {e}")))?;
        let require = raw.require.get_ref().clone();
        if require.is_empty() {
            return Err(self.invalid(
                &raw.require,
                &field("require"),
                "must name at least one signer".into(),
            ));
        }
        for name in &require {
            if !signers.contains_key(name.as_str()) {
                let known: Vec<&str> = signers.keys().copied().collect();
                return Err(self.invalid(
                    &raw.require,
                    &field("require"),
                    format!(
                        "unknown signer {name:?} (signers: {})",
                        if known.is_empty() {
                            "none defined".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        let distinct: std::collections::BTreeSet<&String> = require.iter().collect();
        // Two names for one key or one identity would let one signature count twice.
        let required: Vec<&PolicySigner> = distinct
            .iter()
            .filter_map(|name| signers.get(name.as_str()).copied())
            .collect();
        for (i, a) in required.iter().enumerate() {
            for b in &required[i + 1..] {
                if let Some(why) = a.alias_of(b) {
                    return Err(self.invalid(
                        &raw.require,
                        &field("require"),
                        format!(
                            "signers {:?} and {:?} {why}: one signature would count as two; require one of them",
                            a.name(),
                            b.name()
                        ),
                    ));
                }
            }
        }
        let threshold = match &raw.threshold {
            None => 1,
            Some(t) => {
                let k = *t.get_ref();
                if k < 1 || k as u64 > distinct.len() as u64 {
                    return Err(self.invalid(
                        t,
                        &field("threshold"),
                        format!(
                            "must be between 1 and the {} distinct signers of require, found {k}",
                            distinct.len()
                        ),
                    ));
                }
                k as usize
            }
        };
        let allowed_methods =
            self.allowed(raw.allowed_methods, METHODS, &field("allowed_methods"))?;
        let allowed_hash_types = self.allowed(
            raw.allowed_hash_types,
            HASH_TYPES,
            &field("allowed_hash_types"),
        )?;
        let deny_formats = self.formats(raw.deny_formats, &field("deny_formats"))?;
        Ok(ModelRule {
            deny_formats,
            name: raw.name.into_inner(),
            glob,
            require,
            threshold,
            allowed_methods,
            allowed_hash_types,
            allow_extra_files: raw.allow_extra_files,
        })
    }

    /// A non-empty list of known values, or `None` (anything allowed).
    fn allowed(
        &self,
        list: Option<Spanned<Vec<String>>>,
        known: &[&str],
        field: &str,
    ) -> Result<Option<Vec<String>>, PolicyError> {
        let Some(list) = list else { return Ok(None) };
        if list.get_ref().is_empty() {
            return Err(self.invalid(
                &list,
                field,
                "must not be empty (leave it out to allow any)".into(),
            ));
        }
        self.known(list, known, field, "value").map(Some)
    }

    /// A list of format names (`deny_formats`), each one modelseal recognizes; may be empty.
    fn formats(
        &self,
        list: Option<Spanned<Vec<String>>>,
        field: &str,
    ) -> Result<Option<Vec<String>>, PolicyError> {
        list.map(|list| self.known(list, &crate::scan::Format::NAMES, field, "format"))
            .transpose()
    }

    /// `list`, if each of its values is one of `known` (else an error naming the first `noun`
    /// that is not).
    fn known(
        &self,
        list: Spanned<Vec<String>>,
        known: &[&str],
        field: &str,
        noun: &str,
    ) -> Result<Vec<String>, PolicyError> {
        if let Some(bad) = list.get_ref().iter().find(|v| !known.contains(&v.as_str())) {
            return Err(self.invalid(
                &list,
                field,
                format!("unknown {noun} {bad:?} (known: {})", known.join(", ")),
            ));
        }
        Ok(list.into_inner())
    }

    fn nonempty_path(&self, value: &Spanned<String>, field: &str) -> Result<PathBuf, PolicyError> {
        if value.get_ref().is_empty() {
            return Err(self.invalid(value, field, "is empty".into()));
        }
        Ok(self.dir.join(value.get_ref()))
    }

    fn invalid<T>(&self, at: &Spanned<T>, field: &str, reason: String) -> PolicyError {
        self.invalid_at(at.span().start, field, reason)
    }

    fn invalid_at(&self, offset: usize, field: &str, reason: String) -> PolicyError {
        PolicyError::Invalid {
            path: self.path.to_path_buf(),
            line: line_column(self.text, offset).0,
            field: field.to_string(),
            reason,
        }
    }
}
