#!/usr/bin/env bash
# Runs the benchmarks (release builds) and writes their figures into
# BENCHMARKS.md. With arguments, runs only the named benchmarks
# (e.g. `scripts/bench.sh plugin_vs_direct`).
set -euo pipefail
cd "$(dirname "$0")/.."
TURSODB_BIN="$(bash scripts/install-tursodb.sh | tail -n1)"
export TURSODB_BIN
cargo build --release --locked -p plugin-turso -p consumer-plugin -p host-harness -p turso-server
benches=("$@")
if [ "${#benches[@]}" -eq 0 ]; then
    benches=(plugin_vs_direct statement_cache sync_latency load confirmed_writes server_scale fts)
fi
for bench in "${benches[@]}"; do
    cargo bench --locked -p turso-plugin-tests --bench "$bench"
done
