//! A real RFC 3161 TSA for the Rust tests (core and CLI include this file with `#[path]`):
//! OpenSSL's `openssl ts -reply` behind tests/tsa/tsa_server.py on 127.0.0.1, its PKI (and
//! certificates with chosen validity dates, through `openssl ca`) made by the openssl CLI.
#![allow(dead_code)] // each test crate uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed by these tests");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `YYMMDDHHMMSSZ`, as `openssl ca -startdate/-enddate` take it (civil date from days since
/// 1970, H. Hinnant's algorithm).
fn utc_time(unix: u64) -> String {
    let (days, secs) = ((unix / 86400) as i64, unix % 86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:02}{:02}{:02}{:02}{:02}{:02}Z",
        year % 100,
        month,
        day,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A self-signed P-256 CA `name` (`name.pem`, `name.key`) in `dir`.
pub fn root_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// Issues `name` (fresh P-256 key, mode 0600) from the CA `ca` with `openssl ca`, valid from
/// `start` to `end` (seconds since 1970), with the extensions `ext`.
pub fn issue(dir: &Path, ca: &str, name: &str, ext: &str, start: u64, end: u64) -> PathBuf {
    std::fs::create_dir_all(dir.join(format!("{ca}-certs"))).unwrap();
    let index = dir.join(format!("{ca}-index.txt"));
    if !index.exists() {
        std::fs::write(&index, "").unwrap();
        std::fs::write(dir.join(format!("{ca}-serial")), "1000\n").unwrap();
    }
    let config = format!(
        "[ca]\ndefault_ca = d\n[d]\ndatabase = {ca}-index.txt\nnew_certs_dir = {ca}-certs\nserial = {ca}-serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n[x]\n{ext}\n"
    );
    std::fs::write(dir.join(format!("{name}.cnf")), config).unwrap();
    let key = format!("{name}.key");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &key,
        ],
    );
    let private = <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600);
    std::fs::set_permissions(dir.join(&key), private).unwrap();
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &csr,
        ],
    );
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            &format!("{name}.cnf"),
            "-cert",
            &format!("{ca}.pem"),
            "-keyfile",
            &format!("{ca}.key"),
            "-in",
            &csr,
            "-out",
            &format!("{name}.pem"),
            "-startdate",
            &utc_time(start),
            "-enddate",
            &utc_time(end),
            "-extensions",
            "x",
        ],
    );
    dir.join(format!("{name}.pem"))
}

/// A running TSA: OpenSSL's, behind tests/tsa/tsa_server.py. Stopped when dropped.
pub struct Tsa {
    child: Child,
    /// `http://127.0.0.1:<port>/`, or `https://…` for [`Tsa::start_https`].
    pub url: String,
    /// For an https TSA: the root (PEM file) of its TLS server certificate (for 127.0.0.1).
    pub tls_root: Option<PathBuf>,
    /// The TSA's root certificate (PEM file).
    pub root: PathBuf,
    /// The TSA's signing certificate (PEM file).
    pub cert: PathBuf,
}

impl Tsa {
    /// Makes a TSA PKI `name-root` → `name` (EKU timeStamping, critical) in `dir` and starts it.
    pub fn start(dir: &Path, name: &str) -> Tsa {
        Tsa::start_with(dir, name, false)
    }

    /// [`Tsa::start`] serving https, with a TLS server certificate for the IP address 127.0.0.1
    /// issued by a separate test CA `name-tls-root` ([`Tsa::tls_root`]).
    pub fn start_https(dir: &Path, name: &str) -> Tsa {
        Tsa::start_with(dir, name, true)
    }

    fn start_with(dir: &Path, name: &str, https: bool) -> Tsa {
        let root = format!("{name}-root");
        root_ca(dir, &root);
        let start = now() - 3600;
        let cert = issue(
            dir,
            &root,
            name,
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping",
            start,
            start + 30 * 86400,
        );
        std::fs::write(dir.join(format!("{name}-tsaserial")), "01\n").unwrap();
        let config = format!(
            "[tsa]\ndefault_tsa = t\n[t]\nserial = {d}/{name}-tsaserial\ncrypto_device = builtin\nsigner_cert = {d}/{name}.pem\ncerts = {d}/{root}.pem\nsigner_key = {d}/{name}.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256, sha384, sha512\naccuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
            d = dir.display()
        );
        let config_path = dir.join(format!("{name}-tsa.cnf"));
        std::fs::write(&config_path, config).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tsa/tsa_server.py");
        let python = std::env::var("MODELSEAL_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut command = Command::new(python);
        command.arg(script).arg(&config_path);
        let tls_root = https.then(|| {
            let tls_root = format!("{name}-tls-root");
            root_ca(dir, &tls_root);
            let server = issue(
                dir,
                &tls_root,
                &format!("{name}-tls"),
                "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1",
                start,
                start + 30 * 86400,
            );
            command.arg(server).arg(dir.join(format!("{name}-tls.key")));
            dir.join(format!("{tls_root}.pem"))
        });
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts the TSA front");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("the TSA front said {line:?}"))
            .to_string();
        Tsa {
            child,
            url: format!(
                "{}://127.0.0.1:{port}/",
                if https { "https" } else { "http" }
            ),
            tls_root,
            root: dir.join(format!("{root}.pem")),
            cert,
        }
    }
}

impl Drop for Tsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
