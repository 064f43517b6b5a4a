#!/usr/bin/env python3
"""Runs the benchmark programs and writes their tables into the report.

docs/BENCHMARKS.md holds generated regions between marker comments,

    <!-- bench:NAME begin -->
    ...
    <!-- bench:NAME end -->

and prose around them that this script leaves alone. `machine` is the
machine and its versions; every other NAME is a run of a benchmark
program, tests/bench/bench_PROGRAM.c, whose standard output (Markdown)
replaces the region. Progress lines (standard error) pass through. A benchmark that
fails keeps its old region, and the script exits 1 after the others ran.

    report.py --bench-dir build/bench --bin-dir build/bin [--only media,sse]
              [--report docs/BENCHMARKS.md]
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys

# name: the program and its arguments ({bin} is --bin-dir), in the order
# they run
BENCHMARKS = {
    "broker": ("broker", ["--bin-dir={bin}"]),
    "media": ("media", ["--runs=2"]),
    "sse": ("sse", ["--bin-dir={bin}", "--repeat=2"]),
    # the fan-out again with the servers on one core and the client on the
    # other, events far enough apart that one core keeps up
    "sse-pinned": ("sse", ["--bin-dir={bin}", "--phases=fanout", "--pin",
                           "--interval-ms=200", "--repeat=3"]),
}


def first_line(command):
    """The first line a command prints, or "" when it cannot run."""
    try:
        out = subprocess.run(command, capture_output=True, text=True,
                             timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


def package_version(name):
    """The installed version of a Debian package, or "not installed"."""
    version = first_line(["dpkg-query", "-W", "-f=${Version}", name])
    return version or "not installed"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib():
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def os_name():
    try:
        with open("/etc/os-release", encoding="utf-8") as release:
            for line in release:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def machine_region():
    load = os.getloadavg()
    packages = ["libmicrohttpd12", "libzmq5", "libczmq4", "libsqlite3-0",
                "libx264-164", "libavcodec59", "libespeak-ng1", "libcairo2",
                "libpango-1.0-0", "nginx-light", "libnginx-mod-nchan"]
    lines = [
        f"Run of {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}: "
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB, "
        f"{os_name()}, Linux {platform.release()}, "
        f"{first_line(['gcc', '--version'])}. Load average when the run "
        f"began: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1, 5, 15 min).",
        "",
        "| package | version |",
        "|---|---|",
    ]
    lines += [f"| {name} | {package_version(name)} |" for name in packages]
    return "\n".join(lines) + "\n"


def run_benchmark(bench_dir, bin_dir, name):
    """The program's Markdown, or None when it failed."""
    program_name, arguments = BENCHMARKS[name]
    program = os.path.join(bench_dir, f"bench_{program_name}")
    args = [arg.format(bin=bin_dir) for arg in arguments]
    print(f"report: {os.path.basename(program)} {' '.join(args)}",
          file=sys.stderr, flush=True)
    result = subprocess.run([program] + args, stdout=subprocess.PIPE,
                            text=True, check=False)
    if result.returncode != 0:
        print(f"report: {name} failed (exit {result.returncode}); "
              f"its section keeps the figures of the last run",
              file=sys.stderr)
        return None
    # progress lines the program printed to standard output stay out
    kept = [line for line in result.stdout.splitlines()
            if not line.startswith("# ")]
    return "\n".join(kept).strip() + "\n"


def replace_region(text, name, body):
    pattern = re.compile(
        rf"(<!-- bench:{re.escape(name)} begin -->\n).*?"
        rf"(<!-- bench:{re.escape(name)} end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"report: no bench:{name} region in the report")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text, count=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-dir", required=True)
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--report", default="docs/BENCHMARKS.md")
    parser.add_argument("--only", default="",
                        help="comma-separated: " + ",".join(BENCHMARKS))
    options = parser.parse_args()
    names = [n for n in options.only.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; "
                     f"known: {', '.join(BENCHMARKS)}")

    with open(options.report, encoding="utf-8") as report:
        text = report.read()
    text = replace_region(text, "machine", machine_region())
    failed = False
    for name in names:
        body = run_benchmark(options.bench_dir, options.bin_dir, name)
        if body is None:
            failed = True
            continue
        text = replace_region(text, name, body)
        # written after each program: a later failure loses nothing
        with open(options.report, "w", encoding="utf-8") as report:
            report.write(text)
    with open(options.report, "w", encoding="utf-8") as report:
        report.write(text)
    print(f"report: wrote {options.report}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
