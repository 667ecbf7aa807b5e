//! The lookup engine behind a C ABI: create from a JSON configuration, look
//! up a whole batch per call (wire format in docs/engine.md), read stats as
//! JSON, free. Result and stats buffers are allocated here and handed to the
//! caller, who reads them once and gives them back to
//! [`misp_enrich_buffer_free`]: one copy in, one copy out, whatever the size.

use std::ffi::c_char;
use std::panic::AssertUnwindSafe;

use misp_enrich_engine::{wire, Config, Engine};

use crate::status::{guard, ErrBuf, MispEnrichStatus};

/// An engine. Opaque: made by [`misp_enrich_engine_new`], used through a
/// pointer by any number of threads at once, freed by [`misp_enrich_engine_free`].
pub struct MispEnrichEngine {
    pub(crate) engine: Engine,
}

/// The namespace names the batch format's namespace ids stand for: one per
/// line, the line number (from 0) being the id, e.g. `md5\nsha1\n...\nhashes`
/// (`hashes` is Sysmon's `Hashes` string, split into its hashes).
///
/// Ownership: the string is static and NUL-terminated; never free it.
#[no_mangle]
pub extern "C" fn misp_enrich_namespaces() -> *const c_char {
    wire::namespace_table().as_ptr()
}

/// Creates an engine from a JSON configuration (see docs/engine.md; unknown
/// fields are errors). Makes no connection to the lookup servers yet, except
/// one bounded attempt to read the IP range index; never fails because
/// memcached is down.
///
/// - `config`, `config_len`: UTF-8 JSON bytes (not NUL-terminated).
/// - `engine_out`: receives the engine on success (left untouched otherwise).
/// - `err`, `err_cap`, `err_len`: a buffer the caller owns for the error
///   message (may be NULL with `err_cap` 0); `err_len` (may be NULL)
///   receives the message length written, 0 on success.
///
/// Returns `Ok`, or `InvalidConfig`/`NotUtf8`/`InvalidArgument` with a message.
///
/// Ownership: the caller owns the engine and must free it once with
/// [`misp_enrich_engine_free`], after every other call on it has returned.
///
/// # Safety
/// `config` must point to `config_len` readable bytes, `engine_out` to a
/// writable pointer, `err` to `err_cap` writable bytes (or be NULL) and
/// `err_len` to a writable `usize` (or be NULL), for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn misp_enrich_engine_new(
    config: *const u8,
    config_len: usize,
    engine_out: *mut *mut MispEnrichEngine,
    err: *mut u8,
    err_cap: usize,
    err_len: *mut usize,
) -> MispEnrichStatus {
    guard(AssertUnwindSafe(move || {
        // SAFETY: the caller guarantees the error buffer per the contract.
        let mut err = unsafe { ErrBuf::new(err, err_cap, err_len) };
        if engine_out.is_null() {
            return err.fail("engine_out is NULL", MispEnrichStatus::InvalidArgument);
        }
        // SAFETY: the caller guarantees `config` for `config_len` bytes.
        let json = match unsafe { crate::status::text(config, config_len) } {
            Ok(j) => j,
            Err(s) => return err.fail("the configuration must be UTF-8 JSON", s),
        };
        let engine = match Config::from_json(json).and_then(|c| Engine::new(&c)) {
            Ok(e) => e,
            Err(e) => return err.fail(&e.to_string(), MispEnrichStatus::InvalidConfig),
        };
        let handle = Box::into_raw(Box::new(MispEnrichEngine { engine }));
        // SAFETY: `engine_out` is non-NULL and writable per the contract.
        unsafe { engine_out.write(handle) };
        err.clear();
        MispEnrichStatus::Ok
    }))
}

/// Looks up one batch. Safe to call from many threads at once on one engine.
///
/// - `batch`, `batch_len`: the batch buffer (format `MEL1`, docs/engine.md).
/// - `result_out`, `result_len`: receive the result buffer (format `MER1`)
///   and its length on success (left untouched otherwise).
/// - `err`, `err_cap`, `err_len`: as for [`misp_enrich_engine_new`].
///
/// Returns `Ok`; `MalformedBatch` with a message when the buffer breaks the
/// format (values that cannot be indicators are not errors: they are skipped
/// and counted); `InvalidArgument` for NULL pointers. Never blocks longer
/// than the configured batch timeout; slots whose values could not be looked
/// up are flagged in the result.
///
/// Ownership: the caller owns the result buffer and must release it once
/// with [`misp_enrich_buffer_free`]`(result, result_len)`.
///
/// # Safety
/// `engine` must come from [`misp_enrich_engine_new`] and not be freed;
/// `batch` must point to `batch_len` readable bytes; `result_out` and
/// `result_len` must be writable; `err`/`err_len` as for
/// [`misp_enrich_engine_new`]; all for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn misp_enrich_engine_lookup(
    engine: *const MispEnrichEngine,
    batch: *const u8,
    batch_len: usize,
    result_out: *mut *mut u8,
    result_len: *mut usize,
    err: *mut u8,
    err_cap: usize,
    err_len: *mut usize,
) -> MispEnrichStatus {
    guard(AssertUnwindSafe(move || {
        // SAFETY: the caller guarantees the error buffer per the contract.
        let mut err = unsafe { ErrBuf::new(err, err_cap, err_len) };
        if engine.is_null() || result_out.is_null() || result_len.is_null() {
            return err.fail(
                "engine, result_out and result_len must not be NULL",
                MispEnrichStatus::InvalidArgument,
            );
        }
        if batch.is_null() && batch_len > 0 || batch_len > isize::MAX as usize {
            return err.fail(
                "batch is NULL or too long",
                MispEnrichStatus::InvalidArgument,
            );
        }
        let input: &[u8] = if batch_len == 0 {
            &[]
        } else {
            // SAFETY: non-NULL, and the caller guarantees `batch_len` readable bytes.
            unsafe { std::slice::from_raw_parts(batch, batch_len) }
        };
        // SAFETY: non-NULL, made by `misp_enrich_engine_new`, not freed (contract).
        let engine = unsafe { &(*engine).engine };
        match engine.lookup_wire(input) {
            Ok(result) => {
                let (ptr, len) = into_raw(result);
                // SAFETY: both are non-NULL and writable per the contract.
                unsafe {
                    result_out.write(ptr);
                    result_len.write(len);
                }
                err.clear();
                MispEnrichStatus::Ok
            }
            Err(e) => err.fail(&e.to_string(), MispEnrichStatus::MalformedBatch),
        }
    }))
}

/// The engine's counters and states as a JSON object (lookups, cache,
/// memcached round trips, matches, errors, latency histogram, range index,
/// breaker state per server; see docs/engine.md).
///
/// Ownership: on `Ok` the caller owns `*json_out` (`*json_len` bytes of
/// UTF-8, not NUL-terminated) and must release it once with
/// [`misp_enrich_buffer_free`].
///
/// # Safety
/// `engine` must come from [`misp_enrich_engine_new`] and not be freed;
/// `json_out` and `json_len` must be writable for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn misp_enrich_engine_stats(
    engine: *const MispEnrichEngine,
    json_out: *mut *mut u8,
    json_len: *mut usize,
) -> MispEnrichStatus {
    guard(AssertUnwindSafe(move || {
        if engine.is_null() || json_out.is_null() || json_len.is_null() {
            return MispEnrichStatus::InvalidArgument;
        }
        // SAFETY: non-NULL, made by `misp_enrich_engine_new`, not freed (contract).
        let engine = unsafe { &(*engine).engine };
        let json = serde_json::to_vec(&engine.stats()).unwrap_or_else(|_| b"{}".to_vec());
        let (ptr, len) = into_raw(json);
        // SAFETY: both are non-NULL and writable per the contract.
        unsafe {
            json_out.write(ptr);
            json_len.write(len);
        }
        MispEnrichStatus::Ok
    }))
}

/// Releases a buffer returned by [`misp_enrich_engine_lookup`] or
/// [`misp_enrich_engine_stats`]. NULL is ignored.
///
/// # Safety
/// `buffer` must be NULL or a buffer from this library, with the length it
/// was returned with, not released before.
#[no_mangle]
pub unsafe extern "C" fn misp_enrich_buffer_free(buffer: *mut u8, len: usize) {
    if buffer.is_null() {
        return;
    }
    let _ = guard(AssertUnwindSafe(move || {
        // SAFETY: per the contract, `buffer`/`len` is a boxed slice made by
        // `into_raw` and not released before.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(buffer, len)) });
        MispEnrichStatus::Ok
    }));
}

/// Frees an engine (stops its range refresher, closes its connections).
/// NULL is ignored.
///
/// # Safety
/// `engine` must be NULL or come from [`misp_enrich_engine_new`], not be
/// freed before, and no other call may be using it.
#[no_mangle]
pub unsafe extern "C" fn misp_enrich_engine_free(engine: *mut MispEnrichEngine) {
    if engine.is_null() {
        return;
    }
    let _ = guard(AssertUnwindSafe(move || {
        // SAFETY: made by `Box::into_raw` in `misp_enrich_engine_new`, freed once (contract).
        drop(unsafe { Box::from_raw(engine) });
        MispEnrichStatus::Ok
    }));
}

/// A buffer handed to the caller: a boxed slice, so its length is all that
/// is needed to free it. Never empty (a result has at least its header).
fn into_raw(bytes: Vec<u8>) -> (*mut u8, usize) {
    let boxed = bytes.into_boxed_slice();
    let len = boxed.len();
    (Box::into_raw(boxed).cast::<u8>(), len)
}
