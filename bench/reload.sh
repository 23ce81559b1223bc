#!/usr/bin/env bash
# Reload under load, for every mode: bench/reload.sh [--modes a,b] [--edits N] [--markdown] ...
# The superwatch binary is $SUPERWATCH, default .build/release/superwatch; with BUILD=1 it is built first
# (swift build -c release). Modes that need watchdog or watchfiles pip-install them when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SUPERWATCH="${SUPERWATCH:-.build/release/superwatch}"
if [[ "${BUILD:-0}" == 1 ]]; then
    swift build -c release >&2
fi
python3 -c 'import flask' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check flask
exec python3 bench/reload.py --superwatch "$SUPERWATCH" "$@"
