#!/bin/sh
# Runs broker, gateway and one worker on loopback with the built-in defaults
# (any AURA_* variable in the environment still applies), prints the URL
# once the gateway is ready, and stops all three on Ctrl-C.
set -u
bin=${AURA_BIN_DIR:-build/bin}
for program in aura-broker aura-gateway aura-worker; do
    [ -x "$bin/$program" ] || { echo "run-local: $bin/$program is missing (run make)" >&2; exit 1; }
done

pids=""
stop() {
    trap - INT TERM EXIT
    # shellcheck disable=SC2086 # the pid list is meant to split
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    # shellcheck disable=SC2086
    [ -n "$pids" ] && wait $pids 2>/dev/null
    exit 0
}
trap stop INT TERM EXIT

"$bin/aura-broker" & pids="$pids $!"
"$bin/aura-gateway" & pids="$pids $!"
"$bin/aura-worker" & pids="$pids $!"

addr=${AURA_HTTP_ADDR:-127.0.0.1:8080}
url="http://$addr"
tries=0
until curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; do
    tries=$((tries + 1))
    if [ $tries -gt 100 ]; then
        echo "run-local: the gateway did not become ready at $url" >&2
        exit 1
    fi
    sleep 0.1
done

cat <<MSG

Aura is running at $url
  start a job:   curl -s -X POST $url/api/quick/demo
  watch it:      curl -N $url/api/jobs/<jobId>/events
Ctrl-C stops broker, gateway and worker.

MSG
wait
