#!/bin/bash
# The container deployment, end to end. On a Docker engine of its own, it
# builds the image of deploy/Dockerfile, starts deploy/compose.yaml with the
# host-network override and three workers, runs six real media jobs through
# the gateway, checks that all of them finished and that more than one worker
# ran them, stops the stack and checks that every container exited 0.
#
# Needs root: it installs its packages (deploy/install-deps.sh --deploy) and
# starts dockerd. The engine's sockets and pid live in BUILD_DIR/deploy-test
# and go away at the end, whatever happened; its logs stay in
# BUILD_DIR/deploy-test-logs. Images, the build cache and the Debian base
# rootfs are kept in AURA_DEPLOY_CACHE (default /var/cache/aura-deploy-test),
# so that later runs, from any clone, skip debootstrap and the package
# downloads; AURA_DEPLOY_KEEP_CACHE=0 removes them too.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo --preserve-env=BUILD_DIR,AURA_DEPLOY_CACHE,AURA_DEPLOY_KEEP_CACHE "$0" "$@"
    fi
    echo "test-deploy: needs root (it starts dockerd)" >&2
    exit 1
fi

build_dir=$repo/${BUILD_DIR:-build}
state=$build_dir/deploy-test
logs=$build_dir/deploy-test-logs
cache=${AURA_DEPLOY_CACHE:-/var/cache/aura-deploy-test}
keep_cache=${AURA_DEPLOY_KEEP_CACHE:-1}
project=aura-deploy-test
workers=3
jobs=6

# ------------------------------------------------------------ reporting

timings=""
phase_name=""
phase_started=0
test_started=$(date +%s)

# Ends the current phase, recording how long it took, and starts `$1`.
phase() {
    local now
    now=$(date +%s)
    if [ -n "$phase_name" ]; then
        timings+=$(printf '  %-14s %4d s' "$phase_name" $((now - phase_started)))$'\n'
    fi
    phase_name=${1:-}
    phase_started=$now
    if [ -n "$phase_name" ]; then
        echo "test-deploy: $phase_name"
    fi
}

fail() {
    echo "test-deploy: FAIL: $*" >&2
    exit 1
}

# The Debian client, whatever else is first in PATH: it matches the engine.
docker() { /usr/bin/docker "$@"; }
compose() {
    docker-compose -p "$project" -f deploy/compose.yaml \
        -f deploy/compose.host.yaml "$@"
}

# -------------------------------------------------------------- cleanup

dockerd_pid=""
jobs_pid=""
exec_root=""
stack_up=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    phase ""
    if [ -n "$jobs_pid" ]; then
        kill "$jobs_pid" 2>/dev/null
        wait "$jobs_pid" 2>/dev/null
    fi
    if [ "$stack_up" -eq 1 ]; then
        if [ "$rc" -ne 0 ]; then
            compose logs --no-color --tail 40 >"$logs/compose-failure.log" 2>&1
            echo "test-deploy: last log lines of every service:" >&2
            tail -n 60 "$logs/compose-failure.log" >&2
        fi
        compose down --volumes --remove-orphans --timeout 10 >>"$logs/compose.log" 2>&1
    fi
    if [ -n "$dockerd_pid" ]; then
        # Whatever a failure left running in this engine goes first.
        local left
        left=$(docker ps -aq 2>/dev/null)
        # shellcheck disable=SC2086 # one id a word
        [ -n "$left" ] && docker rm -f $left >/dev/null 2>&1
        if [ "$keep_cache" = 1 ] && [ "$rc" -eq 0 ]; then
            # Old images and build steps the next build would not reuse.
            docker image prune -f >/dev/null 2>&1
            docker builder prune -f --keep-storage 3gb >/dev/null 2>&1
        fi
        stop_engine
    fi
    rm -rf "$state"
    if [ -n "$exec_root" ] && [ "$exec_root" != "$state/exec" ]; then
        rm -rf "$exec_root"
    fi
    if [ "$keep_cache" != 1 ]; then
        rm -rf "$cache/engine" "$cache/bookworm-minbase.tar.gz" "$cache/lock"
        rmdir "$cache" 2>/dev/null
    elif [ -d "$cache" ]; then
        echo "test-deploy: cache $cache: $(du -sh "$cache" 2>/dev/null | cut -f1)"
    fi
    echo "test-deploy: time per phase:"
    printf '%s' "$timings"
    printf '  %-14s %4d s\n' total $(($(date +%s) - test_started))
    if [ "$rc" -eq 0 ]; then
        echo "test-deploy: OK"
    else
        echo "test-deploy: FAILED (logs in $logs)" >&2
    fi
    exit "$rc"
}

# Stops the engine this script started, by its pid, and the containerd it
# runs; waits for both to be gone.
stop_engine() {
    local containerd_pid
    containerd_pid=$(cat "$state/exec/containerd/containerd.pid" 2>/dev/null || true)
    kill -TERM "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 150); do
        kill -0 "$dockerd_pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "test-deploy: dockerd $dockerd_pid did not stop; killing it" >&2
        kill -KILL "$dockerd_pid" 2>/dev/null
    fi
    wait "$dockerd_pid" 2>/dev/null
    if [ -n "$containerd_pid" ] && kill -0 "$containerd_pid" 2>/dev/null; then
        kill -TERM "$containerd_pid" 2>/dev/null
        sleep 1
        kill -KILL "$containerd_pid" 2>/dev/null
    fi
    dockerd_pid=""
    # Mounts the engine leaves below its directories (its network
    # namespace file always, overlays when it was interrupted).
    local dir mount
    for dir in "$state" "$exec_root" "$cache/engine"; do
        [ -n "$dir" ] || continue
        awk -v dir="$dir/" 'index($2, dir) == 1 { print $2 }' /proc/mounts |
            sort -r | while read -r mount; do umount -l "$mount"; done
    done
}

trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------- packages

phase packages
./deploy/install-deps.sh --deploy

mkdir -p "$cache" "$logs"
rm -f "$logs"/*.log
# One run at a time per cache: two engines must not share a data root.
exec 9>"$cache/lock"
if ! flock -w 1800 9; then
    fail "another run holds $cache/lock"
fi

# --------------------------------------------------------------- engine

phase engine
# A run killed before its cleanup may have left its engine running.
if [ -f "$state/docker.pid" ]; then
    old=$(cat "$state/docker.pid")
    if tr '\0' ' ' <"/proc/$old/cmdline" 2>/dev/null | grep -q -- "$state/docker.sock"; then
        dockerd_pid=$old
        stop_engine
    fi
fi
rm -rf "$state"
mkdir -p "$state"
sock=$state/docker.sock
exec_root=$state/exec
# A unix socket path holds at most 107 bytes: containerd's lives under the
# exec root, so a deep checkout gets a short one instead.
if [ ${#exec_root} -gt 60 ]; then
    exec_root=$(mktemp -d /tmp/aura-deploy-test.XXXXXX)
    ln -s "$exec_root" "$state/exec"
fi
/usr/sbin/dockerd --host "unix://$sock" --data-root "$cache/engine" \
    --exec-root "$exec_root" --pidfile "$state/docker.pid" \
    --bridge=none --iptables=false >"$logs/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_HOST=unix://$sock
for _ in $(seq 1 300); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null ||
        { tail -n 20 "$logs/dockerd.log" >&2; dockerd_pid=""; fail "dockerd exited"; }
    sleep 0.2
done
docker version >/dev/null 2>&1 || fail "dockerd did not answer within 60 s"

# ---------------------------------------------------------- base images

phase base-images
# No registry can be reached: debian:bookworm and debian:bookworm-slim are
# one debootstrap minbase rootfs, made once and kept as a tarball. After a
# month it is made again, as Debian's updates would pile up in every build.
rootfs_tar=$cache/bookworm-minbase.tar.gz
if [ -n "$(find "$rootfs_tar" -mtime +30 2>/dev/null)" ]; then
    rm -f "$rootfs_tar"
    docker rmi debian:bookworm debian:bookworm-slim >/dev/null 2>&1 || true
fi
if docker image inspect debian:bookworm debian:bookworm-slim >/dev/null 2>&1; then
    echo "test-deploy: base images present"
else
    if [ ! -s "$rootfs_tar" ]; then
        echo "test-deploy: debootstrap bookworm (takes a minute or two)"
        rootfs=$state/rootfs
        debootstrap --variant=minbase bookworm "$rootfs" >"$logs/debootstrap.log" 2>&1 ||
            { tail -n 20 "$logs/debootstrap.log" >&2; fail "debootstrap failed"; }
        # The sources of Debian's own images: updates and security too.
        mirror=$(awk '$1 == "deb" { print $2; exit }' "$rootfs/etc/apt/sources.list")
        {
            echo "deb $mirror bookworm-updates main"
            echo "deb ${mirror%/debian}/debian-security bookworm-security main"
        } >>"$rootfs/etc/apt/sources.list"
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar --numeric-owner -C "$rootfs" -c . | gzip -1 >"$rootfs_tar.tmp"
        mv "$rootfs_tar.tmp" "$rootfs_tar"
        rm -rf "$rootfs"
    fi
    docker import "$rootfs_tar" debian:bookworm >/dev/null
    docker tag debian:bookworm debian:bookworm-slim
fi

# ---------------------------------------------------------------- image

phase image
if ! DOCKER_BUILDKIT=1 docker build --network host --progress plain \
        -f deploy/Dockerfile -t aura:latest . >"$logs/build.log" 2>&1; then
    # Failed checks and compiler errors first: the tail is BuildKit's summary.
    grep -E ':[FE]:|error:|Failed|FAILED' "$logs/build.log" | tail -n 20 >&2
    tail -n 8 "$logs/build.log" >&2
    fail "the image did not build"
fi
echo "test-deploy: aura:latest, $(($(docker image inspect -f '{{.Size}}' aura:latest) / 1048576)) MiB"
[ "$(docker image inspect -f '{{.Config.User}}' aura:latest)" = aura ] ||
    fail "the image does not run as the aura user"

# ---------------------------------------------------------------- stack

phase stack-up
# Loopback ports that are free now, for the broker's four sockets and the
# gateway; every service reads them from the environment.
read -r p1 p2 p3 p4 p5 < <(/usr/bin/python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(5)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PY
)
export AURA_BROKER_FRONTEND=tcp://127.0.0.1:$p1
export AURA_BROKER_JOBS=tcp://127.0.0.1:$p2
export AURA_BROKER_EVENTS=tcp://127.0.0.1:$p3
export AURA_BROKER_PUBLISH=tcp://127.0.0.1:$p4
export AURA_HTTP_ADDR=127.0.0.1:$p5
export AURA_PIPELINE=media
url=http://$AURA_HTTP_ADDR

# The host override runs its own copy of the gateway (it cannot drop the
# port compose.yaml publishes): it must not drift from the original.
compose config >"$state/compose-config.yaml" 2>>"$logs/compose.log" ||
    fail "docker-compose config failed"
/usr/bin/python3 - "$state/compose-config.yaml" <<'PY' || fail "gateway-host differs from gateway"
import sys
import yaml
services = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))["services"]
bridge, host = services["gateway"], services["gateway-host"]
for key in ("command", "environment", "volumes", "depends_on", "healthcheck",
            "stop_grace_period", "restart", "read_only", "tmpfs", "cap_drop",
            "security_opt", "image"):
    a, b = bridge.get(key), host.get(key)
    if key == "environment":
        a, b = sorted(a), sorted(b)
    if a != b:
        print(f"test-deploy: {key}: compose.yaml has {a!r}, "
              f"compose.host.yaml {b!r}", file=sys.stderr)
        sys.exit(1)
PY

stack_up=1
# depends_on waits for a healthy broker before the others start.
if ! compose up -d --no-build --scale worker=$workers >"$logs/compose.log" 2>&1; then
    tail -n 20 "$logs/compose.log" >&2
    fail "docker-compose up failed"
fi
# Host networking only: no bridge, no private address range on this host.
networks=$(docker network ls --format '{{.Name}}' | grep -vx 'host\|none' || true)
[ -z "$networks" ] || fail "docker-compose made networks: $networks"
containers=$(compose ps -q)
[ "$(echo "$containers" | wc -l)" -eq $((2 + workers)) ] ||
    fail "expected $((2 + workers)) containers, have: $(echo "$containers" | wc -l)"
# Every container reports healthy through its program's --healthcheck.
for _ in $(seq 1 60); do
    # shellcheck disable=SC2086 # one id a word
    unhealthy=$(docker inspect -f '{{.Name}} {{.State.Health.Status}}' $containers |
        grep -v ' healthy$' || true)
    [ -z "$unhealthy" ] && break
    sleep 1
done
[ -z "$unhealthy" ] || fail "not healthy after 60 s: $unhealthy"
curl -fsS -o /dev/null "$url/readyz" || fail "$url/readyz is not 200"
gateway=$(compose ps -q gateway-host)
[ "$(docker exec "$gateway" cat /proc/1/comm)" = aura-gateway ] ||
    fail "PID 1 of the gateway's container is not aura-gateway"
[ "$(docker exec "$gateway" id -u)" = 10001 ] ||
    fail "the gateway does not run as uid 10001"
echo "test-deploy: broker, gateway and $workers workers healthy; $url ready"

# ----------------------------------------------------------------- jobs

phase jobs
# In the background, so that an interrupt does not wait for it.
/usr/bin/python3 tests/deploy/jobs.py "$url" $jobs "$state/job-ids" &
jobs_pid=$!
wait "$jobs_pid" || fail "the jobs did not all finish Done"
jobs_pid=""
# Which worker ran what: each one logs the jobs it accepted.
ran_by=()
for worker in $(compose ps -q worker); do
    ran_by+=("$(docker logs "$worker" 2>&1 | grep 'accepted attempt' |
        grep -c -F -f "$state/job-ids" || true)")
done
busy=0
for n in "${ran_by[@]}"; do
    if [ "$n" -gt 0 ]; then busy=$((busy + 1)); fi
done
echo "test-deploy: jobs per worker: ${ran_by[*]}"
[ "$busy" -ge 2 ] || fail "the jobs ran on $busy worker(s), expected at least 2"

# ----------------------------------------------------------------- stop

phase stop
compose stop >>"$logs/compose.log" 2>&1 || fail "docker-compose stop failed"
# shellcheck disable=SC2086 # one id a word
exits=$(docker inspect -f '{{.Name}} exited {{.State.ExitCode}}' $containers)
while read -r line; do echo "test-deploy:   $line"; done <<<"$exits"
if echo "$exits" | grep -qv ' 0$'; then
    fail "a container did not exit 0"
fi
compose down --volumes --remove-orphans >>"$logs/compose.log" 2>&1 ||
    fail "docker-compose down failed"
stack_up=0
