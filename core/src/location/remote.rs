//! Object storage through `object_store` (one crate for S3, GCS and Azure Blob): listing a prefix
//! into a model tree, and the reader that hashes objects by parallel ranged GETs.
//!
//! Guarantees:
//! - each object is pinned by the ETag its listing returned: every ranged GET carries
//!   `If-Match`, and a response of another ETag or length is [`RemoteReadError::Changed`], so an
//!   object replaced mid-run is an error naming it, never a digest over two versions;
//! - memory is bounded: at most [`MEMORY_BUDGET`] bytes of ranges are in flight across all
//!   hashing threads, whatever the model size; nothing is written to local disk;
//! - credentials and endpoints come only from each store's standard environment (see
//!   [`open_store`]); nothing secret is logged or put in an error.
//!
//! The async client runs on one private tokio runtime; callers block on a channel, never on the
//! runtime itself, so a caller that is already inside another runtime (a server) cannot deadlock
//! or panic here.

use super::{check_key, ObjectUrl, Store};
use crate::tree::{
    Ignores, ModelFile, ModelTree, RelPath, RemoteReadError, RemoteReader, TreeError, WalkOptions,
};
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path as KeyPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Upper bound of the bytes of ranged reads held in memory at once, across every hashing thread.
pub const MEMORY_BUDGET: u64 = 256 << 20;
/// Default bytes per ranged GET (`MODELSEAL_STORAGE_CHUNK_MIB` overrides, in MiB).
const DEFAULT_CHUNK: u64 = 8 << 20;
/// Default ranged GETs in flight per object being hashed (`MODELSEAL_STORAGE_CONCURRENCY`).
const DEFAULT_CONCURRENCY: usize = 8;

/// The runtime that drives every request of this process to object storage.
fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("modelseal-storage")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the storage runtime: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Runs `future` on the storage runtime and waits for its result on the calling thread.
fn run<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .map_err(|_| "the storage runtime stopped".to_owned())
}

/// The client for `url`'s bucket, configured from the store's standard environment only:
/// - S3: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, web identity
///   (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`), container and instance credentials;
///   `AWS_REGION`/`AWS_DEFAULT_REGION`; endpoint `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`);
/// - GCS: application default credentials / workload identity; `STORAGE_EMULATOR_HOST` sends
///   every request, unauthenticated, to that emulator;
/// - Azure: `AZURE_STORAGE_ACCOUNT_NAME` with `AZURE_STORAGE_ACCOUNT_KEY`, a SAS, or workload
///   identity (`AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE`);
///   `AZURE_STORAGE_CONNECTION_STRING` (Azurite's connection settings: `BlobEndpoint`,
///   `AccountName`, `AccountKey`) or `AZURE_STORAGE_USE_EMULATOR=true`.
fn open_store(url: &ObjectUrl) -> Result<Arc<dyn ObjectStore>, TreeError> {
    let refused = |e: object_store::Error| storage_error(&url.to_string(), &e);
    let store: Arc<dyn ObjectStore> = match url.store {
        Store::S3 => {
            let mut builder =
                object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&url.bucket);
            if env_is_http(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]) {
                builder = builder.with_allow_http(true);
            }
            Arc::new(builder.build().map_err(refused)?)
        }
        Store::Gcs => {
            let mut builder = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(&url.bucket);
            if let Ok(host) = std::env::var("STORAGE_EMULATOR_HOST") {
                let base = if host.contains("://") {
                    host
                } else {
                    format!("http://{host}")
                };
                builder = builder
                    .with_client_options(
                        object_store::ClientOptions::new().with_allow_http(base.starts_with("http:")),
                    )
                    .with_base_url(base.trim_end_matches('/'))
                    .with_skip_signature(true);
            }
            Arc::new(builder.build().map_err(refused)?)
        }
        Store::Azure => {
            let mut builder = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(&url.bucket);
            if let Ok(settings) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
                for (key, value) in settings
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                {
                    builder = match key {
                        "AccountName" => builder.with_account(value),
                        "AccountKey" => builder.with_access_key(value),
                        "BlobEndpoint" => builder
                            .with_allow_http(value.starts_with("http:"))
                            .with_endpoint(value.trim_end_matches('/').to_owned()),
                        _ => builder,
                    };
                }
            }
            Arc::new(builder.build().map_err(refused)?)
        }
    };
    Ok(store)
}

fn env_is_http(names: &[&str]) -> bool {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .is_some_and(|endpoint| endpoint.starts_with("http://"))
}

/// The store's error in the user's terms, naming `location`.
fn storage_error(location: &str, error: &object_store::Error) -> TreeError {
    TreeError::Storage {
        location: location.to_owned(),
        reason: describe(error),
    }
}

fn describe(error: &object_store::Error) -> String {
    match error {
        object_store::Error::NotFound { .. } => "not found (no such bucket or object)".to_owned(),
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            format!("access denied: {error}")
        }
        _ => error.to_string(),
    }
}

/// Lists `url` into a model tree: a prefix is a directory (names relative to it, the walk's
/// ignore and name rules, component-wise order); a prefix with no object below it that is
/// itself an object is a single-file model named `"."`.
pub(super) fn list(url: &ObjectUrl, options: &WalkOptions) -> Result<ModelTree, TreeError> {
    let location = url.to_string();
    let store = open_store(url)?;
    let prefix = (!url.prefix.is_empty()).then(|| KeyPath::from(url.prefix.as_str()));
    let listing = {
        let store = Arc::clone(&store);
        let prefix = prefix.clone();
        run(async move { store.list(prefix.as_ref()).try_collect::<Vec<_>>().await })
    };
    let listed = listing
        .map_err(|reason| storage_failed(&location, reason))?
        .map_err(|e| storage_error(&location, &e))?;
    let ignores = Ignores::new(options);
    let mut files = Vec::new();
    let mut pinned = HashMap::new();
    let single_file = listed.is_empty();
    let listed = if single_file {
        let Some(key) = prefix else {
            return Err(TreeError::Storage {
                location,
                reason: "the bucket holds no object".to_owned(),
            });
        };
        let store = Arc::clone(&store);
        let meta = run(async move { store.head(&key).await })
            .map_err(|reason| storage_failed(&location, reason))?
            .map_err(|e| storage_error(&location, &e))?;
        vec![meta]
    } else {
        listed
    };
    for meta in listed {
        let key = meta.location.as_ref();
        let name = if single_file {
            RelPath::root()
        } else {
            let below = match &url.prefix {
                p if p.is_empty() => Some(key),
                p => key.strip_prefix(p.as_str()).and_then(|k| k.strip_prefix('/')),
            };
            let Some(below) = below.filter(|b| !b.is_empty()) else {
                continue; // the prefix's own "directory marker" object
            };
            check_key(below).map_err(|reason| TreeError::InvalidName {
                name: below.to_owned(),
                reason,
            })?;
            RelPath::new(below)?
        };
        if ignores.matches(&name) {
            continue;
        }
        let path = if single_file {
            location.clone()
        } else {
            url.child(name.as_str())
        };
        pinned.insert(
            name.as_str().to_owned(),
            Pinned {
                key: meta.location.clone(),
                e_tag: meta.e_tag.clone(),
                len: meta.size,
            },
        );
        files.push(ModelFile {
            name,
            path: PathBuf::from(path),
            len: meta.size,
            stamp: Default::default(),
            via_symlink: false,
        });
    }
    files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(ModelTree {
        root: PathBuf::from(location),
        single_file,
        files,
        remote: Some(Arc::new(ObjectReader::new(store, pinned))),
    })
}

fn storage_failed(location: &str, reason: String) -> TreeError {
    TreeError::Storage {
        location: location.to_owned(),
        reason,
    }
}

/// One listed object: its key, and the version and size the whole run reads.
#[derive(Debug)]
struct Pinned {
    key: KeyPath,
    e_tag: Option<String>,
    len: u64,
}

/// Reads the listed objects of one model by ranged GETs (see the module doc).
#[derive(Debug)]
struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    objects: HashMap<String, Pinned>,
    chunk: u64,
    concurrency: usize,
}

impl ObjectReader {
    fn new(store: Arc<dyn ObjectStore>, objects: HashMap<String, Pinned>) -> ObjectReader {
        let chunk = env_number("MODELSEAL_STORAGE_CHUNK_MIB").map_or(DEFAULT_CHUNK, |mib| mib << 20);
        let concurrency = env_number("MODELSEAL_STORAGE_CONCURRENCY")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_CONCURRENCY);
        // Every hashing thread streams one object at a time: split the budget between them.
        let threads = rayon::current_num_threads().max(1) as u64;
        let per_thread = (MEMORY_BUDGET / threads).max(1 << 16);
        let chunk = chunk.clamp(1 << 16, per_thread);
        let fits = usize::try_from(per_thread / chunk).unwrap_or(usize::MAX);
        ObjectReader {
            store,
            objects,
            chunk,
            concurrency: concurrency.clamp(1, fits.max(1)),
        }
    }
}

/// A positive whole number from the environment variable `name`.
fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok().filter(|&n| n > 0)
}

impl RemoteReader for ObjectReader {
    fn read_range(
        &self,
        file: &ModelFile,
        start: u64,
        end: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), RemoteReadError> {
        let Some(pinned) = self.objects.get(file.name.as_str()) else {
            return Err(RemoteReadError::Failed("not a listed object".to_owned()));
        };
        if end > pinned.len || start > end {
            return Err(RemoteReadError::Changed);
        }
        let ranges: Vec<Range<u64>> = (start..end)
            .step_by(usize::try_from(self.chunk).unwrap_or(usize::MAX))
            .map(|from| from..end.min(from + self.chunk))
            .collect();
        // One bounded channel: at most `concurrency` ranges fetched ahead plus one waiting.
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let store = Arc::clone(&self.store);
        let key = pinned.key.clone();
        let e_tag = pinned.e_tag.clone();
        let concurrency = self.concurrency;
        runtime()
            .map_err(RemoteReadError::Failed)?
            .spawn(async move {
                let mut fetches = futures_util::stream::iter(ranges)
                    .map(|range| fetch(Arc::clone(&store), key.clone(), e_tag.clone(), range))
                    .buffered(concurrency);
                while let Some(item) = fetches.next().await {
                    let failed = item.is_err();
                    if tx.send(item).await.is_err() || failed {
                        break;
                    }
                }
            });
        let mut read = start;
        while let Some(item) = rx.blocking_recv() {
            let bytes = item?;
            let bytes = bytes.as_ref();
            sink(bytes);
            read += bytes.len() as u64;
        }
        if read != end {
            return Err(RemoteReadError::Failed(
                "the read stopped before its end".to_owned(),
            ));
        }
        Ok(())
    }
}

/// One ranged GET pinned to `e_tag`; a response of another version or length is `Changed`.
async fn fetch(
    store: Arc<dyn ObjectStore>,
    key: KeyPath,
    e_tag: Option<String>,
    range: Range<u64>,
) -> Result<impl AsRef<[u8]> + Send, RemoteReadError> {
    let want = range.end - range.start;
    let mut options = GetOptions::default();
    options.range = Some(GetRange::Bounded(range));
    options.if_match = e_tag.clone();
    let result = store.get_opts(&key, options).await.map_err(read_error)?;
    if e_tag.is_some() && result.meta.e_tag.is_some() && result.meta.e_tag != e_tag {
        return Err(RemoteReadError::Changed);
    }
    let bytes = result.bytes().await.map_err(read_error)?;
    if bytes.len() as u64 != want {
        return Err(RemoteReadError::Changed);
    }
    Ok(bytes)
}

fn read_error(error: object_store::Error) -> RemoteReadError {
    match error {
        // Listed, then gone or of another version: replaced (or deleted) during the run.
        object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. } => {
            RemoteReadError::Changed
        }
        other => RemoteReadError::Failed(describe(&other)),
    }
}

/// Reads the whole object `url` names, refusing one larger than `limit` bytes.
pub(super) fn read_object(url: &ObjectUrl, limit: u64) -> io::Result<Vec<u8>> {
    let store = open_store(url).map_err(io::Error::other)?;
    let key = KeyPath::from(url.prefix.as_str());
    let read = run(async move {
        let meta = store.head(&key).await?;
        if meta.size > limit {
            return Ok(Err(meta.size));
        }
        let mut options = GetOptions::default();
        options.if_match = meta.e_tag;
        let bytes = store.get_opts(&key, options).await?.bytes().await?;
        Ok(Ok(bytes.to_vec()))
    })
    .map_err(io::Error::other)?
    .map_err(|e: object_store::Error| io_error(&e))?;
    read.map_err(|size| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is {size} bytes, over the limit of {limit}"),
        )
    })
}

/// Writes `bytes` as the object `url` names in one PUT (atomic: a reader sees the old object or
/// the whole new one); an existing object is refused unless `replace`, as
/// [`io::ErrorKind::AlreadyExists`].
pub(super) fn write_object(url: &ObjectUrl, bytes: Vec<u8>, replace: bool) -> io::Result<()> {
    let store = open_store(url).map_err(io::Error::other)?;
    let key = KeyPath::from(url.prefix.as_str());
    run(async move {
        if !replace {
            match store.head(&key).await {
                Ok(_) => return Ok(Err(())),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        let mut options = PutOptions::default();
        options.mode = PutMode::Overwrite;
        store.put_opts(&key, bytes.into(), options).await.map(|_| Ok(()))
    })
    .map_err(io::Error::other)?
    .map_err(|e| io_error(&e))?
    .map_err(|()| io::Error::from(io::ErrorKind::AlreadyExists))
}

fn io_error(error: &object_store::Error) -> io::Error {
    let kind = match error {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            io::ErrorKind::PermissionDenied
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, describe(error))
}
