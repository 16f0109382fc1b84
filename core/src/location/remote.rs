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

use super::gcs::JsonClient;
use super::{check_key, ObjectUrl, Store};
use crate::tree::{
    Ignores, ModelFile, ModelTree, RelPath, RemoteReadError, RemoteReader, TreeError, WalkOptions,
};
use bytes::Bytes;
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
/// Bytes of ranged GETs in flight per object read as a stream (the encryption engine's source):
/// less than hashing's, because the engine holds several objects open at once and its own
/// buffers (or upload parts) share the [`MEMORY_BUDGET`]; at least one range.
pub const STREAM_AHEAD: u64 = 24 << 20;

/// The runtime that drives every request of this process to object storage.
pub(super) fn runtime() -> Result<&'static tokio::runtime::Runtime, String> {
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
pub(super) fn run<T: Send + 'static>(
    future: impl Future<Output = T> + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(future.await);
    });
    rx.recv()
        .map_err(|_| "the storage runtime stopped".to_owned())
}

/// A listed object: its full key, size, and the version the run pins (ETag, or a GCS generation).
#[derive(Debug, Clone)]
pub(super) struct Listed {
    pub key: String,
    pub size: u64,
    pub version: Option<String>,
}

/// How a request to a store failed, in the terms the operations need.
#[derive(Debug)]
pub(super) enum Failure {
    /// No such bucket or object.
    NotFound,
    /// The credentials were refused or lack the permission; the store's message.
    Denied(String),
    /// The object is no longer the pinned version (412 Precondition Failed, or another version served).
    Changed,
    /// A create-only write met an existing object.
    Exists,
    /// Anything else, after the client's retries; the store's message.
    Other(String),
}

impl Failure {
    pub(super) fn describe(&self) -> String {
        match self {
            Failure::NotFound => "not found (no such bucket or object)".to_owned(),
            Failure::Denied(message) => format!("access denied: {message}"),
            Failure::Changed => "changed while it was being read".to_owned(),
            Failure::Exists => "already exists".to_owned(),
            Failure::Other(message) => message.clone(),
        }
    }
}

impl From<object_store::Error> for Failure {
    fn from(error: object_store::Error) -> Failure {
        match error {
            object_store::Error::NotFound { .. } => Failure::NotFound,
            object_store::Error::Precondition { .. } => Failure::Changed,
            object_store::Error::AlreadyExists { .. } => Failure::Exists,
            e @ (object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }) => Failure::Denied(e.to_string()),
            other => {
                // Some backends report a refused request as a generic error with its status (the
                // retry error that carries the status is private to object_store).
                let text = other.to_string();
                match ["401 Unauthorized", "403 Forbidden"]
                    .into_iter()
                    .find(|status| text.contains(&format!("status code: {status}")))
                {
                    Some(status) => Failure::Denied(denial(status, &text)),
                    None => Failure::Other(text),
                }
            }
        }
    }
}

/// "the store answered 403 Forbidden (AuthorizationFailure)": the status and the store's error
/// code, without the request's details.
fn denial(status: &str, text: &str) -> String {
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| format!(" ({code})"))
        .unwrap_or_default();
    format!("the store answered {status}{code}")
}

/// One bucket's client: `object_store` for S3 and Azure Blob, the JSON API for GCS (see `gcs`).
#[derive(Clone)]
pub(super) enum Client {
    Store(Arc<dyn ObjectStore>),
    Gcs(Arc<JsonClient>),
}

/// Names the store and bucket only. Why not derived: `object_store`'s `MicrosoftAzure` derives
/// `Debug` down to its account key (`AzureAccessKey(Vec<u8>)`), so a listed tree's `Debug` would
/// print the key's bytes; its `Display` names the account and container only.
impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Client::Store(store) => f
                .debug_tuple("Store")
                .field(&format_args!("{store}"))
                .finish(),
            Client::Gcs(gcs) => f.debug_tuple("Gcs").field(gcs).finish(),
        }
    }
}

impl Client {
    pub(super) async fn list(&self, prefix: Option<String>) -> Result<Vec<Listed>, Failure> {
        match self {
            Client::Gcs(gcs) => gcs.list(prefix).await,
            Client::Store(store) => {
                let prefix = prefix.map(|p| KeyPath::from(p.as_str()));
                let metas: Vec<_> = store.list(prefix.as_ref()).try_collect().await?;
                Ok(metas
                    .into_iter()
                    .map(|meta| Listed {
                        key: meta.location.to_string(),
                        size: meta.size,
                        version: meta.e_tag,
                    })
                    .collect())
            }
        }
    }

    pub(super) async fn head(&self, key: &str) -> Result<Listed, Failure> {
        match self {
            Client::Gcs(gcs) => gcs.head(key).await,
            Client::Store(store) => {
                let meta = store.head(&KeyPath::from(key)).await?;
                Ok(Listed {
                    key: key.to_owned(),
                    size: meta.size,
                    version: meta.e_tag,
                })
            }
        }
    }

    /// The bytes `range` of `key` (all for `None`), of version `version` only (`If-Match`, and
    /// the served version compared, for stores that ignore the condition).
    async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        version: Option<&str>,
    ) -> Result<Bytes, Failure> {
        match self {
            Client::Gcs(gcs) => gcs.get(key, range, version).await,
            Client::Store(store) => {
                let options = GetOptions {
                    range: range.map(GetRange::Bounded),
                    if_match: version.map(str::to_owned),
                    ..GetOptions::default()
                };
                let result = store.get_opts(&KeyPath::from(key), options).await?;
                if let (Some(pinned), Some(served)) = (version, &result.meta.e_tag) {
                    if bare_e_tag(pinned) != bare_e_tag(served) {
                        return Err(Failure::Changed);
                    }
                }
                Ok(result.bytes().await?)
            }
        }
    }

    /// Deletes the object `key` (a missing object is not an error).
    pub(super) async fn delete(&self, key: &str) -> Result<(), Failure> {
        let deleted = match self {
            Client::Gcs(gcs) => gcs.delete(key).await,
            Client::Store(store) => store
                .delete(&KeyPath::from(key))
                .await
                .map_err(Failure::from),
        };
        match deleted {
            Err(Failure::NotFound) => Ok(()),
            other => other,
        }
    }

    /// Writes `bytes` as `key` in one request; create-only unless `replace`.
    async fn put(&self, key: &str, bytes: Bytes, replace: bool) -> Result<(), Failure> {
        // A head first: not every store (nor every emulator) honours a conditional create; the
        // GCS write is conditional as well (`ifGenerationMatch=0`), closing the race there.
        if !replace {
            match self.head(key).await {
                Ok(_) => return Err(Failure::Exists),
                Err(Failure::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        match self {
            Client::Gcs(gcs) => gcs.put(key, bytes, replace).await,
            Client::Store(store) => {
                let options = PutOptions {
                    mode: PutMode::Overwrite,
                    ..PutOptions::default()
                };
                store
                    .put_opts(&KeyPath::from(key), bytes.into(), options)
                    .await?;
                Ok(())
            }
        }
    }
}

/// An ETag without its quotes: listings and responses of one store may quote it differently
/// (Azure Blob lists `0x8D…` and answers `"0x8D…"`).
fn bare_e_tag(e_tag: &str) -> &str {
    e_tag.trim_start_matches("W/").trim_matches('"')
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
pub(super) fn open_client(url: &ObjectUrl) -> Result<Client, Failure> {
    let store: Arc<dyn ObjectStore> = match url.store {
        Store::S3 => {
            // Region and endpoint from the environment; credentials from the process's one AWS
            // identity (`aws`), the one KMS uses too.
            let mut builder = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(&url.bucket)
                .with_credentials(Arc::new(crate::aws::S3Credentials));
            if env_is_http(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]) {
                builder = builder.with_allow_http(true);
            }
            Arc::new(builder.build()?)
        }
        Store::Gcs => {
            let client = JsonClient::new(&url.bucket).map_err(Failure::Other)?;
            return Ok(Client::Gcs(Arc::new(client)));
        }
        Store::Azure => {
            let mut builder = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(&url.bucket);
            if let Ok(settings) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
                for (key, value) in settings.split(';').filter_map(|pair| pair.split_once('=')) {
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
            Arc::new(builder.build()?)
        }
    };
    Ok(Client::Store(store))
}

fn env_is_http(names: &[&str]) -> bool {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok())
        .is_some_and(|endpoint| endpoint.starts_with("http://"))
}

/// `failure` as the error of `location`.
fn storage_error(location: &str, failure: &Failure) -> TreeError {
    TreeError::Storage {
        location: location.to_owned(),
        reason: failure.describe(),
    }
}

/// Runs `future` on the storage runtime; its failure (or the runtime's) as an error of `location`.
fn run_at<T: Send + 'static>(
    location: &str,
    future: impl Future<Output = Result<T, Failure>> + Send + 'static,
) -> Result<T, TreeError> {
    run(future)
        .map_err(Failure::Other)
        .and_then(|result| result)
        .map_err(|failure| storage_error(location, &failure))
}

/// Lists `url` into a model tree: a prefix is a directory (names relative to it, the walk's
/// ignore and name rules, component-wise order); a prefix with no object below it that is
/// itself an object is a single-file model named `"."`.
pub(super) fn list(url: &ObjectUrl, options: &WalkOptions) -> Result<ListedModel, TreeError> {
    let location = url.to_string();
    let client = open_client(url).map_err(|f| storage_error(&location, &f))?;
    let prefix = (!url.prefix.is_empty()).then(|| url.prefix.clone());
    let listed = {
        let (client, prefix) = (client.clone(), prefix.clone());
        run_at(&location, async move { client.list(prefix).await })?
    };
    let single_file = listed.is_empty();
    let listed = match (single_file, prefix) {
        (false, _) => listed,
        (true, None) => {
            return Err(TreeError::Storage {
                location,
                reason: "the bucket holds no object".to_owned(),
            })
        }
        (true, Some(key)) => {
            let client = client.clone();
            vec![run_at(&location, async move { client.head(&key).await })?]
        }
    };
    let ignores = Ignores::new(options);
    let mut files = Vec::new();
    let mut pinned = HashMap::new();
    for object in listed {
        let name = if single_file {
            RelPath::root()
        } else {
            let below = match url.prefix.as_str() {
                "" => Some(object.key.as_str()),
                p => object.key.strip_prefix(p).and_then(|k| k.strip_prefix('/')),
            };
            let Some(below) = below.filter(|b| !b.is_empty() && !b.ends_with('/')) else {
                continue; // a "directory marker" object, which holds no model bytes
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
        files.push(ModelFile {
            name: name.clone(),
            path: PathBuf::from(path),
            len: object.size,
            stamp: Default::default(),
            via_symlink: false,
        });
        pinned.insert(name.as_str().to_owned(), object);
    }
    files.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let reader = Arc::new(ObjectReader::new(client, pinned));
    let tree = ModelTree {
        root: PathBuf::from(location),
        single_file,
        files,
        remote: Some(Arc::clone(&reader) as Arc<dyn RemoteReader>),
    };
    Ok(ListedModel { tree, reader })
}

/// Reads the listed objects of one model by ranged GETs (see the module doc).
#[derive(Debug)]
struct ObjectReader {
    fetcher: Fetcher,
    objects: HashMap<String, Listed>,
}

/// How one model's objects are fetched: the client, the bytes per ranged GET and the GETs in
/// flight per object (cheap to clone: every stream of an object holds one).
#[derive(Debug, Clone)]
struct Fetcher {
    client: Client,
    chunk: u64,
    concurrency: usize,
}

impl ObjectReader {
    fn new(client: Client, objects: HashMap<String, Listed>) -> ObjectReader {
        let chunk =
            env_number("MODELSEAL_STORAGE_CHUNK_MIB").map_or(DEFAULT_CHUNK, |mib| mib << 20);
        let concurrency = env_number("MODELSEAL_STORAGE_CONCURRENCY")
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_CONCURRENCY);
        // Every hashing thread streams one object at a time: split the budget between them.
        let threads = rayon::current_num_threads().max(1) as u64;
        let per_thread = (MEMORY_BUDGET / threads).max(1 << 16);
        let chunk = chunk.clamp(1 << 16, per_thread);
        let fits = usize::try_from(per_thread / chunk).unwrap_or(usize::MAX);
        ObjectReader {
            fetcher: Fetcher {
                client,
                chunk,
                concurrency: concurrency.clamp(1, fits.max(1)),
            },
            objects,
        }
    }
}

/// A positive whole number from the environment variable `name`.
fn env_number(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&n| n > 0)
}

impl Fetcher {
    /// Starts fetching `start..end` of `object` by ranged GETs, `concurrency` in flight, in order:
    /// the receiver yields each range's bytes (at most `concurrency` ranges fetched ahead plus one
    /// waiting), and the first failure ends the stream. Aborting the handle stops the fetches.
    fn prefetch(&self, object: &Listed, start: u64, end: u64) -> Result<Prefetch, RemoteReadError> {
        let ranges: Vec<Range<u64>> = (start..end)
            .step_by(usize::try_from(self.chunk).unwrap_or(usize::MAX))
            .map(|from| from..end.min(from + self.chunk))
            .collect();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let client = self.client.clone();
        let object = object.clone();
        let concurrency = self.concurrency;
        let task = runtime()
            .map_err(RemoteReadError::Failed)?
            .spawn(async move {
                let mut fetches = futures_util::stream::iter(ranges)
                    .map(|range| fetch(client.clone(), object.clone(), range))
                    .buffered(concurrency);
                while let Some(item) = fetches.next().await {
                    let failed = item.is_err();
                    if tx.send(item).await.is_err() || failed {
                        break;
                    }
                }
            });
        Ok(Prefetch {
            rx,
            task: task.abort_handle(),
        })
    }
}

/// Ranges of one object being fetched ahead of their reader; the fetches stop when it is dropped.
struct Prefetch {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, RemoteReadError>>,
    task: tokio::task::AbortHandle,
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RemoteReader for ObjectReader {
    fn read_range(
        &self,
        file: &ModelFile,
        start: u64,
        end: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), RemoteReadError> {
        let Some(object) = self.objects.get(file.name.as_str()) else {
            return Err(RemoteReadError::Failed("not a listed object".to_owned()));
        };
        if end > object.size || start > end {
            return Err(RemoteReadError::Changed);
        }
        let mut prefetch = self.fetcher.prefetch(object, start, end)?;
        let mut read = start;
        while let Some(item) = prefetch.rx.blocking_recv() {
            let bytes = item?;
            sink(&bytes);
            read += bytes.len() as u64;
        }
        if read != end {
            return Err(RemoteReadError::Failed(
                "the read stopped before its end".to_owned(),
            ));
        }
        Ok(())
    }

    fn stream(&self, file: &ModelFile) -> Option<Box<dyn io::Read + Send>> {
        let object = self.objects.get(file.name.as_str())?.clone();
        let mut fetcher = self.fetcher.clone();
        let fits = usize::try_from(STREAM_AHEAD / fetcher.chunk).unwrap_or(usize::MAX);
        fetcher.concurrency = fetcher.concurrency.min(fits.max(1));
        Some(Box::new(ObjectFile {
            fetcher,
            object,
            pos: 0,
            stream: None,
        }))
    }
}

/// A listed object read as a seekable byte stream ([`io::Read`] + [`io::Seek`]), for readers
/// that pull bytes rather than take them (the envelope's chunk reader): the bytes from the
/// current position to the object's end are fetched ahead by the same pinned parallel ranged
/// GETs as hashing uses, and a seek elsewhere restarts them there. Every byte returned is of the
/// version the listing saw; another version is an error that [`super::is_changed`] recognises.
pub struct ObjectFile {
    fetcher: Fetcher,
    object: Listed,
    pos: u64,
    /// The fetches under way, the position of `ahead`'s first byte, and the unread bytes fetched.
    stream: Option<(Prefetch, u64, Bytes)>,
}

impl std::fmt::Debug for ObjectFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectFile")
            .field("key", &self.object.key)
            .field("pos", &self.pos)
            .finish()
    }
}

impl ObjectFile {
    /// The object's size (from the listing).
    pub fn len(&self) -> u64 {
        self.object.size
    }

    /// Whether the object is empty.
    pub fn is_empty(&self) -> bool {
        self.object.size == 0
    }
}

impl io::Read for ObjectFile {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() || self.pos >= self.object.size {
            return Ok(0);
        }
        let in_step = matches!(&self.stream, Some((_, at, _)) if *at == self.pos);
        if !in_step {
            let prefetch = self
                .fetcher
                .prefetch(&self.object, self.pos, self.object.size)
                .map_err(read_error)?;
            self.stream = Some((prefetch, self.pos, Bytes::new()));
        }
        let Some((prefetch, at, ahead)) = self.stream.as_mut() else {
            return Ok(0);
        };
        if ahead.is_empty() {
            *ahead = match prefetch.rx.blocking_recv() {
                Some(item) => item.map_err(read_error)?,
                None => {
                    return Err(read_error(RemoteReadError::Failed(
                        "the read stopped before its end".to_owned(),
                    )))
                }
            };
        }
        let n = ahead.len().min(out.len());
        out[..n].copy_from_slice(&ahead.split_to(n));
        *at += n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

impl io::Seek for ObjectFile {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let target = match to {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.object.size.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the object",
            )
        })?;
        Ok(self.pos)
    }
}

/// A failed remote read as an I/O error; a replaced object carries [`super::ObjectChanged`].
fn read_error(error: RemoteReadError) -> io::Error {
    match error {
        RemoteReadError::Changed => io::Error::other(super::ObjectChanged),
        RemoteReadError::Failed(reason) => io::Error::other(reason),
    }
}

/// A listed prefix (or single object) whose objects can be opened as [`ObjectFile`]s.
#[derive(Debug)]
pub struct ListedModel {
    /// The listing as a model tree (names, sizes, order; the reader for hashing).
    pub tree: ModelTree,
    reader: Arc<ObjectReader>,
}

impl ListedModel {
    /// The object of the listed file `name` (`"."` for a single object), pinned as listed.
    pub fn open(&self, name: &str) -> Option<ObjectFile> {
        let object = self.reader.objects.get(name)?.clone();
        Some(ObjectFile {
            fetcher: self.reader.fetcher.clone(),
            object,
            pos: 0,
            stream: None,
        })
    }
}

/// One ranged GET of the pinned version; a response of another version or length is `Changed`.
async fn fetch(
    client: Client,
    object: Listed,
    range: Range<u64>,
) -> Result<Bytes, RemoteReadError> {
    let want = range.end - range.start;
    let bytes = client
        .get(&object.key, Some(range), object.version.as_deref())
        .await
        .map_err(|failure| match failure {
            // Listed, then gone or of another version: replaced (or deleted) during the run.
            Failure::NotFound | Failure::Changed => RemoteReadError::Changed,
            other => RemoteReadError::Failed(other.describe()),
        })?;
    if bytes.len() as u64 != want {
        return Err(RemoteReadError::Changed);
    }
    Ok(bytes)
}

/// Reads the whole object `url` names, refusing one larger than `limit` bytes.
pub(super) fn read_object(url: &ObjectUrl, limit: u64) -> io::Result<Vec<u8>> {
    let client = open_client(url).map_err(io_error)?;
    let key = url.prefix.clone();
    let read = run(async move {
        let object = client.head(&key).await?;
        if object.size > limit {
            return Ok(Err(object.size));
        }
        let bytes = client.get(&key, None, object.version.as_deref()).await?;
        Ok(Ok(bytes.to_vec()))
    })
    .map_err(io::Error::other)?
    .map_err(io_error)?;
    read.map_err(|size| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("is {size} bytes, over the limit of {limit}"),
        )
    })
}

/// The size of the object `url` names (one HEAD); a missing one is [`io::ErrorKind::NotFound`]
/// (a prefix with objects below it is not an object: not found either).
pub fn object_len(url: &ObjectUrl) -> io::Result<u64> {
    let client = open_client(url).map_err(io_error)?;
    let key = url.prefix.clone();
    run(async move { client.head(&key).await })
        .map_err(io::Error::other)?
        .map(|object| object.size)
        .map_err(io_error)
}

/// Whether `url` names a model: objects below the prefix, or the object itself (one LIST, and
/// one HEAD when nothing is below it). A missing bucket is `Ok(false)`.
pub fn object_exists(url: &ObjectUrl) -> io::Result<bool> {
    let client = open_client(url).map_err(io_error)?;
    let key = url.prefix.clone();
    let found = run(async move {
        let below = (!key.is_empty()).then(|| key.clone());
        if !client.list(below).await?.is_empty() {
            return Ok(true);
        }
        if key.is_empty() {
            return Ok(false);
        }
        client.head(&key).await.map(|_| true)
    })
    .map_err(io::Error::other)?;
    match found {
        Ok(found) => Ok(found),
        Err(Failure::NotFound) => Ok(false),
        Err(other) => Err(io_error(other)),
    }
}

/// Writes `bytes` as the object `url` names in one PUT (atomic: a reader sees the old object or
/// the whole new one); an existing object is refused unless `replace`, as
/// [`io::ErrorKind::AlreadyExists`].
pub(super) fn write_object(url: &ObjectUrl, bytes: Vec<u8>, replace: bool) -> io::Result<()> {
    let client = open_client(url).map_err(io_error)?;
    let key = url.prefix.clone();
    run(async move { client.put(&key, Bytes::from(bytes), replace).await })
        .map_err(io::Error::other)?
        .map_err(io_error)
}

pub(super) fn io_error(failure: Failure) -> io::Error {
    let kind = match failure {
        Failure::NotFound => io::ErrorKind::NotFound,
        Failure::Denied(_) => io::ErrorKind::PermissionDenied,
        Failure::Exists => io::ErrorKind::AlreadyExists,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, failure.describe())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listed tree's reader (and so the tree's `Debug`) never shows an Azure account key:
    /// `object_store` derives `Debug` down to the key's bytes.
    #[test]
    fn debug_of_a_reader_shows_no_account_key() {
        let key = [0x5au8, 0xc3, 0x17, 0x99, 0x42, 0x08, 0xee, 0x61].repeat(8);
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &key);
        let store = object_store::azure::MicrosoftAzureBuilder::new()
            .with_account("devstoreaccount1")
            .with_container_name("models")
            .with_access_key(encoded.clone())
            .build()
            .unwrap();
        let reader = ObjectReader::new(Client::Store(Arc::new(store)), HashMap::new());
        let shown = format!("{reader:?}");
        assert!(shown.contains("devstoreaccount1"), "{shown}");
        for form in [encoded, format!("{key:?}"), format!("{:?}", &key[..8])] {
            let form = form
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            assert!(!shown.contains(&form), "{shown}");
        }
    }
}
