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

# The original system's JS sync client (@tursodatabase/sync, in node) for
# tests/tests/js_client.rs; fails here when node or npm is missing.
JS_CLIENT_DIR="$(bash scripts/install-js-client.sh | tail -n1)"
export JS_CLIENT_DIR
echo "js client: $JS_CLIENT_DIR" >&2

# A cached target/ keeps every old artifact: each change adds a new set of
# test binaries beside the old ones. Start from scratch once it has grown
# past a few clean builds, so a long-lived CI cache never fills the disk.
target_limit_kb=$((10 * 1024 * 1024))
target_dir="${CARGO_TARGET_DIR:-target}"
if [ -d "$target_dir" ]; then
    target_kb="$(du -sk "$target_dir" | cut -f1)"
    if [ "$target_kb" -gt "$target_limit_kb" ]; then
        echo "$target_dir is $((target_kb / 1024)) MB; cleaning it before the build" >&2
        cargo clean
    fi
fi

cargo build --workspace --all-targets --locked
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
else
    cargo test --workspace --locked --no-fail-fast
fi
cargo test --workspace --doc --locked

# The example consumer plugin, built and tested from its own workspace as a
# user's plugin would be (path dependencies on this project's crates), with
# the plugin-turso library this build made.
target_abs="$(realpath -m "$target_dir")"
(
    cd examples/plugin-notes
    PLUGIN_TURSO_LIB="$target_abs/debug/libplugin_turso.so" \
        CARGO_TARGET_DIR="$target_abs/examples" \
        cargo test --locked
)

