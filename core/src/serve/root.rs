//! Where a request's paths resolve: a local directory (confined by [`ConfinedRoot`]) or, with the
//! `storage` feature, an object-storage prefix (`--root s3://BUCKET/PREFIX`, `gs://…`, `az://…`;
//! see `bucket`). Both answer the same two questions — how many signature bytes a request names
//! (before admission) and the policy's decision — with the same errors, so the routes, statuses
//! and JSON do not depend on where the models are.

#[cfg(feature = "storage")]
use super::bucket::BucketRoot;
use crate::fs::confine::ConfineError;
use crate::hook::{ConfinedRoot, RequestError, VerifyRequest};
use crate::location::Location;
use crate::policy::{Policy, PolicyDecision};
use crate::verify::BundleLimits;
use std::path::Path;

/// The registry's storage: request paths are relative to it, and nothing outside it is read.
#[derive(Debug)]
pub enum Root {
    /// A local directory.
    Dir(ConfinedRoot),
    /// A bucket prefix: read fresh for every request (no cache), each object pinned for the run.
    #[cfg(feature = "storage")]
    Bucket(BucketRoot),
}

impl Root {
    /// The root `root` names: a location string (`s3://…`, `gs://…`, `az://…`) is a bucket root,
    /// anything else a local directory that must exist.
    pub fn open(root: &Path) -> Result<Root, ConfineError> {
        let refuse = |reason: String| ConfineError::Root {
            root: root.to_path_buf(),
            reason,
        };
        match Location::of_path(root).map_err(|e| refuse(e.to_string()))? {
            Location::Local(path) => ConfinedRoot::new(&path).map(Root::Dir),
            #[cfg(feature = "storage")]
            Location::Object(url) => Ok(Root::Bucket(BucketRoot::new(url))),
            #[cfg(not(feature = "storage"))]
            Location::Object(_) => Err(refuse(
                "this build has no object-storage support (the `storage` feature)".to_owned(),
            )),
        }
    }

    /// [`VerifyRequest::signature_bytes`] under this root.
    pub fn signature_bytes(
        &self,
        request: &VerifyRequest,
        limits: BundleLimits,
    ) -> Result<u64, RequestError> {
        match self {
            Root::Dir(root) => request.signature_bytes(root, limits),
            #[cfg(feature = "storage")]
            Root::Bucket(root) => root.signature_bytes(request, limits),
        }
    }

    /// [`Policy::verify_request`] under this root.
    pub fn verify(
        &self,
        policy: &Policy,
        request: &VerifyRequest,
        limits: BundleLimits,
    ) -> Result<PolicyDecision, RequestError> {
        match self {
            Root::Dir(root) => policy.verify_request(root, request, limits),
            #[cfg(feature = "storage")]
            Root::Bucket(root) => root.verify(policy, request, limits),
        }
    }
}
