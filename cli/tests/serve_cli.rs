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
        Server::start_at(t, s(t.dir.path()), |cmd| cmd.args(extra))
    }

    /// [`Server::start`] with the root `root` (a directory or a bucket URL), the command
    /// completed by `configure` (flags, environment).
    fn start_at(
        t: &Setup,
        root: &str,
        configure: impl FnOnce(&mut Command) -> &mut Command,
    ) -> Server {
        let policy = t.path("trust.toml");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_modelseal"));
        cmd.args(["serve", "--policy", s(&policy), "--root", root])
            .args(["--listen", "127.0.0.1:0"]);
        configure(&mut cmd);
        let mut child = cmd
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
        self.health().1["policy_generation"].as_u64().unwrap()
    }

    /// `/healthz`: its status and body.
    fn health(&self) -> (u16, Value) {
        request(self.addr, "GET", "/healthz", b"")
    }

    /// Opens a verification request whose body is only half sent, and returns once the server
    /// is receiving its body (`/healthz`): it now holds its policy snapshot, and no admission
    /// place (the body is read before a request is admitted).
    fn hold(&self, body: &Value) -> (TcpStream, Vec<u8>) {
        self.hold_n(1, body).remove(0)
    }

    /// [`Server::hold`] for `n` requests at once.
    fn hold_n(&self, n: usize, body: &Value) -> Vec<(TcpStream, Vec<u8>)> {
        let body = body.to_string().into_bytes();
        let (first, rest) = body.split_at(body.len() / 2);
        let streams: Vec<TcpStream> = (0..n)
            .map(|_| {
                let mut stream = TcpStream::connect(self.addr).unwrap();
                stream
                    .write_all(&head("POST", "/v1/verify", body.len()))
                    .unwrap();
                stream.write_all(first).unwrap();
                stream
            })
            .collect();
        self.wait_for_health(|h| h["requests"]["receiving"].as_u64() >= Some(n as u64));
        streams.into_iter().map(|s| (s, rest.to_vec())).collect()
    }

    /// Waits until `/healthz`'s answer satisfies `ready`; returns it.
    fn wait_for_health(&self, ready: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (_, health) = request(self.addr, "GET", "/healthz", b"");
            if ready(&health) {
                return health;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{health} {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
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
        // Each decision has its own random request_id; everything else is the same.
        let (mut served, mut printed) = (served, json(&out));
        for v in [&mut served, &mut printed] {
            assert_eq!(v["request_id"].as_str().map(str::len), Some(32), "{v}");
            v["request_id"] = Value::Null;
        }
        assert_eq!(served, printed, "{name} {sigs:?}");
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
        assert_eq!(answer["errors"][0]["code"], "request_malformed");
        assert!(
            answer["reasons"][0].as_str().unwrap().contains(reason),
            "{body}: {answer}"
        );
    }
    let (status, missing) = server.post(&verify_body(&["missing.sig"], "dev/llm"));
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["errors"][0]["code"], "not_found");
    // A file inside the root that is not a signature: verified as the CLI would, an input error.
    let (status, input) = server.post(&verify_body(&["trust.toml"], "dev/llm"));
    assert_eq!(status, 422, "{input}");
    assert_eq!(input["errors"][0]["code"], "signature_malformed");
    assert_eq!(input["model"], "llm");
    let reason = input["reasons"][0].as_str().unwrap();
    // The kind of problem, not the parser's message (which can quote the file).
    assert_eq!(
        reason,
        "trust.toml: not a signature bundle modelseal verifies"
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
        assert_eq!(answer["errors"][0]["code"], "request_malformed");
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
    assert_eq!(answer["errors"][0]["code"], "request_too_large");
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
    // The old policy still decides, and /healthz says so (degraded) until a reload works.
    let (status, health) = server.health();
    assert_eq!(status, 503, "{health}");
    assert!(
        health["reasons"][0]
            .as_str()
            .unwrap()
            .contains("reload failed"),
        "{health}"
    );
    let (status, kept) = server.post(&dev);
    assert_eq!(status, 403);
    assert_eq!(kept["rule"]["require"], json!(["ci"]));
}

#[test]
fn slow_bodies_hold_no_admission_place_and_time_out_with_408() {
    let t = Setup::new();
    t.sign("release");
    let server = Server::start(
        &t,
        &[
            "--max-concurrent",
            "1",
            "--max-queue",
            "0",
            "--body-timeout-seconds",
            "2",
        ],
    );
    let dev = verify_body(&["llm.release.sig"], "dev/llm");
    // Three requests whose bodies are pending: the body is read before admission, so the only
    // admission place is free and a whole request is served.
    let mut held = server.hold_n(3, &dev);
    assert_eq!(server.post(&dev).0, 200);
    let (mut first, rest) = held.remove(0);
    first.write_all(&rest).unwrap();
    assert_eq!(response(first).0, 200);

    // A body that never completes: 408 at the body timeout.
    let (stalled, _rest) = held.remove(0);
    let start = Instant::now();
    let (status, answer) = response(stalled);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(answer["errors"][0]["code"], "timeout");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(server.post(&dev).0, 200);
}

/// `modelseal sign MODEL --key release.pem -o OUT EXTRA… --quiet`.
fn sign_with_release(t: &Setup, model: &std::path::Path, out: &std::path::Path, extra: &[&str]) {
    let key = t.path("release.pem");
    let mut args = vec!["sign", s(model), "--key", s(&key), "-o", s(out), "--quiet"];
    args.extend(extra);
    ok(&args);
}

/// Signs a model `slow` (one file) with `release` into `slow.release.sig`, then makes its file a
/// sparse file of `len` bytes: the signature still checks out and hashing takes seconds.
fn slow_model(t: &Setup, len: u64) {
    let model = t.path("slow");
    std::fs::create_dir(&model).unwrap();
    std::fs::write(model.join("weights.bin"), b"w").unwrap();
    sign_with_release(t, &model, &t.path("slow.release.sig"), &[]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(model.join("weights.bin"))
        .unwrap()
        .set_len(len)
        .unwrap();
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
    assert_eq!(answer["errors"][0]["code"], "audit_failed");
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
    let (status, health) = request(server.addr, "GET", "/healthz", b"");
    assert_eq!((status, &health["reasons"]), (200, &json!([])), "{health}");
    let start = Instant::now();
    let (status, answer) = server.post(&verify_body(&["llm.release.sig"], "dev/llm"));
    assert_eq!(status, 504, "{answer}");
    assert_eq!(answer["errors"][0]["code"], "timeout");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // The verification still runs (its permits live as long as it does): the only slot stays
    // taken, so the next request is refused rather than piled onto a busy CPU...
    assert_eq!(
        server.post(&verify_body(&["llm.release.sig"], "dev/llm")).0,
        503
    );
    // ...and /healthz says so: every slot is stuck past its deadline.
    let (status, health) = request(server.addr, "GET", "/healthz", b"");
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["requests"]["overdue"], 1);
    assert!(
        health["reasons"][0]
            .as_str()
            .unwrap()
            .contains("1 of 1 verification slots"),
        "{health}"
    );
}

#[test]
fn a_queue_admits_more_requests_than_slots_and_serves_them_in_turn() {
    let t = Setup::new();
    t.sign("release");
    slow_model(&t, 8 << 30);
    let server = Server::start(
        &t,
        &[
            "--max-concurrent",
            "1",
            "--max-queue",
            "2",
            "--timeout-seconds",
            "120",
        ],
    );
    let dev = verify_body(&["llm.release.sig"], "dev/llm");
    // One slot, held by a slow verification, and two places in the queue: two more requests are
    // admitted, a fourth is refused, and both queued ones are answered once the slot frees.
    let slow =
        json!({"model": "slow", "signatures": ["slow.release.sig"], "model_name": "dev/slow"});
    let busy = TcpStream::connect(server.addr).unwrap();
    let body = slow.to_string();
    (&busy)
        .write_all(&head("POST", "/v1/verify", body.len()))
        .unwrap();
    (&busy).write_all(body.as_bytes()).unwrap();
    server.wait_for_health(|h| h["requests"]["verifying"] == 1);
    let queued: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr).unwrap();
            let body = dev.to_string();
            stream
                .write_all(&head("POST", "/v1/verify", body.len()))
                .unwrap();
            stream.write_all(body.as_bytes()).unwrap();
            stream
        })
        .collect();
    server.wait_for_health(|h| h["requests"]["admitted"] == 3);
    let (status, probe) = server.post(&dev);
    assert_eq!(status, 503, "{probe}");
    assert_eq!(probe["errors"][0]["code"], "saturated");
    // The slow model changed after signing: denied.
    assert_eq!(response(busy).0, 403);
    let answers: Vec<u16> = queued.into_iter().map(|s| response(s).0).collect();
    assert_eq!(answers, [200, 200]);
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
        "--max-bundle-bytes",
        "--max-request-bytes",
        "--header-timeout-seconds",
        "--body-timeout-seconds",
        "--max-connections",
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

/// Whether the server closed `stream` (end of stream or reset) within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn idle_and_slow_header_connections_are_closed_and_capped() {
    let t = Setup::new();
    t.sign("release");
    let server = Server::start(
        &t,
        &["--max-connections", "2", "--header-timeout-seconds", "1"],
    );
    // Two connections take the cap: one sends nothing, one half a request head.
    let mut idle = TcpStream::connect(server.addr).unwrap();
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"POST /v1/verify HTTP/1.1\r\nHost: 127")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // A third is closed at once.
    let mut over = TcpStream::connect(server.addr).unwrap();
    assert!(closed_within(&mut over, Duration::from_millis(800)));
    // The two are closed at the header timeout, and the server serves again.
    let start = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(5)));
    assert!(closed_within(&mut slow, Duration::from_secs(5)));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        server.post(&verify_body(&["llm.release.sig"], "dev/llm")).0,
        200
    );
}

#[test]
fn signature_bytes_are_bounded_per_file_and_per_request_and_duplicates_read_once() {
    let t = Setup::new();
    t.sign("release");
    let size = std::fs::metadata(t.path("llm.release.sig")).unwrap().len();
    std::fs::copy(t.path("llm.release.sig"), t.path("copy.sig")).unwrap();
    std::fs::write(t.path("big.sig"), vec![b' '; 2 << 20]).unwrap();
    let total = (size + size / 2).to_string();
    let server = Server::start(
        &t,
        &[
            "--max-bundle-bytes",
            "1048576",
            "--max-request-bytes",
            &total,
        ],
    );
    let (status, answer) = server.post(&verify_body(&["big.sig"], "dev/llm"));
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["reasons"][0],
        "big.sig: cannot read signature: larger than the 1048576-byte limit for a signature"
    );
    // 32 names of one file: read once, within a total smaller than two copies.
    let (status, answer) = server.post(&verify_body(&["llm.release.sig"; 32], "dev/llm"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["signatures"].as_array().unwrap().len(), 1);
    let (status, answer) = server.post(&verify_body(&["llm.release.sig", "copy.sig"], "dev/llm"));
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["reasons"][0]
            .as_str()
            .unwrap()
            .contains("limit in total"),
        "{answer}"
    );
}

#[test]
fn input_errors_disclose_no_file_content_root_or_policy_source() {
    let t = Setup::new();
    t.sign("release");
    std::fs::write(t.path("secret.json"), br#""sk-live-0123456789""#).unwrap();
    std::fs::write(
        t.path("deny.rego"),
        "package modelseal\nimport rego.v1\n\ndeny contains msg if {\n  msg := sprintf(\"%d\", \"SOURCE-LINE-MARKER\")\n}\n",
    )
    .unwrap();
    let server = Server::start(&t, &["--json"]);
    let root = t.dir.path().canonicalize().unwrap();
    let (status, answer) = server.post(&verify_body(&["secret.json"], "dev/llm"));
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["reasons"],
        json!(["secret.json: not a signature bundle modelseal verifies"])
    );
    // The whole reason is in the server's log.
    let line = server.wait_for_line("sk-live-0123456789");
    assert!(line.contains("\"input\""), "{line}");
    let (status, answer) = server.post(&verify_body(&["."], "dev/llm"));
    assert_eq!(status, 422, "{answer}");
    // (`policy` is the policy's path on the server, which here happens to be under the root.)
    assert!(
        !answer["reasons"].to_string().contains(s(&root)),
        "{answer}"
    );
    assert_eq!(answer["reasons"], json!([".: not a regular file"]));

    // A Rego policy whose evaluation fails: the reason does not quote the policy.
    std::fs::write(
        t.path("trust.toml"),
        format!("{TRUST_TOML}[rego]\nfile = \"deny.rego\"\n"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_line("\"reloaded\"");
    let (status, answer) = server.post(&verify_body(&["llm.release.sig"], "dev/llm"));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["reasons"],
        json!(["rego: evaluation failed (details in the server log)"])
    );
}

#[test]
fn a_fifo_named_as_a_signature_is_refused_without_taking_a_slot() {
    let t = Setup::new();
    t.sign("release");
    let fifo = std::ffi::CString::new(s(&t.path("pipe.sig"))).unwrap();
    // SAFETY: mkfifo(3) on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let server = Server::start(&t, &["--max-concurrent", "1", "--timeout-seconds", "2"]);
    for _ in 0..2 {
        let (status, answer) = server.post(&verify_body(&["pipe.sig"], "dev/llm"));
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["reasons"], json!(["pipe.sig: not a regular file"]));
    }
    assert_eq!(
        server.post(&verify_body(&["llm.release.sig"], "dev/llm")).0,
        200
    );
    let (status, health) = request(server.addr, "GET", "/healthz", b"");
    assert_eq!((status, &health["status"]), (200, &json!("ok")));
}

#[test]
fn links_out_of_the_root_are_refused_and_only_the_signatures_own_file_is_exempt() {
    let t = Setup::new();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("w.bin"), b"outside").unwrap();
    let linked = t.path("linked");
    std::fs::create_dir(&linked).unwrap();
    std::os::unix::fs::symlink(outside.path().join("w.bin"), linked.join("w.bin")).unwrap();
    sign_with_release(&t, &linked, &t.path("linked.sig"), &["--allow-symlinks"]);
    // The signature at the conventional place inside the model.
    sign_with_release(&t, &t.model, &t.model.join("model.sig"), &[]);
    std::fs::copy(t.model.join("model.sig"), t.model.join("mine.sig")).unwrap();
    let server = Server::start(&t, &[]);
    let (status, answer) = server.post(
        &json!({"model": "linked", "signatures": ["linked.sig"], "model_name": "dev/linked"}),
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        answer["reasons"],
        json!(["linked: a symlink in the model leads outside the root directory"])
    );
    // A model file the caller names as "the signature" is hashed like any other.
    std::fs::remove_file(t.model.join("model.sig")).unwrap();
    let (status, answer) = server.post(&verify_body(&["llm/mine.sig"], "dev/llm"));
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["reasons"][0],
        "llm/mine.sig: mine.sig: extra file (in the model but not signed)"
    );
    std::fs::rename(t.model.join("mine.sig"), t.model.join("model.sig")).unwrap();
    let (status, answer) = server.post(&verify_body(&["llm/model.sig"], "dev/llm"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["exempt_files"], json!(["model.sig"]));
}

#[test]
fn the_operators_overrides_hold_for_the_first_load_and_every_reload() {
    use std::os::unix::fs::PermissionsExt;
    let t = Setup::new();
    t.sign("release");
    let policy = t.path("trust.toml");
    std::fs::set_permissions(&policy, std::fs::Permissions::from_mode(0o666)).unwrap();
    // A policy others can write is refused at start, as `verify --policy` refuses it…
    let out = modelseal(&[
        "serve",
        "--policy",
        s(&policy),
        "--root",
        s(t.dir.path()),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("trust.toml"), "{err}");
    // …and served with the operator's override, which a SIGHUP reload keeps.
    let server = Server::start(&t, &["--allow-insecure-key-permissions", "--json"]);
    let dev = verify_body(&["llm.release.sig"], "dev/llm");
    assert_eq!(server.post(&dev).0, 200);
    server.signal(libc::SIGHUP);
    let line = server.wait_for_line("\"reloaded\"");
    assert!(line.contains("generation 2"), "{line}");
    assert_eq!(server.post(&dev).0, 200);
    let help = ok(&["serve", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("--allow-pkcs11-module"), "{text}");
}

#[test]
fn a_pickle_model_is_denied_by_deny_formats() {
    let t = Setup::new();
    // A protocol-2 pickle importing `os.system` (bytes only: nothing unpickles it).
    std::fs::write(
        t.model.join("model.pkl"),
        b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.",
    )
    .unwrap();
    t.sign("release");
    std::fs::write(
        t.path("trust.toml"),
        format!("deny_formats = [\"pickle\"]\n{TRUST_TOML}"),
    )
    .unwrap();
    let server = Server::start(&t, &["--json"]);
    let (status, denied) = server.post(&verify_body(&["llm.release.sig"], "dev/llm"));
    assert_eq!(status, 403, "{denied}");
    assert_eq!(
        denied["reasons"],
        json!([
            "model.pkl: format pickle is denied by the policy's deny_formats (imports os.system)"
        ])
    );
    assert_eq!(denied["format_names"], json!(["pickle"]));
}

#[test]
fn a_file_truncated_during_a_verification_is_a_failure_naming_it_and_the_server_lives_on() {
    let t = Setup::new();
    slow_model(&t, 1);
    let weights = t.path("slow").join("weights.bin");
    // Written data, so that the engine maps it (holes are read): most of a second of hashing,
    // and the truncation lands milliseconds after the first window is mapped.
    common::write_data(&weights, 1 << 30);
    let server = Server::start(&t, &["--json"]);
    let addr = server.addr;
    let request = std::thread::spawn(move || {
        let body =
            json!({"model": "slow", "signatures": ["slow.release.sig"], "model_name": "dev/slow"});
        request(addr, "POST", "/v1/verify", body.to_string().as_bytes())
    });
    let mapped = wait_until_mapped(server.child.id(), &weights, Duration::from_secs(120));
    truncate_under(&weights);
    let (status, answer) = request.join().unwrap();
    assert!(mapped, "the server never mapped {}", weights.display());
    assert_eq!(status, 422, "{answer}");
    // The client learns only that the model cannot be read; the log names the file and why.
    assert_eq!(answer["reasons"], json!(["slow: the model cannot be read"]));
    let line = server.wait_for_line("changed while it was being hashed");
    assert!(line.contains("weights.bin"), "{line}");
    t.sign("release");
    assert_eq!(
        server.post(&verify_body(&["llm.release.sig"], "dev/llm")).0,
        200
    );
}

/// `storage_admin.py s3 ENDPOINT ARGS…` (buckets and objects of the emulator, made outside
/// modelseal).
fn s3_admin(moto: &common::moto::Moto, args: &[&str]) {
    let endpoint = moto.endpoint();
    let args = [&["s3", endpoint.as_str()][..], args].concat();
    moto.script("scripts/storage_admin.py", &args);
}

/// `serve --root s3://BUCKET/PREFIX`: a request names a model and its signatures below the
/// prefix; allowed is 200 with the same decision as a local root, a tampered object (after an
/// allow: nothing is cached) is 403 naming it, a missing model or signature 404, a path out of
/// the prefix 400 — every answer JSON — and no log line or audit line holds the credentials.
#[test]
fn a_bucket_root_allows_denies_tampering_and_404s_without_logging_credentials() {
    let t = Setup::new();
    t.sign("release");
    t.sign("ci");
    with_audit(&t);
    let moto = common::moto::Moto::start();
    s3_admin(&moto, &["mkbucket", "models"]);
    s3_admin(&moto, &["upload", "models", "registry/llm", s(&t.model)]);
    for key in ["release", "ci"] {
        let name = format!("llm.{key}.sig");
        s3_admin(
            &moto,
            &[
                "put",
                "models",
                &format!("registry/{name}"),
                s(&t.path(&name)),
            ],
        );
    }
    // moto takes any key; this one must appear nowhere the server writes.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSERVESECRET";
    const KEY_ID: &str = "AKIASERVEBUCKETTEST1";
    let server = Server::start_at(&t, "s3://models/registry", |cmd| {
        moto.env(cmd)
            .env("AWS_ACCESS_KEY_ID", KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .args(["--json"])
    });

    let both = verify_body(&["llm.release.sig", "./llm.ci.sig"], "prod/llm");
    let (status, allowed) = server.post(&both);
    assert_eq!(status, 200, "{allowed}");
    assert_eq!(allowed["allowed"], true);
    assert_eq!(allowed["model"], "llm");
    assert_eq!(allowed["files"], 2);
    assert_eq!(allowed["signatures"][1]["path"], "./llm.ci.sig");
    // The same decision as a local root holding the same files (but its random id).
    let local = Server::start(&t, &[]);
    let (_, mut served) = local.post(&both);
    let mut allowed = allowed;
    for v in [&mut served, &mut allowed] {
        v["request_id"] = Value::Null;
    }
    assert_eq!(allowed, served);

    let (status, body) = server.post(&verify_body(&["llm.release.sig"], "prod/llm"));
    assert_eq!((status, &body["allowed"]), (403, &json!(false)), "{body}");

    // Refused before any request to the store.
    for (model, sig) in [("../llm", "llm.release.sig"), ("llm", "/llm.ci.sig")] {
        let (status, body) = server.post(&json!({"model": model, "signatures": [sig]}));
        assert_eq!(status, 400, "{model} {sig}: {body}");
        assert_eq!(body["errors"][0]["code"], "request_malformed", "{body}");
    }
    for (model, sig) in [("nope", "llm.release.sig"), ("llm", "llm.nope.sig")] {
        let (status, body) = server.post(&json!({"model": model, "signatures": [sig]}));
        assert_eq!(status, 404, "{model} {sig}: {body}");
        assert_eq!(body["errors"][0]["code"], "not_found", "{body}");
    }

    // A changed object after an allow: the next request lists and hashes the bucket again.
    let tampered = t.path("tampered.bin");
    std::fs::write(&tampered, vec![4u8; 5000]).unwrap();
    s3_admin(
        &moto,
        &["put", "models", "registry/llm/weights.bin", s(&tampered)],
    );
    let (status, denied) = server.post(&both);
    assert_eq!(status, 403, "{denied}");
    let reasons = denied["reasons"].to_string();
    assert!(reasons.contains("weights.bin"), "{reasons}");
    assert!(
        !reasons.contains("s3://"),
        "the root is not disclosed: {reasons}"
    );

    let lines = server.lines.lock().unwrap().join("\n");
    let audit = std::fs::read_to_string(t.path("audit.jsonl")).unwrap();
    assert!(audit.lines().count() >= 7, "{audit}");
    for text in [&lines, &audit] {
        for secret in [SECRET, KEY_ID] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
}

/// `serve --root gs://…` and `az://…`: the same decisions as a local root holding the same files,
/// and a tampered object (after an allow) denied naming it, against fake-gcs-server and Azurite.
fn bucket_root_on(store: common::storage::Store) {
    let t = Setup::new();
    t.sign("release");
    let emulator = common::storage::Emulator::start(store, "");
    emulator.admin(&["mkbucket", "models"]);
    emulator.admin(&["upload", "models", "registry/llm", s(&t.model)]);
    let sig = t.path("llm.release.sig");
    emulator.admin(&["put", "models", "registry/llm.release.sig", s(&sig)]);
    let root = emulator.url("models/registry");
    let server = Server::start_at(&t, &root, |cmd| emulator.env(cmd).args(["--json"]));
    let local = Server::start(&t, &[]);
    // dev/llm takes the release key alone; prod/llm wants a second signature.
    for (model_name, expected) in [("dev/llm", 200), ("prod/llm", 403)] {
        let body = verify_body(&["llm.release.sig"], model_name);
        let (status, mut answer) = server.post(&body);
        let (local_status, mut served) = local.post(&body);
        assert_eq!(
            (status, local_status),
            (expected, expected),
            "{model_name}: {answer}"
        );
        for v in [&mut answer, &mut served] {
            v["request_id"] = Value::Null;
        }
        assert_eq!(answer, served, "{model_name}");
    }
    let (status, body) = server.post(&verify_body(&["llm.nope.sig"], "dev/llm"));
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (404, &json!("not_found"))
    );
    let tampered = t.path("tampered.bin");
    std::fs::write(&tampered, vec![4u8; 5000]).unwrap();
    emulator.admin(&["put", "models", "registry/llm/weights.bin", s(&tampered)]);
    let (status, denied) = server.post(&verify_body(&["llm.release.sig"], "dev/llm"));
    assert_eq!(status, 403, "{denied}");
    assert!(
        denied["reasons"].to_string().contains("weights.bin"),
        "{denied}"
    );
}

#[test]
fn a_gcs_bucket_root_decides_as_a_local_root_and_denies_tampering() {
    bucket_root_on(common::storage::Store::Gcs);
}

#[test]
fn an_azure_bucket_root_decides_as_a_local_root_and_denies_tampering() {
    bucket_root_on(common::storage::Store::Azure);
}
