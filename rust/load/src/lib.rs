//! misp-load: MISP indicators into memcached, seed-compatible, fast, and
//! never stale. This library is the whole program; `main.rs` only parses the
//! command line, sets up logging and maps errors to exit codes.
//!
//! # Brief overview
//!
//! - [`config`]: the seed's `config.yml` and the extensions, checked.
//! - [`category`]: which MISP types each config category loads.
//! - [`misp`] and [`page`]: restSearch over HTTP(S), paged and retried, and
//!   the streaming page parser.
//! - [`extract`] and [`plan`]: attribute → keys, and the pure merge/revoke rules.
//! - [`store`], [`range_index`], [`events`]: the memcached side.
//! - [`run`] and [`reconcile`]: a load from start to end; `--full`.
//! - [`inspect`]: `check`, `stats`, `lookup`.
//! - [`summary`], [`ui`]: what the user sees.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod category;
pub mod cli;
pub mod config;
pub mod error;
pub mod events;
pub mod extract;
pub mod inspect;
pub mod misp;
pub mod page;
pub mod plan;
pub mod range_index;
pub mod reconcile;
pub mod record;
pub mod run;
pub use misp_enrich_core::secret;
pub mod store;
pub mod summary;
pub mod ui;

pub use error::{exit, Error};
