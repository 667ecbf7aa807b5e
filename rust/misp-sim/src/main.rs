//! misp-sim: an emulator of the parts of MISP's REST API that misp-load uses.
fn main() {}
