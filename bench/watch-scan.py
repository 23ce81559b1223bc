#!/usr/bin/env python3
"""Benchmarks superwatch's file watcher on a generated tree.

Generates (once) a tree of 100,000 files in 5,000 directories under /tmp, builds bench/watch-driver in release
mode against this checkout, and for each glob set measures, with one fresh driver process:
  - the initial scan (FileWatcher init + start: walk, match, inotify_add_watch), as the driver times it;
  - idle CPU of the whole process over IDLE_SECONDS while it watches (from /proc/PID/stat utime+stime);
  - RSS (VmRSS) and peak RSS (VmHWM) after the scan;
  - write -> burstStarted latency inside the process (median and worst of 50 writes).

Usage: bench/watch-scan.py [--idle SECONDS] [--tree DIR] [--cold]
  --cold  drop the page/dentry caches before each scan (needs root; otherwise the scan is warm)
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
DRIVER_PACKAGE = HERE / "watch-driver"
TOP_DIRS = 50
SUB_DIRS = 99           # 50 + 50 * 99 = 5,000 directories
FILES_PER_DIR = 20      # 5,000 * 20 = 100,000 files
GLOB_SETS = [["**/*.py"], ["**"], ["src0/**/*.py"]]


def generate(tree: pathlib.Path) -> None:
    marker = tree / ".generated"
    if marker.exists():
        return
    print(f"generating {tree} ...", flush=True)
    started = time.monotonic()
    for top in range(TOP_DIRS):
        top_dir = tree / f"src{top}"
        directories = [top_dir] + [top_dir / f"pkg{sub}" for sub in range(SUB_DIRS)]
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
        for directory in directories:
            for index in range(FILES_PER_DIR):
                suffix = ".py" if index % 2 == 0 else ".txt"
                (directory / f"module{index}{suffix}").write_text("x = 1\n")
    marker.write_text("")
    print(f"generated in {time.monotonic() - started:.1f}s", flush=True)


def count_tree(tree: pathlib.Path) -> tuple[int, int]:
    directories = files = 0
    for _, dirnames, filenames in os.walk(tree):
        directories += len(dirnames)
        files += len([f for f in filenames if f != ".generated"])
    return directories, files


def build_driver() -> pathlib.Path:
    subprocess.run(
        ["swift", "build", "-c", "release", "--scratch-path", ".build-watch"],
        cwd=DRIVER_PACKAGE, check=True, stdout=subprocess.DEVNULL)
    binary = DRIVER_PACKAGE / ".build-watch" / "release" / "watch-driver"
    assert binary.exists(), binary
    return binary


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def status_kib(pid: int, key: str) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return -1


def drop_caches() -> bool:
    try:
        os.sync()
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run_once(binary: pathlib.Path, tree: pathlib.Path, globs: list[str], idle: float, cold: bool) -> dict:
    dropped = drop_caches() if cold else False
    driver = subprocess.Popen([str(binary), str(tree), *globs], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, bufsize=1)
    result = {"globs": " ".join(globs), "cold": dropped}
    try:
        for line in driver.stdout:
            line = line.strip()
            if line == "ready":
                break
            for pair in line.split():
                key, value = pair.split("=")
                result[key] = int(value)
        result["rss_mib"] = status_kib(driver.pid, "VmRSS") / 1024
        before = cpu_seconds(driver.pid)
        time.sleep(idle)
        result["idle_cpu_percent"] = (cpu_seconds(driver.pid) - before) / idle * 100
        driver.stdin.write("latency 50 src0/pkg0/latency_probe.py\n")
        for pair in driver.stdout.readline().split():
            key, value = pair.split("=")
            result[key] = int(value)
        result["peak_rss_mib"] = status_kib(driver.pid, "VmHWM") / 1024
        driver.stdin.write("quit\n")
        driver.wait(timeout=10)
    finally:
        if driver.poll() is None:
            driver.kill()
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--tree", default="/tmp/superwatch-bench-tree")
    parser.add_argument("--cold", action="store_true")
    args = parser.parse_args()
    tree = pathlib.Path(args.tree)
    generate(tree)
    directories, files = count_tree(tree)
    print(f"tree: {tree}: {directories} directories, {files} files")
    binary = build_driver()
    print("| globs | scan (ms) | watches | matching files | idle CPU over "
          f"{args.idle:.0f}s | RSS (MiB) | peak RSS (MiB) | write→burstStarted median / max (µs) |")
    print("|---|---|---|---|---|---|---|---|")
    for globs in GLOB_SETS:
        r = run_once(binary, tree, globs, args.idle, args.cold)
        print(f"| `{r['globs']}`{' (cold cache)' if r['cold'] else ''} | {r['scan_ms']} | {r['watches']} | "
              f"{r['matches']} | {r['idle_cpu_percent']:.3f} % | {r['rss_mib']:.1f} | {r['peak_rss_mib']:.1f} | "
              f"{r['latency_us_median']} / {r['latency_us_max']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
