#!/bin/sh
# Installs the Debian 12 packages that building and testing Aura need.
# Quiet and quick when everything is already present; uses sudo when not root.
# With --fuzz, also clang and its libFuzzer runtime (make fuzz).
set -eu

packages="
  build-essential cmake pkg-config
  libzmq3-dev libczmq-dev libmsgpack-dev libmicrohttpd-dev libjansson-dev
  libsqlite3-dev libssl-dev
  libespeak-ng-dev espeak-ng-data libcairo2-dev libpango1.0-dev libpng-dev fonts-dejavu-core
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev
  check libsubunit-dev
  python3 python3-zmq curl
"
# libFuzzer and the sanitizer runtimes are only recommended by clang-14,
# which the install below leaves out.
if [ "${1:-}" = "--fuzz" ]; then
    packages="$packages clang libclang-rt-14-dev"
fi

missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
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
