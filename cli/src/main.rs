//! `modelseal`: sign, verify and inspect machine-learning models (OpenSSF Model Signing format), and
//! envelope-encrypt, decrypt and rewrap them.
//!
//! This binary only translates arguments and results; every capability lives in the `modelseal`
//! crate. Exit codes: 0 success, 1 verification or decryption failed, 2 usage or input error.

mod audit;
mod commands;
mod output;
mod progress;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            output::exit_input()
        }
    }
}
