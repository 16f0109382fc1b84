//! `awssm://`: one `GetSecretValue` per secret and version per process (see [`super::resolve`]),
//! with credentials from the SDK's standard chain (environment, profile, web identity token file —
//! the OIDC path of CI runners and Kubernetes service accounts —, container and instance
//! metadata); modelseal reads no credentials itself. The SDK configuration is loaded once per
//! process and reused by every secret, on one private current-thread runtime, with the identity,
//! timeouts and retry mode shared with KMS and S3 (`aws`; feature `awssm`). The value is copied into a zeroizing
//! buffer at once; the SDK's own answer is dropped right after (its `Debug` redacts the value).

use super::{AwsSecretRef, SecretBytes};

/// The string field `key` of the JSON object `whole`; every string of the parsed object is wiped
/// before it is dropped.
pub(super) fn json_field(whole: &[u8], key: &str) -> Result<SecretBytes, String> {
    use zeroize::Zeroize as _;
    let mut object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(whole)
        .map_err(|_| format!("json-key={key}: the secret is not a JSON object"))?;
    let found = match object.get(key) {
        Some(serde_json::Value::String(s)) => Ok(zeroize::Zeroizing::new(s.as_bytes().to_vec())),
        Some(_) => Err(format!("json-key={key}: the field is not a string")),
        None => Err(format!("json-key={key}: the secret has no such field")),
    };
    for value in object.values_mut() {
        if let serde_json::Value::String(s) = value {
            s.zeroize();
        }
    }
    found
}

/// Fetches the secret (its `SecretString`, or `SecretBinary`) with one `GetSecretValue`.
pub(super) fn fetch(reference: &AwsSecretRef) -> Result<SecretBytes, String> {
    #[cfg(feature = "awssm")]
    {
        client::get_secret_value(reference)
    }
    #[cfg(not(feature = "awssm"))]
    {
        let _ = reference;
        Err("AWS Secrets Manager secrets are not supported by this build (built without the awssm feature)".into())
    }
}

#[cfg(feature = "awssm")]
mod client {
    //! The blocking facade over the SDK: one configuration, runtime and HTTP client per process.

    use super::{AwsSecretRef, SecretBytes};
    use aws_config::{Region, SdkConfig};
    use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
    use std::sync::OnceLock;
    use zeroize::Zeroizing;

    /// The runtime and SDK configuration, loaded on first use and shared by every secret: the
    /// credential chain (a web identity exchange, an IMDS round trip) runs once per process.
    struct Session {
        runtime: tokio::runtime::Runtime,
        sdk: SdkConfig,
    }

    static SESSION: OnceLock<Result<Session, String>> = OnceLock::new();

    fn session() -> Result<&'static Session, String> {
        SESSION
            .get_or_init(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
                // The process's AWS identity, timeouts and retry mode (`aws`).
                let sdk = runtime.block_on(crate::aws::loader().load());
                Ok(Session { runtime, sdk })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// One `GetSecretValue`.
    pub(super) fn get_secret_value(reference: &AwsSecretRef) -> Result<SecretBytes, String> {
        let session = session()?;
        let mut config = aws_sdk_secretsmanager::config::Builder::from(&session.sdk);
        if let Some(region) = reference.arn_region() {
            config = config.region(Region::new(region.to_owned()));
        } else if session.sdk.region().is_none() {
            return Err("no AWS region: set AWS_REGION (or a profile's region), or name the secret by its ARN".into());
        }
        let client = aws_sdk_secretsmanager::Client::from_conf(config.build());
        let answer = session
            .runtime
            .block_on(
                client
                    .get_secret_value()
                    .secret_id(reference.secret_id())
                    .set_version_id(reference.version_id().map(str::to_owned))
                    .send(),
            )
            .map_err(|e| match &e {
                SdkError::ServiceError(service) => {
                    let err = service.err();
                    let status = service.raw().status().as_u16();
                    match err.code() {
                        Some(code) => format!(
                            "Secrets Manager GetSecretValue failed: {code}: {}",
                            err.message().unwrap_or("no message")
                        ),
                        // An answer whose error body the SDK could not read: say what its
                        // status means, which is all there is.
                        None => format!(
                            "Secrets Manager GetSecretValue failed: HTTP {status}{}",
                            match status {
                                401 | 403 => " (access denied)",
                                404 => " (not found)",
                                _ => "",
                            }
                        ),
                    }
                }
                _ => format!(
                    "Secrets Manager GetSecretValue failed: {}",
                    DisplayErrorContext(&e)
                ),
            })?;
        if let Some(text) = answer.secret_string() {
            return Ok(Zeroizing::new(text.as_bytes().to_vec()));
        }
        if let Some(blob) = answer.secret_binary() {
            return Ok(Zeroizing::new(blob.as_ref().to_vec()));
        }
        Err("Secrets Manager GetSecretValue returned neither SecretString nor SecretBinary".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_are_taken_as_strings_only() {
        let whole = br#"{"pin": "1234", "n": 5}"#;
        assert_eq!(&json_field(whole, "pin").unwrap()[..], b"1234");
        assert!(json_field(whole, "n").unwrap_err().contains("not a string"));
        assert!(json_field(whole, "x")
            .unwrap_err()
            .contains("no such field"));
        let err = json_field(b"1234", "pin").unwrap_err();
        assert!(
            err.contains("not a JSON object") && !err.contains("1234"),
            "{err}"
        );
    }
}
