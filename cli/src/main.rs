//! `modelseal`: sign, verify and inspect machine-learning models (OpenSSF Model Signing format), and
//! envelope-encrypt, decrypt and rewrap them.
//!
//! This binary only translates arguments and results; every capability lives in the `modelseal`
//! crate. Exit codes: 0 success, 1 verification or decryption failed, 2 usage or input error.

#[macro_use]
mod output;
mod audit;
mod commands;
mod progress;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A write beyond `ulimit -f` must be an error that is reported and cleaned up after, not a
    // SIGXFSZ that kills the process mid-write (CPython ignores it at startup for the same reason).
    // SAFETY: sets one signal's disposition before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let cli = commands::Cli::parse();
    // No core file and no ptrace by other processes of the user while a secret may be in memory.
    if cli.may_load_secret() {
        if let Err(err) = modelseal::harden_process() {
            eprintln!("error: cannot keep secrets out of core dumps: {err}");
            return output::exit_input();
        }
    }
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            say_err!("error: {}", output::describe(&err));
            output::exit_input()
        }
    }
}
