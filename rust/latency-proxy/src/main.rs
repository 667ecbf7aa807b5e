//! latency-proxy: a TCP proxy that delivers every chunk it forwards a fixed
//! time after reading it, in both directions. It exists because the kernel of
//! the benchmark machine has no netem, and the benchmark must compare one
//! memcached GET per event with one multi-get per batch at a datacenter round
//! trip (~200 µs), not only at loopback's ~20 µs. Not shipped. See README.md.
//!
//! Threads, not tokio: tokio's timer has millisecond granularity, far too
//! coarse for a 100 µs delay. Each connection uses four threads (a reader and
//! a delayed writer per direction, see `pipe`); they block in the kernel when
//! idle, so an idle proxy costs no CPU.
//!
//! Timer precision against CPU use: Linux delays a sleeping thread's wake-up
//! by its timer slack (50 µs by default). At start the proxy sets the slack of
//! its main thread to 1 ns through `/proc/self/timerslack_ns` (no unsafe code;
//! a process may change its own slack without privileges) before any other
//! thread exists, so every thread inherits it. A sleep then overshoots by the
//! wake-up latency alone (about 20 µs measured on the 2-core benchmark VM).
//! The writer sleeps until `--spin-us` before the deadline and busy-waits the
//! rest, so the spin is bounded by `--spin-us` per chunk, and usually much
//! shorter since the sleep's own overshoot eats most of that window. A larger
//! `--spin-us` buys punctuality with CPU taken from the JVM being measured;
//! 0 never spins (deliveries then land late by the wake-up latency).
#![forbid(unsafe_code)]

mod pipe;

use anyhow::Context as _;
use clap::Parser;
use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// A TCP proxy adding a one-way delay to each direction (a round trip gains
/// twice --delay-us). Prints `listening on ADDR` on stdout once ready.
#[derive(Debug, Parser)]
#[command(name = "latency-proxy", version)]
struct Args {
    /// The server to forward to (HOST:PORT); one upstream connection is
    /// opened per client connection.
    #[arg(long, value_name = "HOST:PORT")]
    upstream: String,

    /// One-way delay in microseconds added to every chunk, in each direction.
    #[arg(long, value_name = "N")]
    delay_us: u64,

    /// Address to listen on; port 0 picks a free port (see the ready line).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,

    /// Busy-wait at most this many microseconds before each delivery
    /// instead of sleeping (punctuality against CPU use).
    #[arg(long, value_name = "N", default_value_t = 20)]
    spin_us: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LATENCY_PROXY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("latency-proxy: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    // Before any thread is spawned: threads inherit the slack of their creator.
    if let Err(e) = std::fs::write("/proc/self/timerslack_ns", "1") {
        tracing::warn!("cannot lower the timer slack ({e}); deliveries may be up to ~60 µs late");
    }
    let timing = pipe::Timing {
        delay: Duration::from_micros(args.delay_us),
        spin: Duration::from_micros(args.spin_us),
    };
    let listener = TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;

    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .context("cannot install signal handlers")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            // Open connections are closed by the kernel on exit.
            std::process::exit(0);
        }
    });

    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {local}")?;
        out.flush()?;
    }

    for accepted in listener.incoming() {
        match accepted {
            Ok(client) => {
                let upstream = args.upstream.clone();
                let spawned = std::thread::Builder::new()
                    .name("conn".into())
                    .stack_size(pipe::STACK_SIZE)
                    .spawn(move || serve(client, &upstream, timing));
                if let Err(e) = spawned {
                    tracing::warn!("cannot start a connection thread: {e}");
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: do not spin on it.
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

/// One client connection: connects upstream and forwards both ways until
/// both directions are closed.
fn serve(client: TcpStream, upstream: &str, timing: pipe::Timing) {
    let peer = client.peer_addr().ok();
    let server = match TcpStream::connect(upstream) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(?peer, "cannot connect to {upstream}: {e}");
            return;
        }
    };
    tracing::debug!(?peer, "connected");
    if let Err(e) = pipe::forward_both(client, server, timing) {
        tracing::warn!(?peer, "connection setup failed: {e}");
    }
    tracing::debug!(?peer, "closed");
}
