//! A byte progress bar on stderr for long hashing, encryption and decryption, shown only on a TTY
//! and without `--quiet`/`--json`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use modelseal::progress::Progress;
use std::io::IsTerminal;

/// Progress bar that implements the core's [`Progress`] sink.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar labelled `message`; hidden when `quiet` or when stderr is not a terminal.
    pub fn new(message: &'static str, quiet: bool) -> Bar {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(message);
            bar
        };
        Bar(bar)
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn begin(&self, total_bytes: u64) {
        self.0.set_length(total_bytes);
    }
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}
