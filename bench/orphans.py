"""How long after superwatch is killed (SIGKILL, SIGINT, SIGTERM) the last process of its stack is gone.

Starts a stack of 4 processes, each a shell with a backgrounded grandchild and a foreground child, records
their pids, kills superwatch with the given signal and polls /proc every millisecond until none is alive
(zombies count as gone). Usage: python3 bench/orphans.py [path/to/superwatch] [runs]
"""
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else ".build/release/superwatch"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
binary = os.path.abspath(binary)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except OSError:
        return False


def one(sig, stop_timeout):
    with tempfile.TemporaryDirectory() as d:
        procs = "\n".join(
            f"  p{i}:\n    command: 'sleep 1000 & echo $! >> pids; sh -c \"sleep 1000\" & echo $! >> pids; echo $$ >> pids; wait'\n"
            f"    stop_timeout: {stop_timeout}\n"
            for i in range(4))
        with open(f"{d}/superwatch.yaml", "w") as f:
            f.write("processes:\n" + procs)
        sw = subprocess.Popen([binary, "up"], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        pids = []
        while time.time() < deadline:
            try:
                pids = [int(x) for x in open(f"{d}/pids").read().split()]
            except OSError:
                pids = []
            if len(pids) == 12:
                break
            time.sleep(0.01)
        assert len(pids) == 12, pids
        start = time.monotonic()
        sw.send_signal(sig)
        while any(alive(p) for p in pids):
            if time.monotonic() - start > 30:
                for p in pids:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except OSError:
                        pass
                return float("inf")
            time.sleep(0.001)
        took = time.monotonic() - start
        sw.wait()
        return took


print(f"{'signal':8} {'stop_timeout':12} {'median ms':>10} {'max ms':>8}  (runs: {runs}; 12 processes per stack)")
for sig, name in [(signal.SIGKILL, "SIGKILL"), (signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")]:
    times = [one(sig, "2s") * 1000 for _ in range(runs)]
    print(f"{name:8} {'2s':12} {statistics.median(times):10.1f} {max(times):8.1f}")
