//! Asking a time-stamping authority for a token over signature bytes (RFC 3161 §3.4, HTTP).
//!
//! The transport is a minimal blocking HTTP/1.0 POST over `std::net`, for `http://` and `https://`
//! URLs (TLS by rustls; the public Sigstore TSA, like most, is https only). A TSA response is
//! authenticated by its own signature (checked by [`super::verify`] with the TSA roots, here when
//! given, and always by the verifier), so TLS adds privacy and reachability rather than integrity;
//! its server certificate is verified all the same (system roots, or [`TsaRequest::tls_roots`]).
//! An HTTP/1.0 request means the answer is never chunked. The answer is bounded in size and every
//! step (connect, handshake, each read and write) in time.

use super::token::{self, ID_SHA_256};
use super::{TimestampError, TimestampRoots};
use der::asn1::{Int, OctetString};
use der::{Decode, Encode};
use sha2::Digest;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion};

/// The most of a TSA answer read (a token with a certificate chain is a few KiB).
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// Where and how to ask for a timestamp.
#[derive(Debug, Clone)]
pub struct TsaRequest {
    /// The TSA's `http://` or `https://host[:port]/path` URL.
    pub url: String,
    /// The limit for connecting, and for each read and write.
    pub timeout: Duration,
    /// When not empty, the token is verified against these before it is stored.
    pub roots: TimestampRoots,
    /// Root certificates (DER) an `https://` TSA's TLS certificate must chain to; empty: the
    /// system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` replace them when set, as for OpenSSL).
    pub tls_roots: Vec<Vec<u8>>,
}

impl TsaRequest {
    /// A request to `url` with a 30-second timeout and no check of the TSA's chain.
    pub fn new(url: impl Into<String>) -> TsaRequest {
        TsaRequest {
            url: url.into(),
            timeout: Duration::from_secs(30),
            roots: TimestampRoots::default(),
            tls_roots: Vec::new(),
        }
    }
}

/// Asks the TSA for a token over `signature` (SHA-256 imprint, a random 64-bit nonce, `certReq`)
/// and returns the TSA's `TimeStampResp` DER, as received (what Sigstore bundles store in
/// `signedTimestamp`), once its status, imprint, nonce and certificates are checked (and its
/// chain, when `tsa.roots` is not empty).
pub fn request(tsa: &TsaRequest, signature: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let response = |reason: String| TimestampError::Response {
        url: tsa.url.clone(),
        reason,
    };
    let mut nonce = [0u8; 8];
    getrandom(&mut nonce);
    // A positive INTEGER: clear the top bit so the encoding needs no sign byte games.
    nonce[0] &= 0x7f;
    nonce[0] |= 0x01;
    let imprint = MessageImprint {
        hash_algorithm: spki::AlgorithmIdentifier {
            oid: ID_SHA_256,
            parameters: Some(der::Any::null()),
        },
        hashed_message: OctetString::new(sha2::Sha256::digest(signature).to_vec())
            .map_err(|e| response(format!("cannot build the request: {e}")))?,
    };
    let nonce = Int::new(&nonce).map_err(|e| response(format!("cannot build the request: {e}")))?;
    let request = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: imprint,
        req_policy: None,
        nonce: Some(nonce.clone()),
        cert_req: true,
        extensions: None,
    }
    .to_der()
    .map_err(|e| response(format!("cannot build the request: {e}")))?;

    let body = post(tsa, &request)?;
    let answer = TimeStampResp::from_der(&body)
        .map_err(|e| response(format!("the answer is not an RFC 3161 TimeStampResp ({e})")))?;
    // PKIStatus 0 granted, 1 grantedWithMods (RFC 3161 §2.4.2); anything else is a refusal.
    let status = answer.status.status;
    if !matches!(status as u8, 0 | 1) {
        return Err(response(format!(
            "the TSA refused: {status:?} {:?}",
            answer.status.status_string
        )));
    }
    if answer.time_stamp_token.is_none() {
        return Err(response("the TSA granted but sent no token".into()));
    }
    let parsed = token::parse(&body).map_err(|e| response(e.to_string()))?;
    parsed
        .check_imprint(signature)
        .map_err(|_| response("the token's imprint is not the hash of this signature".into()))?;
    if parsed.tst_info.nonce.as_ref() != Some(&nonce) {
        return Err(response(
            "the token's nonce is not the one sent (a replayed or foreign answer)".into(),
        ));
    }
    if parsed.certificates().is_empty() {
        return Err(response(
            "the token carries no certificate although certReq asked for it".into(),
        ));
    }
    if !tsa.roots.is_empty() {
        super::verify(&body, signature, &tsa.roots).map_err(|e| response(e.to_string()))?;
    }
    Ok(body)
}

/// A TSA URL taken apart: what to connect to, and what to say in the request.
struct Target<'a> {
    /// `https://`: the connection is TLS, the server's certificate verified for `host`.
    tls: bool,
    /// `host[:port]` as written (the `Host` header).
    authority: &'a str,
    /// The host alone, without brackets (the TLS server name: a DNS name or an IP address).
    host: &'a str,
    /// `host:port`, the port defaulted by the scheme (for name resolution).
    address: String,
    /// The request path, `/` at least.
    path: &'a str,
}

impl Target<'_> {
    fn parse(url: &str) -> Result<Target<'_>, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err("only http:// and https:// TSA URLs are supported".into());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err("the URL has no host, or has credentials".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !authority.ends_with(']') && port.parse::<u16>().is_ok() => {
                (host, port)
            }
            _ => (authority, if tls { "443" } else { "80" }),
        };
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(Target {
            tls,
            authority,
            host: bare,
            address: format!("{host}:{port}"),
            path,
        })
    }
}

/// POSTs `body` as `application/timestamp-query` and returns the `200` answer's body. Over
/// `https://` the server's certificate must chain to [`TsaRequest::tls_roots`] (default: the
/// system's roots) and name the URL's host; the timeouts bound the handshake like every read.
fn post(tsa: &TsaRequest, body: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let transport = |reason: String| TimestampError::Transport {
        url: tsa.url.clone(),
        reason,
    };
    let target = Target::parse(&tsa.url).map_err(transport)?;
    let addresses = target
        .address
        .to_socket_addrs()
        .map_err(|e| transport(format!("cannot resolve {}: {e}", target.authority)))?;
    let mut last = None;
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, tsa.timeout) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let stream = stream.ok_or_else(|| {
        transport(format!(
            "cannot connect: {}",
            last.map(|e| e.to_string())
                .unwrap_or_else(|| "no address".into())
        ))
    })?;
    let io = |e: std::io::Error| transport(e.to_string());
    stream.set_read_timeout(Some(tsa.timeout)).map_err(io)?;
    stream.set_write_timeout(Some(tsa.timeout)).map_err(io)?;
    let head = format!(
        "POST {} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/timestamp-query\r\nAccept: application/timestamp-reply\r\nContent-Length: {}\r\nUser-Agent: modelseal\r\n\r\n",
        target.path,
        target.authority,
        body.len()
    );
    let answer = if target.tls {
        let connection = tls_client(tsa, target.host).map_err(transport)?;
        exchange(rustls::StreamOwned::new(connection, stream), &head, body)
    } else {
        exchange(stream, &head, body)
    }
    .map_err(transport)?;
    parse_answer(&answer).map_err(transport)
}

/// A TLS client session for `host`, verifying the server against the TSA's TLS roots.
fn tls_client(tsa: &TsaRequest, host: &str) -> Result<rustls::ClientConnection, String> {
    let mut roots = rustls::RootCertStore::empty();
    if tsa.tls_roots.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(format!(
                "no trusted root certificate in the system store to verify the TSA's TLS certificate{} (SSL_CERT_FILE or SSL_CERT_DIR can name one)",
                found
                    .errors
                    .first()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
    } else {
        for der in &tsa.tls_roots {
            roots
                .add(rustls_pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| format!("a TLS root certificate is not usable: {e}"))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is not a valid TLS server name"))?;
    rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| format!("TLS setup: {e}"))
}

/// Sends the request and reads the whole answer (at most [`MAX_RESPONSE_BYTES`]).
fn exchange(mut stream: impl Read + Write, head: &str, body: &[u8]) -> Result<Vec<u8>, String> {
    let sent = |e: std::io::Error| format!("sending the request: {e}");
    stream.write_all(head.as_bytes()).map_err(sent)?;
    stream.write_all(body).map_err(sent)?;
    stream.flush().map_err(sent)?;
    let mut answer = Vec::new();
    match stream.take(MAX_RESPONSE_BYTES + 1).read_to_end(&mut answer) {
        Ok(_) => {}
        // A TLS peer that closes without close_notify (common for HTTP/1.0 servers): the answer
        // is complete only if its Content-Length is met, which `parse_answer` checks; a cut
        // token would not parse, nor verify, anyway.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(format!("reading the answer: {e}")),
    }
    if answer.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(format!("the answer is over {MAX_RESPONSE_BYTES} bytes"));
    }
    Ok(answer)
}

/// The body of an HTTP `200` answer, cut to its `Content-Length` when it has one.
fn parse_answer(answer: &[u8]) -> Result<Vec<u8>, String> {
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer is not HTTP")?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(format!("HTTP status {status:?}"));
    }
    let mut payload = answer[split + 4..].to_vec();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let length: usize = value.trim().parse().map_err(|_| "bad Content-Length")?;
                if payload.len() < length {
                    return Err("the answer ended early".into());
                }
                payload.truncate(length);
            }
        }
    }
    Ok(payload)
}

/// Operating-system randomness for the nonce (not a secret: only unpredictable).
fn getrandom(buf: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(buf);
}
