//! Model locations: a model, a signature or an output is a local path or an object-storage
//! location (`s3://BUCKET/PREFIX`, `gs://BUCKET/PREFIX`, `az://CONTAINER/PREFIX`), behind one seam,
//! so that every operation gets every location at once.
//!
//! The rule (the same string in the CLI, Python and tests): a string that starts with one of these
//! schemes, or `file://`, is a location; anything else is a local path, so `./s3:x` and `s3:x`
//! stay local paths. A prefix is a directory: [`walk`] lists it into a [`ModelTree`] with the same
//! names, ignore rules, name rules and order as a local walk; a single object is a single-file
//! model named `"."`. The listed tree carries a reader that fetches each object by parallel
//! ranged GETs pinned by the ETag the listing saw (see `remote`), so the digest engine hashes a
//! bucket model exactly as it hashes the same files on a disk.
//!
//! Why the operations take paths: a location arrives as the `&Path` an operation already takes
//! (the CLI and Python pass the user's string through unchanged), and [`Location::of_path`] reads
//! the scheme back from its bytes. Nothing else of the path API changes.

#[cfg(feature = "storage")]
mod gcs;
#[cfg(feature = "storage")]
mod remote;
#[cfg(feature = "storage")]
mod upload;

#[cfg(feature = "storage")]
pub use remote::{object_exists, object_len, ListedModel, ObjectFile, STREAM_AHEAD};
#[cfg(feature = "storage")]
pub use upload::{Staged, Upload, PARTS_IN_FLIGHT, PART_SIZE};

use crate::tree::{self, ModelTree, TreeError, WalkOptions};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where a model (or a signature, or an output) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A path on this machine (also what `file://PATH` names).
    Local(PathBuf),
    /// A bucket (container) and a key prefix in object storage.
    Object(ObjectUrl),
}

/// The object stores a location can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Store {
    /// Amazon S3 (and S3-compatible stores, through `AWS_ENDPOINT_URL`): `s3://`.
    S3,
    /// Google Cloud Storage: `gs://`.
    Gcs,
    /// Azure Blob Storage (account from the environment): `az://`.
    Azure,
}

impl Store {
    /// The URL scheme: `s3`, `gs`, `az`.
    pub fn scheme(self) -> &'static str {
        match self {
            Store::S3 => "s3",
            Store::Gcs => "gs",
            Store::Azure => "az",
        }
    }
}

/// `SCHEME://BUCKET/PREFIX`: a bucket (an Azure container) and a key prefix without leading or
/// trailing `/` (empty: the whole bucket).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectUrl {
    /// Which store.
    pub store: Store,
    /// The bucket (S3, GCS) or container (Azure).
    pub bucket: String,
    /// The key prefix, `/`-separated, no empty component; empty for the whole bucket.
    pub prefix: String,
}

impl ObjectUrl {
    /// The URL as the path-shaped value the verbs and errors take (`s3://B/P`), which
    /// [`Location::object`] reads back to this URL.
    pub fn to_path(&self) -> PathBuf {
        PathBuf::from(self.to_string())
    }

    /// The URL of the object `name` below this prefix (for messages).
    pub fn child(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            format!("{}://{}/{name}", self.store.scheme(), self.bucket)
        } else {
            format!(
                "{}://{}/{}/{name}",
                self.store.scheme(),
                self.bucket,
                self.prefix
            )
        }
    }

    /// The location of the object `name` (a `/`-separated relative name) below this prefix.
    pub fn join(&self, name: &str) -> ObjectUrl {
        let prefix = if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        };
        ObjectUrl {
            prefix,
            ..self.clone()
        }
    }

    /// The last component of the prefix (the bucket for a whole bucket): the model's name, as
    /// a local directory's last component is.
    pub fn last_component(&self) -> &str {
        match self.prefix.rsplit('/').next() {
            Some(last) if !last.is_empty() => last,
            _ => &self.bucket,
        }
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.store.scheme(), self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

impl Location {
    /// Parses a location string; a string without a recognised scheme is a local path.
    pub fn parse(text: &str) -> Result<Location, TreeError> {
        if let Some(path) = text.strip_prefix("file://") {
            if path.is_empty() {
                return Err(refuse(text, "names no path"));
            }
            return Ok(Location::Local(PathBuf::from(path)));
        }
        for store in [Store::S3, Store::Gcs, Store::Azure] {
            if let Some(rest) = text
                .strip_prefix(store.scheme())
                .and_then(|r| r.strip_prefix("://"))
            {
                return parse_object(text, store, rest).map(Location::Object);
            }
        }
        Ok(Location::Local(PathBuf::from(text)))
    }

    /// The location a path argument names: its bytes parsed as [`Location::parse`] does (a path
    /// that is not UTF-8 is a local path).
    pub fn of_path(path: &Path) -> Result<Location, TreeError> {
        match path.to_str() {
            Some(text) => Location::parse(text),
            None => Ok(Location::Local(path.to_path_buf())),
        }
    }

    /// The object-storage location `path` names, if it names one (`None` for a local path or a
    /// string that does not parse; the operation that uses it reports the parse error).
    pub fn object(path: &Path) -> Option<ObjectUrl> {
        match Location::of_path(path) {
            Ok(Location::Object(url)) => Some(url),
            _ => None,
        }
    }
}

fn parse_object(text: &str, store: Store, rest: &str) -> Result<ObjectUrl, TreeError> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(refuse(text, "names no bucket"));
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(refuse(
            text,
            "bucket names are letters, digits, `-`, `_` and `.`",
        ));
    }
    let prefix = prefix.strip_suffix('/').unwrap_or(prefix);
    if !prefix.is_empty() {
        check_key(prefix).map_err(|reason| refuse(text, reason))?;
    }
    Ok(ObjectUrl {
        store,
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// The name rules of object keys (prefixes, and names below a prefix): no empty, `.` or `..`
/// component, no control character — what a local walk refuses, plus control characters, which
/// a key may hold and a terminal or a log would render as something else.
pub(crate) fn check_key(key: &str) -> Result<(), &'static str> {
    if key.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    for component in key.split('/') {
        match component {
            "" => return Err("has an empty component (a leading, trailing or double `/`)"),
            "." | ".." => return Err("has a `.` or `..` component"),
            _ => {}
        }
    }
    Ok(())
}

fn refuse(location: &str, reason: &str) -> TreeError {
    TreeError::Storage {
        location: location.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The name of `path` (a signature) inside the model at `model`, when it lies inside it: for two
/// local paths as [`tree::resolve_ignore`] resolves it; for two objects of one bucket, the key of
/// `path` below `model`'s prefix (`s3://b/m/model.sig` is `model.sig` of `s3://b/m`). A local
/// path is never inside a bucket model, nor an object inside a local one.
///
/// Why: the signature object stored inside a model's prefix is left out of the listing by name,
/// exactly as a local walk leaves out a signature file inside the model directory, so that signing
/// and verifying a bucket model treat it the same way (recorded in `ignore_paths`, or exempt at a
/// conventional name).
pub fn resolve_inside(model: &Path, path: &Path) -> Option<tree::RelPath> {
    match (
        Location::of_path(model).ok()?,
        Location::of_path(path).ok()?,
    ) {
        (Location::Local(model), Location::Local(path)) => {
            tree::resolve_ignore(&model, &std::path::absolute(&path).ok()?)
        }
        (Location::Object(model), Location::Object(path))
            if (model.store, &model.bucket) == (path.store, &path.bucket) =>
        {
            let below = match model.prefix.as_str() {
                "" => Some(path.prefix.as_str()),
                prefix => path
                    .prefix
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('/')),
            };
            tree::RelPath::new(below?).ok()
        }
        _ => None,
    }
}

/// `Err` (the message) when `output` names an object-storage location: writing a model (an
/// encrypted or decrypted model, a sealed model) to a bucket is not built yet, and such a string
/// must not become a local directory named `s3:`. Signatures are written by [`write_object`].
pub fn refuse_object_output(output: &Path) -> Result<(), String> {
    match Location::object(output) {
        Some(url) => Err(format!(
            "{url}: writing a model to object storage is not supported yet; write it to a local \
             path (decrypt and unseal read from a bucket)"
        )),
        None => Ok(()),
    }
}

/// Starts a streaming upload of the object `url` names (see [`Upload`]): nothing is visible
/// until [`Upload::finish`] returns `Ok`; an error or a drop before it aborts the upload.
#[cfg(feature = "storage")]
pub fn upload(url: &ObjectUrl) -> io::Result<Upload> {
    upload::start(url)
}

/// The full keys of the objects an output at `url` would meet: the object `url` names and every
/// object below its prefix (an output there is refused unless forced).
#[cfg(feature = "storage")]
pub fn objects_at(url: &ObjectUrl) -> io::Result<Vec<String>> {
    upload::objects_at(url)
}

/// Deletes the objects `keys` (full keys in `url`'s bucket); a missing one is not an error.
#[cfg(feature = "storage")]
pub fn delete_objects(url: &ObjectUrl, keys: Vec<String>) -> io::Result<()> {
    upload::delete_objects(url, keys)
}

/// Walks the model at `model` — a local path (as [`tree::walk`]) or an object-storage prefix
/// (listed, see the module doc) — into a [`ModelTree`].
pub fn walk(model: &Path, options: &WalkOptions) -> Result<ModelTree, TreeError> {
    match Location::of_path(model)? {
        Location::Local(path) => tree::walk(&path, options),
        Location::Object(url) => list(&url, options),
    }
}

#[cfg(feature = "storage")]
fn list(url: &ObjectUrl, options: &WalkOptions) -> Result<ModelTree, TreeError> {
    remote::list(url, options).map(|model| model.tree)
}

/// Lists the prefix (or the single object) `url` names, as [`walk`] does, keeping each listed
/// object openable as a seekable [`ObjectFile`] pinned to the version the listing saw.
#[cfg(feature = "storage")]
pub fn list_objects(url: &ObjectUrl, options: &WalkOptions) -> Result<ListedModel, TreeError> {
    remote::list(url, options)
}

/// The error inside an [`io::Error`] of an [`ObjectFile`] read whose object is no longer the
/// version its listing saw: replaced, grown, shrunk or deleted during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectChanged;

impl fmt::Display for ObjectChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("changed while it was being read (replaced during the run)")
    }
}

impl std::error::Error for ObjectChanged {}

/// Whether `error` (of an [`ObjectFile`] read) says the object changed since it was listed.
pub fn is_changed(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.downcast_ref::<ObjectChanged>().is_some())
}

#[cfg(not(feature = "storage"))]
fn list(url: &ObjectUrl, _options: &WalkOptions) -> Result<ModelTree, TreeError> {
    Err(refuse(&url.to_string(), NO_STORAGE))
}

/// Reads the whole object at `location` (a signature), refusing one over `limit` bytes; `None`
/// when `location` is a local path, which the caller reads as before.
pub fn read_object(location: &Path, limit: u64) -> Option<io::Result<Vec<u8>>> {
    let url = Location::object(location)?;
    #[cfg(feature = "storage")]
    return Some(remote::read_object(&url, limit));
    #[cfg(not(feature = "storage"))]
    {
        let _ = (url, limit);
        Some(Err(no_storage()))
    }
}

/// Writes `bytes` as the object at `location` in one request (a signature: small); an existing
/// object is refused unless `replace` ([`io::ErrorKind::AlreadyExists`]). `None` when `location`
/// is a local path, which the caller writes as before.
pub fn write_object(location: &Path, bytes: Vec<u8>, replace: bool) -> Option<io::Result<()>> {
    let url = Location::object(location)?;
    #[cfg(feature = "storage")]
    return Some(remote::write_object(&url, bytes, replace));
    #[cfg(not(feature = "storage"))]
    {
        let _ = (url, bytes, replace);
        Some(Err(no_storage()))
    }
}

#[cfg(not(feature = "storage"))]
fn no_storage() -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, NO_STORAGE)
}

#[cfg(not(feature = "storage"))]
const NO_STORAGE: &str = "this build has no object-storage support (the `storage` feature)";

#[cfg(test)]
mod tests {
    use super::*;

    fn object(text: &str) -> ObjectUrl {
        match Location::parse(text).unwrap() {
            Location::Object(url) => url,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn schemes_make_locations_and_anything_else_is_a_path() {
        let url = object("s3://models/prod/llm");
        assert_eq!(
            (url.store, url.bucket.as_str(), url.prefix.as_str()),
            (Store::S3, "models", "prod/llm")
        );
        assert_eq!(object("gs://b/p/").prefix, "p");
        assert_eq!(object("az://c").prefix, "");
        assert_eq!(object("az://c").last_component(), "c");
        assert_eq!(object("s3://b/x/y").last_component(), "y");
        assert_eq!(object("s3://b/x/y").child("w.bin"), "s3://b/x/y/w.bin");
        assert_eq!(object("s3://b/x/y").to_string(), "s3://b/x/y");
        for local in [
            "./s3:x",
            "s3:x",
            "s3:/b/p",
            "model",
            "/abs/s3://b",
            "S3://b/p",
        ] {
            assert_eq!(
                Location::parse(local).unwrap(),
                Location::Local(PathBuf::from(local)),
                "{local}"
            );
        }
        assert_eq!(
            Location::parse("file:///tmp/m").unwrap(),
            Location::Local(PathBuf::from("/tmp/m"))
        );
    }

    #[test]
    fn a_signature_object_inside_a_prefix_resolves_to_its_name() {
        let inside = |model: &str, sig: &str| {
            resolve_inside(Path::new(model), Path::new(sig)).map(|n| n.as_str().to_owned())
        };
        assert_eq!(
            inside("s3://b/m", "s3://b/m/model.sig").as_deref(),
            Some("model.sig")
        );
        assert_eq!(
            inside("s3://b", "s3://b/x/s.sig").as_deref(),
            Some("x/s.sig")
        );
        for (model, sig) in [
            ("s3://b/m", "s3://b/m.sig"),
            ("s3://b/m", "s3://b/mx/s.sig"),
            ("s3://b/m", "gs://b/m/s.sig"),
            ("s3://b/m", "s3://c/m/s.sig"),
            ("s3://b/m", "m/s.sig"),
            ("m", "s3://b/m/s.sig"),
        ] {
            assert_eq!(inside(model, sig), None, "{model} {sig}");
        }
    }

    #[test]
    fn bad_locations_are_refused_with_the_reason() {
        for (text, reason) in [
            ("s3://", "names no bucket"),
            ("s3:///p", "names no bucket"),
            ("gs://b/a//c", "empty component"),
            ("az://c/a/../b", "`..`"),
            ("s3://b/a/./b", "`.`"),
            ("s3://b/a\nb", "control character"),
            ("s3://b c/p", "bucket names"),
            ("file://", "names no path"),
        ] {
            let err = Location::parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }
}
