#!/usr/bin/env bash
# Benchmark of misp-load (not a test: it measures, it asserts nothing).
#
# For each size N (default 10k, 100k, 1M generated MISP attributes) it starts
# its own memcached and misp-sim (release builds) and measures:
#   - a first load into a fresh memcached (initial_event_timestamp 365d;
#     misp-sim spreads events over 300 days, so everything is in the window),
#     best of BENCH_RUNS runs, each into a new memcached;
#   - a refresh after 1% of the attributes changed (a third soft-deleted, a
#     third un-flagged, a third added; contiguous ids, i.e. ~1% of the events);
#   - a --full run on that memcached (load everything, list memcached's
#     keys, reconcile), and a --full run into a fresh memcached.
# "attributes/s" is generated attributes / load time; "fetched/s" counts the
# attributes MISP actually returned (IDS-flagged, live, loadable types).
#
#   bench/load.sh                       all sizes, one run each
#   BENCH_SIZES="1000000" BENCH_RUNS=3 bench/load.sh
#
# BENCH_DATA=FILE also writes one tab-separated line per size (generated,
# fetched, first-load seconds, peak RSS bytes) for bench/chart.
#
# Prints a Markdown table. Results: docs/misp-load.md (section Benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup

SIZES="${BENCH_SIZES:-10000 100000 1000000}"
RUNS="${BENCH_RUNS:-1}"
KEY="BenchKey0123456789abcdefghijABCDEFGHIJ01"
BIN=target/release

cargo build --release --quiet -p misp-sim -p misp-load

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_memcached() {
  local port user=()
  port=$(free_port)
  [ "$(id -u)" -eq 0 ] && user=(-u root)
  memcached "${user[@]}" -l 127.0.0.1 -p "$port" -U 0 -m 4096 >/dev/null 2>&1 &
  mc_pid=$!
  pids+=("$mc_pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
  done
  mc_addr="127.0.0.1:$port"
}

stop_memcached() {
  kill "$mc_pid" 2>/dev/null || true
  wait "$mc_pid" 2>/dev/null || true
}

start_sim() {
  local n=$1
  : >"$work/sim.out"
  "$BIN/misp-sim" --key "$KEY" --generate "$n" --span-days 300 >"$work/sim.out" 2>"$work/sim.err" &
  sim_pid=$!
  pids+=("$sim_pid")
  for _ in $(seq 600); do
    grep -q '^listening on' "$work/sim.out" && break
    sleep 0.05
  done
  sim_url=$(sed -n 's/^listening on //p' "$work/sim.out")
  [ -n "$sim_url" ] || { cat "$work/sim.err" >&2; exit 1; }
}

write_config() {
  cat >"$work/config.yml" <<EOF
memcached:
  servers: ["$mc_addr"]
misp:
  url: $sim_url
  token: "$KEY"
  initial_event_timestamp: 365d
  refresh_event_timestamp: 1h
hash:
  enabled: true
  expires: 0
network:
  enabled: true
  expires: 0
web:
  enabled: true
  expires: 0
EOF
}

load() {
  "$BIN/misp-load" --config "$work/config.yml" --json -q "$@" | tail -n 1
}

# 1% of n: ids from the middle, contiguous (so ~1% of the events change).
mutate_one_percent() {
  local n=$1 k third start
  k=$(( n / 100 ))
  third=$(( k / 3 ))
  start=$(( n / 2 ))
  jq -n --argjson s "$start" --argjson t "$third" --argjson n "$n" '{
      soft_delete: [range($s; $s + $t)],
      unset_to_ids: [range($s + $t; $s + 2 * $t)],
      add: [range(0; $t) | {event_id: ($n + 1 + (. / 100 | floor) | tostring),
                            type: "domain", value: "bench-new-\(.).example",
                            Event: {info: "bench"}}]
    }' >"$work/mutate.json"
  curl -fsS -X POST -H 'Content-Type: application/json' \
    --data-binary "@$work/mutate.json" "$sim_url/_sim/mutate" >/dev/null
}

mb() { awk -v b="$1" 'BEGIN { printf "%.0f MB", b / 1048576 }'; }

rows=()
for n in $SIZES; do
  start_sim "$n"
  best=""
  for run in $(seq "$RUNS"); do
    start_memcached
    write_config
    s=$(load)
    secs=$(jq -r .seconds <<<"$s")
    echo "N=$n run $run: $(jq -c '{mode, attributes_fetched, keys_added, seconds, peak_rss_bytes}' <<<"$s")" >&2
    if [ -z "$best" ] || awk -v a="$secs" -v b="$(jq -r .seconds <<<"$best")" 'BEGIN { exit !(a < b) }'; then
      best=$s
    fi
    [ "$run" -lt "$RUNS" ] && stop_memcached
  done
  fetched=$(jq -r .attributes_fetched <<<"$best")
  secs=$(jq -r .seconds <<<"$best")
  rss=$(jq -r .peak_rss_bytes <<<"$best")
  [ -n "${BENCH_DATA:-}" ] && printf '%s\t%s\t%s\t%s\n' "$n" "$fetched" "$secs" "$rss" >>"$BENCH_DATA"
  mutate_one_percent "$n"
  r=$(load)
  echo "N=$n refresh: $(jq -c '{mode, attributes_fetched, revocation_attributes_fetched, keys_added, entries_revoked, keys_deleted, seconds}' <<<"$r")" >&2
  f=$(load --full)
  echo "N=$n full: $(jq -c '{mode, attributes_fetched, reconcile, seconds, peak_rss_bytes}' <<<"$f")" >&2
  stop_memcached
  start_memcached
  write_config
  ff=$(load --full)
  echo "N=$n full, fresh: $(jq -c '{mode, attributes_fetched, keys_added, seconds, peak_rss_bytes}' <<<"$ff")" >&2
  rows+=("$(printf '| %s | %s | %.2f s | %.0f | %.0f | %s | %.2f s (%s fetched, %s revoked) | %.2f s | %.2f s | %s |' \
    "$n" "$fetched" "$secs" \
    "$(awk -v n="$n" -v s="$secs" 'BEGIN { print n / s }')" \
    "$(awk -v n="$fetched" -v s="$secs" 'BEGIN { print n / s }')" \
    "$(mb "$rss")" \
    "$(jq -r .seconds <<<"$r")" "$(jq -r '.attributes_fetched + .revocation_attributes_fetched' <<<"$r")" \
    "$(jq -r .entries_revoked <<<"$r")" \
    "$(jq -r .seconds <<<"$f")" "$(jq -r .seconds <<<"$ff")" \
    "$(mb "$(jq -r '[.peak_rss_bytes] + [$x.peak_rss_bytes] | max' --argjson x "$f" <<<"$ff")")")")
  stop_memcached
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
done

echo
echo "misp-load on $(nproc) cores, $(memcached -V), best of $RUNS first load(s) per size"
echo
echo "| generated | fetched | first load | attributes/s | fetched/s | peak RSS | 1% refresh | --full (loaded) | --full (fresh) | --full peak RSS |"
echo "|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
