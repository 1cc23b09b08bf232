# Shared by scripts/image.sh, scripts/image-smoke.sh and
# scripts/image-bench.sh (sourced, not run): podman with the settings this
# machine class needs, installing missing tools, waiting on HTTP health.
#
# Settings (environment):
#   PODMAN_RUNTIME      OCI runtime for podman (default runc: crun refuses
#                       the hybrid cgroup layout of these machines)
#   TURSO_SERVER_IMAGE  turso-server image (default localhost/turso-server:latest)
#   TURSO_HOST_IMAGE    host image (default localhost/turso-host:latest)
# shellcheck shell=bash

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    echo "containers-lib.sh is sourced by scripts/image*.sh, not run" >&2
    exit 2
fi

: "${SCRIPT_NAME:=$(basename "$0" .sh)}"
PODMAN_RUNTIME="${PODMAN_RUNTIME:-runc}"
TURSO_SERVER_IMAGE="${TURSO_SERVER_IMAGE:-localhost/turso-server:latest}"
TURSO_HOST_IMAGE="${TURSO_HOST_IMAGE:-localhost/turso-host:latest}"
# podman reads CONTAINERS_CONF instead of the system file when it is set.
CONF_FILE="${CONTAINERS_CONF:-/etc/containers/containers.conf}"

log() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# podman with the runtime this machine class needs.
# The scripts take no arguments: `-h`/`--help` prints the calling
# script's header comment (its path is $1), anything else is refused.
takes_no_arguments() {
    local script="$1"
    shift
    case "${1:-}" in
        -h | --help)
            awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$script" >&2
            exit 0
            ;;
        "") ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
}

pm() { podman --runtime "$PODMAN_RUNTIME" "$@"; }

# pm_hc ARGS...: pm without podman's complaints that it cannot schedule an
# image's HEALTHCHECK: it uses systemd timers, and these machines have no
# systemd. The smoke test runs the health check itself (`podman
# healthcheck run`). Everything else podman says goes to stderr.
pm_hc() {
    local rc=0 err
    err="$(mktemp)"
    pm "$@" 2>"$err" || rc=$?
    grep -v 'unable to get systemd connection' "$err" >&2 || true
    rm -f "$err"
    return "$rc"
}

# Milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ensure_commands CMD:PACKAGE ...: installs the packages of missing
# commands with apt-get when running as root, else fails naming them.
ensure_commands() {
    local spec cmd pkg missing=() pkgs=()
    for spec in "$@"; do
        cmd="${spec%%:*}"
        pkg="${spec#*:}"
        if ! command -v "$cmd" >/dev/null 2>&1; then
            missing+=("$cmd")
            pkgs+=("$pkg")
        fi
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ "$(id -u)" -ne 0 ]]; then
        die "missing: ${missing[*]}; install the Debian packages ${pkgs[*]} (as root: apt-get install ${pkgs[*]})"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing: ${missing[*]}, and there is no apt-get to install them (packages: ${pkgs[*]})"
    log "installing ${pkgs[*]} (for ${missing[*]}) with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2; then
        apt-get update >&2 || die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >&2 ||
            die "apt-get install ${pkgs[*]} failed"
    fi
    for cmd in "${missing[@]}"; do
        command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing ${pkgs[*]}"
    done
}

# The container tools every image script needs.
ensure_podman() {
    ensure_commands podman:podman runc:runc
    podman --version >/dev/null 2>&1 || die "podman does not run: $(podman --version 2>&1 | head -n1)"
    local out
    out="$(pm info --format '{{.Host.OCIRuntime.Name}}' 2>&1)" ||
        die "podman cannot use the OCI runtime '$PODMAN_RUNTIME' (PODMAN_RUNTIME): $out"
}

# Sets `default_ulimits = []` in containers.conf: podman sets ulimits on
# every container by default, and some sandboxes refuse setrlimit.
allow_no_ulimits() {
    [[ "$(id -u)" -eq 0 ]] ||
        die "containers fail on setrlimit; as root, add 'default_ulimits = []' under [containers] in $CONF_FILE"
    if [[ ! -e "$CONF_FILE" ]]; then
        mkdir -p "$(dirname "$CONF_FILE")"
        cat >"$CONF_FILE" <<'EOF'
# Written by turso-plugin's scripts/image.sh: this machine refuses
# setrlimit inside containers, and podman sets ulimits on every container
# unless told not to.
[containers]
default_ulimits = []
EOF
        log "wrote $CONF_FILE ([containers] default_ulimits = []): this machine refuses setrlimit in containers"
    elif grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=' "$CONF_FILE"; then
        die "containers fail on setrlimit although $CONF_FILE sets default_ulimits; make it 'default_ulimits = []'"
    elif grep -Eq '^[[:space:]]*\[containers\]' "$CONF_FILE"; then
        local tmp
        tmp="$(mktemp "$CONF_FILE.XXXXXX")"
        awk '!done && /^[[:space:]]*\[containers\]/ { print; print "# Added by scripts/image.sh (turso-plugin): this machine refuses setrlimit in containers."; print "default_ulimits = []"; done = 1; next } { print }' "$CONF_FILE" >"$tmp"
        chmod --reference="$CONF_FILE" "$tmp"
        mv "$tmp" "$CONF_FILE"
        log "added default_ulimits = [] under [containers] in $CONF_FILE: this machine refuses setrlimit in containers"
    else
        printf '\n# Added by turso-plugin'"'"'s scripts/image.sh: this machine refuses\n# setrlimit in containers.\n[containers]\ndefault_ulimits = []\n' >>"$CONF_FILE"
        log "added [containers] default_ulimits = [] to $CONF_FILE: this machine refuses setrlimit in containers"
    fi
}

# ensure_containers_run IMAGE: runs /bin/true in IMAGE; fixes the one
# setting this machine class needs, else fails with podman's own error.
ensure_containers_run() {
    local image="$1" out
    if out="$(pm run --rm --network none --no-healthcheck --entrypoint /bin/true "$image" 2>&1)"; then
        return 0
    fi
    if grep -qi 'rlimit' <<<"$out"; then
        allow_no_ulimits
        out="$(pm run --rm --network none --no-healthcheck --entrypoint /bin/true "$image" 2>&1)" && return 0
    fi
    die "podman cannot run a container here (runtime $PODMAN_RUNTIME): $out"
}

# free_port: a port nothing listens on at 127.0.0.1.
free_port() {
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "found no free port on 127.0.0.1"
}

# wait_http URL CONTAINER TIMEOUT_S: polls URL until it answers 2xx while
# CONTAINER runs; fails with the container's state and last log lines.
wait_http() {
    local url="$1" container="$2" timeout_s="$3" deadline n=0
    deadline=$(($(now_ms) + timeout_s * 1000))
    while ! curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null; do
        n=$((n + 1))
        if ((n % 25 == 0)) && [[ "$(pm container inspect -f '{{.State.Running}}' "$container" 2>/dev/null)" != "true" ]]; then
            pm logs --tail 20 "$container" >&2 || true
            die "container $container stopped before $url answered"
        fi
        if (($(now_ms) > deadline)); then
            pm logs --tail 20 "$container" >&2 || true
            die "$url did not answer 2xx within ${timeout_s}s"
        fi
        sleep 0.01
    done
}

# require_image IMAGE: fails unless IMAGE is in local storage.
require_image() {
    pm image exists "$1" || die "image $1 is missing: build it with scripts/image.sh"
}
