//! The lookup engine (work in progress).
