//! misp-load: MISP indicators into memcached.
fn main() {}
