#!/usr/bin/env bash
# Builds plugin-turso and the host (release), boots the host with the
# repository root as its plugin directory (manifest.yaml: plugin-turso in
# the default local mode, data in ./data/turso/runtime.db) and prints the
# health of every provided service as JSON. Extra arguments replace
# `health` (e.g. `scripts/run.sh sql "SELECT 1"`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p plugin-turso -p host-harness
if [ "$#" -eq 0 ]; then set -- health; fi
exec ./target/release/host-harness "$@"
