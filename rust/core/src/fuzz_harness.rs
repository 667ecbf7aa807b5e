//! The runner of the project's proptest fuzz targets (issue 7), shared by
//! the fuzz tests of every crate (feature `fuzz-harness`, for tests only).
//!
//! Cases per property: `PROPTEST_CASES` (else the suite's default), within a
//! time budget of `FUZZ_SECONDS` per property (default 60): past it, the
//! remaining cases are skipped and the count actually run is reported. Each
//! property writes its row to `target/reliability/fuzz-<suite>-<name>.tsv`,
//! which tests/reliability-report turns into docs/RELIABILITY.md.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// The fuzz targets of one test file: its name in the record files and its
/// number of cases per property when `PROPTEST_CASES` is not set.
pub struct FuzzSuite {
    /// `core`, `engine`, ...: part of each record file's name.
    pub name: &'static str,
    /// Cases per property without `PROPTEST_CASES`.
    pub default_cases: u32,
}

impl FuzzSuite {
    /// Runs `test` on values of `strategy` like `proptest!` does, within the
    /// case count and time budget, records the outcome and panics on a
    /// failing case.
    pub fn run<S: Strategy>(
        &self,
        name: &str,
        target: &str,
        invariants: &str,
        strategy: S,
        test: impl Fn(S::Value) -> Result<(), TestCaseError>,
    ) {
        self.run_noting(name, target, invariants, strategy, test, String::new);
    }

    /// [`FuzzSuite::run`], with `note()` (what the cases covered) added to
    /// the recorded result.
    pub fn run_noting<S: Strategy>(
        &self,
        name: &str,
        target: &str,
        invariants: &str,
        strategy: S,
        test: impl Fn(S::Value) -> Result<(), TestCaseError>,
        note: impl Fn() -> String,
    ) {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(self.default_cases);
        let budget = Duration::from_secs(
            std::env::var("FUZZ_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(60),
        );
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        let started = Instant::now();
        let ran = AtomicU64::new(0);
        let result = runner.run(&strategy, |v| {
            if started.elapsed() > budget {
                return Ok(());
            }
            ran.fetch_add(1, Ordering::Relaxed);
            test(v)
        });
        let verdict = match &result {
            Ok(()) => "pass".to_owned(),
            Err(e) => format!("FAIL: {e}"),
        };
        self.record(
            name,
            target,
            invariants,
            &format!(
                "{verdict}: {} cases in {:.1} s{}",
                ran.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64(),
                note()
            ),
        );
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
    }

    fn record(&self, name: &str, target: &str, invariants: &str, result: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/reliability");
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(
            dir.join(format!("fuzz-{}-{name}.tsv", self.name)),
            format!(
                "#section\tFuzzing (proptest on the stable toolchain; cases per run in each row)\n{}\t{}\t{}\n",
                clean(target),
                clean(invariants),
                clean(result)
            ),
        );
    }
}
