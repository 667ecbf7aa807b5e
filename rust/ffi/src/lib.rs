//! The C ABI of misp-enrich: what the Logstash plugin calls through JRuby's FFI.
//!
//! This crate only converts between C types and the Rust core and guards the
//! boundary; the logic lives in `misp-enrich-core`. The header
//! `include/misp_enrich.h` is generated from this crate by cbindgen and
//! committed; `tests/header.rs` fails when it is out of date (run it with
//! `UPDATE_HEADER=1` to regenerate).
//!
//! Rules every function follows:
//! - No panic crosses the boundary: each body runs inside [`status::guard`],
//!   and a panic becomes [`MispEnrichStatus::Panic`].
//! - Every error is a status plus a message written into a buffer the caller
//!   supplies; the caller frees nothing it did not allocate unless a
//!   function's comment says so.
//! - Pointers may be NULL only where a comment allows it; lengths are in bytes.
#![deny(missing_docs)]

mod key;
mod status;

pub use key::{misp_enrich_key, misp_enrich_version};
pub use status::MispEnrichStatus;
