#!/bin/sh
# Runs libFuzzer targets for a bounded time each, on a fresh copy of their
# seed corpus (the seeds here stay as they are), and says what was found.
# Usage: run.sh BIN_DIR SECONDS TARGET...   (make fuzz calls it)
# Each target runs in fork mode and keeps going after a finding, so that one
# known failure does not hide the others. Inputs are at most 64 KiB (the
# largest body the gateway reads) and a run may hold 512 MB: an input that
# makes the code under test allocate more is an out-of-memory finding.
# Findings go to BIN_DIR/findings/TARGET/, the full log to
# BIN_DIR/TARGET.log. Exits 1 when anything was found.
set -eu

bin_dir=$1
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0

for target in "$@"; do
    fuzzer="$bin_dir/fuzz_$target"
    corpus="$bin_dir/corpus/$target"
    findings="$bin_dir/findings/$target"
    log="$bin_dir/$target.log"
    rm -rf "$corpus" "$findings"
    mkdir -p "$corpus" "$findings"
    cp "$here/corpus/$target"/* "$corpus"/
    seeds=$(ls "$corpus" | wc -l)

    echo "fuzz_$target: $seconds s from $seeds seeds"
    # a target without a dictionary of its own runs without one
    dict=
    [ -f "$here/$target.dict" ] && dict="-dict=$here/$target.dict"
    # -fork=1: one child at a time (the machine has two cores)
    "$fuzzer" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=512 \
        -max_len=65536 $dict -artifact_prefix="$findings/" \
        "$corpus" >"$log" 2>&1 || true

    # the last status line: executions, coverage, corpus, speed
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -n 1 || true)
    echo "  ${last:-no status line: see $log}"
    echo "  corpus grew to $(ls "$corpus" | wc -l) inputs"

    # one line per distinct failure: what broke, and an input that shows it
    found=$(find "$findings" -type f | sort)
    if [ -z "$found" ]; then
        echo "  no finding"
        continue
    fi
    status=1
    echo "  $(echo "$found" | wc -l) inputs break it:"
    for input in $found; do
        why=$("$fuzzer" "$input" 2>&1 | grep -m 1 -E 'invariant broken|ERROR: [A-Za-z]+Sanitizer|runtime error|SUMMARY' || true)
        printf '%s\t%s\n' "${why:-unexplained failure}" "$input"
    done | sort -t "	" -k 1,1 -u | while IFS="	" read -r why input; do
        printf '    %s\n      e.g. %s\n' "$why" "$input"
    done
done
exit $status
