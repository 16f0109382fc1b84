//! Asking a time-stamping authority for a token over signature bytes (RFC 3161 §3.4, HTTP).
//!
//! The transport is a minimal blocking HTTP/1.0 POST over `std::net`: `http://` URLs only. A TSA
//! response is authenticated by its own signature (checked by [`super::verify`] with the TSA roots,
//! here when given, and always by the verifier), so TLS would add no integrity; an HTTP/1.0 request
//! means the answer is never chunked. The answer is bounded in size and every step in time.

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
    /// The TSA's `http://host[:port]/path` URL.
    pub url: String,
    /// The limit for connecting, and for each read and write.
    pub timeout: Duration,
    /// When not empty, the token is verified against these before it is stored.
    pub roots: TimestampRoots,
}

impl TsaRequest {
    /// A request to `url` with a 30-second timeout and no check of the TSA's chain.
    pub fn new(url: impl Into<String>) -> TsaRequest {
        TsaRequest {
            url: url.into(),
            timeout: Duration::from_secs(30),
            roots: TimestampRoots::default(),
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

/// POSTs `body` as `application/timestamp-query` and returns the `200` answer's body.
fn post(tsa: &TsaRequest, body: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let transport = |reason: String| TimestampError::Transport {
        url: tsa.url.clone(),
        reason,
    };
    let rest = tsa.url.strip_prefix("http://").ok_or_else(|| {
        transport(
            "only http:// TSA URLs are supported (the token is signed by the TSA, so TLS adds no integrity)".into(),
        )
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(transport("the URL has no host, or has credentials".into()));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addresses = with_port
        .to_socket_addrs()
        .map_err(|e| transport(format!("cannot resolve {authority}: {e}")))?;
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
    let mut stream = stream.ok_or_else(|| {
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
        "POST {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: application/timestamp-query\r\nAccept: application/timestamp-reply\r\nContent-Length: {}\r\nUser-Agent: modelseal\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES + 1)
        .read_to_end(&mut answer)
        .map_err(|e| transport(format!("reading the answer: {e}")))?;
    if answer.len() as u64 > MAX_RESPONSE_BYTES {
        return Err(transport(format!(
            "the answer is over {MAX_RESPONSE_BYTES} bytes"
        )));
    }
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| transport("the answer is not HTTP".into()))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code != "200" {
        return Err(transport(format!("HTTP status {status:?}")));
    }
    let mut payload = answer[split + 4..].to_vec();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let length: usize = value
                    .trim()
                    .parse()
                    .map_err(|_| transport("bad Content-Length".into()))?;
                if payload.len() < length {
                    return Err(transport("the answer ended early".into()));
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
