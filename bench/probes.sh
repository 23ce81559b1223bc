#!/usr/bin/env bash
# superwatch's own CPU while it probes 50 processes every 250 ms (issue 12: at most 1 % of a core): 25 with a
# tcp and 25 with an http liveness probe (each after an http readiness probe), each against its own Python HTTP
# server (all in one Python process outside the stack, so that only superwatch's share is counted). Reads superwatch's utime + stime from
# /proc over a window once everything is ready. Usage: bench/probes.sh [PROCESSES] [SECONDS] (default 50, 30).
# SUPERWATCH=PATH measures that binary (e.g. .build/debug/superwatch); else the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-50}
window=${2:-30}
work=$(mktemp -d)
if [ -z "${SUPERWATCH:-}" ]; then swift build -c release --static-swift-stdlib --product superwatch >/dev/null; fi
sw=${SUPERWATCH:-$PWD/.build/release/superwatch}
export XDG_RUNTIME_DIR="$work/runtime"
mkdir -m 700 "$XDG_RUNTIME_DIR"
# SERVERS=each (default): one server per process, as in a real stack (each process answers on its own port), all
# in one Python process outside the stack; SERVERS=one: every probe against one server.
servers=${SERVERS:-each}
python3 -c "
import http.server, sys, threading
class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
    def log_message(self, *args): pass
count = 1 if '$servers' == 'one' else $count
listening = [http.server.ThreadingHTTPServer(('127.0.0.1', 0), Quiet) for _ in range(count)]
with open('$work/ports.tmp', 'w') as ports:
    ports.write(' '.join(str(server.server_address[1]) for server in listening) + '\n')
import os; os.rename('$work/ports.tmp', '$work/ports')
for server in listening[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
listening[0].serve_forever()
" &
server=$!
trap 'kill $server; rm -rf "$work"' EXIT
until [ -f "$work/ports" ]; do sleep 0.1; done
read -r -a ports < "$work/ports"
{
    echo "processes:"
    for i in $(seq 1 "$count"); do
        port=${ports[$(( (i - 1) % ${#ports[@]} ))]}
        if [ $((i % 2)) -eq 0 ]; then health="{tcp: \"127.0.0.1:$port\", period: 250ms}"
        else health="{http: \"http://127.0.0.1:$port/\", period: 250ms}"; fi
        echo "  p$i: {command: [sleep, '300$i'], ready: {http: \"http://127.0.0.1:$port/\"}, health: $health}"
    done
} > "$work/superwatch.yaml"
cd "$work"
"$sw" up > "$work/up.log" 2>&1 &
up=$!
trap 'kill -INT $up; wait $up || true; kill $server; rm -rf "$work"' EXIT
until [ "$("$sw" status 2>/dev/null | grep -c ' ready ')" -eq "$count" ]; do sleep 0.2; done
ticks() { awk '{print $14 + $15}' "/proc/$up/stat"; }
hz=$(getconf CLK_TCK)
before=$(ticks)
sleep "$window"
after=$(ticks)
restarts=$(grep -c 'health check failed' "$work/up.log" || true)
python3 -c "print(f'$count processes, probes every 250 ms, {$window} s: superwatch used {($after - $before) / $hz:.2f} s of CPU = {100 * ($after - $before) / $hz / $window:.2f} % of a core; unhealthy restarts: $restarts')"
