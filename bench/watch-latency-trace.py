#!/usr/bin/env python3
"""Where superwatch's change -> restart latency goes: the same edits as bench/watch-latency.py, with superwatch
running under `perf record` (kernel tracepoints only, inherited by every thread and child, CLOCK_MONOTONIC).

For each edit it lines up, after t0 (just before the writer opens src/a.txt):
  event     the watcher thread's poll(2) returns with the inotify event    (syscalls:sys_exit_poll = 1)
  sigterm   superwatch sends the stop signal to the child's group         (signal:signal_generate sig=15)
  exited    the child (sleep) is gone                                     (sched:sched_process_exit)
  noticed   the I/O thread reaps it through its pidfd                     (syscalls:sys_exit_waitid)
  gone      the supervisor's kill(-pgid, 0) finds the group empty         (syscalls:sys_exit_kill = -ESRCH)
  settled   the watcher thread's poll(2) times out: the debounce is over  (syscalls:sys_exit_poll = 0)
  fork      superwatch forks the new child                                (sched:sched_process_fork)
  exec sh   the child execs /bin/sh                                       (sched:sched_process_exec)
  exec date sh's child execs date                                         (sched:sched_process_exec)
  stamp     date's own timestamp in starts.log (realtime, converted to monotonic with the writer's offset)
and prints the median and p90 of each step. The restart's critical path is
event -> settled -> fork -> exec sh -> exec date -> stamp; the stop (sigterm .. gone) runs inside the debounce.

Needs perf and root (tracepoints), and tracefs mounted (mount -t tracefs nodev /sys/kernel/tracing).
Tracing adds a little to every step; compare the totals with an untraced bench/watch-latency.py run.

With `entr` among the --debounce values, entr -n -r is traced the same way, for comparison.

Usage: bench/watch-latency-trace.py [--edits 20] [--debounce 20ms 5ms entr] [--no-build]
"""
import argparse
import importlib.util
import os
import pathlib
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("watch_latency", HERE / "watch-latency.py")
wl = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wl)

EVENTS = ["syscalls:sys_exit_poll", "syscalls:sys_exit_read", "syscalls:sys_enter_clone", "syscalls:sys_enter_clone3",
          "syscalls:sys_enter_execve", "syscalls:sys_exit_waitid", "syscalls:sys_exit_kill", "signal:signal_generate",
          "sched:sched_process_fork", "sched:sched_process_exec", "sched:sched_process_exit"]
LINE = re.compile(r"^\s*(?P<comm>.*?)\s+(?P<tid>\d+)\s+(?:\[\d+\]\s+)?(?P<time>\d+\.\d+):\s+(?P<event>[\w:]+):\s*(?P<rest>.*)$")
ESRCH = "0xfffffffffffffffd"
STEPS = [  # (label, from, to)
    ("write -> inotify event read", "t0", "event"),
    ("event -> SIGTERM sent", "event", "sigterm"),
    ("SIGTERM -> child exited", "sigterm", "exited"),
    ("child exited -> reaped (pidfd)", "exited", "noticed"),
    ("reaped -> group seen empty", "noticed", "gone"),
    ("event -> debounce timer fires", "event", "settled"),
    ("timer -> fork", "settled", "fork"),
    ("  timer -> clone() entered", "settled", "clone"),
    ("  clone() entered -> child created", "clone", "fork"),
    ("fork -> exec /bin/sh", "fork", "exec_sh"),
    ("  child created -> execve() entered", "fork", "execve"),
    ("  execve() entered -> exec done", "execve", "exec_sh"),
    ("exec sh -> exec date", "exec_sh", "exec_date"),
    ("exec date -> date's timestamp", "exec_date", "stamp"),
    ("total: write -> timestamp", "t0", "stamp"),
]
# entr (for comparison): it reads the inotify event, polls for 50 ms more events, then stops the child
# (SIGTERM, waits for it) and forks the new one.
ENTR_STEPS = [
    ("write -> inotify event read", "t0", "event"),
    ("event -> end of its poll for more events", "event", "settled"),
    ("-> SIGTERM sent", "settled", "sigterm"),
    ("SIGTERM -> child exited", "sigterm", "exited"),
    ("child exited -> fork", "exited", "fork"),
    ("fork -> exec sh", "fork", "exec_sh"),
    ("exec sh -> exec date", "exec_sh", "exec_date"),
    ("exec date -> date's timestamp", "exec_date", "stamp"),
    ("total: write -> timestamp", "t0", "stamp"),
]


def parse(perf_data: pathlib.Path) -> list[dict]:
    text = subprocess.run(["perf", "script", "-i", str(perf_data)], capture_output=True, text=True).stdout
    records = []
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            records.append({"tid": int(m["tid"]), "time": float(m["time"]), "event": m["event"],
                            "rest": m["rest"].strip(), "comm": m["comm"]})
    records.sort(key=lambda r: r["time"])
    return records


def first(records, after, event, predicate=lambda r: True):
    for r in records:
        if r["time"] >= after and r["event"] == event and predicate(r):
            return r
    return None


def field(rest: str, name: str) -> str | None:
    m = re.search(rf"\b{name}=(\S+)", rest)
    return m.group(1) if m else None


def timeline(records, t0: float, stamp: float, tool: str = "superwatch") -> dict | None:
    marks = {"t0": t0, "stamp": stamp}
    if tool == "entr":
        event = first(records, t0, "syscalls:sys_exit_read", lambda r: r["comm"] == "entr" and r["rest"] != "0x0")
    else:
        event = first(records, t0, "syscalls:sys_exit_poll", lambda r: r["rest"] == "0x1")
    if not event:
        return None
    marks["event"] = event["time"]
    sigterm = first(records, t0, "signal:signal_generate", lambda r: field(r["rest"], "sig") == "15")
    if sigterm:
        marks["sigterm"] = sigterm["time"]
        victim = field(sigterm["rest"], "pid")
        exited = first(records, t0, "sched:sched_process_exit", lambda r: field(r["rest"], "pid") == victim)
        if exited:
            marks["exited"] = exited["time"]
    noticed = first(records, t0, "syscalls:sys_exit_waitid")
    if noticed:
        marks["noticed"] = noticed["time"]
    gone = first(records, t0, "syscalls:sys_exit_kill", lambda r: r["rest"] == ESRCH)
    if gone:
        marks["gone"] = gone["time"]
    settled = first(records, event["time"], "syscalls:sys_exit_poll", lambda r: r["rest"] == "0x0")
    if settled:
        marks["settled"] = settled["time"]
        fork = first(records, settled["time"], "sched:sched_process_fork", lambda r: r["comm"] not in ("sh", "sleep"))
        if fork:
            marks["fork"] = fork["time"]
            parent = int(field(fork["rest"], "pid"))
            clone = [r for r in records if settled["time"] <= r["time"] <= fork["time"] and r["tid"] == parent
                     and r["event"] in ("syscalls:sys_enter_clone", "syscalls:sys_enter_clone3")]
            if clone:
                marks["clone"] = clone[-1]["time"]
            child = field(fork["rest"], "child_pid")
            execve = first(records, fork["time"], "syscalls:sys_enter_execve", lambda r: r["tid"] == int(child))
            if execve:
                marks["execve"] = execve["time"]
            exec_sh = first(records, fork["time"], "sched:sched_process_exec",
                            lambda r: field(r["rest"], "pid") == child)
            if exec_sh:
                marks["exec_sh"] = exec_sh["time"]
                exec_date = first(records, exec_sh["time"], "sched:sched_process_exec",
                                  lambda r: (field(r["rest"], "filename") or "").endswith("/date"))
                if exec_date:
                    marks["exec_date"] = exec_date["time"]
    return marks


def workload(perf_pid: int, name: str) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == perf_pid and comm == name:
            return int(entry)
    return None


def run(binary: pathlib.Path, debounce: str, args, rng: random.Random) -> list[dict]:
    """debounce: a superwatch debounce, or "entr" to trace `entr -n -r` instead."""
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"benchlat-trace-{debounce}-"))
    (work / "src").mkdir()
    watched = work / "src" / "a.txt"
    watched.write_text("initial\n")
    log = work / "starts.log"
    log.touch()
    (work / "superwatch.yaml").write_text(
        f"processes:\n  child:\n    command: '{wl.CHILD}'\n    watch: [\"src/*.txt\"]\n    debounce: {debounce}\n")
    token = f"{os.getpid()}-trace-{debounce}-{random.getrandbits(32):08x}"
    environment = dict(os.environ, **{wl.TOKEN_VARIABLE: token})
    output = open(work / "tool.out", "wb")
    tool = "entr" if debounce == "entr" else "superwatch"
    command = ([str(binary), "up", "-f", str(work / "superwatch.yaml")] if tool == "superwatch"
               else ["entr", "-n", "-r", "sh", "-c", wl.CHILD])
    perf = subprocess.Popen(
        ["perf", "record", "-q", "-k", "mono", "-o", str(work / "perf.data"), "-e", ",".join(EVENTS), "--",
         *command],
        cwd=work, env=environment, stdin=subprocess.PIPE if tool == "entr" else subprocess.DEVNULL,
        stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    if tool == "entr":
        perf.stdin.write(f"{watched}\n".encode())
        perf.stdin.close()
    edits = []
    try:
        if not wl.wait_for(lambda: wl.start_stamps(log), 20):
            raise RuntimeError(f"superwatch did not start the child; see {work / 'tool.out'}")
        time.sleep(0.5)
        for index in range(args.edits):
            time.sleep(rng.uniform(0.3, 0.8))
            offset = time.time() - time.monotonic()
            t0 = time.time()
            with open(watched, "w") as f:
                f.write(f"edit {index} at {t0:.6f}\n")
            stamp = wl.wait_for(lambda: next((s for s in wl.start_stamps(log) if s >= t0), None), 5.0)
            if stamp is not None:
                edits.append({"t0": t0 - offset, "stamp": stamp - offset})
        time.sleep(0.3)
    finally:
        child = workload(perf.pid, tool)
        if child:
            os.kill(child, signal.SIGTERM)  # the tool stops its child; perf ends with its workload
        try:
            perf.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        wl.stop(perf, token)
        output.close()
    records = parse(work / "perf.data")
    marks = [m for e in edits if (m := timeline(records, e["t0"], e["stamp"], tool))]
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return marks


def report(debounce: str, marks: list[dict]) -> str:
    title = "entr -n -r" if debounce == "entr" else f"superwatch, debounce {debounce}"
    lines = [f"{title}: {len(marks)} edits traced", "",
             "| step | median (ms) | p90 (ms) |", "|---|---|---|"]
    for label, start, end in (ENTR_STEPS if debounce == "entr" else STEPS):
        values = [(m[end] - m[start]) * 1000 for m in marks if start in m and end in m]
        if values:
            lines.append(f"| {label} | {statistics.median(values):.2f} | {wl.percentile(values, 0.9):.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--debounce", nargs="+", default=["20ms", "5ms", "entr"],
                        help='superwatch debounces to trace; "entr" traces entr -n -r for comparison')
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    binary = wl.SCRATCH / "release" / "superwatch" if args.no_build else wl.build_superwatch()
    rng = random.Random()
    print(f"load {wl.loadavg()}", flush=True)
    for debounce in args.debounce:
        print(report(debounce, run(binary, debounce, args, rng)), flush=True)
        print(flush=True)
    print(f"load {wl.loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
