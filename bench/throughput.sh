#!/usr/bin/env bash
# Log multiplexing throughput: 4 processes x LINES lines each, output to /dev/null.
# Compares the producers alone, superwatch (release build), honcho and foreman, in one run.
# Usage: bench/throughput.sh [LINES]   (default 250000; needs hyperfine; honcho/foreman are optional)
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-250000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp bench/producer.py "$work/"
swift build -c release --product superwatch >/dev/null
sw="$PWD/.build/release/superwatch"

cat > "$work/superwatch.yaml" <<YAML
processes:
  p1: {command: [python3, producer.py, p1, "$lines"]}
  p2: {command: [python3, producer.py, p2, "$lines"]}
  p3: {command: [python3, producer.py, p3, "$lines"]}
  p4: {command: [python3, producer.py, p4, "$lines"]}
YAML
for i in 1 2 3 4; do echo "p$i: python3 producer.py p$i $lines"; done > "$work/Procfile"
alone="for i in 1 2 3 4; do python3 producer.py p\$i $lines > /dev/null & done; wait"

cd "$work"
# Sanity: nothing lost.
got=$("$sw" up | grep -c ' | p[1-4] request ')
[ "$got" -eq $((4 * lines)) ] || { echo "superwatch printed $got lines, expected $((4 * lines))" >&2; exit 1; }

commands=(-n producers-alone "$alone" -n superwatch "$sw up > /dev/null")
if command -v honcho >/dev/null && [ "${SKIP_SLOW:-}" = "" ]; then commands+=(-n honcho "honcho start > /dev/null"); fi
if command -v foreman >/dev/null && [ "${SKIP_SLOW:-}" = "" ]; then commands+=(-n foreman "foreman start > /dev/null"); fi
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-markdown "$OLDPWD/bench/out-throughput.md" "${commands[@]}"
