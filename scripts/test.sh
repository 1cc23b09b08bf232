#!/usr/bin/env bash
# Runs every test of the workspace: installs the pinned tursodb (the real
# sync server the sync tests start), builds every crate (the integration
# tests load the real plugin libraries from target/debug), then runs the
# tests with cargo-nextest (cargo test when nextest is missing) and the
# doc tests.
set -euo pipefail
cd "$(dirname "$0")/.."

TURSODB_BIN="$(bash scripts/install-tursodb.sh | tail -n1)"
export TURSODB_BIN
echo "tursodb: $TURSODB_BIN" >&2

cargo build --workspace --all-targets --locked
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --doc --locked
