//! `modelseal completions` and `modelseal man`: shell completions and manual pages, generated from
//! the same clap definitions as `--help`, so they never drift from the flags.

use std::path::PathBuf;
use std::process::ExitCode;

/// Print a completion script for SHELL on stdout, e.g. `modelseal completions bash >
/// /etc/bash_completion.d/modelseal` or `modelseal completions zsh > ~/.zfunc/_modelseal`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut command = <super::Cli as clap::CommandFactory>::command();
    clap_complete::generate(
        args.shell,
        &mut command,
        "modelseal",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Write manual pages (roff) into DIR: modelseal.1 and one modelseal-VERB.1 per verb, e.g.
/// `modelseal man /usr/local/share/man/man1`. Existing pages are replaced.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The directory to write the pages into (created if missing).
    #[arg(value_name = "DIR")]
    out_dir: PathBuf,
}

pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let command = <super::Cli as clap::CommandFactory>::command();
    std::fs::create_dir_all(&args.out_dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.out_dir.display()))?;
    let mut written = 0;
    for page in std::iter::once(command.clone()).chain(
        command
            .get_subcommands()
            .filter(|verb| verb.get_name() != "help")
            // clap takes a `&'static str` name (without its `string` feature); a dozen short
            // strings leaked once by a process that exits right after is no cost.
            .map(|verb| {
                let name: &'static str =
                    Box::leak(format!("modelseal-{}", verb.get_name()).into_boxed_str());
                verb.clone().name(name)
            }),
    ) {
        let path = args.out_dir.join(format!("{}.1", page.get_name()));
        let mut roff = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut roff)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        std::fs::write(&path, roff).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        written += 1;
    }
    say_err!("wrote {written} manual pages to {}", args.out_dir.display());
    Ok(ExitCode::SUCCESS)
}
