//! The `kith` binary: parses the command line ([`args`]), checks it ([`validate`]), runs it —
//! on the home folder ([`local`]), as the node itself ([`run`]) or through the running node's
//! API ([`client`]) — and prints the answer ([`output`]). Errors go to stderr as one
//! `error: …` line; the exit code is 2 for a usage error, 1 for any other failure.

mod args;
mod client;
mod docs;
mod local;
mod output;
mod progress;
mod run;
mod validate;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use clap::Parser;
use clap::error::ErrorKind;
use tracing_subscriber::EnvFilter;

use kith_node::home::Home;

use crate::args::{Cli, CommandArgs, LogFormat};
use crate::output::Answer;
use crate::validate::{Command, UsageError};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return clap_error(&error),
    };
    match &cli.command {
        CommandArgs::Run(run) => init_logs("warn,libp2p_kad=error,kith_node=info,kith=info", run.log_format),
        _ => init_logs("warn", LogFormat::Text),
    }
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&format!("{error:#}")));
            if error.downcast_ref::<UsageError>().is_some() { ExitCode::from(2) } else { ExitCode::from(1) }
        }
    }
}

/// Help and version are printed whole; any other clap error as one line, exit code 2.
fn clap_error(error: &clap::Error) -> ExitCode {
    if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    if error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = error.print();
        return ExitCode::from(2);
    }
    // clap's message, without the usage and the tip that follow it.
    let rendered = error.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("error: {} (see `kith --help`)", one_line(message));
    ExitCode::from(2)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Logs go to stderr, as text or (`--log-format json`, for a hub whose logs go to a
/// collector) one JSON object a line; `RUST_LOG` overrides the default filter.
/// The node's progress events (a store conversion, rebuilding the views) are shown beside
/// them by [`progress::ProgressLayer`], whatever the filter.
fn init_logs(default: &str, format: LogFormat) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).with_filter(filter).boxed(),
        LogFormat::Json => logs.json().with_current_span(false).with_span_list(false).with_filter(filter).boxed(),
    };
    let progress_events =
        tracing_subscriber::filter::Targets::new().with_target(kith_node::progress::TARGET, tracing::Level::TRACE);
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(progress::ProgressLayer::default().with_filter(progress_events))
        .try_init();
}

/// The home folder: `--home`, `KITH_HOME`, or the platform's data folder.
fn home_dir(given: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = given {
        return Ok(dir);
    }
    dirs::data_dir()
        .map(|dir| dir.join("kith"))
        .ok_or_else(|| anyhow!("cannot tell where your data folder is; give one with --home DIR or KITH_HOME"))
}

fn execute(cli: Cli) -> Result<()> {
    if cli.json && matches!(&cli.command, CommandArgs::Report(r) if r.csv) {
        return Err(UsageError("--json and --csv cannot go together: choose one".into()).into());
    }
    let acting_as = cli.acting_as.clone();
    let command = validate::command(cli.command)?;
    if acting_as.is_some() && !matches!(command, Command::Api(_) | Command::KeyBackup) {
        return Err(UsageError(
            "--as acts for a helped member in commands to the running node and in `kith key backup`".into(),
        )
        .into());
    }
    match command {
        Command::Completions(shell) => return docs::completions(shell, &mut std::io::stdout().lock()),
        Command::Manpage => return docs::manpage(&mut std::io::stdout().lock()),
        _ => {}
    }
    let dir = home_dir(cli.home)?;
    if matches!(command, Command::Api(_) | Command::MemberTake { .. }) && !dir.is_dir() {
        return Err(anyhow!("no node is running for home {} — start it with `kith run`", dir.display()));
    }
    let home = Home::open(&dir)?;
    // Messages name the home by its full path.
    let home = std::fs::canonicalize(&dir).map_or(Ok(home), Home::open)?;
    let answer = match command {
        Command::Init { name } => Answer::Local(local::init(&home, name)?),
        Command::CommunityCreate { name, description, rules } => {
            Answer::Local(local::create_community(&home, &name, &description, rules)?)
        }
        Command::Join { invite, text, name } => Answer::Local(local::join(&home, &invite, &text, name)?),
        Command::KeyBackup => Answer::Local(local::backup(&home, acting_as.as_deref())?),
        Command::KeyRestore { words } => Answer::Local(local::restore(&home, words)?),
        Command::Repair => Answer::Local(local::repair(&home)?),
        Command::Run(options) => return run::run(&home, options),
        Command::Api(validate::ApiCall::MoveHelped(new)) => {
            let (member, to) = (new.member.clone(), new.to.clone());
            let answer = client::Client::connect(&home)?.call(validate::ApiCall::MoveHelped(new))?;
            if std::io::stdout().is_terminal() {
                eprintln!(
                    "This home no longer records for {member}. Give {to} the key: `kith key backup --as \"{member}\"` \
                     here, then `kith member take` with those words on {to}'s home."
                );
            }
            answer
        }
        Command::Api(call) => client::Client::connect(&home)?.acting_as(acting_as).call(call)?,
        Command::MemberTake { words } => {
            let client = client::Client::connect(&home)?;
            let key = local::key_from_words(words)?;
            client.call(validate::ApiCall::TakeHelped(kith_node::api::helped::TakeHelped { key }))?
        }
        // Printed above, before any home is opened.
        Command::Completions(_) | Command::Manpage => return Ok(()),
    };
    output::print(&answer, cli.json)
}
