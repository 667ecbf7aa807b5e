//! Rows of docs/RELIABILITY.md written by tests (feature `test-record`,
//! for tests only): each call writes one row of a section to
//! `target/reliability/<file>.tsv`, which `tests/reliability-report` turns
//! into the document. Files of the same section are merged there, so each
//! test writes its own file and tests may run in any order or in parallel.

use std::path::PathBuf;

/// The directory the rows go to: `target/reliability` of the workspace.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/reliability")
}

/// Writes `target/reliability/<file>.tsv` with one row: the fault or input,
/// what was checked, and the result (with its figures). Tabs and line breaks
/// in the texts become spaces. Errors are ignored: a test must not fail
/// because its record could not be written.
pub fn row(file: &str, section: &str, what: &str, checked: &str, result: &str) {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    let dir = dir();
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("{file}.tsv")),
        format!(
            "#section\t{}\n{}\t{}\t{}\n",
            clean(section),
            clean(what),
            clean(checked),
            clean(result)
        ),
    );
}
