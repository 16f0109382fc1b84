//! The exception hierarchy `modelseal.Error` ⊃ `VerificationError`, `DecryptionError`,
//! `KeyAccessError`, `FormatError`, `ScanError`, and the mapping of core errors onto it.

use modelseal::deploy::DeployError;
use modelseal::envelope::SealError;
use modelseal::keys::KeyError;
use modelseal::report::error_chain;
use modelseal::sign::SignError;
use modelseal::trust::{TrustChoice, TrustError};
use modelseal::verify::VerifyError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    modelseal,
    Error,
    PyException,
    "Base class of every modelseal error."
);
create_exception!(
    modelseal,
    VerificationError,
    Error,
    "The model or signature is not what a trusted signer signed."
);
create_exception!(
    modelseal,
    DecryptionError,
    Error,
    "An encrypted model failed to decrypt or authenticate."
);
create_exception!(
    modelseal,
    KeyAccessError,
    Error,
    "A key could not be read, parsed or used."
);
create_exception!(
    modelseal,
    ScanError,
    Error,
    "The content gate found credentials in the model: nothing was signed or written."
);
create_exception!(
    modelseal,
    FormatError,
    Error,
    "A signature or encrypted file is malformed."
);

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("VerificationError", py.get_type::<VerificationError>())?;
    m.add("DecryptionError", py.get_type::<DecryptionError>())?;
    m.add("KeyAccessError", py.get_type::<KeyAccessError>())?;
    m.add("FormatError", py.get_type::<FormatError>())?;
    m.add("ScanError", py.get_type::<ScanError>())?;
    Ok(())
}

pub fn key_error(err: KeyError) -> PyErr {
    KeyAccessError::new_err(err.to_string())
}

/// A trust that could not be chosen (`Error`) or read (`KeyAccessError`, with its causes).
pub fn trust_error(err: TrustError) -> PyErr {
    match err {
        TrustError::Choice(TrustChoice::HalfKeyless) => Error::new_err(
            "keyless verification needs both sigstore_identity= and sigstore_issuer=",
        ),
        TrustError::Choice(_) => Error::new_err(
            "give exactly one of key=, cert_chain= or sigstore_identity= with sigstore_issuer=",
        ),
        other => KeyAccessError::new_err(error_chain(&other)),
    }
}

pub fn sign_error(err: SignError) -> PyErr {
    match &err {
        SignError::Key(e) => KeyAccessError::new_err(e.to_string()),
        SignError::OpenKey { .. } => KeyAccessError::new_err(error_chain(&err)),
        SignError::Credentials(_) => ScanError::new_err(err.to_string()),
        other => Error::new_err(other.to_string()),
    }
}

pub fn verify_error(err: VerifyError) -> PyErr {
    if err.class().is_failure() {
        return VerificationError::new_err(err.reasons().join("\n"));
    }
    match err {
        VerifyError::Malformed { .. } => FormatError::new_err(err.to_string()),
        VerifyError::TrustInput(e) => trust_error(e),
        other => Error::new_err(other.to_string()),
    }
}

/// Maps a seal or unseal error: a denial is `VerificationError`, the rest as their layer maps.
pub fn deploy_error(err: DeployError) -> PyErr {
    match err {
        DeployError::Denied { .. } => VerificationError::new_err(err.reasons().join("\n")),
        DeployError::Seal(e) => seal_error(e),
        DeployError::Sign(e) => sign_error(e),
        DeployError::Verify(e) => verify_error(e),
        other => Error::new_err(other.to_string()),
    }
}

/// Maps a seal error: authentication failures (wrong key, tampered, truncated) are
/// `DecryptionError`, malformed input `FormatError`, key problems `KeyAccessError`, the rest `Error`.
pub fn seal_error(err: SealError) -> PyErr {
    if err.class().is_failure() {
        return DecryptionError::new_err(err.to_string());
    }
    match err {
        SealError::Format { .. } | SealError::Version { .. } | SealError::Limit { .. } => {
            FormatError::new_err(err.to_string())
        }
        SealError::Key { .. } => KeyAccessError::new_err(err.to_string()),
        other => Error::new_err(other.to_string()),
    }
}

/// Maps an I/O error from the seekable reader, which carries a [`SealError`] when decryption or
/// authentication failed.
pub fn reader_error(err: std::io::Error) -> PyErr {
    if err
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<SealError>().is_some())
    {
        if let Some(inner) = err.into_inner() {
            if let Ok(seal) = inner.downcast::<SealError>() {
                return seal_error(*seal);
            }
        }
        return Error::new_err("read failed");
    }
    pyo3::exceptions::PyOSError::new_err(err.to_string())
}
