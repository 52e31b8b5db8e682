//! The documents generated from the clap definitions in [`crate::args`]: the shell
//! completion scripts (`kith completions bash|zsh|fish`) and the man page (`kith manpage`),
//! so they never drift from the commands the binary accepts.

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::{Cli, ShellArg};

/// The completion script for `shell`, as the shell sources it.
pub fn completions(shell: ShellArg, out: &mut impl Write) -> Result<()> {
    let shell = match shell {
        ShellArg::Bash => Shell::Bash,
        ShellArg::Zsh => Shell::Zsh,
        ShellArg::Fish => Shell::Fish,
    };
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "kith", &mut script);
    out.write_all(&script).context("cannot write the completion script")?;
    Ok(())
}

/// The man page in roff: `kith(1)` with every subcommand's usage and options.
pub fn manpage(out: &mut impl Write) -> Result<()> {
    let command = Cli::command();
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(command.clone());
    man.render_title(&mut page).context("cannot render the man page")?;
    man.render_name_section(&mut page).context("cannot render the man page")?;
    man.render_synopsis_section(&mut page).context("cannot render the man page")?;
    man.render_description_section(&mut page).context("cannot render the man page")?;
    man.render_options_section(&mut page).context("cannot render the man page")?;
    render_commands(&command, &mut page)?;
    man.render_version_section(&mut page).context("cannot render the man page")?;
    out.write_all(&page).context("cannot write the man page")?;
    Ok(())
}

/// One section listing each subcommand with its usage, what it does and its options, so
/// `man kith` alone documents the whole command (clap_mangen's own subcommand section names
/// them only).
fn render_commands(command: &clap::Command, page: &mut Vec<u8>) -> Result<()> {
    let mut text = String::from(".SH COMMANDS\n");
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        commands_of(sub, "kith", &mut text);
    }
    page.write_all(text.as_bytes()).context("cannot render the man page")
}

fn commands_of(sub: &clap::Command, parent: &str, text: &mut String) {
    let path = format!("{parent} {}", sub.get_name());
    if sub.has_subcommands() && sub.get_arguments().all(|a| a.is_positional() || a.is_global_set()) {
        for inner in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            commands_of(inner, &path, text);
        }
        return;
    }
    let mut usage = path.clone();
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set() && !a.is_global_set()) {
        let Some(name) = arg.get_value_names().and_then(|n| n.first()).map(ToString::to_string) else {
            continue;
        };
        if arg.is_positional() {
            usage.push_str(&format!(" {}", if arg.is_required_set() { name } else { format!("[{name}]") }));
        }
    }
    text.push_str(&format!(".TP\n\\fB{}\\fR\n", roff_escape(&usage)));
    if let Some(about) = sub.get_about() {
        text.push_str(&roff_escape(&about.to_string()));
        text.push('\n');
    }
    for arg in sub.get_arguments().filter(|a| !a.is_hide_set() && !a.is_global_set() && !a.is_positional()) {
        let Some(long) = arg.get_long() else { continue };
        let value = arg
            .get_value_names()
            .and_then(|n| n.first())
            .filter(|_| arg.get_action().takes_values())
            .map(|n| format!(" {n}"))
            .unwrap_or_default();
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        text.push_str(&format!(".br\n\\-\\-{}{}  {}\n", roff_escape(long), roff_escape(&value), roff_escape(&help)));
    }
    if sub.has_subcommands() {
        for inner in sub.get_subcommands().filter(|s| !s.is_hide_set()) {
            commands_of(inner, &path, text);
        }
    }
}

/// Text safe inside a roff line: backslashes doubled, hyphens as `\-`, and a leading dot or
/// quote kept from being read as a request.
fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') { format!("\\&{escaped}") } else { escaped }
}
