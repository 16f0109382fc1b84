//! Fault injection shared by the CLI tests: SIGKILL a `modelseal` run at random points and check
//! what it left on disk — the output absent or complete, only private temporaries beside it, and a
//! rerun to the same output that removes them and succeeds.

use super::leftovers;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// A small xorshift generator: random kill points without another crate; the seed is printed so
/// a failure can be replayed (`MODELSEAL_KILL_SEED`).
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The seed of the kill points: `MODELSEAL_KILL_SEED` if set (to replay a failure), else the clock.
pub fn kill_seed() -> u64 {
    match std::env::var("MODELSEAL_KILL_SEED") {
        Ok(v) => {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|e| panic!("MODELSEAL_KILL_SEED={v:?}: {e}"))
                | 1
        }
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        }
    }
}

/// A model directory `dir/model` of `files` files of `mib` MiB each, with patterned (incompressible
/// enough) content.
pub fn big_model(dir: &Path, files: u8, mib: u8) -> PathBuf {
    let m = dir.join("model");
    std::fs::create_dir(&m).unwrap();
    let block: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 239) as u8 ^ 0x5a).collect();
    for f in 0..files {
        let mut bytes = Vec::with_capacity(usize::from(mib) << 20);
        for i in 0..mib {
            bytes.extend(block.iter().map(|b| b ^ i ^ f));
        }
        std::fs::write(m.join(format!("part-{f}.bin")), &bytes).unwrap();
    }
    m
}

/// Compares two flat directories file by file (one file in memory at a time).
pub fn assert_same_files(a: &Path, b: &Path) {
    let names = |d: &Path| {
        let mut n = leftovers(d, &[]);
        n.sort();
        n
    };
    assert_eq!(names(a), names(b));
    for name in names(a) {
        let (x, y) = (
            std::fs::read(a.join(&name)).unwrap(),
            std::fs::read(b.join(&name)).unwrap(),
        );
        assert!(x == y, "{name} differs");
    }
}

/// Removes a file or a tree whose directories may be read-only (unseal publishes 0500).
pub fn remove_all(path: &Path) {
    fn writable(dir: &Path) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                writable(&e.path());
            }
        }
    }
    if path.symlink_metadata().unwrap().is_dir() {
        writable(path);
        std::fs::remove_dir_all(path).unwrap();
    } else {
        std::fs::remove_file(path).unwrap();
    }
}

/// Asserts that `path` and everything below it is private: no permission bit for group or others.
fn assert_private(path: &Path) {
    let md = std::fs::symlink_metadata(path).unwrap();
    assert_eq!(md.mode() & 0o077, 0, "{}: not private", path.display());
    if md.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            assert_private(&entry.unwrap().path());
        }
    }
}

/// One fault-injection test: the run to kill and what a complete output must equal.
pub struct KillTest<'a> {
    /// `modelseal` arguments of one run, which writes `out`.
    pub args: Vec<String>,
    /// The output the run creates.
    pub out: &'a Path,
    /// Asserts that a complete output equals the input.
    pub same_as_input: &'a dyn Fn(&Path),
    /// How many runs must die mid-way.
    pub kills: usize,
    /// Whether a killed run may leave a private temporary beside `out`.
    pub allow_temporaries: bool,
}

impl KillTest<'_> {
    fn spawn(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_modelseal"))
            .args(&self.args)
            .spawn()
            .unwrap()
    }

    /// A run to completion: how long it took. The output is checked and removed.
    fn full_run(&self, what: &str) -> std::time::Duration {
        let started = std::time::Instant::now();
        let status = self.spawn().wait().unwrap();
        let took = started.elapsed();
        assert!(status.success(), "{what}: {status:?} ({:?})", self.args);
        (self.same_as_input)(self.out);
        remove_all(self.out);
        took
    }

    /// Kills the run with SIGKILL at random points until `kills` runs died mid-way. After each:
    /// `out` is either absent or complete; whatever else remains beside `out` is a private
    /// temporary named `.<out>.modelseal-tmp.*` (only with `allow_temporaries`), and a rerun to the
    /// same `out` removes it and succeeds, leaving nothing else. Returns how many runs left a
    /// temporary.
    ///
    /// Load cannot make it fail: each kill's delay is a random fraction of the last complete run
    /// (the rerun after each kill is one), so the kill points follow the machine's speed run by
    /// run; a run that finishes before its kill is checked like any complete run and another
    /// attempt follows, with no limit on attempts that a slow machine could exhaust. The seed is
    /// printed first (cargo test shows it with a failure) and `MODELSEAL_KILL_SEED` replays it.
    pub fn run(&self) -> usize {
        let outdir = self.out.parent().unwrap();
        let out_name = self.out.file_name().unwrap().to_str().unwrap();
        let seed = kill_seed();
        let verb = &self.args[0];
        eprintln!("kill test {verb}: seed {seed} (replay with MODELSEAL_KILL_SEED={seed})");
        let mut rng = XorShift(seed);
        let mut last_run = self.full_run("first run");
        let (mut killed, mut finished, mut left_temporaries) = (0, 0, 0);
        let mut attempt = 0;
        while killed < self.kills {
            attempt += 1;
            let at = format!("seed {seed}, attempt {attempt}");
            let delay = last_run.mul_f64(0.02 + 0.9 * rng.next_f64());
            let mut child = self.spawn();
            std::thread::sleep(delay);
            let _ = child.kill(); // SIGKILL
            let status = child.wait().unwrap();
            if status.signal() != Some(libc::SIGKILL) {
                // Finished before the signal: a complete, correct output. A full run takes at
                // most `delay` now (the machine got faster): the next kill point follows.
                assert!(status.success(), "{at}: {status:?}");
                last_run = last_run.min(delay);
                (self.same_as_input)(self.out);
                remove_all(self.out);
                finished += 1;
                continue;
            }
            killed += 1;
            // Killed between the rename and exit, OUT is complete; otherwise it does not exist.
            if self.out.symlink_metadata().is_ok() {
                (self.same_as_input)(self.out);
                remove_all(self.out);
            }
            for name in leftovers(outdir, &[out_name]) {
                assert!(
                    self.allow_temporaries,
                    "{at}: {name} left beside the output"
                );
                assert!(
                    name.starts_with(&format!(".{out_name}.modelseal-tmp.")),
                    "{at}: unexpected entry {name}"
                );
                assert_private(&outdir.join(&name));
                left_temporaries += 1;
            }
            // The rerun removes what the killed run left and then succeeds; its time scales the
            // next delay.
            let started = std::time::Instant::now();
            let status = self.spawn().wait().unwrap();
            last_run = started.elapsed();
            assert!(status.success(), "{at}: rerun failed");
            assert_eq!(leftovers(outdir, &[out_name]), Vec::<String>::new(), "{at}");
            (self.same_as_input)(self.out);
            remove_all(self.out);
        }
        eprintln!(
            "kill test {verb}: seed {seed}, {killed} kills, {finished} runs finished first, \
             {left_temporaries} left a temporary that the rerun removed"
        );
        left_temporaries
    }
}
