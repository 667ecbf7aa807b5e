//! What the user sees while a run goes on: a progress bar per phase on a
//! terminal (hidden otherwise, and with `--quiet` or `--json`), and the log
//! lines of `tracing` on stderr, drawn around the bars so neither garbles the
//! other. Log level comes from `-v` (repeatable) or `RUST_LOG`.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Progress display.
#[derive(Debug, Clone)]
pub struct Ui {
    multi: MultiProgress,
    visible: bool,
}

impl Ui {
    /// Bars are drawn only when `visible` (a terminal, not quiet).
    pub fn new(visible: bool) -> Self {
        let target = if visible {
            ProgressDrawTarget::stderr_with_hz(10)
        } else {
            ProgressDrawTarget::hidden()
        };
        Ui {
            multi: MultiProgress::with_draw_target(target),
            visible,
        }
    }

    /// A hidden display (tests, `--json`).
    pub fn hidden() -> Self {
        Ui::new(false)
    }

    /// A counter for one phase, e.g. `fetch`, counting `unit`s.
    pub fn phase(&self, name: &str, unit: &'static str) -> ProgressBar {
        if !self.visible {
            return ProgressBar::hidden();
        }
        let bar = self.multi.add(ProgressBar::new_spinner());
        let template = format!(
            "{{spinner}} {name:<10} {{human_pos}} {unit} ({{per_sec}}) {{msg}} [{{elapsed}}]"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.multi.suspend(f)
    }
}

/// A `MakeWriter` that writes each log line to stderr around the bars.
#[derive(Debug, Clone)]
pub struct LogWriter {
    ui: Ui,
}

/// One log line being formatted.
#[derive(Debug)]
pub struct LineWriter {
    ui: Ui,
    buf: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.ui.suspend(|| io::stderr().write_all(&buf))?;
        }
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LineWriter;
    fn make_writer(&'a self) -> LineWriter {
        LineWriter {
            ui: self.ui.clone(),
            buf: Vec::new(),
        }
    }
}

/// Installs the log subscriber: `RUST_LOG` if set, else by verbosity
/// (quiet: warnings; default: misp-load's info; -v debug; -vv trace;
/// -vvv trace for every crate).
pub fn init_logging(ui: &Ui, verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "warn,misp_load=info",
        (false, 1) => "info,misp_load=debug",
        (false, 2) => "info,misp_load=trace",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter { ui: ui.clone() })
        .with_target(verbose >= 2)
        .with_ansi(ui.visible)
        .try_init();
}
