//! Errors of the engine: a configuration that cannot be used, and a batch
//! buffer that does not follow the wire format.

use thiserror::Error;

/// A configuration that cannot be used. The message names the field and the fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid misp-enrich engine configuration: {0}")]
pub struct ConfigError(pub(crate) String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

/// A batch buffer that does not follow the wire format (see `docs/engine.md`).
/// Such a buffer is a bug in the caller, not bad log data: values that cannot
/// be indicators (not UTF-8, too long, not an IP, ...) are skipped and
/// counted instead, so that one hostile field never fails a whole batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WireError {
    /// The buffer ends before the header, an item or a value does.
    #[error("batch buffer truncated at byte {at}: {what} needs {need} more bytes, {left} left")]
    Truncated {
        /// Offset where the missing part starts.
        at: usize,
        /// What was being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes left in the buffer.
        left: usize,
    },
    /// The buffer does not start with the format's magic bytes.
    #[error("not a misp-enrich batch buffer (expected magic `MEL1`)")]
    BadMagic,
    /// The item count cannot be right for the buffer's length, or is over the limit.
    #[error("batch claims {count} items but {why}")]
    BadCount {
        /// The count in the header.
        count: u32,
        /// Why it was refused.
        why: String,
    },
    /// An item names a namespace id the library does not know.
    #[error("item {item}: unknown namespace id {id} (see misp_enrich_namespaces())")]
    UnknownNamespace {
        /// Index of the item.
        item: usize,
        /// The id.
        id: u8,
    },
    /// Bytes follow the last item.
    #[error("{0} unexpected bytes after the last item")]
    TrailingBytes(usize),
}
