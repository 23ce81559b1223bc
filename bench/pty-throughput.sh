#!/usr/bin/env bash
# Log throughput through pseudo-terminals vs pipes: 4 processes x LINES lines each (bench/producer.py, one
# write(2) per line as a terminal's line buffering or PYTHONUNBUFFERED=1 gives), superwatch's output to
# /dev/null, `up` (pipes) and `up --tty` (a pseudo-terminal per process) interleaved by hyperfine.
# The issue's bound: the terminals take at most 1.5 x the pipes' time.
# Usage: bench/pty-throughput.sh [LINES]   (LINES default 250000; RUNS default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-250000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. bench/producers.sh
write_producers "$work" "$lines"
swift build -c release --static-swift-stdlib --product superwatch >/dev/null
sw="$PWD/.build/release/superwatch"
export PYTHONUNBUFFERED=1

cd "$work"
# Nothing may be lost either way: every line arrives, whole, without a CR.
for mode in "" --tty; do
    got=$("$sw" up $mode --color never | grep -c ' | p[1-4] request [0-9]* GET /api/items?page=[0-9]* 200 [0-9]*ms$')
    [ "$got" -eq $((4 * lines)) ] || { echo "up $mode printed $got whole lines, expected $((4 * lines))" >&2; exit 1; }
done

hyperfine --warmup 1 --runs "${RUNS:-10}" -n pipes "$sw up > /dev/null" -n pty "$sw up --tty > /dev/null" \
    --export-markdown "$work/result.md"
cat "$work/result.md"
