//! Progress on stderr for long hashing, encryption and decryption: `--progress auto|tty|plain|json|none`.
//!
//! - `tty`: a bar redrawn in place (indicatif).
//! - `plain`: a line every 5 seconds with bytes, percentage and rate, for CI logs that a bar would
//!   fill with carriage returns; and a last line when the work ends.
//! - `json`: one JSON object a second (`{"progress": LABEL, "bytes", "total_bytes",
//!   "elapsed_seconds", "done"}`) and a last one with `"done": true`, for tools that watch stderr.
//! - `auto` (the default): the bar when stderr is a terminal, else plain lines — but only once the
//!   work has run 5 seconds, so short runs print nothing; nothing with `--quiet` or `--json`.
//! - `none`: nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modelseal::progress::Progress;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar on a terminal, plain lines otherwise once a run takes a while; nothing with --quiet or --json.
    #[default]
    Auto,
    /// A bar, redrawn in place.
    Tty,
    /// A line every 5 seconds (bytes, percentage, rate) and one at the end.
    Plain,
    /// A JSON object a second on stderr, and one with "done": true at the end.
    Json,
    /// Nothing.
    None,
}

/// `--progress`, on every verb that hashes, encrypts or decrypts.
#[derive(Debug, clap::Args)]
pub struct ProgressArgs {
    /// How to show progress on stderr: auto (a bar on a terminal, a line every 5 s in logs once a
    /// run takes that long; off with --quiet or --json), tty, plain, json or none.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ProgressMode::Auto)]
    progress: ProgressMode,
}

impl ProgressArgs {
    /// The progress sink for work labelled `label`; `auto` is off when `silent` (--quiet, --json).
    pub fn bar(&self, label: &'static str, silent: bool) -> Bar {
        Bar::new(label, self.progress, silent)
    }
}

/// A progress sink implementing core's [`Progress`]; [`Bar::finish`] ends it.
pub struct Bar(Shown);

enum Shown {
    Nothing,
    Bar(ProgressBar),
    Lines(Lines),
}

impl Bar {
    /// The sink `mode` asks for; `auto` resolves against `silent` and whether stderr is a terminal.
    pub fn new(label: &'static str, mode: ProgressMode, silent: bool) -> Bar {
        let terminal = std::io::stderr().is_terminal();
        Bar(match mode {
            ProgressMode::None => Shown::Nothing,
            ProgressMode::Auto if silent => Shown::Nothing,
            ProgressMode::Auto if terminal => Shown::Bar(bar(label)),
            ProgressMode::Tty => Shown::Bar(bar(label)),
            ProgressMode::Auto => Shown::Lines(Lines::new(label, false, Interval::Plain, true)),
            ProgressMode::Plain => Shown::Lines(Lines::new(label, false, Interval::Plain, false)),
            ProgressMode::Json => Shown::Lines(Lines::new(label, true, Interval::Json, false)),
        })
    }

    /// Ends the progress: clears the bar, or prints the last line.
    pub fn finish(&self) {
        match &self.0 {
            Shown::Nothing => {}
            Shown::Bar(bar) => bar.finish_and_clear(),
            Shown::Lines(lines) => lines.finish(),
        }
    }
}

impl Progress for Bar {
    fn begin(&self, total_bytes: u64) {
        match &self.0 {
            Shown::Nothing => {}
            Shown::Bar(bar) => bar.set_length(total_bytes),
            Shown::Lines(lines) => lines.total.store(total_bytes, Ordering::Relaxed),
        }
    }
    fn advance(&self, bytes: u64) {
        match &self.0 {
            Shown::Nothing => {}
            Shown::Bar(bar) => bar.inc(bytes),
            Shown::Lines(lines) => lines.advance(bytes),
        }
    }
}

fn bar(label: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(label);
    bar
}

/// How often a line is printed.
#[derive(Clone, Copy)]
enum Interval {
    Plain,
    Json,
}

impl Interval {
    fn every(self) -> Duration {
        match self {
            Interval::Plain => Duration::from_secs(5),
            Interval::Json => Duration::from_secs(1),
        }
    }
}

/// Lines on stderr, printed by whichever worker thread's `advance` finds the interval passed.
struct Lines {
    label: &'static str,
    json: bool,
    every: Duration,
    /// `auto`: the last line only when earlier ones were printed (a short run stays silent).
    last_only_if_shown: bool,
    start: Instant,
    total: AtomicU64,
    done: AtomicU64,
    /// Milliseconds since `start` when the next line is due.
    next_due_ms: AtomicU64,
    shown: AtomicBool,
    /// One line at a time, whole.
    print: Mutex<()>,
}

impl Lines {
    fn new(label: &'static str, json: bool, interval: Interval, last_only_if_shown: bool) -> Lines {
        let every = interval.every();
        Lines {
            label,
            json,
            every,
            last_only_if_shown,
            start: Instant::now(),
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            next_due_ms: AtomicU64::new(every.as_millis() as u64),
            shown: AtomicBool::new(false),
            print: Mutex::new(()),
        }
    }

    fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        let now = self.start.elapsed().as_millis() as u64;
        let due = self.next_due_ms.load(Ordering::Relaxed);
        // One thread wins each interval; the others go on without waiting.
        if now >= due
            && self
                .next_due_ms
                .compare_exchange(
                    due,
                    now + self.every.as_millis() as u64,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.line(false);
        }
    }

    fn finish(&self) {
        if !self.last_only_if_shown || self.shown.load(Ordering::Relaxed) {
            self.line(true);
        }
    }

    fn line(&self, done: bool) {
        let _one_at_a_time = self
            .print
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.shown.store(true, Ordering::Relaxed);
        let (bytes, total) = (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        );
        let seconds = self.start.elapsed().as_secs_f64();
        if self.json {
            eprintln!(
                "{}",
                serde_json::json!({
                    "progress": self.label,
                    "bytes": bytes,
                    "total_bytes": total,
                    "elapsed_seconds": (seconds * 1000.0).round() / 1000.0,
                    "done": done,
                })
            );
            return;
        }
        let rate = format!("{}/s", size(bytes as f64 / seconds.max(1e-3)));
        if done {
            eprintln!(
                "{}: {} in {seconds:.1} s ({rate})",
                self.label,
                size(bytes as f64)
            );
        } else {
            let percent = if total > 0 {
                100.0 * bytes as f64 / total as f64
            } else {
                0.0
            };
            eprintln!(
                "{}: {} of {} ({percent:.0}%), {rate}, {seconds:.0} s",
                self.label,
                size(bytes as f64),
                size(total as f64)
            );
        }
    }
}

/// `1.5 GiB`, `512 KiB`, `12 B`.
fn size(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
