//! Status codes and the panic boundary shared by every exported function.

use std::panic::{catch_unwind, UnwindSafe};

/// The result of a call. Codes start at 7000 so they never look like errno
/// values or booleans.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MispEnrichStatus {
    /// Success.
    Ok = 7000,
    /// A NULL pointer or a length that does not fit where it is not allowed.
    InvalidArgument = 7001,
    /// Input bytes are not UTF-8.
    NotUtf8 = 7002,
    /// The namespace name is not known.
    UnknownNamespace = 7003,
    /// The value cannot be normalised for the namespace (it can never match).
    InvalidValue = 7004,
    /// The value is an IP range, not an exact value; the output holds the range.
    Range = 7005,
    /// The output buffer is too small; `out_len` holds the size needed.
    BufferTooSmall = 7006,
    /// The key prefix is invalid.
    InvalidPrefix = 7007,
    /// The engine configuration is not valid JSON or not a valid configuration.
    InvalidConfig = 7008,
    /// The batch buffer does not follow the wire format (docs/engine.md).
    MalformedBatch = 7009,
    /// A panic was caught at the boundary (a bug; please report it).
    Panic = 7999,
}

/// Runs `body`, turning a panic into [`MispEnrichStatus::Panic`].
pub(crate) fn guard(body: impl FnOnce() -> MispEnrichStatus + UnwindSafe) -> MispEnrichStatus {
    catch_unwind(body).unwrap_or(MispEnrichStatus::Panic)
}

/// Borrows `len` bytes at `ptr` as UTF-8 text.
///
/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes that stay valid and
/// unchanged for `'a`.
pub(crate) unsafe fn text<'a>(ptr: *const u8, len: usize) -> Result<&'a str, MispEnrichStatus> {
    if len == 0 {
        return Ok("");
    }
    if ptr.is_null() || len > isize::MAX as usize {
        return Err(MispEnrichStatus::InvalidArgument);
    }
    // SAFETY: non-NULL, and the caller guarantees `len` readable bytes for 'a.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    std::str::from_utf8(bytes).map_err(|_| MispEnrichStatus::NotUtf8)
}

/// A caller-supplied buffer for an error message; NULL (with capacity 0)
/// means the caller does not want the message.
pub(crate) struct ErrBuf {
    ptr: *mut u8,
    cap: usize,
    len_out: *mut usize,
}

impl ErrBuf {
    /// # Safety
    /// `ptr` must be NULL or point to `cap` writable bytes, and `len_out`
    /// must be NULL or point to a writable `usize`, both for the lifetime of
    /// the value.
    pub(crate) unsafe fn new(ptr: *mut u8, cap: usize, len_out: *mut usize) -> Self {
        let cap = if ptr.is_null() { 0 } else { cap };
        ErrBuf { ptr, cap, len_out }
    }

    /// Writes as much of `message` as fits (cut on a character boundary),
    /// reports the bytes written, and returns `status`.
    pub(crate) fn fail(&mut self, message: &str, status: MispEnrichStatus) -> MispEnrichStatus {
        let mut end = message.len().min(self.cap);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        if end > 0 {
            // SAFETY: `ptr` is non-NULL with `cap >= end` writable bytes
            // (checked in `new` and above); a Rust string never overlaps it.
            unsafe { std::ptr::copy_nonoverlapping(message.as_ptr(), self.ptr, end) };
        }
        self.report(end);
        status
    }

    /// Reports that no message was written.
    pub(crate) fn clear(&mut self) {
        self.report(0);
    }

    fn report(&mut self, len: usize) {
        if !self.len_out.is_null() {
            // SAFETY: non-NULL, and the caller guarantees it is writable.
            unsafe { self.len_out.write(len) };
        }
    }
}

/// A caller-supplied output buffer and the place to report the length used.
pub(crate) struct OutBuf {
    ptr: *mut u8,
    cap: usize,
    len_out: *mut usize,
}

impl OutBuf {
    /// # Safety
    /// `ptr` must point to `cap` writable bytes (or be NULL with `cap` 0) and
    /// `len_out` must be NULL or point to a writable `usize`, both valid for
    /// the lifetime of the value.
    pub(crate) unsafe fn new(
        ptr: *mut u8,
        cap: usize,
        len_out: *mut usize,
    ) -> Result<Self, MispEnrichStatus> {
        if (ptr.is_null() && cap > 0) || len_out.is_null() {
            return Err(MispEnrichStatus::InvalidArgument);
        }
        Ok(OutBuf { ptr, cap, len_out })
    }

    /// Writes `bytes` whole and returns `status`, or reports the size needed
    /// and returns [`MispEnrichStatus::BufferTooSmall`].
    pub(crate) fn write(&mut self, bytes: &[u8], status: MispEnrichStatus) -> MispEnrichStatus {
        // SAFETY: `len_out` is non-NULL and writable (checked in `new`).
        unsafe { self.len_out.write(bytes.len()) };
        if bytes.len() > self.cap {
            return MispEnrichStatus::BufferTooSmall;
        }
        if !bytes.is_empty() {
            // SAFETY: `ptr` has `cap >= bytes.len()` writable bytes, and a
            // Rust slice never overlaps a buffer the caller owns.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr, bytes.len()) };
        }
        status
    }

    /// Writes as much of an error message as fits and returns `status`.
    pub(crate) fn error(&mut self, message: &str, status: MispEnrichStatus) -> MispEnrichStatus {
        let mut end = message.len().min(self.cap);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        self.write(&message.as_bytes()[..end], status)
    }
}
