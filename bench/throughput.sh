#!/usr/bin/env bash
# Log multiplexing throughput: 4 processes x LINES lines each, superwatch's output to /dev/null, compared in
# one run with the producers alone (their output straight to /dev/null), honcho and foreman.
#
# Producers are Python scripts. WRITES=line makes them write every line with its own write(2), as a dev
# server whose logger flushes each record does (PYTHONUNBUFFERED=1); WRITES=block lets Python buffer 8 KiB
# per write. Usage: bench/throughput.sh [LINES]   (LINES default 250000; RUNS default 5; WRITES default
# line; SKIP_SLOW=1 leaves out honcho and foreman, which take a minute or more per run)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
lines=${1:-250000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
. bench/producers.sh
write_producers "$work" "$lines"
swift build -c release --product superwatch >/dev/null
sw="$PWD/.build/release/superwatch"
case "${WRITES:-line}" in
    line) export PYTHONUNBUFFERED=1 ;;
    block) unset PYTHONUNBUFFERED ;;
    *) echo "WRITES is line or block" >&2; exit 2 ;;
esac

alone="for i in 1 2 3 4; do python3 producer.py p\$i $lines > /dev/null & done; wait"

cd "$work"
# Nothing may be lost: every line arrives, whole.
got=$("$sw" up | grep -c ' | p[1-4] request ')
[ "$got" -eq $((4 * lines)) ] || { echo "superwatch printed $got lines, expected $((4 * lines))" >&2; exit 1; }

commands=(-n producers-alone "$alone" -n superwatch "$sw up > /dev/null")
if command -v gcc >/dev/null; then
    gcc -O2 -o "$work/pipe-floor" "$repo/bench/pipe-floor.c"
    commands+=(-n pipe-floor "./pipe-floor $lines")
fi
if [ -z "${SKIP_SLOW:-}" ]; then
    command -v honcho >/dev/null && commands+=(-n honcho "honcho start > /dev/null")
    command -v foreman >/dev/null && commands+=(-n foreman "foreman start > /dev/null")
fi
hyperfine --warmup 1 --runs "${RUNS:-5}" "${commands[@]}"
