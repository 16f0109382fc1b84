//! [`Signer`] over an asymmetric KMS key: KMS `Sign` with `MessageType=DIGEST` over the locally
//! computed hash of the DSSE PAE (`ECDSA_SHA_256` for `ECC_NIST_P256`, `ECDSA_SHA_384` for
//! `ECC_NIST_P384`).
//!
//! Guarantees: the public key comes from one `GetPublicKey` at open (cached for the run) and gives
//! the bundle's key hint; every signature KMS returns is verified locally under that key before it
//! is used, so a KMS (or emulator) that signs something else can never produce a bad bundle. The
//! message itself never leaves the machine, only its digest — which also keeps `Sign` within KMS's
//! 4096-byte message limit whatever the statement's size.

use aws_sdk_kms::types::SigningAlgorithmSpec;
use sha2::Digest as _;

use super::client::KmsClient;
use super::{KmsError, KmsKeyRef};
use crate::keys::{KeyAlgorithm, KeyError, PublicKey, Signer};

/// A signer whose private key stays in AWS KMS.
pub(crate) struct KmsSigner {
    reference: KmsKeyRef,
    client: KmsClient,
    public: PublicKey,
    /// The key as `GetPublicKey` named it (its ARN on AWS).
    key: String,
    /// `ECDSA_SHA_256` (P-256) or `ECDSA_SHA_384` (P-384).
    algorithm: SigningAlgorithmSpec,
}

impl KmsSigner {
    /// Opens the signing key `reference`: one `GetPublicKey` request.
    pub(crate) fn open(reference: &KmsKeyRef) -> Result<KmsSigner, KeyError> {
        let client = KmsClient::connect(reference)?;
        let info = client.get_public_key()?;
        let refuse = |reason: String| {
            KeyError::from(KmsError::Response {
                reference: reference.to_string(),
                operation: "GetPublicKey",
                reason,
            })
        };
        if !info.signs {
            return Err(refuse("the key is not a SIGN_VERIFY key".into()));
        }
        // The curve comes from the public key itself; KMS must allow the matching algorithm.
        let public = PublicKey::from_spki_der(&info.spki_der)
            .map_err(|e| refuse(format!("public key: {e}")))?;
        let algorithm = signing_algorithm(public.algorithm()).ok_or_else(|| {
            refuse(format!(
                "{} keys cannot sign here (use ECC_NIST_P256 or ECC_NIST_P384)",
                public.algorithm().name()
            ))
        })?;
        if !info.signing_algorithms.contains(&algorithm) {
            return Err(refuse(format!(
                "KMS does not allow {} for this key",
                algorithm.as_str()
            )));
        }
        Ok(KmsSigner {
            reference: reference.clone(),
            client,
            public,
            key: info.key,
            algorithm,
        })
    }
}

impl std::fmt::Debug for KmsSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsSigner")
            .field("reference", &self.reference.to_string())
            .field("key", &self.key)
            .field("algorithm", &self.public.algorithm().name())
            .finish_non_exhaustive()
    }
}

impl Signer for KmsSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn certificate_chain(&self) -> &[Vec<u8>] {
        &[]
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        // The hash must be the curve's, as the signing algorithm says (OMS verifiers hash the
        // PAE with it), so the digest is computed here and signed by KMS as is.
        let digest = match self.algorithm {
            SigningAlgorithmSpec::EcdsaSha384 => sha2::Sha384::digest(message).to_vec(),
            _ => sha2::Sha256::digest(message).to_vec(),
        };
        let signature = self.client.sign_digest(&digest, self.algorithm.clone())?;
        self.public.verify(message, &signature).map_err(|_| {
            KeyError::Signing(format!(
                "{}: the signature KMS Sign returned does not verify under the key's public key",
                self.reference
            ))
        })?;
        Ok(signature)
    }

    fn key_id(&self) -> String {
        format!("awskms:///{}", self.key)
    }
}

/// The KMS signing algorithm for a curve: the curve's hash, as OMS verifiers expect.
fn signing_algorithm(algorithm: KeyAlgorithm) -> Option<SigningAlgorithmSpec> {
    match algorithm {
        KeyAlgorithm::EcP256 => Some(SigningAlgorithmSpec::EcdsaSha256),
        KeyAlgorithm::EcP384 => Some(SigningAlgorithmSpec::EcdsaSha384),
        _ => None,
    }
}
