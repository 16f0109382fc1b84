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
    let cli = match commands::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let (verb, json) = (cli.verb(), cli.json());
    // No core file and no ptrace by other processes of the user while a secret may be in memory.
    if cli.may_load_secret() {
        if let Err(err) = modelseal::harden_process() {
            let err = anyhow::anyhow!("cannot keep secrets out of core dumps: {err}");
            return ended(verb, json, err);
        }
    }
    match commands::run(cli) {
        Ok(code) => {
            if json {
                output::print_result(verb, None);
            }
            code
        }
        Err(err) => ended(verb, json, err),
    }
}

/// The run ended in `err`: the error on stderr and, with `--json`, the one result on stdout.
fn ended(verb: Option<modelseal::report::Verb>, json: bool, err: anyhow::Error) -> ExitCode {
    say_err!("error: {}", output::describe(&err));
    if json {
        output::print_result(verb, Some(&err));
    }
    output::exit_input()
}

/// A command line clap refused: its message on stderr, and with `--json` among the arguments
/// also the result object (`usage`, exit code 2). Help and version are printed as asked.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let json = args
        .iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    let shown = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if !json || shown {
        err.exit();
    }
    let _ = err.print();
    let verb = args
        .first()
        .and_then(|a| a.to_str())
        .and_then(modelseal::report::Verb::from_name);
    // clap's text without its styling and usage lines: the first line, after `error: `.
    let rendered = err.render().to_string();
    let message = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    let outcome = modelseal::report::Outcome::problems(
        verb,
        modelseal::error::ErrorClass::Input,
        vec![modelseal::report::Problem::usage(message)],
    );
    output::print_line(&outcome.json().to_string());
    output::exit_input()
}
