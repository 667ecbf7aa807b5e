//! misp-sim: an emulator of the parts of MISP's REST API that misp-load uses
//! (restSearch with MISP's filter and paging semantics, getVersion, users/view/me),
//! serving generated or fixture data, with fault injection and a request log
//! for tests. Not shipped to users. See README.md for flags and endpoints.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod admin;
mod cli;
mod data;
mod faults;
mod filter;
mod render;
mod reqlog;
mod server;
mod timeutil;
mod tls;

use anyhow::Context as _;
use clap::Parser as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MISP_SIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("misp-sim: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: cli::Args) -> anyhow::Result<()> {
    args.check()?;
    let now = timeutil::now();
    let t0 = Instant::now();
    let store = if let Some(cfg) = args.gen_config(now) {
        data::gen::generate(&cfg)
    } else if let Some(path) = &args.fixture {
        data::fixture::load(path, now)?
    } else {
        let mut s = data::Store::default();
        s.org_index(1, Some("Sim CERT"), None);
        s
    };
    tracing::info!(
        attributes = store.attrs.len(),
        events = store.events.len(),
        ms = t0.elapsed().as_millis() as u64,
        "data ready"
    );
    let faults = args.faults()?;
    let tls = if args.tls {
        let t = tls::generate(&args.tls_names)?;
        if let Some(path) = &args.ca_out {
            std::fs::write(path, &t.ca_pem)
                .with_context(|| format!("writing the CA certificate to {}", path.display()))?;
        }
        Some(t.acceptor)
    } else {
        None
    };
    let app = Arc::new(server::App {
        store: RwLock::new(store),
        key: args.key.clone(),
        faults: Mutex::new(faults),
        log: Mutex::new(reqlog::Log::new(args.request_log)),
        unpaged_limit: args.unpaged_limit,
        scheme: if args.tls { "https" } else { "http" },
        started: now,
    });
    if args.exit_on_stdin_close {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(server::serve(args.listen, app, tls))
}
