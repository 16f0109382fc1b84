//! A registry root in object storage (`serve --root s3://BUCKET/PREFIX`, `gs://…`, `az://…`).
//!
//! Guarantees, the same as a local root's (`hook`):
//! - a request path is confined to the prefix: empty and absolute paths, `..` components and
//!   control characters are refused (400) before any request is made to the store; `.` and empty
//!   components are dropped, as a local path's are;
//! - a signature object's size is read (one HEAD) and checked against the limits before the
//!   request is admitted; a missing one is 404; reading it again is bounded by the same limits;
//! - the model is listed and hashed for this request only, every object pinned by the version the
//!   listing saw (`location`), so an object replaced mid-request is a failure naming it and
//!   an object replaced between requests is seen by the next one: there is no cache, so no stale
//!   allow; a missing model is 404 (known by one more LIST, on the failure path only);
//! - credentials come from the store's standard environment only (`location`), and no message
//!   carries them.

use crate::fs::confine::ConfineError;
use crate::hook::{signature_bytes_within, RequestError, Resolved, VerifyRequest};
use crate::location::{self, ObjectUrl};
use crate::policy::{Policy, PolicyDecision};
use crate::verify::BundleLimits;
use std::io;
use std::path::PathBuf;

/// A bucket prefix that request paths are relative to.
#[derive(Debug, Clone)]
pub struct BucketRoot {
    url: ObjectUrl,
    /// `SCHEME://BUCKET/PREFIX`: removed from every message, as a local root's directory is.
    shown: PathBuf,
}

impl BucketRoot {
    /// The root at `url` (nothing is requested until a request arrives).
    pub fn new(url: ObjectUrl) -> BucketRoot {
        let shown = url.to_path();
        BucketRoot { url, shown }
    }

    /// The location `relative` names below the prefix (the prefix itself for `.`), or why it is
    /// refused; no request is made.
    fn resolve(&self, relative: &str) -> Result<ObjectUrl, ConfineError> {
        if relative.is_empty() {
            return Err(ConfineError::Empty);
        }
        let path = || relative.to_owned();
        if relative.starts_with('/') {
            return Err(ConfineError::Absolute { path: path() });
        }
        if relative.chars().any(char::is_control) {
            return Err(ConfineError::Resolve {
                path: path(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "contains a control character"),
            });
        }
        let mut parts = Vec::new();
        for component in relative.split('/') {
            match component {
                "" | "." => {}
                ".." => return Err(ConfineError::ParentDir { path: path() }),
                part => parts.push(part),
            }
        }
        let mut url = self.url.clone();
        url.prefix = std::iter::once(url.prefix.as_str())
            .chain(parts)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        Ok(url)
    }

    /// The request's signatures resolved, each once, with the name given.
    fn signature_paths<'r>(
        &self,
        request: &'r VerifyRequest,
    ) -> Result<Vec<(ObjectUrl, &'r str)>, ConfineError> {
        let mut files: Vec<(ObjectUrl, &str)> = Vec::new();
        for name in &request.signatures {
            let url = self.resolve(name)?;
            if !files.iter().any(|(u, _)| *u == url) {
                files.push((url, name));
            }
        }
        Ok(files)
    }

    /// [`VerifyRequest::signature_bytes`] of a bucket: one HEAD per signature object.
    pub fn signature_bytes(
        &self,
        request: &VerifyRequest,
        limits: BundleLimits,
    ) -> Result<u64, RequestError> {
        let mut sized = Vec::new();
        for (url, name) in self.signature_paths(request)? {
            let len = location::object_len(&url).map_err(|err| match err.kind() {
                io::ErrorKind::NotFound => RequestError::Path(ConfineError::NotFound {
                    path: name.to_owned(),
                }),
                _ => RequestError::Input {
                    public: format!("{name}: cannot read signature"),
                    detail: format!("{name}: cannot read signature: {err}"),
                },
            })?;
            sized.push((url.to_path(), name, len));
        }
        signature_bytes_within(sized, limits)
    }

    /// [`Policy::verify_request`] of a bucket: the model listed and hashed now, the signatures
    /// read within `limits`; a model that does not exist is [`ConfineError::NotFound`].
    pub fn verify(
        &self,
        policy: &Policy,
        request: &VerifyRequest,
        limits: BundleLimits,
    ) -> Result<PolicyDecision, RequestError> {
        let model = self.resolve(&request.model)?;
        let signatures = self.signature_paths(request)?;
        let resolved = Resolved {
            model: model.to_path(),
            signatures: (signatures.into_iter())
                .map(|(url, name)| (url.to_path(), name))
                .collect(),
            root: &self.shown,
            // A bucket has no symlinks: every listed object is below the prefix.
            confine: false,
        };
        let result = policy.verify_resolved(request, resolved, limits);
        if matches!(result, Err(RequestError::Input { .. }))
            && location::object_exists(&model).is_ok_and(|found| !found)
        {
            return Err(RequestError::Path(ConfineError::NotFound {
                path: request.model.clone(),
            }));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::Location;

    fn root() -> BucketRoot {
        match Location::parse("s3://models/prod").unwrap() {
            Location::Object(url) => BucketRoot::new(url),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_paths_stay_below_the_prefix() {
        let root = root();
        let resolved = |p: &str| root.resolve(p).map(|url| url.to_string());
        assert_eq!(resolved("llm").unwrap(), "s3://models/prod/llm");
        assert_eq!(
            resolved("./llm//w.sig").unwrap(),
            "s3://models/prod/llm/w.sig"
        );
        assert_eq!(resolved(".").unwrap(), "s3://models/prod");
        for (bad, kind) in [
            ("", "empty"),
            ("/llm", "absolute"),
            ("llm/../../other", "`..`"),
            ("..", "`..`"),
            ("llm\n", "control character"),
        ] {
            let err = resolved(bad).unwrap_err().to_string();
            assert!(err.contains(kind), "{bad:?}: {err}");
        }
    }
}
