"""Log throughput of `superwatch up` with N `superwatch logs --follow` clients attached vs none.

4 producers (bench/producer.py) x LINES lines each; up's output and the followers' go to /dev/null. The
producers wait for a file `go` so that the followers are connected before the first line: the time measured is
from `go` to up's exit (every producer done and every line written). Runs alternate between the configurations
(none, two followers, none, ...), so that the load of other work on the machine falls on both alike.
Usage: python3 bench/follow-throughput.py [LINES] [RUNS]   (defaults 250000 and 7). Release build.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
lines = int(sys.argv[1]) if len(sys.argv) > 1 else 250000
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
# SUPERWATCH=PATH: measure that binary instead of building the release one.
sw = os.environ.get("SUPERWATCH")
if not sw:
    subprocess.run(["swift", "build", "-c", "release", "--product", "superwatch"], cwd=repo, check=True,
                   stdout=subprocess.DEVNULL)
    sw = os.path.join(repo, ".build/release/superwatch")
work = tempfile.mkdtemp()
shutil.copy(os.path.join(repo, "bench/producer.py"), work)
runtime = os.path.join(work, "runtime")
os.mkdir(runtime, 0o700)
env = dict(os.environ, XDG_RUNTIME_DIR=runtime, PYTHONUNBUFFERED="1")  # one write(2) per line, as throughput.sh
with open(os.path.join(work, "superwatch.yaml"), "w") as f:
    f.write("processes:\n")
    for i in range(1, 5):
        f.write(f"  p{i}: {{command: \"while [ ! -e go ]; do sleep 0.01; done; "
                f"exec python3 producer.py p{i} {lines}\", restart: never}}\n")


def run(followers):
    go = os.path.join(work, "go")
    if os.path.exists(go):
        os.remove(go)
    null = open(os.devnull, "w")
    up = subprocess.Popen([sw, "up"], cwd=work, env=env, stdout=null, stderr=null)
    while subprocess.run([sw, "status"], cwd=work, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL).returncode != 0:
        time.sleep(0.05)
    clients = [subprocess.Popen([sw, "logs", "--follow", "-n", "0"], cwd=work, env=env, stdout=null)
               for _ in range(followers)]
    time.sleep(0.5)  # the followers connect (a benchmark, not a test: a settling delay is acceptable here)
    start = time.monotonic()
    open(go, "w").close()
    _, status, usage = os.wait4(up.pid, 0)  # up's own CPU time: what the followers cost the hot path itself
    elapsed = time.monotonic() - start
    up.returncode = os.waitstatus_to_exitcode(status)
    follower_cpu = 0.0
    for client in clients:
        _, client_status, client_usage = os.wait4(client.pid, 0)  # they end with up
        client.returncode = os.waitstatus_to_exitcode(client_status)
        if client.returncode != 0:
            print(f"a follower exited with {client.returncode}", file=sys.stderr)
        follower_cpu += client_usage.ru_utime + client_usage.ru_stime
    return elapsed, usage.ru_utime + usage.ru_stime, follower_cpu


results = {0: [], 2: []}
for _ in range(runs):
    for followers in (0, 2):
        results[followers].append(run(followers))
shutil.rmtree(work)
for followers, measures in results.items():
    times = [m[0] for m in measures]
    cpu = [m[1] for m in measures]
    print(f"{followers} followers: median {statistics.median(times):.3f} s  "
          f"(min {min(times):.3f}, max {max(times):.3f}, n={len(times)}); up's CPU median "
          f"{statistics.median(cpu):.3f} s; the followers' CPU median {statistics.median(m[2] for m in measures):.3f} s")
ratio = statistics.median(m[0] for m in results[2]) / statistics.median(m[0] for m in results[0])
cpu_ratio = statistics.median(m[1] for m in results[2]) / statistics.median(m[1] for m in results[0])
print(f"two followers / none: {ratio:.3f} x wall, {cpu_ratio:.3f} x up's CPU  "
      f"(load average {os.getloadavg()[0]:.1f})")
