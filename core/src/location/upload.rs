//! Streaming uploads of one object (issue 19, the write side): bytes written through a blocking
//! [`io::Write`] go to the store in parts, and the object appears only when [`Upload::finish`]
//! completes the upload.
//!
//! Guarantees:
//! - **all or nothing**: S3 and Azure Blob get a multipart upload (`object_store`'s
//!   `WriteMultipart`: S3 multipart upload, Azure put block / put block list), GCS a resumable
//!   upload (JSON API); none of them shows an object before the completing request. Any error, or
//!   an `Upload` dropped without `finish`, aborts the upload (its parts are discarded) and waits for
//!   the abort; a killed process leaves an incomplete upload that no reader sees (an S3 bucket's
//!   lifecycle rule `AbortIncompleteMultipartUpload` reclaims its parts; GCS and Azure expire them).
//! - **staging**: [`Upload::stage`] sends every byte but does not complete; the [`Staged`]
//!   upload is completed later by [`Staged::finish`] (or aborted when dropped). `decrypt` into a
//!   bucket stages every file and completes them only once the whole model authenticated. A
//!   staged S3 or Azure upload holds no bytes in memory; a staged GCS upload holds its last part
//!   (its final request is the one that creates the object).
//! - **bounded memory**: parts of [`PART_SIZE`] bytes, at most [`PARTS_IN_FLIGHT`] being sent per
//!   upload (GCS: one, its parts are sequential), one queued and one being filled, so one upload
//!   holds at most `(PARTS_IN_FLIGHT + 2) × PART_SIZE` = 48 MiB.
//!
//! The async side runs on the storage runtime of `remote`; the writer blocks on channels only, so
//! it must not be used from inside an async runtime (no caller does: the operations are blocking).

use super::gcs::ResumableUpload;
use super::remote::{io_error, open_client, runtime, Client, Failure};
use super::ObjectUrl;
use bytes::Bytes;
use object_store::path::Path as KeyPath;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use std::io;
use tokio::task::JoinSet;

/// Bytes per part (S3 wants at least 5 MiB but for the last; GCS a multiple of 256 KiB).
pub const PART_SIZE: usize = 8 << 20;
/// Parts being sent at once per upload (S3, Azure).
pub const PARTS_IN_FLIGHT: usize = 4;

/// What the writer tells the upload's task.
enum Message {
    Part(Bytes),
    /// Every part sent and acknowledged, the upload left open: answered on `ready`.
    Stage,
    Finish,
    Abort,
}

/// One object being uploaded (see the module doc). Write its bytes, then [`Upload::finish`];
/// dropped unfinished, the upload is aborted.
pub struct Upload {
    location: String,
    tx: Option<tokio::sync::mpsc::Sender<Message>>,
    done: std::sync::mpsc::Receiver<Result<(), Failure>>,
    /// Answers `Stage`: every part is stored.
    ready: std::sync::mpsc::Receiver<()>,
    part: Vec<u8>,
    written: u64,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("location", &self.location)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// Starts uploading the object `url` names (its prefix is the key); an existing object is
/// replaced when the upload completes. The session is opened by the first part or `finish`.
pub(super) fn start(url: &ObjectUrl) -> io::Result<Upload> {
    let client = open_client(url).map_err(io_error)?;
    let key = url.prefix.clone();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let (done_tx, done) = std::sync::mpsc::sync_channel(1);
    let (ready_tx, ready) = std::sync::mpsc::sync_channel(1);
    runtime().map_err(io::Error::other)?.spawn(async move {
        let _ = done_tx.send(drive(client, key, rx, ready_tx).await);
    });
    Ok(Upload {
        location: url.to_string(),
        tx: Some(tx),
        done,
        ready,
        part: Vec::with_capacity(PART_SIZE),
        written: 0,
    })
}

impl Upload {
    /// The location being written (for messages).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Sends the last part and completes the upload: the object exists (whole) once this
    /// returns `Ok`; on an error it does not, and the upload was aborted.
    pub fn finish(mut self) -> io::Result<()> {
        let part = std::mem::take(&mut self.part);
        self.send(Message::Part(Bytes::from(part)))?;
        self.send(Message::Finish)?;
        self.tx = None;
        self.outcome()
    }

    /// Sends the last part and waits until every part is stored, without completing: nothing
    /// is visible yet. On an error the upload was aborted.
    pub fn stage(mut self) -> io::Result<Staged> {
        let part = std::mem::take(&mut self.part);
        self.send(Message::Part(Bytes::from(part)))?;
        self.send(Message::Stage)?;
        match self.ready.recv() {
            Ok(()) => Ok(Staged(self)),
            // The task ended instead: its error says why.
            Err(_) => {
                self.tx = None;
                self.outcome()
                    .and_then(|()| Err(io::Error::other("the upload stopped")))
            }
        }
    }

    fn send(&mut self, message: Message) -> io::Result<()> {
        let sent = match &self.tx {
            Some(tx) => tx.blocking_send(message).is_ok(),
            None => false,
        };
        if sent {
            return Ok(());
        }
        // The task ended early: its error says why.
        self.tx = None;
        self.outcome()
            .and_then(|()| Err(io::Error::other("the upload stopped")))
    }

    fn outcome(&mut self) -> io::Result<()> {
        match self.done.recv() {
            Ok(result) => result.map_err(io_error),
            Err(_) => Err(io::Error::other("the storage runtime stopped")),
        }
    }
}

impl io::Write for Upload {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = (PART_SIZE - self.part.len()).min(data.len());
        self.part.extend_from_slice(&data[..take]);
        self.written += take as u64;
        if self.part.len() == PART_SIZE {
            let part = std::mem::replace(&mut self.part, Vec::with_capacity(PART_SIZE));
            self.send(Message::Part(Bytes::from(part)))?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            // Unfinished: abort, and wait so that no part outlives the run.
            let _ = tx.blocking_send(Message::Abort);
            drop(tx);
            let _ = self.done.recv();
        }
    }
}

/// An upload whose every byte is stored but which is not completed: no reader sees its object.
/// [`Staged::finish`] completes it; dropped, it is aborted (and the drop waits for the abort).
#[derive(Debug)]
pub struct Staged(Upload);

impl Staged {
    /// Completes the upload: the object exists (whole) once this returns `Ok`; on an error it
    /// does not, and the upload was aborted.
    pub fn finish(self) -> io::Result<()> {
        self.0.finish()
    }

    /// The location being written (for messages).
    pub fn location(&self) -> &str {
        self.0.location()
    }
}

/// The upload of one object on the store's side.
enum Session {
    /// S3 multipart upload or Azure block list: parts sent in parallel, completed by `finish`.
    Store {
        upload: Box<dyn MultipartUpload>,
        parts: JoinSet<object_store::Result<()>>,
    },
    Gcs {
        upload: ResumableUpload,
        /// The last part received: sent once the next one (or `Finish`) shows whether it is last.
        held: Option<Bytes>,
    },
}

impl Session {
    async fn open(client: Client, key: &str) -> Result<Session, Failure> {
        Ok(match client {
            Client::Store(store) => {
                let upload = store.put_multipart(&KeyPath::from(key)).await?;
                Session::Store {
                    upload,
                    parts: JoinSet::new(),
                }
            }
            Client::Gcs(gcs) => Session::Gcs {
                upload: gcs.start_upload(key).await?,
                held: None,
            },
        })
    }

    async fn part(&mut self, part: Bytes) -> Result<(), Failure> {
        match self {
            Session::Store { upload, parts } => {
                // Every part but the last is PART_SIZE (the writer sends full parts only), as S3
                // wants; an empty part (finishing after `stage`) is no part.
                if part.is_empty() {
                    return Ok(());
                }
                Session::settle(parts, PARTS_IN_FLIGHT).await?;
                parts.spawn(upload.put_part(PutPayload::from(part)));
                Ok(())
            }
            Session::Gcs { upload, held } => {
                // An empty part (finishing after `stage`, or a size that is a multiple of the
                // part size) would make the held part a non-final one, which GCS wants aligned
                // to 256 KiB: the held part stays the last.
                if part.is_empty() && held.is_some() {
                    return Ok(());
                }
                if let Some(previous) = held.replace(part) {
                    upload.part(previous, false).await?;
                }
                Ok(())
            }
        }
    }

    /// Waits until fewer than `most` parts are in flight; the first failed part is the error.
    async fn settle(
        parts: &mut JoinSet<object_store::Result<()>>,
        most: usize,
    ) -> Result<(), Failure> {
        // `most` 0: until none is left.
        while parts.len() >= most.max(1) {
            match parts.join_next().await {
                Some(Ok(stored)) => stored?,
                Some(Err(joined)) => return Err(Failure::Other(joined.to_string())),
                None => break,
            }
        }
        Ok(())
    }

    /// Waits for every part in flight (S3, Azure); GCS sends its parts in order as they come,
    /// so only its last part is still held.
    async fn stage(&mut self) -> Result<(), Failure> {
        match self {
            Session::Store { parts, .. } => Session::settle(parts, 0).await,
            Session::Gcs { .. } => Ok(()),
        }
    }

    async fn finish(self) -> Result<(), Failure> {
        match self {
            Session::Store {
                mut upload,
                mut parts,
            } => {
                let stored = match Session::settle(&mut parts, 0).await {
                    Ok(()) => upload.complete().await.map(|_| ()).map_err(Failure::from),
                    Err(failure) => Err(failure),
                };
                if stored.is_err() {
                    parts.shutdown().await;
                    let _ = upload.abort().await;
                }
                stored
            }
            Session::Gcs { mut upload, held } => {
                let last = held.unwrap_or_default();
                match upload.part(last, true).await {
                    Ok(()) => Ok(()),
                    Err(failure) => {
                        upload.cancel().await;
                        Err(failure)
                    }
                }
            }
        }
    }

    async fn abort(self) {
        match self {
            Session::Store {
                mut upload,
                mut parts,
            } => {
                parts.shutdown().await;
                let _ = upload.abort().await;
            }
            Session::Gcs { upload, .. } => upload.cancel().await,
        }
    }
}

/// The upload's task: opens the session at the first message, sends the parts, completes at
/// `Finish`; aborts on `Abort`, on a failed part, or when the writer is gone without finishing.
async fn drive(
    client: Client,
    key: String,
    mut rx: tokio::sync::mpsc::Receiver<Message>,
    ready: std::sync::mpsc::SyncSender<()>,
) -> Result<(), Failure> {
    let mut session: Option<Session> = None;
    loop {
        let message = rx.recv().await;
        if session.is_none()
            && matches!(
                message,
                Some(Message::Part(_) | Message::Stage | Message::Finish)
            )
        {
            session = Some(Session::open(client.clone(), &key).await?);
        }
        let Some(mut open) = session.take() else {
            return Err(Failure::Other("the upload was abandoned".to_owned()));
        };
        match message {
            Some(Message::Part(part)) => {
                if let Err(failure) = open.part(part).await {
                    open.abort().await;
                    return Err(failure);
                }
                session = Some(open);
            }
            Some(Message::Stage) => {
                if let Err(failure) = open.stage().await {
                    open.abort().await;
                    return Err(failure);
                }
                let _ = ready.send(());
                session = Some(open);
            }
            Some(Message::Finish) => return open.finish().await,
            Some(Message::Abort) | None => {
                open.abort().await;
                return Err(Failure::Other("the upload was abandoned".to_owned()));
            }
        }
    }
}

/// The full keys of the objects an output at `url` would meet: the object `url` names itself
/// and every object below its prefix.
pub(super) fn objects_at(url: &ObjectUrl) -> io::Result<Vec<String>> {
    let client = open_client(url).map_err(io_error)?;
    let key = url.prefix.clone();
    super::remote::run(async move {
        let prefix = (!key.is_empty()).then(|| key.clone());
        let mut keys: Vec<String> = client
            .list(prefix)
            .await?
            .into_iter()
            .map(|o| o.key)
            .collect();
        if !key.is_empty() {
            match client.head(&key).await {
                Ok(object) => keys.push(object.key),
                Err(Failure::NotFound) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(keys)
    })
    .map_err(io::Error::other)?
    .map_err(io_error)
}

/// Deletes the objects `keys` (full keys) of `url`'s bucket, one request each.
pub(super) fn delete_objects(url: &ObjectUrl, keys: Vec<String>) -> io::Result<()> {
    let client = open_client(url).map_err(io_error)?;
    super::remote::run(async move {
        for key in keys {
            client.delete(&key).await?;
        }
        Ok(())
    })
    .map_err(io::Error::other)?
    .map_err(io_error)
}
