//! The AWS SDK configuration that the KMS backend (`keys::awskms`) and the Secrets Manager secret
//! source (`keys::secret`, `awssm://`) share: the SDK's standard credential and region chain
//! (environment, profile, web identity token file, container and instance metadata) with explicit
//! timeouts and the standard retry mode (exponential backoff with jitter on throttling and
//! transient errors). One place, so that both services behave alike on a slow or absent endpoint.

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

/// The loader of the SDK configuration, with modelseal's timeouts and retry mode; the caller may
/// set a region before `load()`.
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
}
