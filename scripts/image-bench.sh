#!/usr/bin/env bash
# Measures the container images (build them first with scripts/image.sh)
# and writes the `images` section of BENCHMARKS.md:
#
#   - each image's size: uncompressed (podman's figure, the sum of its
#     layers) and compressed (its layers gzipped as a registry stores
#     them: `podman push --compression-format gzip` into an OCI layout,
#     every blob counted), with the base's for comparison, and the size of
#     each binary in it;
#   - start times, IMAGE_BENCH_RUNS runs each (default 5), on the host's
#     loopback: turso-server from `podman run` on a fresh volume to
#     /healthz 200; the host from `podman run --rm ... health` (fresh
#     /data, multi-tenant sync against that turso-server) to its exit 0
#     with every service ok; turso-server's stop from SIGTERM to its exit.
#
# Environment: IMAGE_BENCH_RUNS, PODMAN_RUNTIME, TURSO_SERVER_IMAGE,
# TURSO_HOST_IMAGE.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME="image-bench"
# shellcheck source=scripts/containers-lib.sh
source scripts/containers-lib.sh

takes_no_arguments "$0" "$@"

runs="${IMAGE_BENCH_RUNS:-5}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "IMAGE_BENCH_RUNS must be a positive number"

ensure_podman
ensure_commands curl:curl
require_image "$TURSO_SERVER_IMAGE"
require_image "$TURSO_HOST_IMAGE"
ensure_containers_run "$TURSO_SERVER_IMAGE"

run_id="$(date +%s)-$$"
work="$(mktemp -d "${TMPDIR:-/tmp}/turso-image-bench.XXXXXX")"
containers=()
volumes=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for c in "${containers[@]}"; do pm rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
    for v in "${volumes[@]}"; do pm volume rm -f "$v" >/dev/null 2>&1 || true; done
    rm -rf "$work"
    [[ $status -eq 0 ]] || log "FAILED (exit $status)"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TURSO_AUTH_TOKEN="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
TURSO_SERVER_TOKEN="$TURSO_AUTH_TOKEN"
export TURSO_AUTH_TOKEN TURSO_SERVER_TOKEN
data_port="$(free_port)"
admin_port="$(free_port)"
while [[ "$admin_port" == "$data_port" ]]; do admin_port="$(free_port)"; done

mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1000000 }'; }
ms_s() { awk -v m="$1" 'BEGIN { printf "%.2f s", m / 1000 }'; }
# stats N...: "median min max" of integers.
stats() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)
        print m, v[1], v[NR] }'
}

uncompressed() { pm image inspect -f '{{.Size}}' "$1"; }
compressed() {
    local dir="$work/oci-$2"
    pm push --quiet --compression-format gzip "$1" "oci:$dir:bench" >/dev/null ||
        die "podman push of $1 into an OCI layout failed"
    du -cb "$dir"/blobs/*/* | tail -n1 | cut -f1
}
base_of() { pm image inspect -f '{{index .Labels "org.opencontainers.image.base.name"}}' "$1"; }
# files_in IMAGE PATH...: "`path` size; ..." (Markdown) of files in IMAGE.
# shellcheck disable=SC2016 # the backquotes are Markdown
files_in() {
    pm run --rm --network none --no-healthcheck --entrypoint /usr/bin/stat "$1" -c '%s %n' "${@:2}" |
        while read -r size name; do printf '`%s` %s; ' "$name" "$(mb "$size")"; done | sed 's/; $//'
}

log "sizes"
server_base="$(base_of "$TURSO_SERVER_IMAGE")"
[[ -n "$server_base" ]] || die "$TURSO_SERVER_IMAGE has no base label: build it with scripts/image.sh"
server_u="$(uncompressed "$TURSO_SERVER_IMAGE")"
server_c="$(compressed "$TURSO_SERVER_IMAGE" server)"
host_u="$(uncompressed "$TURSO_HOST_IMAGE")"
host_c="$(compressed "$TURSO_HOST_IMAGE" host)"
base_u="$(uncompressed "$server_base")"
base_c="$(compressed "$server_base" base)"
server_files="$(files_in "$TURSO_SERVER_IMAGE" /usr/local/bin/turso-server /usr/local/bin/tursodb)"
host_files="$(files_in "$TURSO_HOST_IMAGE" /usr/local/bin/host-harness /opt/host/lib/libplugin_turso.so)"

start_server() {
    containers+=("$1")
    volumes+=("$2")
    pm volume create "$2" >/dev/null
    pm_hc run -d --name "$1" --network host --read-only --read-only-tmpfs=false -v "$2:/data" \
        -e TURSO_DATA_ADDR="127.0.0.1:$data_port" -e TURSO_ADMIN_ADDR="127.0.0.1:$admin_port" \
        -e TURSO_AUTH_TOKEN "$TURSO_SERVER_IMAGE" >/dev/null
}

server_ms=()
stop_ms=()
for i in $(seq 1 "$runs"); do
    name="turso-bench-server-$run_id-$i"
    t0=$(now_ms)
    start_server "$name" "$name-data"
    wait_http "http://127.0.0.1:$admin_port/healthz" "$name" 30
    server_ms+=($(($(now_ms) - t0)))
    if ((i < runs)); then
        t0=$(now_ms)
        pm_hc stop -t 10 "$name" >/dev/null
        stop_ms+=($(($(now_ms) - t0)))
        [[ "$(pm inspect -f '{{.State.ExitCode}}' "$name")" == 0 ]] || die "turso-server did not exit 0 on SIGTERM"
        pm rm "$name" >/dev/null
    fi
    log "turso-server run $i: ${server_ms[-1]} ms to /healthz"
done

host_ms=()
for i in $(seq 1 "$runs"); do
    t0=$(now_ms)
    out="$(pm run --rm --network host --read-only --read-only-tmpfs=false -e RUST_LOG=warn \
        -e TURSO_SERVER_URL="http://127.0.0.1:$data_port" -e TURSO_SERVER_TOKEN \
        "$TURSO_HOST_IMAGE" health)" || die "host health failed: $out"
    host_ms+=($(($(now_ms) - t0)))
    grep -q '"ok": true' <<<"$out" || die "host health is not ok: $out"
    log "host run $i: ${host_ms[-1]} ms to health ok"
done

read -r s_med s_min s_max <<<"$(stats "${server_ms[@]}")"
read -r h_med h_min h_max <<<"$(stats "${host_ms[@]}")"
if ((${#stop_ms[@]} > 0)); then
    read -r t_med t_min t_max <<<"$(stats "${stop_ms[@]}")"
else
    t_med=0 t_min=0 t_max=0
fi
goal_size="$([[ $server_u -lt 150000000 ]] && echo met || echo "not met")"
goal_start="$([[ $s_med -lt 2000 ]] && echo met || echo "not met")"

body="Images built by \`scripts/image.sh\` (the Containerfiles' \`prebuilt\` target: release binaries built on the host, debug sections stripped). Base: \`$server_base\`$([[ "$server_base" == localhost/* ]] && echo " (no registry reachable: Debian bookworm minbase from the package mirror with mmdebstrap, slimmed as the official slim image is: no docs, man pages or locales)"). MB = 10^6 bytes. Start times on this machine (2 cores, shared with other builds), $runs runs each, \`--network host\`, a read-only root without a writable \`/tmp\` (\`--read-only --read-only-tmpfs=false\`), non-root; absolute times, for orientation.

| image | uncompressed | compressed (gzip layers) | contents |
|---|---:|---:|---|
| \`$TURSO_SERVER_IMAGE\` | $(mb "$server_u") | $(mb "$server_c") | $server_files |
| \`$TURSO_HOST_IMAGE\` | $(mb "$host_u") | $(mb "$host_c") | $host_files; ca-certificates |
| base \`$server_base\` | $(mb "$base_u") | $(mb "$base_c") | |

| start | median | min | max | goal |
|---|---:|---:|---:|---|
| turso-server: \`podman run -d\` (fresh volume) → \`/healthz\` 200 | $(ms_s "$s_med") | $(ms_s "$s_min") | $(ms_s "$s_max") | < 2 s: $goal_start |
| host: \`podman run --rm … health\` (fresh \`/data\`, multi-tenant sync) → exit 0, all ok | $(ms_s "$h_med") | $(ms_s "$h_min") | $(ms_s "$h_max") | |
| turso-server: \`podman stop\` (SIGTERM) → exited 0 | $(ms_s "$t_med") | $(ms_s "$t_min") | $(ms_s "$t_max") | within the grace time |

Against the size goal (turso-server under 150 MB uncompressed): $goal_size. Most of the turso-server image is the base and \`tursodb\` (106 MB as npm ships it, with debug sections; 24 MB without). The host's time includes booting the host, loading plugin-turso (whose start makes the \`runtime\` namespace's replica: a bootstrap pull from turso-server) and the health check; \`podman run\` itself (container set-up and tear-down with runc) is part of every figure."

# Replaces (or appends) the images section, as tests/src/bench.rs does.
section_file="$work/section.md"
{
    echo "<!-- images:start -->"
    echo "## Container images"
    echo
    echo "Command: \`scripts/image.sh && scripts/image-bench.sh\` (run on $(date +%Y-%m-%d))."
    echo
    echo "$body"
    echo "<!-- images:end -->"
} >"$section_file"
if grep -q '<!-- images:start -->' BENCHMARKS.md && grep -q '<!-- images:end -->' BENCHMARKS.md; then
    awk -v f="$section_file" '
        /<!-- images:start -->/ { while ((getline line < f) > 0) print line; skip = 1; next }
        /<!-- images:end -->/ { skip = 0; next }
        !skip { print }' BENCHMARKS.md >"$work/BENCHMARKS.md"
else
    { printf '%s\n\n' "$(cat BENCHMARKS.md)"; cat "$section_file"; } >"$work/BENCHMARKS.md"
fi
cp "$work/BENCHMARKS.md" BENCHMARKS.md
cat "$section_file"
log "wrote the images section of BENCHMARKS.md"
