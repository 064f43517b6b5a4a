#!/bin/sh
# Installs the Debian 12 packages that building and testing Aura need.
# Quiet and quick when everything is already present; uses sudo when not root.
# With --fuzz, also clang and its libFuzzer runtime (make fuzz); with
# --deploy, also the Docker engine, Compose and debootstrap (make test-deploy);
# with --bench, also nginx and its Nchan module, the reference SSE server
# that bench_sse compares the gateway with (make bench).
set -eu

packages="
  build-essential cmake pkg-config
  libzmq3-dev libczmq-dev libmsgpack-dev libmicrohttpd-dev libjansson-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libespeak-ng-dev espeak-ng-data libcairo2-dev libpango1.0-dev libpng-dev fonts-dejavu-core
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  check libsubunit-dev
  python3 python3-zmq curl chromium
  systemd iproute2 valgrind
"
# libFuzzer and the sanitizer runtimes are only recommended by clang-14,
# which the install below leaves out.
case "${1:-}" in
    --fuzz) packages="$packages clang libclang-rt-14-dev" ;;
    --deploy) packages="$packages docker.io docker-compose debootstrap" ;;
    --bench) packages="$packages nginx-light libnginx-mod-nchan" ;;
esac

# The web UI's checks and browser test run on Node.js 18 or later: Debian's
# nodejs and npm unless they are installed already. The UI's pinned dev
# tools (gateway/web/package-lock.json) are then installed by npm ci
# whenever gateway/web/node_modules is missing or older than the lock file.
command -v node >/dev/null 2>&1 || packages="$packages nodejs"
command -v npm >/dev/null 2>&1 || packages="$packages npm"
web_dir="$(cd "$(dirname "$0")/.." && pwd)/gateway/web"
web_deps() {
    lock="$web_dir/package-lock.json"
    modules="$web_dir/node_modules"
    [ -f "$lock" ] || return 0
    if [ -d "$modules" ] && [ ! "$lock" -nt "$modules" ]; then
        return 0
    fi
    npm_log="$(mktemp)"
    if ! (cd "$web_dir" && npm ci --no-audit --no-fund --loglevel=error) >"$npm_log" 2>&1; then
        cat "$npm_log" >&2
        rm -f "$npm_log"
        echo "install-deps: npm ci in gateway/web failed" >&2
        return 1
    fi
    rm -f "$npm_log"
    touch "$modules"
}

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    web_deps
fi
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: missing packages:$missing (run as root or install sudo)" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# An index older than a day may point at package versions the mirror dropped.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
    $sudo apt-get update -qq
fi
# shellcheck disable=SC2086 # word splitting of the package list is intended
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null

web_deps
