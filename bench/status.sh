#!/usr/bin/env bash
# `superwatch status` against a running `up` of 50 processes: the whole command (start, connect, request,
# table, exit), as a user types it. Release build; hyperfine. Usage: bench/status.sh [PROCESSES]
# (default 50; RUNS default 200).
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-50}
work=$(mktemp -d)
# SUPERWATCH=PATH: measure that binary instead of building the release one.
if [ -z "${SUPERWATCH:-}" ]; then swift build -c release --static-swift-stdlib --product superwatch >/dev/null; fi
sw=${SUPERWATCH:-$PWD/.build/release/superwatch}
export XDG_RUNTIME_DIR="$work/runtime"
mkdir -m 700 "$XDG_RUNTIME_DIR"
{
    echo "processes:"
    for i in $(seq 1 "$count"); do echo "  p$i: {command: [sleep, '300$i']}"; done
} > "$work/superwatch.yaml"
cd "$work"
"$sw" up > /dev/null 2>&1 &
up=$!
trap 'kill -INT $up; wait $up; rm -rf "$work"' EXIT
# Wait until every process runs (no fixed delay: poll the API).
until [ "$("$sw" status 2>/dev/null | grep -c ' running ')" -eq "$count" ]; do sleep 0.1; done
hyperfine -N --warmup 10 --runs "${RUNS:-200}" -n "status ($count processes)" "$sw status" \
    -n "status --json ($count processes)" "$sw status --json" -n "superwatch --version (process start floor)" \
    "$sw --version"
