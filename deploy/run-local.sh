#!/bin/sh
# Runs Aura on this machine with aura-up: the broker, then the gateway on
# 127.0.0.1:8080 and one worker per core, with the built-in defaults (any
# AURA_* variable in the environment still applies: AURA_WORKERS=2 runs two
# workers). aura-up prints the URL once the gateway listens; Ctrl-C stops
# the gateway, then the workers (they hand back their jobs), then the broker.
# Arguments go to aura-up (try --help).
set -eu
bin=${AURA_BIN_DIR:-build/bin}
for program in aura-up aura-broker aura-gateway aura-worker; do
    [ -x "$bin/$program" ] || { echo "run-local: $bin/$program is missing (run make)" >&2; exit 1; }
done
exec "$bin/aura-up" --bin-dir "$bin" "$@"
