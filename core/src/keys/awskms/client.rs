//! The blocking facade over the AWS SDK for Rust: one KMS client per key reference, driven by a
//! private current-thread tokio runtime, so the rest of modelseal stays synchronous.
//!
//! Guarantees: region and credentials come only from the SDK's standard chain (environment,
//! profile, web identity token file, container and instance metadata) — modelseal reads no
//! credentials itself; an ARN's region overrides the chain's, because KMS keys are regional.
//! Every request has explicit timeouts and the SDK's standard retry mode (exponential backoff with
//! jitter on throttling and transient errors). Each method is exactly one KMS API request as
//! the caller sees it (retries of that request aside). Must not be called from inside a tokio
//! runtime (the facade owns its own).

use std::net::IpAddr;

use aws_config::Region;
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    EncryptionAlgorithmSpec, KeyUsageType, MessageType, SigningAlgorithmSpec,
};
use zeroize::Zeroizing;

use super::{KmsError, KmsKeyRef};

/// What `GetPublicKey` says about a key.
pub(crate) struct PublicKeyInfo {
    /// The key as KMS named it in the answer (the key ARN on AWS).
    pub key: String,
    /// SubjectPublicKeyInfo DER.
    pub spki_der: Vec<u8>,
    /// The signing algorithms KMS allows for the key.
    pub signing_algorithms: Vec<SigningAlgorithmSpec>,
    /// Whether the key is a signing key.
    pub signs: bool,
}

/// A KMS client for one key reference.
pub(crate) struct KmsClient {
    reference: KmsKeyRef,
    runtime: tokio::runtime::Runtime,
    client: aws_sdk_kms::Client,
}

impl KmsClient {
    /// Loads the SDK configuration for `reference` (no request is made yet).
    pub(crate) fn connect(reference: &KmsKeyRef) -> Result<KmsClient, KmsError> {
        let config_err = |reason: String| KmsError::Config {
            reference: reference.to_string(),
            reason,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| config_err(format!("cannot start the I/O runtime: {e}")))?;
        // The identity, timeouts and retry mode shared with S3 and Secrets Manager (`aws`).
        let mut loader = crate::aws::loader();
        if let Some(region) = reference.arn_region() {
            loader = loader.region(Region::new(region.to_owned()));
        }
        let sdk = runtime.block_on(loader.load());
        if sdk.region().is_none() {
            return Err(config_err(
                "no AWS region: set AWS_REGION (or a profile's region), or name the key by its ARN"
                    .into(),
            ));
        }
        let mut config = aws_sdk_kms::config::Builder::from(&sdk);
        if let Some(endpoint) = reference.endpoint() {
            config = config.endpoint_url(endpoint_url(endpoint));
        }
        Ok(KmsClient {
            reference: reference.clone(),
            runtime,
            client: aws_sdk_kms::Client::from_conf(config.build()),
        })
    }

    /// `GetPublicKey`.
    pub(crate) fn get_public_key(&self) -> Result<PublicKeyInfo, KmsError> {
        const OP: &str = "GetPublicKey";
        let out = self
            .runtime
            .block_on(
                self.client
                    .get_public_key()
                    .key_id(self.reference.key())
                    .send(),
            )
            .map_err(|e| self.sdk_error(OP, e))?;
        Ok(PublicKeyInfo {
            key: self.required(OP, "KeyId", out.key_id())?.to_owned(),
            spki_der: self
                .required(OP, "PublicKey", out.public_key())?
                .as_ref()
                .to_vec(),
            signing_algorithms: out.signing_algorithms().to_vec(),
            signs: out.key_usage() == Some(&KeyUsageType::SignVerify),
        })
    }

    /// `Sign` with `MessageType=DIGEST`: KMS signs `digest` as is; the signature is DER ECDSA.
    pub(crate) fn sign_digest(
        &self,
        digest: &[u8],
        algorithm: SigningAlgorithmSpec,
    ) -> Result<Vec<u8>, KmsError> {
        const OP: &str = "Sign";
        let out = self
            .runtime
            .block_on(
                self.client
                    .sign()
                    .key_id(self.reference.key())
                    .message(Blob::new(digest))
                    .message_type(MessageType::Digest)
                    .signing_algorithm(algorithm)
                    .send(),
            )
            .map_err(|e| self.sdk_error(OP, e))?;
        Ok(self
            .required(OP, "Signature", out.signature())?
            .as_ref()
            .to_vec())
    }

    /// `Encrypt` (`SYMMETRIC_DEFAULT`) of `plaintext` under `context`: the ciphertext blob and the
    /// key ARN that KMS used.
    pub(crate) fn encrypt(
        &self,
        plaintext: &[u8],
        context: &[(&str, String)],
    ) -> Result<(Vec<u8>, String), KmsError> {
        const OP: &str = "Encrypt";
        let mut request = self
            .client
            .encrypt()
            .key_id(self.reference.key())
            .plaintext(Blob::new(plaintext))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault);
        for (k, v) in context {
            request = request.encryption_context(*k, v);
        }
        let out = self
            .runtime
            .block_on(request.send())
            .map_err(|e| self.sdk_error(OP, e))?;
        let blob = self
            .required(OP, "CiphertextBlob", out.ciphertext_blob())?
            .as_ref()
            .to_vec();
        Ok((blob, self.required(OP, "KeyId", out.key_id())?.to_owned()))
    }

    /// `Decrypt` (`SYMMETRIC_DEFAULT`, `KeyId` = the reference's key) under `context`: the
    /// plaintext (zeroized on drop) and the key ARN that KMS used.
    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        context: &[(&str, String)],
    ) -> Result<(Zeroizing<Vec<u8>>, String), KmsError> {
        const OP: &str = "Decrypt";
        let mut request = self
            .client
            .decrypt()
            .key_id(self.reference.key())
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_algorithm(EncryptionAlgorithmSpec::SymmetricDefault);
        for (k, v) in context {
            request = request.encryption_context(*k, v);
        }
        let mut out = self
            .runtime
            .block_on(request.send())
            .map_err(|e| self.sdk_error(OP, e))?;
        // Take the plaintext out of the response so that our copy is wiped on drop.
        let plaintext = Zeroizing::new(
            out.plaintext
                .take()
                .ok_or_else(|| self.missing(OP, "Plaintext"))?
                .into_inner(),
        );
        let arn = self.required(OP, "KeyId", out.key_id())?.to_owned();
        Ok((plaintext, arn))
    }

    /// `DescribeKey`: the key ARN an alias or key id stands for (decrypts nothing).
    pub(crate) fn describe_key_arn(&self) -> Result<String, KmsError> {
        const OP: &str = "DescribeKey";
        let out = self
            .runtime
            .block_on(
                self.client
                    .describe_key()
                    .key_id(self.reference.key())
                    .send(),
            )
            .map_err(|e| self.sdk_error(OP, e))?;
        let arn = out.key_metadata().and_then(|m| m.arn());
        Ok(self.required(OP, "KeyMetadata.Arn", arn)?.to_owned())
    }

    fn required<'v, T: ?Sized>(
        &self,
        operation: &'static str,
        field: &str,
        value: Option<&'v T>,
    ) -> Result<&'v T, KmsError> {
        value.ok_or_else(|| self.missing(operation, field))
    }

    fn missing(&self, operation: &'static str, field: &str) -> KmsError {
        KmsError::Response {
            reference: self.reference.to_string(),
            operation,
            reason: format!("the response has no {field}"),
        }
    }

    /// A service error keeps KMS's code and message; anything else (no credentials, timeout,
    /// connection refused) is described with its whole chain of causes.
    fn sdk_error<E, R>(&self, operation: &'static str, err: SdkError<E, R>) -> KmsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match &err {
            SdkError::ServiceError(ctx) => KmsError::Service {
                reference: self.reference.to_string(),
                operation,
                code: ctx.err().code().unwrap_or("UnknownError").to_owned(),
                message: ctx.err().message().unwrap_or("").to_owned(),
            },
            _ => KmsError::Transport {
                reference: self.reference.to_string(),
                operation,
                reason: DisplayErrorContext(&err).to_string(),
            },
        }
    }
}

/// The endpoint URL of `awskms://HOST[:PORT]/…`: HTTPS, except plain HTTP for a loopback host (a
/// local KMS such as moto or LocalStack, whose traffic never leaves the machine).
fn endpoint_url(authority: &str) -> String {
    let host = authority
        .strip_prefix('[')
        .and_then(|v6| v6.split_once(']').map(|(h, _)| h))
        .unwrap_or_else(|| authority.split(':').next().unwrap_or(authority));
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let scheme = if loopback { "http" } else { "https" };
    format!("{scheme}://{authority}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_use_http_others_https() {
        assert_eq!(endpoint_url("127.0.0.1:4566"), "http://127.0.0.1:4566");
        assert_eq!(endpoint_url("localhost:4566"), "http://localhost:4566");
        assert_eq!(endpoint_url("[::1]:4566"), "http://[::1]:4566");
        assert_eq!(endpoint_url("kms.internal:443"), "https://kms.internal:443");
        assert_eq!(endpoint_url("10.0.0.1"), "https://10.0.0.1");
    }
}
