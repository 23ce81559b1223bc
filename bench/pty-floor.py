#!/usr/bin/env python3
"""The kernel's own cost of a pseudo-terminal: 4 producers (bench/producer.py, one write(2) per line) drained by
the smallest possible reader (epoll, 1 MiB reads, nothing printed), once through pipes and once through a
pseudo-terminal each. superwatch cannot be faster than this floor; bench/pty-throughput.sh compares it with it.

Usage: bench/pty-floor.py [LINES] [RUNS]   (default 250000 lines, 5 runs; prints the median wall time per mode)
"""
import os
import pty
import select
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(mode, lines):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    readers, children = [], []
    started = time.monotonic()
    for index in range(4):
        if mode == "pty":
            reader, writer = pty.openpty()
        else:
            reader, writer = os.pipe()
        argv = [sys.executable, os.path.join(HERE, "producer.py"), f"p{index}", str(lines)]
        children.append(subprocess.Popen(argv, stdout=writer, stderr=writer, env=env, start_new_session=True))
        os.close(writer)
        readers.append(reader)
    poller = select.epoll()
    for reader in readers:
        poller.register(reader, select.EPOLLIN)
    total, live = 0, set(readers)
    while live:
        for fd, _ in poller.poll():
            try:
                data = os.read(fd, 1 << 20)
            except OSError:  # EIO: a terminal whose writer is gone
                data = b""
            if not data:
                poller.unregister(fd)
                os.close(fd)
                live.discard(fd)
            total += len(data)
    for child in children:
        child.wait()
    return time.monotonic() - started, total


def main():
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 250000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    medians = {}
    for mode in ("pipe", "pty"):
        times = [run(mode, lines)[0] for _ in range(runs)]
        medians[mode] = statistics.median(times)
        print(f"{mode}: median {medians[mode]:.3f} s over {runs} runs ({', '.join(f'{t:.2f}' for t in times)})")
    print(f"pty / pipe = {medians['pty'] / medians['pipe']:.2f}")


if __name__ == "__main__":
    main()
