#!/usr/bin/env python3
"""What checking the app's own modules by microsecond mtime costs a Flask app's start.

superwatch's Werkzeug bootstrap and the sitecustomize.py it injects replace SourceFileLoader.path_stats so that
files outside the standard library and installed packages are validated against their cached bytecode by the
microsecond (Sources/SuperwatchCore/Python/FreshBytecode.swift). This script times `python3 -c 'import app'`
for a Flask app with MODULES modules of its own, with a sitecustomize.py that installs the check and with one
that does not (both import os and sys, as the real one does), cached bytecode warm, RUNS runs each, interleaved, and
times the loader's per-file cost in one interpreter.
Each variant has its own copy of the app: the two write .pyc files the other does not accept.

Usage: bench/fresh-bytecode.py [--runs N] [--modules N,N,...]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check_source():
    swift = open(os.path.join(ROOT, "Sources/SuperwatchCore/Python/FreshBytecode.swift"), encoding="utf-8").read()
    return re.search(r'static let pythonSource = #"""\n(.*?)\n"""#', swift, re.S).group(1)


def make_app(directory, modules):
    os.makedirs(directory)
    imports = "".join(f"import mod{i}\n" for i in range(modules))
    with open(os.path.join(directory, "app.py"), "w") as f:
        f.write(f"from flask import Flask\n{imports}app = Flask(__name__)\n\n@app.route('/')\ndef index():\n"
                "    return 'ok'\n")
    for i in range(modules):
        with open(os.path.join(directory, f"mod{i}.py"), "w") as f:
            f.write(f"def f{i}(x):\n    return x + {i}\n\nVALUE = f{i}(1)\n")


def per_call(env):
    """The loader's per-file cost, with and without the check, timed in one interpreter."""
    code = "\n".join([
        "import importlib.machinery, os, sys, timeit, flask",
        "loader = importlib.machinery.SourceFileLoader",
        "library = os.__file__",
        "own = os.path.abspath(sys.argv[1])",
        "original = loader.path_stats",
        "def once(path):",
        "    return min(timeit.repeat(lambda: loader.path_stats(None, path), number=20000, repeat=5)) / 20000 * 1e6",
        "before = (once(library), once(own))",
        "import time",
        "started = time.perf_counter()",
        check_source(),
        "print(f'installing the check: {(time.perf_counter() - started) * 1e3:.2f} ms')",
        "after = (once(library), once(own))",
        "print(f'path_stats per file: library {before[0]:.2f} -> {after[0]:.2f} us, '",
        "      f'own module {before[1]:.2f} -> {after[1]:.2f} us')",
        "loads = sum(1 for m in list(sys.modules.values()) if type(getattr(m, '__loader__', None)) is loader)",
        "print(f'a Flask app start loads {loads} modules through it')",
    ])
    with tempfile.NamedTemporaryFile("w", suffix=".py") as own:
        subprocess.run([sys.executable, "-c", code, own.name], env=env, check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--modules", default="1,50")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    work = tempfile.mkdtemp(prefix="superwatch-fresh-bytecode-")
    try:
        variants = {"without the check": "import os, sys\n", "with the check": "import os, sys\n" + check_source() + "\n"}
        print(f"python: {sys.version.split()[0]}, runs: {args.runs} each, cached bytecode warm\n")
        print("| app modules | without the check | with the check | difference |")
        print("| --- | --- | --- | --- |")
        for modules in (int(n) for n in args.modules.split(",")):
            commands = {}
            for index, (name, source) in enumerate(variants.items()):
                site = os.path.join(work, f"site-{modules}-{index}")
                os.makedirs(site)
                with open(os.path.join(site, "sitecustomize.py"), "w") as f:
                    f.write(source)
                app = os.path.join(work, f"app-{modules}-{index}")
                make_app(app, modules)
                commands[name] = (app, dict(env, PYTHONPATH=site))
            times = {name: [] for name in commands}
            for run in range(args.runs + 2):
                for name, (app, variant_env) in commands.items():
                    child = subprocess.Popen([sys.executable, "-c", "import app"], cwd=app, env=variant_env)
                    _, status, usage = os.wait4(child.pid, 0)
                    child.returncode = os.waitstatus_to_exitcode(status)
                    assert child.returncode == 0, f"{name}: exit {child.returncode}"
                    if run >= 2:  # the first runs write the bytecode
                        times[name].append(usage.ru_utime + usage.ru_stime)
            medians = [statistics.median(times[name]) * 1000 for name in variants]
            print(f"| {modules} | {medians[0]:.1f} ms | {medians[1]:.1f} ms | {medians[1] - medians[0]:+.1f} ms |")
        print("\n(CPU time, user + system, of the interpreter: less disturbed by other load than wall time)")
        per_call(env)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
