//! misp-load's entry point: parse the command line, set up logging and
//! signals, run, print the summary, and turn the outcome into an exit code.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use misp_load::cli::{Cli, Command};
use misp_load::config::Config;
use misp_load::run::{self, LoadOptions};
use misp_load::summary::Summary;
use misp_load::ui::{self, Ui};
use misp_load::{exit, inspect, Error};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Err(message) = cli.validate() {
        eprintln!("misp-load: error: {message}");
        return ExitCode::from(exit::USAGE);
    }
    let show_progress = !cli.quiet && !cli.json && std::io::stderr().is_terminal();
    let ui = Ui::new(show_progress);
    ui::init_logging(&ui, cli.verbose, cli.quiet);
    match run(&cli, &ui) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = e
                .downcast_ref::<Error>()
                .map_or(exit::FAILURE, Error::exit_code);
            eprintln!("misp-load: error: {}", message(&e));
            ExitCode::from(code)
        }
    }
}

/// The error and those of its causes that its own text does not already say.
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

/// Signals set `stop`; a second SIGINT or SIGTERM exits at once with 130.
fn signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(
            sig,
            i32::from(exit::INTERRUPTED),
            stop.clone(),
        )
        .context("cannot install signal handlers")?;
        signal_hook::flag::register(sig, stop.clone()).context("cannot install signal handlers")?;
    }
    Ok(stop)
}

fn report(cli: &Cli, summary: &Summary) {
    if cli.json {
        println!("{}", serde_json::to_string(summary).unwrap_or_default());
    } else {
        print!("{}", summary.render());
    }
}

fn run(cli: &Cli, ui: &Ui) -> anyhow::Result<u8> {
    let cfg = Config::load(&cli.config, &|name| std::env::var(name).ok()).map_err(Error::from)?;
    for (file, mode) in cfg.exposed_key_files() {
        tracing::warn!(
            "{} holds {} and other users may read it (mode {mode:04o}): run `chmod 600 {}`, or give it in the environment ({})",
            file.path.display(),
            file.holds,
            file.path.display(),
            file.env
        );
    }
    match &cli.command {
        Some(Command::Check) => inspect::check(&cfg, cli.json)?,
        Some(Command::Stats { no_scan }) => inspect::stats(&cfg, !no_scan, cli.json)?,
        Some(Command::Lookup { value, kind }) => {
            inspect::lookup(&cfg, value, kind.as_deref(), cli.json)?
        }
        None => {
            let stop = signals()?;
            let opts = LoadOptions {
                full: cli.full,
                dry_run: cli.dry_run,
                force: cli.force,
            };
            if let Some(secs) = cli.watch {
                warn_on_gap(&cfg, secs);
                run::watch(
                    &cfg,
                    opts,
                    Duration::from_secs(secs),
                    ui,
                    &stop,
                    |summary, result| {
                        report(cli, summary);
                        if let Err(e) = result {
                            eprintln!("misp-load: error: {e}");
                        }
                    },
                )?;
            } else {
                let (summary, result) = run::load(&cfg, opts, ui, &stop);
                report(cli, &summary);
                result?;
            }
        }
    }
    Ok(exit::OK)
}

/// Warns when the watch interval is longer than the refresh window: changes
/// between two runs would then fall outside both windows.
fn warn_on_gap(cfg: &Config, interval: u64) {
    let window = misp_load::config::seconds(&cfg.refresh_event_timestamp);
    if let Some(w) = window {
        if w.as_secs() < interval
            && !cfg
                .refresh_event_timestamp
                .bytes()
                .all(|b| b.is_ascii_digit())
        {
            tracing::warn!(
                "--watch {interval} is longer than refresh_event_timestamp ({}): events changed between two runs may never be loaded",
                cfg.refresh_event_timestamp
            );
        }
    }
}
