//! The error of the PKCS#11 backend: the URI concerned (canonical, never a PIN) and what went wrong.
//!
//! Every kind is an access or configuration problem (CLI exit 2, Python `KeyAccessError`), except
//! that a wrapper reports a stanza that does not unwrap as `SealError::Unwrap` itself (exit 1).

/// A PKCS#11 failure, naming the key's URI.
#[derive(Debug, thiserror::Error)]
#[error("{uri}: {kind}")]
pub struct Pkcs11Error {
    /// The canonical URI (or, for one that did not parse, the redacted reference).
    pub uri: String,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// What went wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Neither `module-path=` nor `MODELSEAL_PKCS11_MODULE` names a library.
    #[error(
        "no PKCS#11 module: add ?module-path=/path/to/module.so or set MODELSEAL_PKCS11_MODULE"
    )]
    NoModule,
    /// The library could not be loaded or initialised.
    #[error("PKCS#11 module {module}: {reason}")]
    Module {
        /// The library path.
        module: String,
        /// Why.
        reason: String,
    },
    /// No token, or more than one, matches the URI.
    #[error("{0}")]
    Token(String),
    /// No object, more than one, or one of the wrong kind.
    #[error("{0}")]
    Object(String),
    /// The PIN could not be obtained (file unreadable or too permissive, no terminal).
    #[error("{0}")]
    Pin(String),
    /// `C_Login` said the PIN is wrong. Not retried: tokens lock after a few failures.
    #[error("the token rejected the PIN (CKR_PIN_INCORRECT); not retrying, because tokens lock after a few wrong PINs; check the pin-source file")]
    PinIncorrect,
    /// The user PIN is locked.
    #[error("the token's user PIN is locked (CKR_PIN_LOCKED); an administrator must unlock it")]
    PinLocked,
    /// The token lacks a mechanism modelseal needs.
    #[error("the token does not support {0}")]
    Mechanism(String),
    /// The key is of a kind modelseal cannot use for this purpose.
    #[error("{0}")]
    Unsupported(String),
    /// A token call failed.
    #[error("{call} failed: {reason}")]
    Call {
        /// The PKCS#11 function.
        call: &'static str,
        /// The return value or library error.
        reason: String,
    },
}

impl Pkcs11Error {
    /// An error about `uri` (anything whose `Display` is the canonical URI).
    pub(crate) fn new(uri: impl std::fmt::Display, kind: ErrorKind) -> Pkcs11Error {
        Pkcs11Error {
            uri: uri.to_string(),
            kind,
        }
    }
}

/// `C_x failed: CKR_…`-style reason from a cryptoki error (which never carries a PIN).
pub(crate) fn call(call: &'static str, err: &cryptoki::error::Error) -> ErrorKind {
    ErrorKind::Call {
        call,
        reason: describe(err),
    }
}

/// The short name of a cryptoki error: the PKCS#11 return value, or the library error.
pub(crate) fn describe(err: &cryptoki::error::Error) -> String {
    match err {
        cryptoki::error::Error::Pkcs11(rv, _) => format!("CKR_{}", screaming(&format!("{rv:?}"))),
        other => other.to_string(),
    }
}

/// `PinIncorrect` → `PIN_INCORRECT`, as the PKCS#11 headers spell return values.
fn screaming(camel: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = camel.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        if i > 0 && c.is_uppercase() && (prev_lower || next_lower) {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out.replace("P_I_N", "PIN")
}

/// The return value of a cryptoki error, if it came from the token.
pub(crate) fn rv(err: &cryptoki::error::Error) -> Option<cryptoki::error::RvError> {
    match err {
        cryptoki::error::Error::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;
    use cryptoki::error::{Error, RvError};

    #[test]
    fn return_values_read_like_the_headers() {
        let e = Error::Pkcs11(RvError::PinIncorrect, Function::Login);
        assert_eq!(describe(&e), "CKR_PIN_INCORRECT");
        let e = Error::Pkcs11(RvError::MechanismInvalid, Function::Sign);
        assert_eq!(describe(&e), "CKR_MECHANISM_INVALID");
        let e = Error::Pkcs11(RvError::ArgumentsBad, Function::Decrypt);
        assert_eq!(describe(&e), "CKR_ARGUMENTS_BAD");
        let err = Pkcs11Error::new("pkcs11:object=o", ErrorKind::PinIncorrect);
        assert!(err
            .to_string()
            .starts_with("pkcs11:object=o: the token rejected the PIN"));
    }
}
