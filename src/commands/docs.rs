//! `headroom completions SHELL` and `headroom man`: shell completions and manual pages
//! generated from the CLI definition ([`crate::cli::Cli`]), so they never drift from it.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut Cli::command(), "headroom", out);
}

/// Prints headroom(1) to standard output, or with `dir` writes headroom.1 and one page per
/// subcommand (headroom-run.1, headroom-check.1, headroom-check-cert.1, ...) there.
pub fn man(dir: Option<&Path>) -> Result<(), String> {
    let cmd = Cli::command();
    match dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| format!("cannot write the manual page: {e}"))
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .map_err(|e| format!("cannot write the manual pages into {}: {e}", dir.display()))
        }
    }
}
