#!/usr/bin/env bash
# Builds the two container images from binaries built here (the
# Containerfiles' `prebuilt` target; README "Deploy"):
#
#   localhost/turso-server:latest (and :<version>)  deploy/turso-server.Containerfile
#   localhost/turso-host:latest   (and :<version>)  deploy/host.Containerfile
#
# Steps: installs podman and runc when missing (apt-get, as root); installs
# the pinned tursodb (scripts/install-tursodb.sh); builds turso-server,
# host-harness and plugin-turso in release mode; picks the base image:
# BASE when set, else docker.io/library/debian:bookworm-slim when it is
# here or can be pulled, else a local base built from Debian's packages
# with mmdebstrap (minbase, merged /usr as debootstrap makes it, slimmed
# like the official slim image: no docs, man pages or locales), imported
# as localhost/turso-base:bookworm and reused by later runs
# (REBUILD_BASE=1 builds it again). Images are built in the docker
# format, which keeps turso-server's HEALTHCHECK. Each image is checked
# once: its binaries run as its user on a read-only root, and the host
# boots plugin-turso healthy (local mode).
#
# Environment: BASE, REBUILD_BASE, DEBIAN_MIRROR (default
# http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR (default
# http://deb.debian.org/debian-security), PODMAN_RUNTIME (default runc),
# TURSO_SERVER_IMAGE, TURSO_HOST_IMAGE, CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME=image
# shellcheck source=scripts/containers-lib.sh
source scripts/containers-lib.sh

takes_no_arguments "$0" "$@"

readonly PUBLIC_BASE=docker.io/library/debian:bookworm-slim
readonly LOCAL_BASE=localhost/turso-base:bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
target_dir="${CARGO_TARGET_DIR:-target}"
started=$(now_ms)

ensure_podman
ensure_commands strip:binutils

tursodb="$(bash scripts/install-tursodb.sh | tail -n1)"
[[ -x "$tursodb" ]] || die "scripts/install-tursodb.sh gave no runnable tursodb ($tursodb)"

log "building turso-server, host-harness and plugin-turso (release)"
cargo build --release --locked -p turso-server -p host-harness -p plugin-turso
release="$target_dir/release"
for f in turso-server host-harness libplugin_turso.so; do
    [[ -f "$release/$f" ]] || die "$release/$f is missing after the build"
done

# The local base: Debian bookworm minbase from the package mirror, without
# what the official slim image leaves out.
build_local_base() {
    ensure_commands mmdebstrap:mmdebstrap
    local work tar
    work="$(mktemp -d "${TMPDIR:-/tmp}/turso-base.XXXXXX")"
    tar="$work/rootfs.tar"
    log "building $LOCAL_BASE with mmdebstrap from $DEBIAN_MIRROR (a few minutes: downloads ~30 MB of packages)"
    # Sources given explicitly: mmdebstrap reads them from stdin otherwise
    # when stdin is not a terminal.
    # merged-usr hook: /usr merged as debootstrap does it (usr-is-merged),
    # not by the usrmerge package, which would bring perl in.
    mmdebstrap --variant=minbase --quiet \
        --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/groff/*' \
        --dpkgopt='path-exclude=/usr/share/lintian/*' \
        --dpkgopt='path-exclude=/usr/share/linda/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        bookworm "$tar" \
        "deb $DEBIAN_MIRROR bookworm main" \
        "deb $DEBIAN_MIRROR bookworm-updates main" \
        "deb $DEBIAN_SECURITY_MIRROR bookworm-security main" \
        </dev/null >"$work/mmdebstrap.log" 2>&1 || {
        tail -n 30 "$work/mmdebstrap.log" >&2
        rm -rf "$work"
        die "mmdebstrap could not build a Debian base from $DEBIAN_MIRROR (is the mirror reachable? set DEBIAN_MIRROR)"
    }
    pm import --change 'CMD ["/bin/bash"]' \
        --message "Debian bookworm minbase (mmdebstrap, slimmed) for turso-plugin images" \
        "$tar" "$LOCAL_BASE" >/dev/null 2>"$work/import.log" || {
        cat "$work/import.log" >&2
        rm -rf "$work"
        die "podman import of the base rootfs failed"
    }
    rm -rf "$work"
}

if [[ -n "${BASE:-}" ]]; then
    base="$BASE"
    pm image exists "$base" || pm pull "$base" >&2 || die "BASE=$base is neither here nor pullable"
    log "base: $base (BASE)"
elif pm image exists "$PUBLIC_BASE"; then
    base="$PUBLIC_BASE"
    log "base: $base (already here)"
elif pull_out="$(timeout 120 podman pull "$PUBLIC_BASE" 2>&1)"; then
    base="$PUBLIC_BASE"
    log "base: $base (pulled)"
else
    log "cannot pull $PUBLIC_BASE ($(tail -n1 <<<"$pull_out")); using a local base built from Debian's packages"
    base="$LOCAL_BASE"
    if [[ "${REBUILD_BASE:-0}" == 1 ]] || ! pm image exists "$LOCAL_BASE"; then
        build_local_base
    fi
    log "base: $base ($(pm image inspect -f '{{.Created}}' "$base" | cut -d' ' -f1,2))"
fi

ensure_containers_run "$base"

version_of() { sed -n 's/^version = "\(.*\)"/\1/p' "$1/Cargo.toml" | head -n1; }
revision="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain 2>/dev/null)" ]]; then revision="$revision-dirty"; fi

# Build contexts hold only what the prebuilt target copies: prebuilt/
# (the binaries, debug sections stripped) and deploy/.
stage="$target_dir/images"
rm -rf "$stage"
mkdir -p "$stage/turso-server/prebuilt" "$stage/host/prebuilt" "$stage/host/deploy"
install -m 0755 "$release/turso-server" "$stage/turso-server/prebuilt/turso-server"
install -m 0755 "$tursodb" "$stage/turso-server/prebuilt/tursodb"
install -m 0755 "$release/host-harness" "$stage/host/prebuilt/host-harness"
install -m 0644 "$release/libplugin_turso.so" "$stage/host/prebuilt/libplugin_turso.so"
install -m 0644 deploy/host-manifest.yaml "$stage/host/deploy/host-manifest.yaml"
strip --strip-debug "$stage/turso-server/prebuilt/turso-server" "$stage/turso-server/prebuilt/tursodb" \
    "$stage/host/prebuilt/host-harness" "$stage/host/prebuilt/libplugin_turso.so"
"$stage/turso-server/prebuilt/tursodb" --version >/dev/null || die "tursodb does not run after strip"

# build_image CONTAINERFILE CONTEXT IMAGE VERSION
build_image() {
    local file="$1" context="$2" image="$3" version="$4" t0 old
    t0=$(now_ms)
    old="$(pm image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    log "building $image from $file (target prebuilt, base $base)"
    # --network host: the host image's build installs ca-certificates from
    # Debian's mirror when the base lacks them.
    pm build --format docker --target prebuilt --network host \
        --build-arg "BASE=$base" \
        --label "org.opencontainers.image.version=$version" \
        --label "org.opencontainers.image.revision=$revision" \
        --label "org.opencontainers.image.base.name=$base" \
        -f "$file" -t "$image" -t "${image%:*}:$version" "$context" >&2 ||
        die "podman build of $image failed"
    log "built $image in $(($(now_ms) - t0)) ms: $(pm image inspect -f '{{.Size}}' "$image") bytes"
    # The image this build replaced, once nothing names it any more (a
    # container still using it keeps it).
    if [[ -n "$old" && "$old" != "$(pm image inspect -f '{{.Id}}' "$image")" &&
        -z "$(pm image inspect -f '{{join .RepoTags ","}}' "$old" 2>/dev/null)" ]]; then
        pm rmi "$old" >/dev/null 2>&1 || true
    fi
}

build_image deploy/turso-server.Containerfile "$stage/turso-server" "$TURSO_SERVER_IMAGE" "$(version_of turso-server)"
build_image deploy/host.Containerfile "$stage/host" "$TURSO_HOST_IMAGE" "$(version_of host-harness)"

# A first check of each image, as its user on a read-only root: the
# binaries run, and the host boots plugin-turso (local mode) healthy.
pm run --rm --network none --read-only --read-only-tmpfs=false --no-healthcheck --entrypoint /usr/local/bin/turso-server "$TURSO_SERVER_IMAGE" --version >&2 ||
    die "turso-server does not run in $TURSO_SERVER_IMAGE"
pm run --rm --network none --read-only --read-only-tmpfs=false --no-healthcheck --entrypoint /usr/local/bin/tursodb "$TURSO_SERVER_IMAGE" --version >&2 ||
    die "tursodb does not run in $TURSO_SERVER_IMAGE"
pm run --rm --network none --read-only --read-only-tmpfs=false "$TURSO_HOST_IMAGE" health >/dev/null ||
    die "host-harness in $TURSO_HOST_IMAGE is not healthy in local mode (a fresh /data)"

log "done in $(($(now_ms) - started)) ms: $TURSO_SERVER_IMAGE, $TURSO_HOST_IMAGE (base $base)"
