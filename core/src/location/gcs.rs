//! Google Cloud Storage through its JSON API, on `reqwest` (the HTTP client `object_store` already
//! brings).
//!
//! Why not `object_store`'s GCS backend: it lists and reads through the XML API (`GET
//! /BUCKET?list-type=2`, `HEAD /BUCKET/KEY`), which the GCS emulators on PyPI (fake-gcs-server,
//! gcp-storage-emulator) do not implement, so it could not be tested against a real server here.
//! The JSON API is GCS's primary API and the emulators speak it. Credentials still come from
//! `object_store`'s GCS chain (application default credentials, workload identity): this client
//! asks it for a bearer token; with `STORAGE_EMULATOR_HOST` no token is sent.
//!
//! Objects are pinned by their generation (`ifGenerationMatch`), GCS's object version.

use super::remote::{Failure, Listed};
use bytes::Bytes;
use object_store::gcp::GcpCredentialProvider;
use std::ops::Range;
use std::time::Duration;

/// The public JSON-API endpoint.
const GCS_BASE: &str = "https://storage.googleapis.com";
/// Attempts for one request that meets a 429, a 5xx or a broken connection.
const ATTEMPTS: u32 = 5;

/// One bucket, through the JSON API. `Debug` shows the endpoint and bucket only: the credential
/// provider may cache a token.
pub(super) struct JsonClient {
    http: reqwest::Client,
    base: String,
    bucket: String,
    credentials: Option<GcpCredentialProvider>,
}

impl std::fmt::Debug for JsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonClient")
            .field("base", &self.base)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl JsonClient {
    /// A client for `bucket`: the emulator at `STORAGE_EMULATOR_HOST` unauthenticated, or GCS
    /// with `object_store`'s credential chain.
    pub(super) fn new(bucket: &str) -> Result<JsonClient, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot start an HTTP client: {e}"))?;
        let (base, credentials) = match std::env::var("STORAGE_EMULATOR_HOST") {
            Ok(host) if host.contains("://") => (host.trim_end_matches('/').to_owned(), None),
            Ok(host) => (format!("http://{}", host.trim_end_matches('/')), None),
            Err(_) => {
                let store = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| e.to_string())?;
                (GCS_BASE.to_owned(), Some(store.credentials().clone()))
            }
        };
        Ok(JsonClient {
            http,
            base,
            bucket: bucket.to_owned(),
            credentials,
        })
    }

    fn object_url(&self, key: &str) -> String {
        format!(
            "{}/storage/v1/b/{}/o/{}",
            self.base,
            self.bucket,
            encode(key)
        )
    }

    /// Sends the request `make` builds, retrying 429, 5xx and connection failures with backoff.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Failure> {
        self.send_accepting(make, |status| status.is_success())
            .await
    }

    /// [`JsonClient::send`], taking every status `accept` accepts as an answer (a resumable
    /// upload answers a part with 308 Resume Incomplete).
    async fn send_accepting(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
        accept: impl Fn(reqwest::StatusCode) -> bool,
    ) -> Result<reqwest::Response, Failure> {
        let mut delay = Duration::from_millis(100);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            let mut request = make();
            if let Some(credentials) = &self.credentials {
                let token = credentials
                    .get_credential()
                    .await
                    .map_err(|e| Failure::Denied(e.to_string()))?;
                request = request.bearer_auth(&token.bearer);
            }
            match request.send().await {
                Ok(response) if accept(response.status()) => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retry = status.as_u16() == 429 || status.is_server_error();
                    if !retry || attempt == ATTEMPTS {
                        return Err(failure(status, response.text().await.unwrap_or_default()));
                    }
                    last = status.to_string();
                }
                Err(e) if attempt < ATTEMPTS => last = without_url(&e),
                Err(e) => return Err(Failure::Other(without_url(&e))),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Err(Failure::Other(format!(
            "gave up after {ATTEMPTS} attempts: {last}"
        )))
    }

    /// Every object below `prefix` (all of the bucket for `None`), 1,000 per request.
    pub(super) async fn list(&self, prefix: Option<String>) -> Result<Vec<Listed>, Failure> {
        let url = format!("{}/storage/v1/b/{}/o", self.base, self.bucket);
        let prefix = prefix.map(|p| format!("{p}/"));
        let mut token: Option<String> = None;
        let mut listed = Vec::new();
        loop {
            let response = self
                .send(|| {
                    let mut query = vec![("maxResults", "1000".to_owned())];
                    if let Some(p) = &prefix {
                        query.push(("prefix", p.clone()));
                    }
                    if let Some(t) = &token {
                        query.push(("pageToken", t.clone()));
                    }
                    self.http.get(with_query(&url, &query))
                })
                .await?;
            let page: serde_json::Value = json(response).await?;
            for item in page["items"].as_array().into_iter().flatten() {
                listed.push(listed_of(item)?);
            }
            match page["nextPageToken"].as_str() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(listed),
            }
        }
    }

    /// The object `key`'s size and generation.
    pub(super) async fn head(&self, key: &str) -> Result<Listed, Failure> {
        let url = self.object_url(key);
        let response = self.send(|| self.http.get(&url)).await?;
        listed_of(&json(response).await?)
    }

    /// The bytes `range` of `key` (all of it for `None`), of generation `version` only.
    pub(super) async fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
        version: Option<&str>,
    ) -> Result<Bytes, Failure> {
        let url = self.object_url(key);
        let response = self
            .send(|| {
                let mut query = vec![("alt", "media")];
                if let Some(generation) = version {
                    query.push(("ifGenerationMatch", generation));
                }
                let mut request = self.http.get(with_query(&url, &query));
                if let Some(r) = &range {
                    request = request.header("Range", format!("bytes={}-{}", r.start, r.end - 1));
                }
                request
            })
            .await?;
        if let (Some(pinned), Some(served)) = (version, response.headers().get("x-goog-generation"))
        {
            if served.to_str().ok() != Some(pinned) {
                return Err(Failure::Changed);
            }
        }
        response
            .bytes()
            .await
            .map_err(|e| Failure::Other(without_url(&e)))
    }

    /// Uploads `bytes` as `key` in one request; only if no such object exists unless `replace`.
    pub(super) async fn put(&self, key: &str, bytes: Bytes, replace: bool) -> Result<(), Failure> {
        let url = format!("{}/upload/storage/v1/b/{}/o", self.base, self.bucket);
        self.send(|| {
            let mut query = vec![("uploadType", "media"), ("name", key)];
            if !replace {
                query.push(("ifGenerationMatch", "0"));
            }
            self.http
                .post(with_query(&url, &query))
                .header("Content-Type", "application/octet-stream")
                .body(bytes.clone())
        })
        .await
        .map_err(|failure| match failure {
            Failure::Changed => Failure::Exists,
            other => other,
        })?;
        Ok(())
    }
}

/// A resumable upload session of one object (GCS's streaming upload): parts are sent in order,
/// each a multiple of 256 KiB but the last, and the object exists only once the last part
/// (the one that states the total size) was accepted.
pub(super) struct ResumableUpload {
    client: std::sync::Arc<JsonClient>,
    /// The session's URL (built from its `upload_id`, so that it goes to the configured endpoint).
    session: String,
    /// Bytes accepted so far.
    offset: u64,
}

impl JsonClient {
    /// Starts a resumable upload of `key` (replacing an existing object when it completes).
    pub(super) async fn start_upload(
        self: std::sync::Arc<Self>,
        key: &str,
    ) -> Result<ResumableUpload, Failure> {
        let url = format!("{}/upload/storage/v1/b/{}/o", self.base, self.bucket);
        let response = self
            .send(|| {
                self.http
                    .post(with_query(
                        &url,
                        &[("uploadType", "resumable"), ("name", key)],
                    ))
                    .header("Content-Type", "application/json")
                    .header("X-Upload-Content-Type", "application/octet-stream")
                    .body(serde_json::json!({ "name": key }).to_string())
            })
            .await?;
        let upload_id = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.split_once("upload_id="))
            .map(|(_, rest)| rest.split('&').next().unwrap_or(rest).to_owned())
            .ok_or_else(|| Failure::Other("the upload session has no upload_id".to_owned()))?;
        let session = format!(
            "{url}?uploadType=resumable&upload_id={}",
            encode(&upload_id)
        );
        Ok(ResumableUpload {
            client: self,
            session,
            offset: 0,
        })
    }

    /// Deletes the object `key`.
    pub(super) async fn delete(&self, key: &str) -> Result<(), Failure> {
        let url = self.object_url(key);
        self.send(|| self.http.delete(&url)).await?;
        Ok(())
    }
}

impl ResumableUpload {
    /// Sends `part`, the next bytes of the object; `last` completes the object with it.
    pub(super) async fn part(&mut self, part: Bytes, last: bool) -> Result<(), Failure> {
        let end = self.offset + part.len() as u64;
        let total = if last {
            end.to_string()
        } else {
            "*".to_owned()
        };
        let range = if part.is_empty() {
            format!("bytes */{total}")
        } else {
            format!("bytes {}-{}/{total}", self.offset, end - 1)
        };
        let client = &self.client;
        client
            .send_accepting(
                || {
                    client
                        .http
                        .put(&self.session)
                        .header("Content-Range", range.as_str())
                        .body(part.clone())
                },
                |status| status.is_success() || status.as_u16() == 308,
            )
            .await?;
        self.offset = end;
        Ok(())
    }

    /// Cancels the session: its parts are discarded and no object appears.
    pub(super) async fn cancel(self) {
        let client = &self.client;
        // A session that is already gone is as good as cancelled (GCS answers 499 on success).
        let _ = client
            .send_accepting(
                || client.http.delete(&self.session),
                |status| status.is_success() || status.as_u16() == 499 || status.as_u16() == 404,
            )
            .await;
    }
}

/// A JSON-API object resource as a listing entry.
fn listed_of(item: &serde_json::Value) -> Result<Listed, Failure> {
    let field = |name: &str| item[name].as_str().map(str::to_owned);
    let size = field("size")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Other("an object resource without a size".to_owned()))?;
    let key = field("name")
        .ok_or_else(|| Failure::Other("an object resource without a name".to_owned()))?;
    Ok(Listed {
        key,
        size,
        version: field("generation"),
    })
}

async fn json(response: reqwest::Response) -> Result<serde_json::Value, Failure> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| Failure::Other(without_url(&e)))?;
    serde_json::from_slice(&bytes).map_err(|e| Failure::Other(format!("not a JSON answer: {e}")))
}

fn failure(status: reqwest::StatusCode, body: String) -> Failure {
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.to_string());
    match status.as_u16() {
        404 => Failure::NotFound,
        401 | 403 => Failure::Denied(message),
        412 => Failure::Changed,
        _ => Failure::Other(format!("{status}: {message}")),
    }
}

/// A transport error without its URL (which holds nothing secret, but repeats the location).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "");
    }
    text
}

/// `url?k=v&…`, each value percent-encoded.
fn with_query<V: AsRef<str>>(url: &str, query: &[(&str, V)]) -> String {
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v.as_ref())))
        .collect();
    format!("{url}?{}", pairs.join("&"))
}

/// Percent-encodes an object name as one path segment (`/` too, as the JSON API wants).
fn encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
