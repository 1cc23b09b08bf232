#!/usr/bin/env bash
# Smoke test of the container images (build them first with
# scripts/image.sh): turso-server in one container, two host "pods" in two
# others, all on the host's loopback (--network host), every container
# non-root on a read-only root filesystem with no writable /tmp (only
# /data is writable, as with Kubernetes' readOnlyRootFilesystem), tokens
# on both ports.
#
#   1. turso-server starts on a fresh volume: podman run -> /healthz 200;
#      its HEALTHCHECK passes; the data port refuses a request without
#      the token.
#   2. pods A and B start, each with its own /data volume (an emptyDir);
#      `host-harness health` is ok in both.
#   3. pod A writes rows through the service (`host-harness sql`).
#   4. pod B reads them.
#   5. pod B writes a row; pod A, whose replica already exists, reads it.
#   6. pod A's container is killed with SIGKILL and started again on a
#      fresh, empty /data: its rows come back from the server.
#   7. turso-server's container is stopped with SIGTERM: it exits 0 within
#      the grace time and no tursodb process it ran is left.
#   8. turso-server starts again on the same volume and serves the
#      namespace: pod B reads every row, pod A writes and pod B reads it.
#   9. a hot backup through the admin API is an SQLite file.
#
# host-harness is a command-line host (no long-running mode): a "pod" is a
# container of the host image kept up by an idle shell, and each step runs
# host-harness in it with `podman exec`, as `kubectl exec` would.
#
# Prints each step's time. Fails (exit 1, with the reason and the
# server's last log lines) when any step does, or when containers cannot
# run here. Cleans up its containers and volumes on exit.
#
# Environment: SMOKE_STOP_GRACE_S (default 10), PODMAN_RUNTIME,
# TURSO_SERVER_IMAGE, TURSO_HOST_IMAGE.
set -euo pipefail
cd "$(dirname "$0")/.."
SCRIPT_NAME="image-smoke"
# shellcheck source=scripts/containers-lib.sh
source scripts/containers-lib.sh

takes_no_arguments "$0" "$@"

grace_s="${SMOKE_STOP_GRACE_S:-10}"
# The longest one command in a pod may take (a stuck one fails the test).
exec_limit_s=60
[[ "$grace_s" =~ ^[1-9][0-9]*$ ]] || die "SMOKE_STOP_GRACE_S must be a positive number of seconds"

ensure_podman
ensure_commands curl:curl
require_image "$TURSO_SERVER_IMAGE"
require_image "$TURSO_HOST_IMAGE"
ensure_containers_run "$TURSO_SERVER_IMAGE"

run_id="$(date +%s)-$$"
server="turso-smoke-server-$run_id"
server2="turso-smoke-server2-$run_id"
pod_a="turso-smoke-pod-a-$run_id"
pod_a2="turso-smoke-pod-a2-$run_id"
pod_b="turso-smoke-pod-b-$run_id"
server_vol="turso-smoke-server-data-$run_id"
pod_a_vol="turso-smoke-pod-a-data-$run_id"
pod_a2_vol="turso-smoke-pod-a2-data-$run_id"
pod_b_vol="turso-smoke-pod-b-data-$run_id"
containers=("$server" "$server2" "$pod_a" "$pod_a2" "$pod_b")
volumes=("$server_vol" "$pod_a_vol" "$pod_a2_vol" "$pod_b_vol")
current_server=""
work="$(mktemp -d "${TMPDIR:-/tmp}/turso-smoke.XXXXXX")"

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ $status -ne 0 && -n "$current_server" ]] && pm container exists "$current_server" 2>/dev/null; then
        log "last log lines of $current_server:"
        pm logs --tail 30 "$current_server" >&2 2>&1 || true
    fi
    for c in "${containers[@]}"; do
        pm rm -f -t 0 "$c" >/dev/null 2>&1 || true
    done
    for v in "${volumes[@]}"; do
        pm volume rm -f "$v" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
    if [[ $status -ne 0 ]]; then
        log "FAILED (exit $status)"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Tokens live in this process's environment only: podman gets their names
# (`-e NAME`), never their values on a command line, and nothing prints
# them.
TURSO_AUTH_TOKEN="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
TURSO_ADMIN_TOKEN="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
TURSO_SERVER_TOKEN="$TURSO_AUTH_TOKEN"
export TURSO_AUTH_TOKEN TURSO_ADMIN_TOKEN TURSO_SERVER_TOKEN

data_port="$(free_port)"
admin_port="$(free_port)"
while [[ "$admin_port" == "$data_port" ]]; do admin_port="$(free_port)"; done
data_url="http://127.0.0.1:$data_port"
admin_url="http://127.0.0.1:$admin_port"
ns=smoke

steps=()
step_no=0
step_name=""
step_t0=0
step() {
    step_no=$((step_no + 1))
    step_name="$*"
    step_t0=$(now_ms)
    log "step $step_no: $step_name"
}
step_ok() {
    local ms=$(($(now_ms) - step_t0)) line
    line="$(printf 'step %d  %6d ms  %s' "$step_no" "$ms" "$step_name")"
    steps+=("$line")
    log "$line"
}

start_server() {
    current_server="$1"
    pm_hc run -d --name "$1" --network host --read-only --read-only-tmpfs=false \
        -v "$server_vol:/data" \
        -e TURSO_DATA_ADDR="127.0.0.1:$data_port" \
        -e TURSO_ADMIN_ADDR="127.0.0.1:$admin_port" \
        -e TURSO_AUTH_TOKEN -e TURSO_ADMIN_TOKEN \
        "$TURSO_SERVER_IMAGE" >/dev/null
}

start_pod() {
    pm run -d --name "$1" --network host --read-only --read-only-tmpfs=false \
        -v "$2:/data" -e RUST_LOG=warn \
        -e TURSO_SERVER_URL="$data_url" -e TURSO_SERVER_TOKEN \
        --entrypoint /bin/bash "$TURSO_HOST_IMAGE" \
        -c 'trap "exit 0" TERM INT; sleep infinity & wait' >/dev/null
}

# in_pod POD ARGS...: runs ARGS in the pod, bounded by $exec_limit_s.
in_pod() {
    timeout "$exec_limit_s" podman --runtime "$PODMAN_RUNTIME" exec "$@"
}

# sql POD ARGS...: host-harness sql in the pod, on namespace $ns.
sql() {
    local pod="$1"
    shift
    in_pod "$pod" host-harness sql --namespace "$ns" "$@" ||
        die "host-harness sql in $pod failed (exit $?; 124: over ${exec_limit_s}s)"
}

# expect_rows POD "v1 v2 ...": the pod reads exactly these values.
expect_rows() {
    local got
    got="$(sql "$1" --format csv "SELECT v FROM items ORDER BY id" | tr -d '\r' | tail -n +2 | tr '\n' ' ')"
    [[ "${got% }" == "$2" ]] || die "$1 read [${got% }], expected [$2]"
}

# http_status URL [TOKEN_VAR]: the status code, the token (by variable
# name) sent as a header read from stdin, not the command line.
http_status() {
    local url="$1" var="${2:-}"
    if [[ -n "$var" ]]; then
        printf 'Authorization: Bearer %s\n' "${!var}" |
            curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H @- "$url"
    else
        curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$url"
    fi
}

started=$(now_ms)
log "images: $TURSO_SERVER_IMAGE, $TURSO_HOST_IMAGE; data port $data_port, admin port $admin_port"
pm volume create "$server_vol" >/dev/null
pm volume create "$pod_a_vol" >/dev/null
pm volume create "$pod_b_vol" >/dev/null

step "turso-server starts (podman run -> /healthz 200)"
start_server "$server"
wait_http "$admin_url/healthz" "$server" 30
step_ok
uid="$(in_pod "$server" id -u)"
[[ "$uid" == 10001 ]] || die "turso-server runs as uid $uid, not 10001"
pm healthcheck run "$server" >/dev/null || die "the image's HEALTHCHECK (turso-server healthcheck) fails"
code="$(http_status "$data_url/$ns/info")"
[[ "$code" == 401 ]] || die "the data port answered $code without a token, expected 401"
server_log="$(pm logs "$server" 2>&1)"
if grep -q 'no private network namespace for children' <<<"$server_log"; then
    log "children: loopback isolation (no network namespace for a non-root container; the WARN is expected)"
else
    log "children: network-namespace isolation"
fi

step "pods A and B start; host-harness health is ok in both"
start_pod "$pod_a" "$pod_a_vol"
start_pod "$pod_b" "$pod_b_vol"
for pod in "$pod_a" "$pod_b"; do
    health="$(in_pod "$pod" host-harness health)" || die "host-harness health in $pod failed: $health"
    grep -q '"ok": true' <<<"$health" || die "host-harness health in $pod is not ok: $health"
done
step_ok

step "pod A writes through the service"
sql "$pod_a" "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
INSERT INTO items (v) VALUES (?1), (?2)" -p "'a1'" -p "'a2'" >/dev/null
step_ok

step "pod B reads pod A's rows"
expect_rows "$pod_b" "a1 a2"
step_ok

step "pod B writes; pod A (replica already open before) reads it"
sql "$pod_b" "INSERT INTO items (v) VALUES (?1)" -p "'b1'" >/dev/null
expect_rows "$pod_a" "a1 a2 b1"
step_ok

step "pod A killed with SIGKILL, started again on a fresh /data: its rows come back"
pm kill --signal KILL "$pod_a" >/dev/null
pm wait "$pod_a" >/dev/null || true
pm rm "$pod_a" >/dev/null
pm volume rm "$pod_a_vol" >/dev/null
pm volume create "$pod_a2_vol" >/dev/null
start_pod "$pod_a2" "$pod_a2_vol"
left="$(in_pod "$pod_a2" find /data -mindepth 1)"
[[ -z "$left" ]] || die "the new /data of pod A is not empty: $left"
expect_rows "$pod_a2" "a1 a2 b1"
step_ok

step "turso-server stopped with SIGTERM: exit 0 within ${grace_s}s, no tursodb left"
mapfile -t procs < <(pm top "$server" hpid comm | tail -n +2)
child_pids=()
all_pids=()
for p in "${procs[@]}"; do
    read -r hpid comm <<<"$p"
    all_pids+=("$hpid")
    if [[ "$comm" == tursodb* ]]; then child_pids+=("$hpid"); fi
done
[[ ${#child_pids[@]} -ge 1 ]] || die "no tursodb child ran in $server before the stop (processes: ${procs[*]})"
t0=$(now_ms)
pm_hc stop -t "$grace_s" "$server" >/dev/null
stop_ms=$(($(now_ms) - t0))
exit_code="$(pm inspect -f '{{.State.ExitCode}}' "$server")"
[[ "$exit_code" == 0 ]] || die "turso-server exited $exit_code after SIGTERM (137 = killed after the grace time)"
((stop_ms < grace_s * 1000)) || die "the stop took ${stop_ms} ms, not under the ${grace_s}s grace time"
for hpid in "${all_pids[@]}"; do
    [[ ! -e "/proc/$hpid" ]] || die "process $hpid of $server ($(cat "/proc/$hpid/comm" 2>/dev/null)) is still there"
done
server_log="$(pm logs "$server" 2>&1)"
grep -q 'stop signal received' <<<"$server_log" || die "turso-server did not log the stop signal"
grep -q 'turso-server stopped' <<<"$server_log" || die "turso-server did not log its clean stop"
stopped="$(grep -c 'tursodb stopped' <<<"$server_log" || true)"
((stopped >= ${#child_pids[@]})) ||
    die "turso-server logged $stopped tursodb stops for ${#child_pids[@]} children"
log "stopped in $stop_ms ms; its ${#child_pids[@]} tursodb children stopped by it and gone"
step_ok

step "turso-server restarted on the same volume serves the namespace"
start_server "$server2"
wait_http "$admin_url/healthz" "$server2" 30
code="$(http_status "$admin_url/v1/namespaces/$ns" TURSO_ADMIN_TOKEN)"
[[ "$code" == 200 ]] || die "GET /v1/namespaces/$ns answered $code after the restart"
expect_rows "$pod_b" "a1 a2 b1"
sql "$pod_a2" "INSERT INTO items (v) VALUES (?1)" -p "'a3'" >/dev/null
expect_rows "$pod_b" "a1 a2 b1 a3"
step_ok

step "hot backup through the admin API (GET /v1/namespaces/$ns/backup)"
code="$(http_status "$admin_url/v1/namespaces/$ns/backup")"
[[ "$code" == 401 ]] || die "the backup answered $code without the admin token, expected 401"
printf 'Authorization: Bearer %s\n' "$TURSO_ADMIN_TOKEN" |
    curl -fsS --max-time 30 -H @- -o "$work/backup.db" "$admin_url/v1/namespaces/$ns/backup" ||
    die "the backup request failed"
[[ "$(head -c 15 "$work/backup.db")" == "SQLite format 3" ]] || die "the backup is not an SQLite file"
log "backup: $(stat -c %s "$work/backup.db") bytes"
step_ok

echo
echo "image-smoke: passed in $(($(now_ms) - started)) ms"
printf '%s\n' "${steps[@]}"
