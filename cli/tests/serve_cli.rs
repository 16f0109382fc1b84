//! `modelseal serve`: the real binary on 127.0.0.1:0, called over plain HTTP/1.1 (a small client on
//! `std::net::TcpStream`): decisions and statuses, the same JSON as `verify --policy --json`, root
//! confinement, limits (body size, concurrency, time), SIGHUP reload with a request in flight,
//! graceful shutdown, and one audit line per request.

mod common;
use common::policy::{Setup, TRUST_TOML};
use common::*;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `modelseal serve`, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    /// Every stderr line after the "listening" one.
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// `serve --policy trust.toml --root DIR --listen 127.0.0.1:0 EXTRA…`.
    fn start(t: &Setup, extra: &[&str]) -> Server {
        let policy = t.path("trust.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_modelseal"))
            .args(["serve", "--policy", s(&policy), "--root", s(t.dir.path())])
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let addr = listening_address(&first);
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in stderr.lines() {
                sink.lock().unwrap().push(line.unwrap());
            }
        });
        Server { child, addr, lines }
    }

    fn post(&self, body: &Value) -> (u16, Value) {
        request(self.addr, "POST", "/v1/verify", body.to_string().as_bytes())
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits until a stderr line contains `needle`.
    fn wait_for_line(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no line with {needle:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn generation(&self) -> u64 {
        let (status, health) = request(self.addr, "GET", "/healthz", b"");
        assert_eq!(status, 200, "{health}");
        health["policy_generation"].as_u64().unwrap()
    }

    /// Opens a verification request whose body is only half sent, and returns once the server
    /// has admitted it (with `--max-concurrent 1 --max-queue 0`, a probe then gets 503): it now
    /// holds its policy snapshot and the only admission slot. A probe can win the race for that
    /// slot, and the held request is then refused with 503 itself: it is opened again.
    fn hold(&self, body: &Value) -> (TcpStream, Vec<u8>) {
        self.hold_n(1, body).remove(0)
    }

    /// [`Server::hold`] for `n` requests at once: returns once all `n` are admitted and a probe
    /// is refused, i.e. when `n` is the server's whole admission (`--max-concurrent` plus
    /// `--max-queue`).
    fn hold_n(&self, n: usize, body: &Value) -> Vec<(TcpStream, Vec<u8>)> {
        let body = body.to_string().into_bytes();
        let (first, rest) = body.split_at(body.len() / 2);
        let open = || {
            let mut stream = TcpStream::connect(self.addr).unwrap();
            stream
                .write_all(&head("POST", "/v1/verify", body.len()))
                .unwrap();
            stream.write_all(first).unwrap();
            stream
        };
        let mut streams: Vec<TcpStream> = (0..n).map(|_| open()).collect();
        let start = Instant::now();
        loop {
            let (status, probe) = self.post(&json!({"model": "llm", "signatures": []}));
            if status == 503 {
                assert_eq!(probe["error"], "saturated");
                break;
            }
            for stream in &mut streams {
                if answered(stream) {
                    *stream = open();
                }
            }
            assert!(start.elapsed() < Duration::from_secs(20), "never saturated");
            std::thread::sleep(Duration::from_millis(20));
        }
        streams.into_iter().map(|s| (s, rest.to_vec())).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address from the first stderr line, text or `--json`.
fn listening_address(line: &str) -> SocketAddr {
    if line.starts_with('{') {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["event"], "listening", "{line}");
        v["address"].as_str().unwrap().parse().unwrap()
    } else {
        line.trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first line: {line:?}"))
            .parse()
            .unwrap()
    }
}

/// Whether the server has already answered on `stream` (without consuming the answer).
fn answered(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    // Data (the answer) or end of stream: either way this request is over.
    let answered = stream.peek(&mut byte).is_ok();
    stream.set_nonblocking(false).unwrap();
    answered
}

fn head(method: &str, path: &str, length: usize) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// One HTTP/1.1 request on a new connection; the status and the JSON body (Null if empty).
fn request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(&head(method, path, body.len())).unwrap();
    stream.write_all(body).unwrap();
    response(stream)
}

/// Reads a whole `Connection: close` response.
fn response(mut stream: TcpStream) -> (u16, Value) {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status, body)
}

fn verify_body(sigs: &[&str], name: &str) -> Value {
    json!({"model": "llm", "signatures": sigs, "model_name": name})
}

fn audit_lines(t: &Setup) -> Vec<Value> {
    std::fs::read_to_string(t.path("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `trust.toml` with an audit log.
fn with_audit(t: &Setup) {
    std::fs::write(
        t.path("trust.toml"),
        format!("audit_log = \"audit.jsonl\"\n{TRUST_TOML}"),
    )
    .unwrap();
}

#[test]
fn allowed_and_denied_give_the_cli_json() {
    let t = Setup::new();
    t.sign("release");
    t.sign("ci");
    t.sign("other");
    let server = Server::start(&t, &["--json"]);
    let cases: [(&[&str], &str, u16); 4] = [
        (&["llm.release.sig", "llm.ci.sig"], "prod/llm", 200),
        (&["llm.release.sig"], "prod/llm", 403), // threshold not met
        (&["llm.other.sig"], "dev/llm", 403),    // untrusted key
        (&["llm.release.sig"], "staging/llm", 403), // no rule covers the name
    ];
    for (sigs, name, status) in cases {
        let (got, served) = server.post(&verify_body(sigs, name));
        assert_eq!(got, status, "{served}");
        // The same JSON as the CLI, run from the root with the same relative paths.
        let mut cli = Command::new(env!("CARGO_BIN_EXE_modelseal"));
        cli.current_dir(t.dir.path()).args(["verify", "llm"]);
        for sig in sigs {
            cli.args(["--signature", sig]);
        }
        let policy = t.path("trust.toml");
        cli.args(["--policy", s(&policy), "--model-name", name, "--json"]);
        let out = cli.output().unwrap();
        assert_eq!(code(&out), if status == 200 { 0 } else { 1 });
        assert_eq!(served, json(&out), "{name} {sigs:?}");
    }
    let (_, untrusted) = server.post(&verify_body(&["llm.other.sig"], "dev/llm"));
    assert!(
        untrusted["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("llm.other.sig: not signed by any signer of the policy"),
        "{untrusted}"
    );
    let (_, uncovered) = server.post(&verify_body(&["llm.release.sig"], "staging/llm"));
    assert_eq!(
        uncovered["reasons"],
        json!(["no [[models]] rule covers model name \"staging/llm\""])
    );
    // Without model_name, the name is the model path's last component (as in the CLI).
    let (status, unnamed) =
        server.post(&json!({"model": "llm", "signatures": ["llm.release.sig"]}));
    assert_eq!(status, 403);
    assert_eq!(unnamed["model_name"], "llm");
}

#[test]
fn paths_outside_the_root_are_refused() {
    let t = Setup::new();
    t.sign("release");
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(outside.path().join("model")).unwrap();
    std::fs::write(outside.path().join("model/w.bin"), b"w").unwrap();
    std::os::unix::fs::symlink(outside.path().join("model"), t.path("link")).unwrap();
    let absolute_sig = t.path("llm.release.sig");
    let server = Server::start(&t, &[]);
    let refused: [(Value, &str); 5] = [
        (
            verify_body(&["../llm.release.sig"], "dev/llm"),
            "`..` components are refused",
        ),
        (
            json!({"model": "llm/../../x", "signatures": []}),
            "`..` components are refused",
        ),
        (
            json!({"model": "/etc", "signatures": []}),
            "absolute paths are refused",
        ),
        (
            verify_body(&[s(&absolute_sig)], "dev/llm"),
            "absolute paths are refused",
        ),
        (
            json!({"model": "link", "signatures": ["llm.release.sig"]}),
            "resolves outside the root",
        ),
    ];
    for (body, reason) in refused {
        let (status, answer) = server.post(&body);
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["allowed"], false);
        assert_eq!(answer["error"], "path");
        assert!(
            answer["reasons"][0].as_str().unwrap().contains(reason),
            "{body}: {answer}"
        );
    }
    let (status, missing) = server.post(&verify_body(&["missing.sig"], "dev/llm"));
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"], "not_found");
    // A file inside the root that is not a signature: verified as the CLI would, an input error.
    let (status, input) = server.post(&verify_body(&["trust.toml"], "dev/llm"));
    assert_eq!(status, 422, "{input}");
    assert_eq!(input["error"], "input");
    assert_eq!(input["model"], "llm");
    let reason = input["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("trust.toml: malformed signature"),
        "{reason}"
    );
    // No server path leaks into reasons.
    assert!(!reason.contains(s(t.dir.path())), "{reason}");
}

#[test]
fn malformed_requests_are_400_and_large_bodies_413() {
    let t = Setup::new();
    let server = Server::start(&t, &["--max-body-bytes", "1024"]);
    for body in [
        &b"{\"model\": "[..],
        b"[]",
        b"{\"model\": \"llm\"}",
        b"{\"model\": \"llm\", \"signatures\": [], \"extra\": 1}",
        b"{\"model\": 7, \"signatures\": []}",
    ] {
        let (status, answer) = request(server.addr, "POST", "/v1/verify", body);
        assert_eq!(status, 400, "{}: {answer}", String::from_utf8_lossy(body));
        assert_eq!(answer["error"], "malformed");
        assert!(answer["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("malformed request: "));
    }
    let sigs = vec!["x.sig"; 33];
    let (status, answer) = server.post(&json!({"model": "llm", "signatures": sigs}));
    assert_eq!(status, 400);
    assert!(answer["reasons"][0]
        .as_str()
        .unwrap()
        .contains("at most 32"));

    // Declared too large: refused from the header, before any body is sent.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(&head("POST", "/v1/verify", 4096)).unwrap();
    let (status, answer) = response(stream);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["error"], "too_large");
    // Chunked (no length declared): refused once the limit is crossed.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let chunk = vec![b' '; 1500];
    let mut raw = b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    raw.extend(format!("{:x}\r\n", chunk.len()).bytes());
    raw.extend(&chunk);
    raw.extend(b"\r\n0\r\n\r\n");
    stream.write_all(&raw).unwrap();
    let (status, answer) = response(stream);
    assert_eq!(status, 413, "{answer}");

    let (status, _) = request(server.addr, "GET", "/nowhere", b"");
    assert_eq!(status, 404);
    let (status, health) = request(server.addr, "GET", "/healthz", b"");
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["policy_generation"], 1);
}

#[test]
fn sighup_reloads_for_later_requests_while_one_in_flight_keeps_its_policy() {
    let t = Setup::new();
    t.sign("release");
    let server = Server::start(&t, &["--max-concurrent", "1", "--max-queue", "0", "--json"]);
    let dev = verify_body(&["llm.release.sig"], "dev/llm");
    assert_eq!(server.post(&dev).0, 200);

    let (mut in_flight, rest) = server.hold(&dev);
    // The new policy: dev/* now needs `ci`, so a release signature alone is denied.
    std::fs::write(
        t.path("trust.toml"),
        TRUST_TOML.replace("require = [\"release\"]", "require = [\"ci\"]"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    let line = server.wait_for_line("\"reloaded\"");
    assert!(line.contains("generation 2"), "{line}");
    assert_eq!(server.generation(), 2);

    in_flight.write_all(&rest).unwrap();
    let (status, old) = response(in_flight);
    assert_eq!(
        status, 200,
        "the request in flight keeps the old policy: {old}"
    );
    assert_eq!(old["rule"]["require"], json!(["release"]));
    let (status, new) = server.post(&dev);
    assert_eq!(status, 403, "{new}");
    assert_eq!(new["rule"]["require"], json!(["ci"]));

    // A policy that does not load is logged and the current one kept.
    std::fs::write(t.path("trust.toml"), "version = 1\n[[models]\n").unwrap();
    server.signal(libc::SIGHUP);
    let line = server.wait_for_line("reload failed");
    let logged: Value = serde_json::from_str(&line).unwrap();
    assert!(
        logged["error"].as_str().unwrap().contains("trust.toml:2"),
        "{line}"
    );
    assert_eq!(server.generation(), 2);
    let (status, kept) = server.post(&dev);
    assert_eq!(status, 403);
    assert_eq!(kept["rule"]["require"], json!(["ci"]));
}

#[test]
fn saturation_is_503_and_a_slow_body_408() {
    let t = Setup::new();
    t.sign("release");
    let server = Server::start(
        &t,
        &[
            "--max-concurrent",
            "1",
            "--max-queue",
            "0",
            "--timeout-seconds",
            "2",
        ],
    );
    let dev = verify_body(&["llm.release.sig"], "dev/llm");
    // `hold` asserts that a second request is refused with 503 while the first is in flight.
    let (mut first, rest) = server.hold(&dev);
    first.write_all(&rest).unwrap();
    assert_eq!(response(first).0, 200);
    // The slot is free again.
    assert_eq!(server.post(&dev).0, 200);

    // A body that never completes: 408 at the deadline, and the slot is released.
    let (stalled, _rest) = server.hold(&dev);
    let start = Instant::now();
    let (status, answer) = response(stalled);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(answer["error"], "timeout");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(server.post(&dev).0, 200);
}

#[test]
fn audit_log_gets_one_line_per_request() {
    let t = Setup::new();
    with_audit(&t);
    t.sign("release");
    let server = Server::start(&t, &[]);
    let requests = [
        (verify_body(&["llm.release.sig"], "dev/llm"), 200, "ok"),
        (verify_body(&["llm.release.sig"], "prod/llm"), 403, "failed"),
        (verify_body(&["../x.sig"], "dev/llm"), 400, "error"),
        (verify_body(&["trust.toml"], "dev/llm"), 422, "error"),
    ];
    for (body, status, _) in &requests {
        assert_eq!(server.post(body).0, *status);
    }
    // Concurrent requests: still one whole line each.
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| assert_eq!(server.post(&requests[0].0).0, 200));
        }
    });
    let lines = audit_lines(&t);
    assert_eq!(lines.len(), requests.len() + 8);
    for (line, (_, _, outcome)) in lines.iter().zip(&requests) {
        assert_eq!(line["operation"], "verify");
        assert_eq!(line["outcome"], *outcome, "{line}");
        assert_eq!(line["model"], "llm");
    }
    assert_eq!(lines[0]["rule"], "models[1] \"dev/*\"");
    assert_eq!(lines[0]["signers"], json!(["release"]));
    assert_eq!(lines[1]["outcome"], "failed");
    assert!(lines[1]["reasons"][0]
        .as_str()
        .unwrap()
        .contains("1 of the required 2"));
    assert!(lines[4..].iter().all(|l| l["outcome"] == "ok"));
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_0() {
    let t = Setup::new();
    t.sign("release");
    let mut server = Server::start(&t, &["--max-concurrent", "1", "--max-queue", "0"]);
    let (mut in_flight, rest) = server.hold(&verify_body(&["llm.release.sig"], "dev/llm"));
    server.signal(libc::SIGTERM);
    server.wait_for_line("shutdown");
    // No new connections are accepted...
    let start = Instant::now();
    while TcpStream::connect(server.addr).is_ok() {
        assert!(start.elapsed() < Duration::from_secs(20), "still accepting");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...but the request in flight is answered.
    in_flight.write_all(&rest).unwrap();
    assert_eq!(response(in_flight).0, 200);
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    server.wait_for_line("stopped");
}

#[test]
fn an_audit_log_that_cannot_be_written_is_500_and_no_decision() {
    let t = Setup::new();
    with_audit(&t);
    t.sign("release");
    // A directory where the log should be: opening it for appending fails, also for root (a
    // mode bit would not bind root).
    std::fs::create_dir(t.path("audit.jsonl")).unwrap();
    let server = Server::start(&t, &[]);
    let (status, answer) = server.post(&verify_body(&["llm.release.sig"], "dev/llm"));
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["error"], "audit");
    assert_eq!(
        answer["allowed"], false,
        "an unaudited decision is not given"
    );
    server.wait_for_line("audit");
}

#[test]
fn a_verification_past_the_deadline_is_504_and_frees_nothing_early() {
    let t = Setup::new();
    t.sign("release");
    // The signed file becomes a 64 GiB sparse file after signing: the signature still checks
    // out, and hashing the model takes far longer than the one-second deadline.
    std::fs::OpenOptions::new()
        .write(true)
        .open(t.model.join("weights.bin"))
        .unwrap()
        .set_len(64 << 30)
        .unwrap();
    let server = Server::start(
        &t,
        &[
            "--max-concurrent",
            "1",
            "--max-queue",
            "0",
            "--timeout-seconds",
            "1",
        ],
    );
    let start = Instant::now();
    let (status, answer) = server.post(&verify_body(&["llm.release.sig"], "dev/llm"));
    assert_eq!(status, 504, "{answer}");
    assert_eq!(answer["error"], "timeout");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // The verification still runs (its permits live as long as it does): the only slot stays
    // taken, so the next request is refused rather than piled onto a busy CPU.
    assert_eq!(
        server.post(&verify_body(&["llm.release.sig"], "dev/llm")).0,
        503
    );
}

#[test]
fn a_queue_admits_more_requests_than_slots_and_serves_them_in_turn() {
    let t = Setup::new();
    t.sign("release");
    let server = Server::start(
        &t,
        &[
            "--max-concurrent",
            "1",
            "--max-queue",
            "2",
            "--timeout-seconds",
            "30",
        ],
    );
    let dev = verify_body(&["llm.release.sig"], "dev/llm");
    // One slot and two places in the queue: three requests are admitted, a fourth is refused
    // (`hold_n` asserts the 503), and all three admitted ones are answered, one after another.
    let held = server.hold_n(3, &dev);
    let answers: Vec<u16> = held
        .into_iter()
        .map(|(mut stream, rest)| {
            stream.write_all(&rest).unwrap();
            stream
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|stream| response(stream).0)
        .collect();
    assert_eq!(answers, [200, 200, 200]);
    // With the queue drained, a new request is served at once.
    assert_eq!(server.post(&dev).0, 200);
}

#[test]
fn help_documents_the_options_and_bad_roots_exit_2() {
    let help = ok(&["serve", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--policy",
        "--root",
        "--listen",
        "--max-body-bytes",
        "--max-concurrent",
        "--max-queue",
        "--timeout-seconds",
        "--audit-log",
        "SIGHUP",
        "403",
        "No authentication",
    ] {
        assert!(text.contains(option), "{option} missing from --help");
    }
    let t = Setup::new();
    let out = modelseal(&[
        "serve",
        "--policy",
        s(&t.path("trust.toml")),
        "--root",
        s(&t.path("missing")),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot use as the root directory"));
}
