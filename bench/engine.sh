#!/usr/bin/env bash
# Benchmarks of the lookup engine (not a test: it measures, it asserts nothing).
#
#   bench/engine.sh            the Rust engine against a real memcached:
#                              warm cache, cold cache with 125×4 batches at 1%
#                              hits, and one lookup per call (the seed's pattern)
#   bench/engine.sh --jruby    also the Ruby side: batch encoding and a whole
#                              lookup through JRuby's FFI
#
# BENCH_SCALE=N multiplies the work (default 1). Results: docs/engine.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup
cargo run --release --quiet -p misp-enrich-engine --example bench
if [ "${1:-}" = "--jruby" ]; then
  lib=$(scripts/vendor)
  GEM_PATH=/usr/share/rubygems-integration/all jruby bench/engine_jruby.rb "$lib"
fi
