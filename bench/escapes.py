"""Which processes that leave their process group outlive superwatch: a table, measured.

For each way of leaving (below), with cgroups and without (SUPERWATCH_NO_CGROUP=1), it starts a one-process
stack whose process records the pid of what left, waits until the escape happened (and, when asked, until
superwatch has logged it), stops superwatch with SIGINT or SIGKILL and then polls for up to 15 s whether that
pid is still alive. Usage: python3 bench/escapes.py [path/to/superwatch]
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/superwatch")

DOUBLE_FORK = """python3 -c '
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open("esc.tmp", "w").write(str(os.getpid())); os.rename("esc.tmp", "esc.pid")
        os.execvp("sleep", ["sleep", "1000"])
    os._exit(0)
os.wait(); os.execvp("sleep", ["sleep", "1000"])'"""

# Each escaped process writes its own pid once it has escaped.
SETSID = "setsid sh -c 'echo $$ > esc.tmp; mv esc.tmp esc.pid; exec sleep 1000' & wait"
LEAVE_CGROUP = ("sh -c 'echo 0 > /sys/fs/cgroup/unified/cgroup.procs; "
                "exec setsid sh -c \"echo \\$\\$ > esc.tmp; mv esc.tmp esc.pid; exec sleep 1000\"' & wait")

CASES = [
    # name, command, wait for superwatch's "left its process group" line before stopping it
    ("setsid, parent stays", SETSID, True),
    ("double fork, parent exits", DOUBLE_FORK, True),
    ("setsid, stopped at once", SETSID, False),
    ("double fork, stopped at once", DOUBLE_FORK, False),
    ("also leaves its cgroup (as root)", LEAVE_CGROUP, True),
]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def one(command, cgroups, sig, wait_for_log):
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/superwatch.yaml", "w") as f:
            f.write("processes:\n  p:\n    command: |\n" + "".join(f"      {line}\n" for line in command.splitlines())
                    + "    stop_timeout: 2s\n")
        env = dict(os.environ)
        if not cgroups:
            env["SUPERWATCH_NO_CGROUP"] = "1"
        log = open(f"{d}/log", "w+")
        sw = subprocess.Popen([binary, "up"], cwd=d, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 10
        pid = None
        while time.time() < deadline and pid is None:
            try:
                pid = int(open(f"{d}/esc.pid").read())
            except (OSError, ValueError):
                time.sleep(0.01)
        expected = "left its process group" if not cgroups and wait_for_log else None
        while expected and time.time() < deadline and expected not in open(f"{d}/log").read():
            time.sleep(0.01)
        sw.send_signal(sig)
        sw.wait()
        deadline = time.time() + 15
        while time.time() < deadline and pid and alive(pid):
            time.sleep(0.05)
        left = pid is not None and alive(pid)
        if left:
            os.kill(pid, signal.SIGKILL)
        return "escapes" if left else "stopped"


print(f"| case | {' | '.join(f'{m}, {s}' for m in ('cgroups', 'no cgroups') for s in ('SIGINT', 'SIGKILL'))} |")
print("| --- " * 5 + "|")
for name, command, wait in CASES:
    cells = [one(command, cgroups, sig, wait) for cgroups in (True, False) for sig in (signal.SIGINT, signal.SIGKILL)]
    print(f"| {name} | {' | '.join(cells)} |")
