//! `mq completions bash|zsh|fish`: completion scripts from the command tree.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs, ShellArg};
use crate::error::CliError;
use crate::output::Output;

/// Prints the script for the shell.
pub(crate) fn run(args: &CompletionsArgs, out: &mut Output) -> Result<(), CliError> {
    let shell = match args.shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    // clap_complete panics if its writer fails; write to memory, then to
    // stdout, where a closed pipe is handled like everywhere else.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mq", &mut script);
    out.write_all(&script)
}
