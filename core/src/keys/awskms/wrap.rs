//! `awskms` recipient stanzas (`docs/FORMAT.md` §8.7): the data key is wrapped by KMS `Encrypt` and
//! unwrapped by KMS `Decrypt` under a symmetric KMS key (`SYMMETRIC_DEFAULT`), with an encryption
//! context that binds the model name and the body digest.
//!
//! Guarantees: exactly one KMS request per recipient on encrypt (`Encrypt`) and one on decrypt
//! (`Decrypt`) — never per file. Decrypt passes the user's key as `KeyId`, so KMS itself refuses a
//! stanza of another key, and the answer's `KeyId` must equal the stanza's `key_id`. A stanza is
//! selected without a KMS request when the reference decides it (key ARN, key id, or an alias when
//! the envelope has one `awskms` stanza); only an alias facing several `awskms` stanzas costs one
//! `DescribeKey` (which decrypts nothing).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::client::KmsClient;
use super::{KmsError, KmsKeyRef};
use crate::keys::error::KeyError;
use crate::keys::wrapping::{
    DataKey, Identity, ParamValue, Recipient, Stanza, StanzaKey, WrapContext, MAX_KEY_ID_LEN,
    MAX_WRAPPED_LEN,
};
use crate::rng::Entropy;

pub use super::STANZA_TYPE;
/// `params[1]`: the only KMS encryption algorithm this stanza type uses.
pub const ALGORITHM: &str = "SYMMETRIC_DEFAULT";

/// The encryption context of §8.7: exactly these three entries.
pub fn encryption_context(ctx: &WrapContext<'_>) -> [(&'static str, String); 3] {
    [
        ("modelseal:format", "1".to_owned()),
        ("modelseal:model", ctx.model_name.to_owned()),
        ("modelseal:body-sha256", hex::encode(ctx.body_digest)),
    ]
}

/// A recipient (and identity) whose key stays in AWS KMS.
pub(crate) struct KmsWrapper {
    reference: KmsKeyRef,
    client: KmsClient,
    /// The key ARN, once known: from the reference itself, or from KMS's answer.
    arn: OnceLock<String>,
}

impl std::fmt::Debug for KmsWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KmsWrapper({})", self.reference)
    }
}

impl KmsWrapper {
    /// Prepares the SDK client for `reference`; no KMS request is made until a wrap or unwrap.
    pub(crate) fn open(reference: &KmsKeyRef) -> Result<KmsWrapper, KmsError> {
        let arn = OnceLock::new();
        if reference.kind() == super::KmsKeyKind::KeyArn {
            let _ = arn.set(reference.key().to_owned());
        }
        Ok(KmsWrapper {
            reference: reference.clone(),
            client: KmsClient::connect(reference)?,
            arn,
        })
    }

    /// The error for a KMS failure during unwrap: a ciphertext KMS rejects is an authentication
    /// failure (exit 1); access, configuration and transport problems are key errors (exit 2).
    fn unwrap_error(&self, stanza: &Stanza, err: KmsError) -> KeyError {
        if err.is_ciphertext_rejection() {
            self.refused(stanza, err.to_string())
        } else {
            err.into()
        }
    }

    fn refused(&self, stanza: &Stanza, reason: String) -> KeyError {
        KeyError::UnwrapRefused {
            stanza_type: STANZA_TYPE.to_owned(),
            key_id: stanza.key_id.clone(),
            reason,
        }
    }

    fn bad_answer(&self, operation: &'static str, reason: String) -> KeyError {
        KmsError::Response {
            reference: self.reference.to_string(),
            operation,
            reason,
        }
        .into()
    }
}

impl StanzaKey for KmsWrapper {
    fn stanza_type(&self) -> &str {
        STANZA_TYPE
    }

    /// The key ARN when known, else the key as the user named it (an alias or key id).
    fn key_id(&self) -> &str {
        self.arn
            .get()
            .map_or_else(|| self.reference.key(), String::as_str)
    }
}

impl Recipient for KmsWrapper {
    fn wrap(
        &self,
        dek: &DataKey,
        ctx: &WrapContext<'_>,
        _entropy: &mut dyn Entropy,
    ) -> Result<Stanza, KeyError> {
        let context = encryption_context(ctx);
        let (wrapped, arn) = self
            .client
            .encrypt(dek.expose(), &context)
            .map_err(KeyError::from)?;
        if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_LEN {
            return Err(self.bad_answer(
                "Encrypt",
                format!(
                    "a CiphertextBlob of {} bytes (1..={MAX_WRAPPED_LEN} fit a stanza)",
                    wrapped.len()
                ),
            ));
        }
        if arn.is_empty()
            || arn.len() > MAX_KEY_ID_LEN
            || !arn.bytes().all(|b| (0x21..=0x7E).contains(&b))
            || self.reference.matches_key_arn(&arn) == Some(false)
        {
            return Err(self.bad_answer("Encrypt", format!("unusable key ARN {arn:?}")));
        }
        let _ = self.arn.set(arn.clone());
        Ok(Stanza {
            stanza_type: STANZA_TYPE.into(),
            key_id: arn,
            wrapped,
            params: BTreeMap::from([(1, ParamValue::Text(ALGORITHM.into()))]),
        })
    }
}

impl Identity for KmsWrapper {
    fn select<'h>(&self, stanzas: &'h [Stanza]) -> Result<Option<&'h Stanza>, KeyError> {
        let mut candidates = stanzas.iter().filter(|s| {
            s.stanza_type == STANZA_TYPE && self.reference.matches_key_arn(&s.key_id) != Some(false)
        });
        let (first, second) = (candidates.next(), candidates.next());
        let exact = matches!(
            self.reference.kind(),
            super::KmsKeyKind::KeyArn | super::KmsKeyKind::KeyId
        );
        if second.is_none() || exact {
            // Unambiguous: at most one candidate, or the reference decides exactly (a key ARN or
            // key id matches at most one stanza, as (type, key_id) pairs are unique).
            return Ok(first);
        }
        // An alias facing several KMS stanzas: ask KMS which key it names (decrypts nothing).
        let arn = self.client.describe_key_arn().map_err(KeyError::from)?;
        let _ = self.arn.set(arn.clone());
        Ok(stanzas
            .iter()
            .find(|s| s.stanza_type == STANZA_TYPE && s.key_id == arn))
    }

    fn unwrap(&self, stanza: &Stanza, ctx: &WrapContext<'_>) -> Result<DataKey, KeyError> {
        let context = encryption_context(ctx);
        let (plaintext, arn) = self
            .client
            .decrypt(&stanza.wrapped, &context)
            .map_err(|e| self.unwrap_error(stanza, e))?;
        if arn != stanza.key_id {
            return Err(self.refused(
                stanza,
                format!("KMS decrypted it with {arn}, not the stanza's key"),
            ));
        }
        let _ = self.arn.set(arn);
        DataKey::from_slice(&plaintext).ok_or_else(|| {
            self.refused(
                stanza,
                format!(
                    "KMS returned {} bytes, not a 32-byte data key",
                    plaintext.len()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_context_is_exactly_the_three_entries() {
        let ctx = WrapContext {
            body_digest: [0xab; 32],
            model_name: "prod/llm",
        };
        let c = encryption_context(&ctx);
        assert_eq!(c[0], ("modelseal:format", "1".to_owned()));
        assert_eq!(c[1], ("modelseal:model", "prod/llm".to_owned()));
        assert_eq!(c[2], ("modelseal:body-sha256", "ab".repeat(32)));
    }
}
