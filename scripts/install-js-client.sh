#!/usr/bin/env bash
# Install the original system's JavaScript sync client, the npm package
# @tursodatabase/sync (pinned), into a project-local directory:
#
#   .tools/js-client/                      a private npm project
#   .tools/js-client/node_modules/         @tursodatabase/sync and its native binding
#   .tools/npm-cache/                      npm cache used for the download
#
# The interop test (tests/tests/js_client.rs, driving tests/js/interop.mjs)
# runs it with node beside plugin-turso on one namespace.
#
# No global npm state is touched (no `npm install -g`, own --cache), no sudo.
# Idempotent: if the pinned version is already installed and loads in node,
# nothing is downloaded. Fails loudly when node or npm is missing.
#
# All diagnostics go to stderr; the LAST line of stdout is the absolute path of
# the directory, so callers can do:
#
#   JS_CLIENT_DIR=$(scripts/install-js-client.sh | tail -n1)
#
# Environment:
#   JS_SYNC_VERSION   override the pinned version (default below)
set -euo pipefail

readonly DEFAULT_VERSION="0.7.2"
readonly NPM_PACKAGE="@tursodatabase/sync"

VERSION="${JS_SYNC_VERSION:-$DEFAULT_VERSION}"

log() { printf 'install-js-client: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "${1:-}" in
    -h|--help)
        sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    "") ;;
    *) die "unknown argument: $1 (see --help)" ;;
esac

SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd -P)"
ROOT_DIR="$(cd "$SCRIPT_DIR/.." && pwd -P)"
TOOLS_DIR="$ROOT_DIR/.tools"
DEST_DIR="$TOOLS_DIR/js-client"
CACHE_DIR="$TOOLS_DIR/npm-cache"
LOCK_FILE="$TOOLS_DIR/.js-client.install.lock"

command -v node >/dev/null 2>&1 || die "node not found on PATH: the JS client test needs Node.js (apt-get install nodejs npm)"

# Succeeds if "$1" holds the pinned version of the package and node can load
# it (the native binding included).
install_ok() {
    local dir="$1" out
    [[ -f "$dir/node_modules/$NPM_PACKAGE/package.json" ]] || return 1
    out="$(
        cd "$dir" && node --input-type=module -e "
            import { readFileSync } from 'node:fs';
            const pkg = 'node_modules/$NPM_PACKAGE/package.json';
            const { version } = JSON.parse(readFileSync(pkg, 'utf8'));
            const sync = await import('$NPM_PACKAGE');
            if (typeof sync.connect !== 'function') throw new Error('no connect export');
            console.log(version);
        " 2>/dev/null
    )" || return 1
    [[ "$out" == "$VERSION" ]]
}

finish() {
    log "$NPM_PACKAGE $VERSION ready in $DEST_DIR (node $(node --version))"
    printf '%s\n' "$DEST_DIR"
    exit 0
}

# Fast path: already installed and working. No network access.
if install_ok "$DEST_DIR"; then
    finish
fi

command -v npm >/dev/null 2>&1 || die "npm not found on PATH: needed to install $NPM_PACKAGE (apt-get install npm)"

mkdir -p "$TOOLS_DIR" "$CACHE_DIR"

# Serialize concurrent installs (e.g. parallel CI jobs) when flock exists.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$LOCK_FILE"
    flock 9
    # Another process may have finished the install while we waited.
    if install_ok "$DEST_DIR"; then
        finish
    fi
fi

WORK_DIR="$(mktemp -d "$TOOLS_DIR/.js-client.tmp.XXXXXX")"
cleanup() { rm -rf "$WORK_DIR"; }
trap cleanup EXIT

STAGE="$WORK_DIR/js-client"
mkdir -p "$STAGE"
cat >"$STAGE/package.json" <<EOF
{
  "name": "turso-plugin-js-client",
  "private": true,
  "description": "The original system's JS sync client, for tests/js/interop.mjs (installed by scripts/install-js-client.sh)",
  "type": "module",
  "overrides": {
    "@tursodatabase/database-common": "$VERSION",
    "@tursodatabase/sync-common": "$VERSION"
  }
}
EOF

log "installing $NPM_PACKAGE@$VERSION (npm install, cache: $CACHE_DIR)"
# npm verifies every tarball against the registry's integrity hash. The
# native binding is an optional dependency, so optional packages are
# included explicitly; the package's own @tursodatabase dependencies are
# pinned to the same version (overrides above), not any later 0.x. All npm output goes to stderr so stdout stays clean.
(
    cd "$STAGE"
    npm install "$NPM_PACKAGE@$VERSION" \
        --save-exact \
        --cache "$CACHE_DIR" \
        --include=optional \
        --no-audit --no-fund --no-update-notifier --loglevel=warn >&2
) || die "npm install $NPM_PACKAGE@$VERSION failed (does the version exist? try: npm view $NPM_PACKAGE versions --json)"

install_ok "$STAGE" || {
    (cd "$STAGE" && node --input-type=module -e "await import('$NPM_PACKAGE')") >&2 || true
    die "installed $NPM_PACKAGE does not load in node $(node --version) or is not version $VERSION"
}

# Move into place atomically (replaces a broken previous install, if any).
rm -rf "$DEST_DIR"
mv "$STAGE" "$DEST_DIR"

install_ok "$DEST_DIR" || die "installed package at $DEST_DIR does not load"
finish
