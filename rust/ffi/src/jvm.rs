//! The JNI entry point the plugin's Java hot path calls
//! (`org.mispenrich.logstash.NativeLookup`, in the gem's jar): one batch per
//! call, in a direct `ByteBuffer` (format `MEL1`), the result back as a Java
//! `byte[]` (format `MER1`; docs/engine.md). The engine is the one the C ABI
//! made ([`crate::misp_enrich_engine_new`]); Java receives its address from
//! the Ruby FFI binding, which loaded this same library file.
//!
//! Same discipline as the C ABI: no panic crosses the boundary (the body
//! runs under `catch_unwind`, and jni's `with_env` catches again), NULL and
//! lengths are checked before anything is read, and a refused call reports a
//! status and a message (here written into the caller's status buffer, with
//! `null` returned) instead of raising in Rust.

use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::objects::{JByteBuffer, JClass};
use jni::sys::{jbyteArray, jint, jlong};
use jni::{Env, EnvUnowned, Outcome};

use crate::engine::MispEnrichEngine;
use crate::status::MispEnrichStatus;

/// Bytes before the message in the status buffer: u32 status, u32 length.
const STATUS_HEADER: usize = 8;

/// `NativeLookup.lookup(long engine, ByteBuffer batch, int length, ByteBuffer status)`.
///
/// - `engine`: the address of a [`MispEnrichEngine`] from
///   [`crate::misp_enrich_engine_new`], not freed while this call runs (the
///   plugin holds its read lock around the call).
/// - `batch`, `length`: a direct buffer whose first `length` bytes are a
///   `MEL1` batch (0 ≤ `length` ≤ capacity, checked).
/// - `status`: a direct buffer of at least 8 bytes; on a refused call it
///   receives the status (u32, little-endian), the message length (u32) and
///   the message (UTF-8, cut on a character boundary to fit). Java fills it
///   with `Panic` before the call, so a call that could not even write it
///   still reads as failed.
///
/// Returns the `MER1` result as a new `byte[]` (owned by Java), or `null`
/// when the call was refused (status written) or Java could not allocate
/// the array (its exception is pending).
#[no_mangle]
pub extern "system" fn Java_org_mispenrich_logstash_NativeLookup_lookup<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    engine: jlong,
    batch: JByteBuffer<'caller>,
    length: jint,
    status: JByteBuffer<'caller>,
) -> jbyteArray {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        env.with_env(|env| -> jni::errors::Result<jbyteArray> {
            Ok(lookup(env, engine, &batch, length, &status))
        })
        .into_outcome()
    }));
    match outcome {
        Ok(Outcome::Ok(array)) => array,
        // A JNI error (its exception, if any, is pending) or a panic: the
        // status buffer still says Panic, as Java filled it.
        Ok(Outcome::Err(_)) | Ok(Outcome::Panic(_)) | Err(_) => std::ptr::null_mut(),
    }
}

/// The body of the entry point: the result array, or NULL with the status
/// written.
fn lookup(
    env: &mut Env<'_>,
    engine: jlong,
    batch: &JByteBuffer<'_>,
    length: jint,
    status: &JByteBuffer<'_>,
) -> jbyteArray {
    let Some(status) = StatusBuf::new(env, status) else {
        return std::ptr::null_mut();
    };
    let fail = |message: &str, code: MispEnrichStatus| {
        status.write(code, message);
        std::ptr::null_mut()
    };
    if engine == 0 {
        return fail("engine is NULL", MispEnrichStatus::InvalidArgument);
    }
    let Ok(length) = usize::try_from(length) else {
        return fail(
            "batch length is negative",
            MispEnrichStatus::InvalidArgument,
        );
    };
    let Some((address, capacity)) = direct(env, batch) else {
        return fail(
            "batch is not a direct ByteBuffer",
            MispEnrichStatus::InvalidArgument,
        );
    };
    if length > capacity || length > isize::MAX as usize {
        return fail(
            "batch length exceeds the buffer's capacity",
            MispEnrichStatus::InvalidArgument,
        );
    }
    let input: &[u8] = if length == 0 {
        &[]
    } else {
        // SAFETY: `address` is the non-NULL start of a direct buffer of
        // `capacity` bytes (JNI), `length` ≤ `capacity`; Java does not touch
        // the buffer while this synchronous call runs (it is the calling
        // thread's own), and the reference `batch` keeps it alive.
        unsafe { std::slice::from_raw_parts(address, length) }
    };
    // SAFETY: non-zero, made by `misp_enrich_engine_new` and not freed while
    // a lookup runs (the plugin's read lock; same contract as
    // `misp_enrich_engine_lookup`).
    let engine = unsafe { &*(engine as usize as *const MispEnrichEngine) };
    match engine.engine.lookup_wire(input) {
        Ok(result) => match env.byte_array_from_slice(&result) {
            Ok(array) => array.into_raw(),
            // Java could not allocate the array: its exception is pending.
            Err(_) => std::ptr::null_mut(),
        },
        Err(e) => fail(&e.to_string(), MispEnrichStatus::MalformedBatch),
    }
}

/// Address and capacity of a direct buffer; None for NULL, a heap buffer, or
/// a JVM without direct buffer access.
fn direct(env: &Env<'_>, buffer: &JByteBuffer<'_>) -> Option<(*const u8, usize)> {
    if buffer.is_null() {
        return None;
    }
    let address = env.get_direct_buffer_address(buffer).ok()?;
    let capacity = env.get_direct_buffer_capacity(buffer).ok()?;
    (!address.is_null()).then_some((address.cast_const(), capacity))
}

/// The caller's status buffer (see the entry point).
struct StatusBuf {
    address: *mut u8,
    capacity: usize,
}

impl StatusBuf {
    fn new(env: &Env<'_>, buffer: &JByteBuffer<'_>) -> Option<Self> {
        let (address, capacity) = direct(env, buffer)?;
        (capacity >= STATUS_HEADER).then_some(StatusBuf {
            address: address.cast_mut(),
            capacity,
        })
    }

    /// Writes status, message length and as much of the message as fits.
    fn write(&self, code: MispEnrichStatus, message: &str) {
        let room = self.capacity - STATUS_HEADER;
        let mut end = message.len().min(room);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let mut header = [0u8; STATUS_HEADER];
        header[..4].copy_from_slice(&(code as u32).to_le_bytes());
        // `end` ≤ room < capacity ≤ isize::MAX, and u32 holds it: the buffer
        // is Java-sized (an int capacity).
        header[4..].copy_from_slice(&u32::try_from(end).unwrap_or(0).to_le_bytes());
        // SAFETY: `address` starts a direct buffer of `capacity` ≥ 8 writable
        // bytes, owned by the calling thread and alive for this call; the
        // header and `end` ≤ capacity - 8 message bytes fit, and the
        // regions do not overlap Rust memory.
        unsafe {
            std::ptr::copy_nonoverlapping(header.as_ptr(), self.address, STATUS_HEADER);
            std::ptr::copy_nonoverlapping(message.as_ptr(), self.address.add(STATUS_HEADER), end);
        }
    }
}
