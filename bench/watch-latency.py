#!/usr/bin/env python3
"""Change -> restart latency: superwatch against entr, watchfiles and Werkzeug's reloaders, in one run.

For each tool, in a fresh directory under /tmp with `src/a.txt` and an empty `starts.log`:
  - start the tool (in its own session, so its whole process group can be stopped at the end), supervising a
    tiny child that appends `date +%s.%N` to starts.log when it starts and then sleeps (for Werkzeug, a Python
    `main()` that appends `time.time()`: Werkzeug's reloader re-runs the whole interpreter);
  - wait for the first start line, then do N edits: wait QUIET (uniformly random in [--quiet-min, --quiet-max]),
    record t0 = time.time(), open+write+close src/a.txt; wait (at most --timeout) for a start line stamped
    at or after t0; latency = that stamp - t0;
  - at the end, wait --tail seconds for late or extra restarts, then count start lines: restarts per save =
    (lines - 1) / N (exactly 1.00 expected); a save with no start line within --timeout is a timeout;
  - stop the tool's process group (SIGTERM, then SIGKILL after 5 s) and kill anything left that carries
    this run's token in its environment (reported as orphans; there should be none).

Tools: superwatch (release build of this checkout, in .build) with the default debounce
(20 ms) and with `debounce: 5ms`; `entr -n -r`; `watchfiles --filter all` (its defaults: debounce 1600 ms,
step 50 ms, SIGINT then 5 s); Werkzeug's `run_with_reloader(reloader_type="stat", interval=1)`, and
`reloader_type="watchdog"` when watchdog is importable. A tool that is not installed is skipped.

Usage: bench/watch-latency.py [--edits 30] [--only NAME ...] [--json FILE] [--no-build]
"""
import argparse
import json
import math
import os
import pathlib
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
SCRATCH = ROOT / ".build"
TOKEN_VARIABLE = "SUPERWATCH_LATENCY_BENCH"
# The child every tool but Werkzeug supervises: one start line, then nothing until it is stopped.
CHILD = "date +%s.%N >> starts.log; exec sleep 1000"

WERKZEUG_APP = '''\
import sys
import time
from werkzeug._reloader import run_with_reloader

LOG, WATCHED, KIND = sys.argv[1], sys.argv[2], sys.argv[3]


def main():
    started = time.time()
    with open(LOG, "a") as log:
        log.write(f"{started:.9f}\\n")
    while True:
        time.sleep(1000)


run_with_reloader(main, extra_files=[WATCHED], reloader_type=KIND, interval=1)
'''


class Tool:
    def __init__(self, name, note, argv, files=None):
        self.name = name
        self.note = note
        self.argv = argv          # a function of the work directory
        self.files = files or {}  # name -> contents, written into the work directory


def tools(superwatch: pathlib.Path | None, only: list[str]) -> list[Tool]:
    found = []
    if superwatch:
        for debounce in ["20ms", "5ms"]:
            config = (f"processes:\n  child:\n    command: '{CHILD}'\n    watch: [\"src/*.txt\"]\n"
                      f"    debounce: {debounce}\n")
            found.append(Tool(
                f"superwatch-{debounce}", f"debounce: {debounce}" + (" (default)" if debounce == "20ms" else ""),
                lambda d: [str(superwatch), "up", "-f", str(d / "superwatch.yaml")], {"superwatch.yaml": config}))
    if shutil.which("entr"):
        found.append(Tool(
            "entr", "`ls src/*.txt \\| entr -n -r sh -c ...`",
            lambda d: ["sh", "-c", f"ls src/*.txt | exec entr -n -r sh -c {shlex.quote(CHILD)}"]))
    if shutil.which("watchfiles"):
        found.append(Tool(
            "watchfiles", "defaults: debounce 1600 ms, step 50 ms",
            lambda d: ["watchfiles", "--filter", "all", f"sh -c {shlex.quote(CHILD)}", "src"]))
    python = sys.executable
    if has_module("werkzeug"):
        kinds = ["stat"] + (["watchdog"] if has_module("watchdog") else [])
        for kind in kinds:
            found.append(Tool(
                f"werkzeug-{kind}", f'reloader_type="{kind}", interval=1',
                lambda d, kind=kind: [python, str(d / "app.py"), str(d / "starts.log"), str(d / "src" / "a.txt"), kind],
                {"app.py": WERKZEUG_APP}))
    if only:
        found = [tool for tool in found if any(tool.name.startswith(prefix) for prefix in only)]
    return found


def has_module(name: str) -> bool:
    return subprocess.run([sys.executable, "-c", f"import {name}"], stderr=subprocess.DEVNULL).returncode == 0


def build_superwatch() -> pathlib.Path:
    subprocess.run(
        ["swift", "build", "-c", "release", "--product", "superwatch", "--scratch-path", str(SCRATCH)],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return SCRATCH / "release" / "superwatch"


def start_stamps(log: pathlib.Path) -> list[float]:
    try:
        text = log.read_text()
    except FileNotFoundError:
        return []
    stamps = []
    for line in text.splitlines():
        try:
            stamps.append(float(line))
        except ValueError:
            pass
    return stamps


def wait_for(predicate, timeout: float, step: float = 0.002):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def processes_with_token(token: str) -> list[int]:
    pids = []
    needle = f"{TOKEN_VARIABLE}={token}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def stop(process: subprocess.Popen, token: str) -> int:
    """Stops the tool's process group politely, then by force; kills whatever else carries the token."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    # Give what the leader was stopping (superwatch's keeper, a Werkzeug child) a moment to go too.
    wait_for(lambda: not processes_with_token(token), 2.0, step=0.05)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    orphans = processes_with_token(token)
    for pid in orphans:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(orphans)


def loadavg() -> str:
    return pathlib.Path("/proc/loadavg").read_text().split()[0]


def measure(tool: Tool, edits: int, args, rng: random.Random) -> dict:
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"benchlat-{tool.name}-"))
    (work / "src").mkdir()
    watched = work / "src" / "a.txt"
    watched.write_text("initial\n")
    log = work / "starts.log"
    log.touch()
    for name, contents in tool.files.items():
        (work / name).write_text(contents)
    token = f"{os.getpid()}-{tool.name}-{random.getrandbits(32):08x}"
    environment = dict(os.environ, **{TOKEN_VARIABLE: token})
    environment.pop("WERKZEUG_RUN_MAIN", None)
    output = open(work / "tool.out", "wb")
    load_before = loadavg()
    began = time.monotonic()
    process = subprocess.Popen(tool.argv(work), cwd=work, env=environment, stdin=subprocess.DEVNULL,
                               stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    latencies: list[float] = []
    timeouts = 0
    gave_up = False
    saves = 0
    try:
        if not wait_for(lambda: start_stamps(log), args.startup_timeout):
            raise RuntimeError(f"{tool.name}: no start within {args.startup_timeout}s; see {work / 'tool.out'}")
        time.sleep(args.settle)
        for index in range(edits):
            time.sleep(rng.uniform(args.quiet_min, args.quiet_max))
            t0 = time.time()
            with open(watched, "w") as f:
                f.write(f"edit {index} at {t0:.6f}\n")
            saves += 1

            def restarted():
                stamps = [s for s in start_stamps(log) if s >= t0]
                return stamps[0] if stamps else None

            stamp = wait_for(restarted, args.timeout)
            if stamp is None:
                timeouts += 1
                if not latencies and timeouts >= args.give_up:
                    gave_up = True  # never restarted: do not spend edits * timeout on a tool that does not work
                    break
            else:
                latencies.append(stamp - t0)
        time.sleep(args.tail)
        starts = len(start_stamps(log))
    finally:
        orphans = stop(process, token)
        output.close()
    elapsed = time.monotonic() - began
    restarts = starts - 1
    result = {
        "tool": tool.name, "note": tool.note, "edits": saves, "latencies": latencies, "timeouts": timeouts,
        "restarts": restarts, "restarts_per_save": restarts / max(saves, 1), "gave_up": gave_up, "orphans": orphans,
        "seconds": elapsed, "load_before": load_before, "load_after": loadavg(), "dir": str(work),
    }
    if latencies:
        result.update(median=statistics.median(latencies), p90=percentile(latencies, 0.9), max=max(latencies),
                      min=min(latencies))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


def table(results: list[dict]) -> str:
    lines = ["| tool | config | median (ms) | p90 (ms) | max (ms) | min (ms) | timeouts | restarts per save | load 1-min before/after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r.get("latencies"):
            numbers = " | ".join(f"{r[key] * 1000:.1f}" for key in ["median", "p90", "max", "min"])
        else:
            numbers = "– | – | – | –"
        timeouts = f"{r['timeouts']}/{r['edits']}" + (" (gave up)" if r["gave_up"] else "")
        lines.append(f"| {r['tool']} | {r['note']} | {numbers} | {timeouts} | "
                     f"{r['restarts_per_save']:.2f} ({r['restarts']}/{r['edits']}) | {r['load_before']} / {r['load_after']} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--quiet-min", type=float, default=0.3, help="seconds of quiet before an edit, at least")
    parser.add_argument("--quiet-max", type=float, default=0.8, help="... and at most")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the restart of one edit")
    parser.add_argument("--give-up", type=int, default=3,
                        help="stop measuring a tool after this many timeouts in a row with no restart at all")
    parser.add_argument("--startup-timeout", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=0.5, help="seconds after the first start before editing")
    parser.add_argument("--tail", type=float, default=1.2, help="seconds after the last edit to catch extra restarts")
    parser.add_argument("--only", nargs="*", default=[], help="tool name prefixes (superwatch, entr, watchfiles, werkzeug)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=pathlib.Path, help="write every measurement here")
    parser.add_argument("--keep", action="store_true", help="keep the work directories (tool output, starts.log)")
    parser.add_argument("--no-build", action="store_true", help="use the existing .build/release binary")
    args = parser.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    superwatch = None
    if not args.only or any(p.startswith("superwatch") or "superwatch".startswith(p) for p in args.only):
        superwatch = SCRATCH / "release" / "superwatch" if args.no_build else build_superwatch()
    selected = tools(superwatch, args.only)
    print(f"{platform.node()}: {os.cpu_count()} cores, Linux {platform.release()}, load {loadavg()}; "
          f"{args.edits} edits per tool, quiet {args.quiet_min}-{args.quiet_max}s, seed {seed}", flush=True)
    results = []
    for tool in selected:
        result = measure(tool, args.edits, args, rng)
        results.append(result)
        summary = (f"median {result['median'] * 1000:.1f} ms, p90 {result['p90'] * 1000:.1f} ms, max {result['max'] * 1000:.1f} ms"
                   if result["latencies"] else "no restarts")
        print(f"{tool.name:<20} {summary}; timeouts {result['timeouts']}, restarts/save "
              f"{result['restarts_per_save']:.2f}{' (gave up)' if result['gave_up'] else ''}, orphans {result['orphans']}, {result['seconds']:.0f}s", flush=True)
    print()
    print(table(results))
    by_name = {r["tool"]: r for r in results}
    sw, entr = by_name.get("superwatch-20ms"), by_name.get("entr")
    if sw and entr and sw.get("latencies") and entr.get("latencies"):
        ratio = sw["median"] / entr["median"]
        met = ratio <= 0.6 and sw["restarts"] == sw["edits"] and sw["timeouts"] == 0
        print(f"\nsuperwatch (20ms) median / entr median = {ratio:.2f} (target <= 0.60, one restart per save): "
              f"{'met' if met else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"seed": seed, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
