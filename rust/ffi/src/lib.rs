//! The C ABI of misp-enrich: what the Logstash plugin calls through JRuby's FFI.
//!
//! This crate only converts between C types and the Rust crates and guards
//! the boundary; the logic lives in `misp-enrich-core` and
//! `misp-enrich-engine`. The header
//! `include/misp_enrich.h` is generated from this crate by cbindgen and
//! committed; `tests/header.rs` fails when it is out of date (run it with
//! `UPDATE_HEADER=1` to regenerate).
//!
//! Rules every function follows:
//! - No panic crosses the boundary: each body runs inside [`status::guard`],
//!   and a panic becomes [`MispEnrichStatus::Panic`].
//! - Every error is a status plus a message written into a buffer the caller
//!   supplies; the caller frees nothing it did not allocate unless a
//!   function's comment says so (lookup results and stats are allocated
//!   here and released with `misp_enrich_buffer_free`).
//! - Pointers may be NULL only where a comment allows it; lengths are in bytes.
//!
//! One more entry point is for the JVM only: `jvm.rs`, the JNI method the
//! plugin's Java hot path calls with a whole batch (same rules, same engine).
#![deny(missing_docs)]

mod engine;
mod jvm;
mod key;
mod status;

pub use engine::{
    misp_enrich_buffer_free, misp_enrich_engine_free, misp_enrich_engine_lookup,
    misp_enrich_engine_new, misp_enrich_engine_stats, misp_enrich_namespaces, MispEnrichEngine,
};
pub use key::{misp_enrich_key, misp_enrich_version};
pub use status::MispEnrichStatus;
