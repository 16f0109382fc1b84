//! Authenticating envelopes (`docs/FORMAT.md` §4, §6.3, §10 steps 1–8): building
//! `prefix ‖ header_bytes ‖ header_mac` for a new or rewrapped model, and reading one back — find
//! the model's form, parse the header under every limit, select and unwrap a stanza, verify the
//! MAC. The file-system moves that follow (temporaries, commit) are `crate::fs::commit`'s.
//!
//! Guarantee: an [`Opened`] exists only after the header parsed under every limit, one stanza
//! unwrapped, and the header MAC verified — the rest of the envelope module never acts on an
//! unauthenticated header.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::format::{
    decode_prefix, envelope_len, Header, Layout, Stanza, ENVELOPE_NAME, MAC_LEN, PREFIX_LEN,
};
use super::keyschedule::{body_digest, KeySchedule};
use super::SealError;
use crate::keys::wrapping::DataKey;
use crate::keys::wrapping::{Identity, WrapContext};

/// Where the encrypted model lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// A directory `E` with `E/modelseal.envelope`.
    Directory(PathBuf),
    /// One file.
    SingleFile(PathBuf),
}

/// An authenticated envelope.
pub struct Opened {
    /// The encrypted model's form.
    pub form: Form,
    /// The authenticated header.
    pub header: Header,
    /// The data key (zeroized on drop).
    pub dek: DataKey,
    /// `SHA-256(body_bytes)`.
    pub body_digest: [u8; 32],
    /// `46 + header_len`: where a single-file payload starts.
    pub envelope_len: u64,
    /// The file holding the envelope.
    pub envelope_path: PathBuf,
}

/// §10 step 1: the form of `encrypted`.
pub fn find_form(encrypted: &Path) -> Result<(Form, PathBuf), SealError> {
    let meta = encrypted
        .symlink_metadata()
        .map_err(|e| SealError::io(encrypted, e))?;
    if meta.is_dir() {
        let env = encrypted.join(ENVELOPE_NAME);
        if env.symlink_metadata().is_err() {
            return Err(SealError::format(
                encrypted,
                format!("not an encrypted model directory (no {ENVELOPE_NAME})"),
            ));
        }
        Ok((Form::Directory(encrypted.to_path_buf()), env))
    } else if meta.is_file() {
        Ok((
            Form::SingleFile(encrypted.to_path_buf()),
            encrypted.to_path_buf(),
        ))
    } else {
        Err(SealError::format(
            encrypted,
            "neither a directory nor a regular file",
        ))
    }
}

/// The parsed (not yet authenticated) envelope.
pub struct RawEnvelope {
    /// The encrypted model's form.
    pub form: Form,
    /// The file holding the envelope.
    pub envelope_path: PathBuf,
    /// `prefix ‖ header_bytes`: the MAC input.
    pub mac_input: Vec<u8>,
    /// The header MAC read from the file.
    pub mac: [u8; MAC_LEN],
    /// The decoded header (unauthenticated).
    pub header: Header,
}

/// §10 steps 1–4: read and parse the envelope with limits; nothing is authenticated yet (this is
/// what `inspect` shows).
pub fn read_envelope(encrypted: &Path) -> Result<RawEnvelope, SealError> {
    #[cfg(feature = "storage")]
    if let Some(url) = crate::location::Location::object(encrypted) {
        return Ok(super::remote::read_envelope(&url)?.raw);
    }
    let (form, env_path) = find_form(encrypted)?;
    let mut f = crate::fs::open_nofollow(&env_path).map_err(|e| SealError::io(&env_path, e))?;
    let meta = f.metadata().map_err(|e| SealError::io(&env_path, e))?;
    if !meta.is_file() {
        return Err(SealError::format(&env_path, "not a regular file"));
    }
    parse_envelope(form, env_path, &mut f, meta.len())
}

/// [`read_envelope`] of an encrypted directory whose envelope file's bytes the caller already
/// holds (verified loading reads them once, checked against a signature, and parses those).
pub fn envelope_from_bytes(encrypted: &Path, bytes: &[u8]) -> Result<RawEnvelope, SealError> {
    let env_path = encrypted.join(ENVELOPE_NAME);
    let form = Form::Directory(encrypted.to_path_buf());
    parse_envelope(form, env_path, &mut &bytes[..], bytes.len() as u64)
}

/// §10 steps 2–4 on the envelope `total` bytes long that `f` reads.
pub(crate) fn parse_envelope(
    form: Form,
    env_path: PathBuf,
    f: &mut impl Read,
    total: u64,
) -> Result<RawEnvelope, SealError> {
    let mut prefix = [0u8; PREFIX_LEN];
    read_full(f, &mut prefix, &env_path)?;
    let header_len = decode_prefix(&prefix, &env_path)?;
    let need = envelope_len(header_len) as u64;
    let fits = match form {
        Form::Directory(_) => need == total,
        Form::SingleFile(_) => need <= total,
    };
    if !fits {
        return Err(SealError::format(
            &env_path,
            format!("envelope of {need} bytes does not match the file length {total}"),
        ));
    }
    let mut mac_input = vec![0u8; PREFIX_LEN + header_len];
    mac_input[..PREFIX_LEN].copy_from_slice(&prefix);
    read_full(f, &mut mac_input[PREFIX_LEN..], &env_path)?;
    let mut mac = [0u8; MAC_LEN];
    read_full(f, &mut mac, &env_path)?;
    let header = Header::decode(&mac_input[PREFIX_LEN..], &env_path)?;
    let want = match form {
        Form::Directory(_) => Layout::Directory,
        Form::SingleFile(_) => Layout::SingleFile,
    };
    if header.body.layout != want {
        return Err(SealError::format(
            &env_path,
            format!(
                "layout {:?} does not match the input form",
                header.body.layout
            ),
        ));
    }
    Ok(RawEnvelope {
        form,
        envelope_path: env_path,
        mac_input,
        mac,
        header,
    })
}

fn read_full(f: &mut impl Read, buf: &mut [u8], path: &Path) -> Result<(), SealError> {
    f.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            SealError::format(path, "file ends inside the envelope")
        }
        _ => SealError::io(path, e),
    })
}

/// The stanza for `identity` (§8.1), or [`SealError::NoRecipient`] listing every stanza.
pub fn select<'h>(
    stanzas: &'h [Stanza],
    identity: &dyn Identity,
    path: &Path,
) -> Result<&'h Stanza, SealError> {
    identity
        .select(stanzas)
        .map_err(|e| with_path(e, path))?
        .ok_or_else(|| SealError::NoRecipient {
            path: path.to_path_buf(),
            stanza_type: identity.stanza_type().to_owned(),
            key_id: identity.key_id().to_owned(),
            recipients: stanzas
                .iter()
                .map(|s| format!("{} {}", s.stanza_type, s.key_id))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// §10 steps 1–8: parse, select, unwrap, verify the header MAC.
pub fn open_authenticated(encrypted: &Path, identity: &dyn Identity) -> Result<Opened, SealError> {
    authenticate(read_envelope(encrypted)?, identity)
}

/// §10 steps 5–8 on a parsed envelope: select a stanza, unwrap, verify the header MAC.
pub fn authenticate(raw: RawEnvelope, identity: &dyn Identity) -> Result<Opened, SealError> {
    let path = raw.envelope_path.clone();
    let digest = body_digest(&raw.header.body_bytes);
    let ctx = WrapContext {
        body_digest: digest,
        model_name: &raw.header.body.model_name,
    };
    let stanza = select(&raw.header.stanzas, identity, &path)?;
    let dek = identity
        .unwrap(stanza, &ctx)
        .map_err(|e| with_path(e, &path))?;
    if !dek.verify_header_mac(&raw.mac_input, &raw.mac) {
        return Err(SealError::HeaderAuth { path });
    }
    Ok(Opened {
        form: raw.form,
        envelope_len: raw.mac_input.len() as u64 + MAC_LEN as u64,
        header: raw.header,
        dek,
        body_digest: digest,
        envelope_path: path,
    })
}

/// Converts a key's error and fills in the envelope path of errors raised without one.
fn with_path(e: impl Into<SealError>, path: &Path) -> SealError {
    match e.into() {
        SealError::Unwrap {
            stanza_type,
            key_id,
            ..
        } => SealError::Unwrap {
            path: path.to_path_buf(),
            stanza_type,
            key_id,
        },
        SealError::UnwrapRefused {
            stanza_type,
            key_id,
            reason,
            ..
        } => SealError::UnwrapRefused {
            path: path.to_path_buf(),
            stanza_type,
            key_id,
            reason,
        },
        SealError::Format { path: p, reason } if p.as_os_str().is_empty() => SealError::Format {
            path: path.to_path_buf(),
            reason,
        },
        other => other,
    }
}

/// `prefix ‖ header_bytes ‖ header_mac` for `header` under `dek` (§4.1, §6.3).
pub fn build_envelope(header: &Header, dek: &DataKey) -> Result<Vec<u8>, SealError> {
    let header_bytes = header.encode()?;
    let mut out = super::format::encode_prefix(header_bytes.len())?.to_vec();
    out.extend_from_slice(&header_bytes);
    let mac = dek.header_mac(&out);
    out.extend_from_slice(&mac);
    Ok(out)
}
