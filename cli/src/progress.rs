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
use modelseal::progress::{Progress, Snapshot, Throttled};
use std::io::IsTerminal;
use std::time::Duration;

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

type Lines = Throttled<Box<dyn Fn(Snapshot) + Sync>>;

enum Shown {
    Nothing,
    Bar(ProgressBar),
    Lines(Lines),
}

impl Bar {
    /// The sink `mode` asks for; `auto` resolves against `silent` and whether stderr is a terminal.
    pub fn new(label: &'static str, mode: ProgressMode, silent: bool) -> Bar {
        let terminal = std::io::stderr().is_terminal();
        let plain = |quiet_start| {
            Throttled::new(
                Duration::from_secs(5),
                quiet_start,
                Box::new(move |s| plain_line(label, s)) as Box<_>,
            )
        };
        Bar(match mode {
            ProgressMode::None => Shown::Nothing,
            ProgressMode::Auto if silent => Shown::Nothing,
            ProgressMode::Auto if terminal => Shown::Bar(bar(label)),
            ProgressMode::Tty => Shown::Bar(bar(label)),
            ProgressMode::Auto => Shown::Lines(plain(true)),
            ProgressMode::Plain => Shown::Lines(plain(false)),
            ProgressMode::Json => Shown::Lines(Throttled::new(
                Duration::from_secs(1),
                false,
                Box::new(move |s| json_line(label, s)),
            )),
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
            Shown::Lines(lines) => lines.begin(total_bytes),
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

/// `hashing: 1.2 GiB of 4.0 GiB (30%), 850.0 MiB/s, 12 s`, or at the end `hashing: 4.0 GiB in 14.2 s (…)`.
fn plain_line(label: &str, s: Snapshot) {
    let seconds = s.elapsed.as_secs_f64();
    let rate = format!("{}/s", size(s.bytes as f64 / seconds.max(1e-3)));
    if s.done {
        eprintln!(
            "{label}: {} in {seconds:.1} s ({rate})",
            size(s.bytes as f64)
        );
    } else {
        let percent = if s.total_bytes > 0 {
            100.0 * s.bytes as f64 / s.total_bytes as f64
        } else {
            0.0
        };
        eprintln!(
            "{label}: {} of {} ({percent:.0}%), {rate}, {seconds:.0} s",
            size(s.bytes as f64),
            size(s.total_bytes as f64)
        );
    }
}

/// `{"bytes": …, "done": …, "elapsed_seconds": …, "progress": LABEL, "total_bytes": …}`.
fn json_line(label: &str, s: Snapshot) {
    let json = serde_json::json!({
        "progress": label,
        "bytes": s.bytes,
        "total_bytes": s.total_bytes,
        "elapsed_seconds": (s.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "done": s.done,
    });
    eprintln!("{json}");
}

/// `1.5 GiB`, `512.0 KiB`, `12 B`.
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
