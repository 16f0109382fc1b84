//! The AWS identity of this process, shared by every AWS client modelseal makes: S3
//! (`location`, through `object_store`), KMS (`keys::awskms`) and Secrets Manager
//! (`keys::secret`, `awssm://`).
//!
//! Guarantees:
//! - credentials come only from the SDK's standard chain (environment, profile files, web identity
//!   token file, SSO, container and instance metadata), resolved **once** per process at first
//!   use, and again only when they are about to expire; every client asks the same cache, so S3
//!   and KMS always act as the same identity (one `AssumeRoleWithWebIdentity` per process, not
//!   one per client);
//! - every client takes the same timeouts and the standard retry mode (exponential backoff with
//!   jitter on throttling and transient errors), so all services behave alike on a slow or absent
//!   endpoint;
//! - nothing here prints a credential: the SDK's `Credentials` redacts its `Debug`, and
//!   [`S3Credentials`] shows only that it is the shared identity.
//!
//! Why on floor 1 (beside `location`): S3 reads (floor 1) and the key backends (floors 3 and 5)
//! both use it, and a module may only import its own floor or lower ones.

#[cfg(any(feature = "awskms", feature = "awssm"))]
pub(crate) use clients::loader;

use aws_credential_types::provider::{self, future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Credentials that expire within this margin are resolved again before use (a request signed
/// with them could outlive them).
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The SDK clients' settings (KMS, Secrets Manager); S3 goes through `object_store`, which has
/// its own timeouts and retries.
#[cfg(any(feature = "awskms", feature = "awssm"))]
mod clients {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    use aws_config::{BehaviorVersion, ConfigLoader};
    use std::time::Duration;

    /// Connect timeout: an AWS endpoint answers the TCP handshake within milliseconds when reachable.
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
    /// One attempt of one request (KMS and Secrets Manager answer in tens of milliseconds; this bounds a
    /// hung connection).
    const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
    /// One request including its retries and backoff.
    const OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
    /// Attempts per request in the SDK's standard retry mode (the first one included).
    const MAX_ATTEMPTS: u32 = 4;

    /// The loader of the SDK configuration, with modelseal's timeouts and retry mode and the shared
    /// identity ([`credentials`]); the caller may set a region before `load()`.
    pub(crate) fn loader() -> ConfigLoader {
        aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .credentials_provider(crate::aws::credentials())
    }
}

/// The process's one credentials provider: the SDK's default chain behind one cache.
pub(crate) fn credentials() -> SharedCredentialsProvider {
    static SHARED: OnceLock<SharedCredentialsProvider> = OnceLock::new();
    SHARED
        .get_or_init(|| SharedCredentialsProvider::new(Cached::default()))
        .clone()
}

/// The default chain's credentials, resolved at first use and kept until [`REFRESH_MARGIN`]
/// before they expire. The lock is held while resolving, so clients asking at once wait for
/// the one resolution instead of each making their own.
#[derive(Debug, Default)]
struct Cached {
    current: tokio::sync::Mutex<Option<Credentials>>,
}

impl Cached {
    async fn resolve(&self) -> provider::Result {
        let mut current = self.current.lock().await;
        if let Some(credentials) = current.as_ref().filter(|c| fresh(c, SystemTime::now())) {
            return Ok(credentials.clone());
        }
        // Built afresh for each resolution: the chain holds HTTP clients of the runtime it runs
        // on, and the storage and KMS clients run on different runtimes.
        let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
            .build()
            .await;
        let credentials = chain.provide_credentials().await?;
        *current = Some(credentials.clone());
        Ok(credentials)
    }
}

/// Whether `credentials` can still sign a request at `now` (no expiry: static credentials).
fn fresh(credentials: &Credentials, now: SystemTime) -> bool {
    credentials
        .expiry()
        .is_none_or(|expiry| expiry > now + REFRESH_MARGIN)
}

impl ProvideCredentials for Cached {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.resolve())
    }
}

/// The shared identity as `object_store`'s S3 credential provider: each request asks
/// [`credentials`] (a cache hit but at first use and near expiry).
#[cfg(feature = "storage")]
#[derive(Debug)]
pub(crate) struct S3Credentials;

#[cfg(feature = "storage")]
impl object_store::CredentialProvider for S3Credentials {
    type Credential = object_store::aws::AwsCredential;

    // `object_store` declares this method with `async_trait`; this is its expansion.
    fn get_credential<'life0, 'async_trait>(
        &'life0 self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = object_store::Result<std::sync::Arc<Self::Credential>>>
                + Send
                + 'async_trait,
        >,
    >
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            let credentials = credentials().provide_credentials().await.map_err(|error| {
                object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(NoCredentials(describe(&error))),
                }
            })?;
            Ok(std::sync::Arc::new(object_store::aws::AwsCredential {
                key_id: credentials.access_key_id().to_owned(),
                secret_key: credentials.secret_access_key().to_owned(),
                token: credentials.session_token().map(str::to_owned),
            }))
        })
    }
}

/// Why the chain gave no credentials, in the SDK's words (which name providers, never secrets).
#[cfg(feature = "storage")]
fn describe(error: &provider::error::CredentialsError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The AWS credential chain found no credentials.
#[cfg(feature = "storage")]
#[derive(Debug, thiserror::Error)]
#[error("no AWS credentials: {0}")]
struct NoCredentials(String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_resolved_again_only_near_their_expiry() {
        let now = SystemTime::now();
        let expiring = |after: u64| {
            Credentials::new(
                "AKID",
                "SECRET",
                None,
                Some(now + Duration::from_secs(after)),
                "t",
            )
        };
        assert!(fresh(
            &Credentials::new("AKID", "SECRET", None, None, "t"),
            now
        ));
        assert!(fresh(&expiring(3600), now));
        assert!(!fresh(&expiring(60), now));
    }
}
