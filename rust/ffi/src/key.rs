//! Version and the normalise-and-key function: the first, simplest calls,
//! used by the plugin to check the library it loaded and by tests and tools
//! to ask which key a log value maps to.

use std::ffi::c_char;
use std::str::FromStr;

use misp_enrich_core::{normalize, Keyspace, Namespace, Normalized};

use crate::status::{guard, text, MispEnrichStatus, OutBuf};

/// The library's version, e.g. `0.1.0`, as a NUL-terminated static string.
///
/// Ownership: the string is static; the caller must not free it.
#[no_mangle]
pub extern "C" fn misp_enrich_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Normalises `value` for namespace `ns` and writes its memcached key under
/// `prefix` into `out`.
///
/// - `prefix`, `ns`, `value`: UTF-8 bytes with their lengths (not
///   NUL-terminated); `prefix` of length 0 means the default `misp`.
/// - `out`, `out_cap`: a buffer the caller owns; 256 bytes hold any key.
/// - `out_len`: receives the number of bytes written, or needed.
///
/// Returns `Ok` with the key in `out`; `Range` with the canonical CIDR in
/// `out` when the value is an IP range (ranges have no key);
/// `BufferTooSmall` with the size needed in `out_len`; any other status with
/// an error message in `out` (cut to `out_cap`).
///
/// Ownership: every buffer belongs to the caller; nothing is allocated for it.
///
/// # Safety
/// Each pointer must be valid for its length (`out` for `out_cap` writable
/// bytes, `out_len` for one `usize`) for the duration of the call. Input
/// pointers may be NULL only with length 0.
#[no_mangle]
pub unsafe extern "C" fn misp_enrich_key(
    prefix: *const u8,
    prefix_len: usize,
    ns: *const u8,
    ns_len: usize,
    value: *const u8,
    value_len: usize,
    out: *mut u8,
    out_cap: usize,
    out_len: *mut usize,
) -> MispEnrichStatus {
    guard(move || {
        // SAFETY: the caller guarantees `out`/`out_len` per this function's contract.
        let mut out = match unsafe { OutBuf::new(out, out_cap, out_len) } {
            Ok(o) => o,
            Err(status) => return status,
        };
        // SAFETY: the caller guarantees each input pointer for its length.
        let inputs = unsafe {
            (
                text(prefix, prefix_len),
                text(ns, ns_len),
                text(value, value_len),
            )
        };
        let (prefix, ns, value) = match inputs {
            (Ok(p), Ok(n), Ok(v)) => (p, n, v),
            (Err(s), _, _) | (_, Err(s), _) | (_, _, Err(s)) => {
                return out.error("arguments must be UTF-8 and non-NULL", s)
            }
        };
        let keyspace = match prefix {
            "" => Keyspace::default(),
            p => match Keyspace::new(p) {
                Ok(k) => k,
                Err(e) => return out.error(&e.to_string(), MispEnrichStatus::InvalidPrefix),
            },
        };
        let ns = match Namespace::from_str(ns) {
            Ok(n) => n,
            Err(e) => return out.error(&e.to_string(), MispEnrichStatus::UnknownNamespace),
        };
        match normalize(ns, value) {
            Ok(Normalized::Exact(v)) => {
                out.write(keyspace.key(ns, &v).as_bytes(), MispEnrichStatus::Ok)
            }
            Ok(Normalized::Range(net)) => {
                out.write(net.to_string().as_bytes(), MispEnrichStatus::Range)
            }
            Err(e) => out.error(&e.to_string(), MispEnrichStatus::InvalidValue),
        }
    })
}
