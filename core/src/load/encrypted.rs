//! Verified loading of an encrypted model, in memory: a model encrypted by `encrypt` (its
//! signature signs the plaintext) or sealed by `seal` (an outer signature over the encrypted
//! directory, the inner signature inside it, as `deploy::unseal_model` checks them).
//!
//! Guarantees, on top of the plaintext ones of the parent module:
//! - the envelope is authenticated (its header MAC under the unwrapped data key) before any file
//!   of it is named; for a sealed model the envelope bytes parsed are the ones the outer
//!   signature covers (read once, checked, then parsed), and the inner signature is decrypted in
//!   memory from ciphertext the outer signature covers, then verified under the same trust;
//! - the plaintext files are exactly the signed ones (names from the authenticated envelope; an
//!   encrypted directory holding another file, or missing one, fails as a plaintext model does);
//! - a read decrypts each chunk in memory, authenticates it (its GCM tag) and hashes its plaintext
//!   against the signed statement; a whole-file read of a sealed model also hashes the ciphertext
//!   against the outer signature. Nothing decrypted is written anywhere, and a read hands over
//!   nothing unless every chunk authenticated and every signed digest matched.

use super::judge::{read_signatures, Judge, Signatures};
use super::{match_files, Destination, OpenedModel, VerifiedFile};
use crate::deploy::{default_outer_signatures, signs_single_file, DeployError};
use crate::deploy::{INNER_CLAIMS_NAME, INNER_SIGNATURE_NAME};
use crate::digest::{ManifestDiff, SignedDigests, StreamCheck};
use crate::envelope::authenticate::{self, Form, Opened};
use crate::envelope::format::{ENVELOPE_NAME, TAG_LEN};
use crate::envelope::keyschedule::{FileKeys, KeySchedule};
use crate::envelope::stream::{check_ct_len, ChunkLayout, FileCipher};
use crate::envelope::SealError;
use crate::keys::Identity;
use crate::oms::claims::Claim;
use crate::oms::{Bundle, Statement};
use crate::policy::{LoadFacts, Policy, PolicyVerifyOptions, SealedStage};
use crate::trust::{SignerIdentity, Trust};
use crate::verify::{VerifyError, VerifyOptions};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

/// Opens the encrypted model `encrypted` for verified loading with `identity` (a key that opens
/// its envelope), reading no weights yet.
///
/// `signatures` are signature files (bundles or `.jsonl` claims files, judged together, as
/// `unseal --signature` takes them); empty: `ENC.sig` and/or `ENC.sig.jsonl` beside `ENC`
/// ([`default_outer_signatures`]). For a sealed model (its envelope lists
/// [`INNER_SIGNATURE_NAME`], or [`INNER_CLAIMS_NAME`] when co-signed) they are the outer
/// signatures: the first that `trust` accepts is verified with the encrypted directory's file
/// list, then the envelope's digest, then the first inner signature `trust` accepts. For a model
/// encrypted by `encrypt`, they sign the plaintext model. Either way the files that reads verify
/// against are the signed plaintext ones.
pub fn open_encrypted_model(
    encrypted: &Path,
    signatures: &[PathBuf],
    trust: &Trust,
    options: &VerifyOptions,
    identity: &dyn Identity,
) -> Result<OpenedModel, DeployError> {
    let judge = Judge::Trust {
        trust,
        timestamps: &options.timestamps,
    };
    open_encrypted(encrypted, signatures, &judge, options, identity)
}

/// [`open_encrypted_model`] with `policy` as the trust, judging a sealed model exactly as
/// `unseal` does ([`SealedStage`]): the outer signatures under the rule for the envelope's
/// (signed) model name — `model_name` binds as in `verify --policy` (`allow_name_override`) —,
/// the rule's threshold counting their distinct signers; then the inner signatures under the
/// rule for the name the outer decision matched, where one signer of the rule suffices. A model
/// encrypted by `encrypt` has one decision, over the signatures of its plaintext, under the
/// envelope's name, with the rule's full threshold. Each decision is taken over the statement
/// pinned for loading, without hashing the model again; a rule's `deny_formats` (or Rego) judges
/// the plaintext files' formats told from bytes decrypted and verified in memory
/// ([`OpenedModel::verified_formats`]). A denial is [`DeployError::Denied`] with the full
/// decision.
pub fn open_encrypted_model_with_policy(
    encrypted: &Path,
    signatures: &[PathBuf],
    policy: &Policy,
    model_name: Option<String>,
    options: &VerifyOptions,
    identity: &dyn Identity,
) -> Result<OpenedModel, DeployError> {
    let judge = Judge::Policy {
        policy,
        options: PolicyVerifyOptions {
            model_name,
            ignore: options.ignore.clone(),
        },
    };
    open_encrypted(encrypted, signatures, &judge, options, identity)
}

/// [`open_encrypted_model`] with the signatures judged by `judge`.
fn open_encrypted(
    encrypted: &Path,
    signatures: &[PathBuf],
    judge: &Judge<'_>,
    options: &VerifyOptions,
    identity: &dyn Identity,
) -> Result<OpenedModel, DeployError> {
    let files = match signatures.is_empty() {
        true => default_outer_signatures(encrypted),
        false => signatures.to_vec(),
    };
    let signatures = read_signatures(&files)?;
    // Unauthenticated here, and only used to choose which signatures these are: a wrong choice
    // fails the verification that follows (a plaintext statement never matches the encrypted
    // directory, nor the other way round).
    let raw = authenticate::read_envelope(encrypted)?;
    let inner = match raw.form {
        Form::Directory(_) => raw
            .header
            .body
            .files
            .iter()
            .find(|f| is_inner_signature(&f.path))
            .map(|f| f.path.clone()),
        Form::SingleFile(_) => None,
    };
    if let Some(inner) = inner {
        return open_sealed(encrypted, &signatures, &inner, judge, options, identity);
    }
    let opened = authenticate::authenticate(raw, identity)?;
    // The envelope's name is authenticated by its MAC under the data key.
    let facts = LoadFacts {
        pinned: None,
        signed_name: Some(&opened.header.body.model_name),
        stage: None,
    };
    let mut model = judge.open(
        encrypted,
        &signatures,
        (facts, None),
        |path, statement, signer| {
            if let Form::Directory(root) = &opened.form {
                check_ciphertext_files(root, &opened, &statement)?;
            }
            with_statement(encrypted, path, statement, signer, &opened, false)
        },
    )?;
    let facts = LoadFacts {
        pinned: Some(&model.statement),
        ..facts
    };
    let decision = judge.decide(encrypted, &signatures, facts, None, Some(&model))?;
    model.decisions.extend(decision);
    Ok(model)
}

/// Whether `name` is the signature `seal` stores inside the encrypted model.
fn is_inner_signature(name: &str) -> bool {
    name == INNER_SIGNATURE_NAME || name == INNER_CLAIMS_NAME
}

/// [`open_encrypted_model`] of a sealed model whose inner signature file is `inner`.
fn open_sealed(
    encrypted: &Path,
    signatures: &Signatures,
    inner: &str,
    judge: &Judge<'_>,
    options: &VerifyOptions,
    identity: &dyn Identity,
) -> Result<OpenedModel, DeployError> {
    // The outer signatures, and the encrypted directory's file list against the one pinned.
    let facts = LoadFacts {
        stage: Some(SealedStage::Encrypted),
        ..LoadFacts::default()
    };
    let outer = judge.open(
        encrypted,
        signatures,
        (facts, None),
        |path, statement, signer| {
            super::open_statement(encrypted, path, statement, signer, options)
        },
    )?;
    // The envelope parsed is the one the outer signature covers: read once, checked, parsed.
    let envelope = outer.read_file(ENVELOPE_NAME)?;
    let opened = authenticate::authenticate(
        authenticate::envelope_from_bytes(encrypted, &envelope)?,
        identity,
    )?;
    // The outer decision, under the envelope's (signed) name: the rule's threshold counts the
    // outer signatures' signers, as `unseal` counts them. The files are ciphertext: no format.
    let signed_name = opened.header.body.model_name.as_str();
    let outer_facts = LoadFacts {
        pinned: Some(&outer.statement),
        signed_name: Some(signed_name),
        stage: Some(SealedStage::Encrypted),
    };
    let outer_decision = judge.decide(encrypted, signatures, outer_facts, None, None)?;
    let inner_path = encrypted.join(inner);
    let entry = opened
        .header
        .body
        .files
        .iter()
        .find(|f| f.path == inner)
        .ok_or_else(|| {
            DeployError::Usage(format!(
                "{}: holds no {INNER_SIGNATURE_NAME} (nor {INNER_CLAIMS_NAME}); it was not made by seal",
                encrypted.display()
            ))
        })?;
    let sealed_signature = outer.read_file(inner)?;
    let keys = opened.dek.file_keys(&entry.path, &entry.salt);
    let layout = ChunkLayout::new(opened.header.body.chunk_size, entry.size);
    let plaintext = decrypt_whole(&keys, layout, &sealed_signature, &inner_path)?;
    let malformed = |source| VerifyError::Malformed {
        path: inner_path.clone(),
        source,
    };
    // A co-signed seal stores one signature per key, as a claims file.
    let claims = if inner == INNER_CLAIMS_NAME {
        crate::oms::claims::parse_claims(&plaintext).map_err(malformed)?
    } else {
        let bundle = Bundle::parse(&plaintext).map_err(malformed)?;
        vec![Claim { line: None, bundle }]
    };
    let inner_signatures = vec![(inner_path.clone(), claims)];
    // The inner signatures under the name the outer decision matched (as `unseal` takes it):
    // one signer of the rule suffices there.
    let outer_name = outer_decision.as_ref().map(|d| d.model_name().to_string());
    let inner_facts = LoadFacts {
        stage: Some(SealedStage::Decrypted),
        ..LoadFacts::default()
    };
    let named = (inner_facts, outer_name.as_deref());
    let mut model = judge.open(
        encrypted,
        &inner_signatures,
        named,
        |path, statement, signer| with_statement(encrypted, path, statement, signer, &opened, true),
    )?;
    // Set before the inner decision: a whole-file read that tells formats checks the
    // ciphertext against the outer signature too.
    if let Some(encrypted) = model.encrypted.as_mut() {
        encrypted.outer = Some(Box::new(outer));
    }
    let inner_facts = LoadFacts {
        pinned: Some(&model.statement),
        ..inner_facts
    };
    let inner_decision = judge.decide(
        encrypted,
        &inner_signatures,
        inner_facts,
        outer_name.as_deref(),
        Some(&model),
    )?;
    model.decisions.extend(outer_decision);
    model.decisions.extend(inner_decision);
    Ok(model)
}

/// The plaintext of a small encrypted file held in memory (the sealed inner signature), every
/// chunk authenticated.
fn decrypt_whole(
    keys: &FileKeys,
    layout: ChunkLayout,
    ciphertext: &[u8],
    path: &Path,
) -> Result<Vec<u8>, SealError> {
    check_ct_len(ciphertext.len() as u64, layout.ct_len(), path)?;
    let cipher = FileCipher::new(keys, layout)?;
    let mut plaintext = Vec::with_capacity(ciphertext.len());
    for i in 0..layout.chunks() {
        let at = layout.ct_offset(i) as usize;
        let pt = layout.pt_len(i) as usize;
        let mut chunk = ciphertext[at..at + pt + TAG_LEN].to_vec();
        cipher
            .open_chunk(i, &mut chunk)
            .map_err(|_| SealError::ChunkAuth {
                path: path.to_path_buf(),
                chunk: i,
            })?;
        plaintext.extend_from_slice(&chunk[..pt]);
    }
    Ok(plaintext)
}

/// An encrypted directory must hold exactly the envelope and the files it lists, as a plaintext
/// model must hold exactly the signed files.
fn check_ciphertext_files(
    root: &Path,
    opened: &Opened,
    statement: &Statement,
) -> Result<(), VerifyError> {
    let walk = crate::tree::WalkOptions {
        ignore: Vec::new(),
        ignore_git_paths: false,
        allow_symlinks: false,
    };
    let present = crate::tree::walk(root, &walk)?.files;
    let listed = &opened.header.body.files;
    // Sets, not scans: a model of many files would otherwise cost their count squared.
    let present_names: std::collections::HashSet<&str> =
        present.iter().map(|f| f.name.as_str()).collect();
    let listed_names: std::collections::HashSet<&str> =
        listed.iter().map(|e| e.path.as_str()).collect();
    let mut diff = ManifestDiff::default();
    for entry in listed {
        if !present_names.contains(entry.path.as_str()) {
            diff.missing.push(entry.path.clone());
        }
    }
    for file in &present {
        let name = file.name.as_str();
        if name != ENVELOPE_NAME && !listed_names.contains(name) {
            diff.extra.push(name.to_string());
        }
    }
    if diff.is_empty() {
        return Ok(());
    }
    Err(VerifyError::Mismatch {
        model: root.to_path_buf(),
        signed_root_digest: hex::encode(statement.root_digest),
        diff,
    })
}

/// The opened model once `statement` verified: the envelope's plaintext files (a `sealed` model's
/// without its inner signature) matched with the signed ones, each with what decrypts it.
fn with_statement(
    encrypted: &Path,
    signature: &Path,
    statement: Statement,
    signer: SignerIdentity,
    opened: &Opened,
    sealed: bool,
) -> Result<OpenedModel, VerifyError> {
    let body = &opened.header.body;
    let mut present = BTreeMap::new();
    for entry in &body.files {
        if sealed && is_inner_signature(&entry.path) {
            continue;
        }
        let (path, base) = match &opened.form {
            Form::SingleFile(file) => (file.clone(), opened.envelope_len),
            Form::Directory(root) => (root.join(&entry.path), 0),
        };
        let file = EncryptedFile {
            keys: opened.dek.file_keys(&entry.path, &entry.salt),
            layout: ChunkLayout::new(body.chunk_size, entry.size),
            base,
            ciphertext_name: entry.path.clone(),
        };
        present.insert(entry.path.clone(), ((path, file), entry.size));
    }
    let single_file = matches!(opened.form, Form::SingleFile(_)) || signs_single_file(&statement);
    let digests = std::sync::Arc::new(SignedDigests::new(
        &statement.serialization,
        &statement.resources,
    )?);
    let matched = match_files(encrypted, &statement, &digests, present, single_file)?;
    let mut files = BTreeMap::new();
    let mut ciphers = BTreeMap::new();
    for (name, (path, file)) in matched {
        files.insert(name.clone(), path);
        ciphers.insert(name, file);
    }
    Ok(OpenedModel {
        model: encrypted.to_path_buf(),
        signature: signature.to_path_buf(),
        statement,
        signer,
        digests,
        files,
        // A sealed model's outer view is set once the inner signature is pinned.
        encrypted: Some(Encrypted {
            files: ciphers,
            outer: None,
        }),
        shards: super::cache::ShardCache::default(),
        decisions: Vec::new(),
    })
}

/// How to decrypt the signed files of an encrypted model.
pub(super) struct Encrypted {
    /// Signed file name → its keys and layout.
    files: BTreeMap<String, EncryptedFile>,
    /// For a sealed model: the outer signature's view of the encrypted directory, whose
    /// ciphertext digests a whole-file read checks too.
    outer: Option<Box<OpenedModel>>,
}

impl std::fmt::Debug for Encrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encrypted")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("sealed", &self.outer.is_some())
            .finish_non_exhaustive()
    }
}

/// One encrypted file: its keys (zeroized on drop), its chunk layout, where its ciphertext starts
/// in the file read, and its name in the encrypted directory (the outer signature's name for it).
struct EncryptedFile {
    keys: FileKeys,
    layout: ChunkLayout,
    base: u64,
    ciphertext_name: String,
}

impl Encrypted {
    /// What decrypts the signed file `name` whose ciphertext `file` is open with `file_len`
    /// bytes; a ciphertext of another length than the envelope requires is refused here.
    pub(super) fn decrypting(
        &self,
        name: &str,
        file_len: u64,
        file: &VerifiedFile,
    ) -> Result<Decrypting, VerifyError> {
        let entry = self
            .files
            .get(name)
            .ok_or_else(|| file.changed("not in the encrypted model's envelope"))?;
        let expected = entry.base + entry.layout.ct_len();
        if file_len != expected {
            return Err(file.changed(&format!(
                "{file_len} bytes of ciphertext, the envelope requires {expected}"
            )));
        }
        let cipher =
            FileCipher::new(&entry.keys, entry.layout).map_err(|e| file.changed(&e.to_string()))?;
        let outer = match &self.outer {
            Some(outer) => Some(
                outer
                    .digests
                    .check(&entry.ciphertext_name, file_len)
                    .ok_or_else(|| file.changed("its ciphertext is not signed"))?,
            ),
            None => None,
        };
        Ok(Decrypting {
            cipher,
            base: entry.base,
            outer,
        })
    }
}

/// Ciphertext chunks a sealed model's whole-file read may have waiting for the outer hasher.
const OUTER_IN_FLIGHT: usize = 4;

/// One encrypted file being read: its cipher and, for a sealed model's whole-file read, the
/// check of its ciphertext against the outer signature.
pub(super) struct Decrypting {
    cipher: FileCipher,
    base: u64,
    outer: Option<StreamCheck>,
}

impl Decrypting {
    /// The plaintext size (authenticated by the envelope).
    pub(super) fn size(&self) -> u64 {
        self.cipher.layout().size()
    }

    /// Decrypts the whole file into `buffer` (its plaintext size), chunk after chunk: each chunk's
    /// ciphertext is read positionally, authenticated and decrypted straight into `buffer`, and
    /// its plaintext handed to `ready` (which hashes it against the signed statement). For a
    /// sealed model the ciphertext is hashed for the outer check on a thread of its own, so the
    /// two digests and the decryption run side by side.
    pub(super) fn decrypt_into<'b, D: Destination<'b>>(
        &mut self,
        file: &File,
        mut buffer: D,
        ready: &SyncSender<&'b [u8]>,
        errors: &VerifiedFile,
    ) -> Result<(), VerifyError> {
        let chunk_size = self.cipher.layout().chunk_size() as usize;
        let mut sealed = vec![0u8; chunk_size + TAG_LEN];
        if buffer.is_empty() {
            // An empty file's one chunk is only a tag: it still authenticates.
            let sealed = &mut sealed[..TAG_LEN];
            self.fetch(file, 0, sealed, errors)?;
            return self.open(0, sealed, errors);
        }
        let Some(mut outer) = self.outer.take() else {
            let mut i = 0u64;
            while !buffer.is_empty() {
                self.decrypt_next(file, i, &mut sealed, &mut buffer, ready, errors)?;
                i += 1;
            }
            return Ok(());
        };
        // Ciphertext chunks go to the outer hasher and come back to be filled again: a few in
        // flight bound the memory (`OUTER_IN_FLIGHT` chunks).
        let (full, to_hash) = std::sync::mpsc::sync_channel::<Vec<u8>>(OUTER_IN_FLIGHT);
        let (back, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let (read, outer) = std::thread::scope(|scope| {
            let hasher = scope.spawn(move || {
                for sealed in to_hash {
                    outer.update(&sealed);
                    // The reader may have stopped: then the buffer is dropped here.
                    let _ = back.send(sealed);
                }
                outer
            });
            let mut made = 1;
            let mut read = Ok(());
            let mut i = 0u64;
            while !buffer.is_empty() {
                if let Err(e) = self.decrypt_next(file, i, &mut sealed, &mut buffer, ready, errors)
                {
                    read = Err(e);
                    break;
                }
                if full.send(sealed).is_err() {
                    read = Err(errors.changed("hashing stopped"));
                    break;
                }
                sealed = match spare.try_recv() {
                    Ok(again) => again,
                    Err(_) if made <= OUTER_IN_FLIGHT => {
                        made += 1;
                        vec![0u8; chunk_size + TAG_LEN]
                    }
                    Err(_) => match spare.recv() {
                        Ok(again) => again,
                        Err(_) => {
                            read = Err(errors.changed("hashing stopped"));
                            break;
                        }
                    },
                };
                i += 1;
            }
            drop(full);
            // The hasher only hashes; it cannot panic on any input. If it did, the read fails.
            (read, hasher.join())
        });
        self.outer = Some(outer.map_err(|_| errors.changed("hashing stopped"))?);
        read
    }

    /// Decrypts the whole file chunk after chunk into one reused buffer, handing each chunk's
    /// plaintext to `each` once authenticated (its ciphertext hashed for the outer check first).
    pub(super) fn decrypt_each(
        &mut self,
        file: &File,
        each: &mut dyn FnMut(&[u8]),
        errors: &VerifiedFile,
    ) -> Result<(), VerifyError> {
        let layout = self.cipher.layout();
        let mut sealed = vec![0u8; layout.chunk_size() as usize + TAG_LEN];
        let mut plain = vec![0u8; layout.chunk_size() as usize];
        if layout.size() == 0 {
            // An empty file's one chunk is only a tag: it still authenticates.
            let sealed = &mut sealed[..TAG_LEN];
            self.fetch(file, 0, sealed, errors)?;
            return self.open(0, sealed, errors);
        }
        for i in 0..layout.chunks() {
            let n = layout.pt_len(i) as usize;
            let sealed = &mut sealed[..n + TAG_LEN];
            self.fetch(file, i, sealed, errors)?;
            self.cipher
                .open_chunk_into(i, sealed, &mut plain[..n])
                .map_err(|_| self.auth_failed(i, errors))?;
            each(&plain[..n]);
        }
        Ok(())
    }

    /// Reads, authenticates and decrypts chunk `i` (through `sealed`, resized to it) into the
    /// next part of `buffer`, then hands that plaintext to `ready`.
    fn decrypt_next<'b, D: Destination<'b>>(
        &mut self,
        file: &File,
        i: u64,
        sealed: &mut Vec<u8>,
        buffer: &mut D,
        ready: &SyncSender<&'b [u8]>,
        errors: &VerifiedFile,
    ) -> Result<(), VerifyError> {
        let chunk_size = self.cipher.layout().chunk_size() as usize;
        let chunk = buffer.take_front(buffer.len().min(chunk_size));
        sealed.resize(chunk.len() + TAG_LEN, 0);
        self.fetch(file, i, sealed, errors)?;
        self.cipher
            .open_chunk_into(i, sealed, chunk)
            .map_err(|_| self.auth_failed(i, errors))?;
        let whole: &'b [u8] = chunk;
        if ready.send(whole).is_err() {
            return Err(errors.changed("hashing stopped"));
        }
        Ok(())
    }

    /// Plaintext bytes `offset..offset + out.len()`: only the chunks they lie in are read, each
    /// authenticated (the caller checks the signed digests).
    pub(super) fn read_at(
        &self,
        file: &File,
        out: &mut [u8],
        offset: u64,
        errors: &VerifiedFile,
    ) -> Result<(), VerifyError> {
        let layout = self.cipher.layout();
        let end = offset + out.len() as u64;
        if out.is_empty() {
            return Ok(());
        }
        if end > layout.size() {
            return Err(errors.changed("it is shorter than the signed range"));
        }
        let chunk_size = layout.chunk_size();
        let mut sealed = vec![0u8; chunk_size as usize + TAG_LEN];
        for i in offset / chunk_size..=(end - 1) / chunk_size {
            let pt = layout.pt_len(i) as usize;
            let sealed = &mut sealed[..pt + TAG_LEN];
            let at = self.base + layout.ct_offset(i);
            file.read_exact_at(sealed, at)
                .map_err(|_| errors.changed("it became shorter while read"))?;
            let start = i * chunk_size;
            let (from, to) = (offset.max(start), end.min(start + pt as u64));
            let into = &mut out[(from - offset) as usize..(to - offset) as usize];
            if into.len() == pt {
                // A whole chunk asked: decrypted straight into place, no second copy.
                self.cipher
                    .open_chunk_into(i, sealed, into)
                    .map_err(|_| self.auth_failed(i, errors))?;
                continue;
            }
            self.open(i, sealed, errors)?;
            into.copy_from_slice(&sealed[(from - start) as usize..(to - start) as usize]);
        }
        Ok(())
    }

    /// Reads chunk `i`'s ciphertext and tag, and shows it to the outer check.
    fn fetch(
        &mut self,
        file: &File,
        i: u64,
        sealed: &mut [u8],
        errors: &VerifiedFile,
    ) -> Result<(), VerifyError> {
        let at = self.base + self.cipher.layout().ct_offset(i);
        file.read_exact_at(sealed, at)
            .map_err(|_| errors.changed("it became shorter while read"))?;
        if let Some(outer) = &mut self.outer {
            outer.update(sealed);
        }
        Ok(())
    }

    /// Authenticates and decrypts chunk `i` in place.
    fn open(&self, i: u64, sealed: &mut [u8], errors: &VerifiedFile) -> Result<(), VerifyError> {
        self.cipher
            .open_chunk(i, sealed)
            .map_err(|_| self.auth_failed(i, errors))
    }

    /// The error for chunk `i` failing authentication.
    fn auth_failed(&self, i: u64, errors: &VerifiedFile) -> VerifyError {
        errors.changed(&format!(
            "ciphertext chunk {i} failed authentication: the encrypted file was changed"
        ))
    }

    /// After a whole-file read: whether the ciphertext matched the outer signature.
    pub(super) fn finish(self) -> Result<(), String> {
        match self.outer {
            Some(check) => check
                .finish()
                .map_err(|reason| format!("its ciphertext is not the one signed: {reason}")),
            None => Ok(()),
        }
    }
}
