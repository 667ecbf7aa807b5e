//! Integration tests of the misp-sim binary, one module per area. Each test
//! starts its own emulator on port 0.
#![allow(clippy::unwrap_used)]

mod harness;

mod auth;
mod faults;
mod filters;
mod mutate;
mod paging;
mod tls;
