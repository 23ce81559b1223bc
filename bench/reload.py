#!/usr/bin/env python3
"""Reload under load: how a supervisor behaves while the code of a serving Flask app changes.

For each mode the script copies examples/flask to a temporary directory, starts the app under that mode, and
then, while a client thread sends requests to /api/greeting back to back over loopback, rewrites helpers.py
EDITS times, each time with a new greeting. It measures

- refused:  requests whose connection was refused (nothing listening: the socket went away in a restart);
- failed:   requests that failed otherwise (reset, timeout, an error status);
- latency:  for each edit, from the write of helpers.py to the first response carrying the new greeting.

Modes (Flask, examples/flask; helpers.py edited, /api/greeting requested):
  superwatch-werkzeug  superwatch up, a `werkzeug: app:app` process with `listen:`
  superwatch-app       superwatch up, `python3 run.py` (app.run(debug=True)) with `listen:`: superwatch replaces
                       Werkzeug's reloader (its own watching, a standby interpreter)
  superwatch-flask-run superwatch up, `flask --app app run --debug` with `listen:`, the same way
  superwatch-listen    superwatch up, app.run(debug=True, reloader_type="stat") with `listen:` and `reloader: werkzeug`:
                       Werkzeug's reloader runs in-process and exits with code 3; superwatch holds the socket
  werkzeug-stat        app.run(debug=True, reloader_type="stat"), Werkzeug's polling reloader (1 s interval)
  werkzeug-watchdog    app.run(debug=True, reloader_type="watchdog") (pip installs watchdog if missing)
  watchfiles           watchfiles 'python3 run.py' . with Werkzeug's reloader off (pip installs watchfiles)
  entr                 find . -name '*.py' | entr -n -r python3 run.py, Werkzeug's reloader off (apt installs entr)
Modes with --app django (examples/django; views.py edited, /api/greeting requested):
  superwatch-runserver superwatch up, `python3 manage.py runserver` with `listen:`
  django-stat          python3 manage.py runserver, Django's own StatReloader
  entr, watchfiles     as above, running `manage.py runserver --noreload`

--python runs every Python command with that interpreter (a virtualenv with watchdog, say).

Usage: bench/reload.py [--app flask|django] [--python PATH] [--superwatch PATH] [--edits N] [--modes a,b,...]
                       [--markdown]
"""
import argparse
import collections
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = {"flask": os.path.join(ROOT, "examples", "flask"), "django": os.path.join(ROOT, "examples", "django")}
MODES = {
    "flask": ["superwatch-werkzeug", "superwatch-app", "superwatch-flask-run", "superwatch-listen", "werkzeug-stat",
              "werkzeug-watchdog", "watchfiles", "entr"],
    "django": ["superwatch-runserver", "django-stat", "entr", "watchfiles"],
}

# Runs the example app with Werkzeug's own server on BENCH_PORT; BENCH_RELOADER is stat, watchdog or none.
RUNNER = """\
import os
from app import app

reloader = os.environ["BENCH_RELOADER"]
# Under superwatch's `listen:` the port is ignored: WERKZEUG_SERVER_FD names the socket to serve on.
app.run(host="127.0.0.1", port=int(os.environ.get("BENCH_PORT", "5000")), debug=True,
        use_reloader=reloader != "none", reloader_type=reloader if reloader != "none" else "auto")
"""

HELPERS = '''"""Edit the greeting and watch the running app pick it up."""


def greeting():
    return "{greeting}"
'''

VIEWS = '''from django.http import HttpResponse
from django.shortcuts import render

GREETING = "{greeting}"


def index(request):
    return render(request, "index.html", {{"greeting": GREETING}})


def greeting(request):
    return HttpResponse(GREETING)
'''


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_installed(module, package, python=sys.executable):
    """Installs `package` with pip for interpreter `python` when it cannot import `module` (the app's interpreter
    for werkzeug-watchdog: checking this script's own would install it into the system's Python)."""
    if subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode != 0:
        print(f"installing {package} for {python} ...", file=sys.stderr)
        subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check", package], check=True)


def command_for(mode, directory, port, args):
    """The argv that starts the app in `mode`, after writing any file that mode needs."""
    python, superwatch = args.python, args.superwatch
    with open(os.path.join(directory, "run.py"), "w") as runner:
        runner.write(RUNNER)
    env = {"BENCH_PORT": str(port)}
    if args.app == "django":
        serve = f"{python} manage.py runserver 127.0.0.1:{port}"
    else:
        serve = f"{python} run.py"
    if mode.startswith("superwatch-"):
        if not os.access(superwatch, os.X_OK):
            raise FileNotFoundError(f"no superwatch binary at {superwatch} (build it or pass --superwatch)")
        if mode == "superwatch-werkzeug":
            process = f"    werkzeug: app:app\n    python: {python}\n    debug: true\n"
        elif mode == "superwatch-app":
            process = f"    command: {python} run.py\n    env: {{BENCH_RELOADER: stat}}\n"
        elif mode == "superwatch-flask-run":
            process = f"    command: {python} -m flask --app app run --debug\n"
        elif mode == "superwatch-runserver":
            process = f"    command: {serve}\n"
        else:
            # run.py is app.py's `app.run(debug=True)` with the reloader pinned to "stat": "auto" would pick
            # watchdog whenever it is installed, and the result would depend on the machine.
            process = f"    command: {python} run.py\n    env: {{BENCH_RELOADER: stat}}\n    reloader: werkzeug\n"
        with open(os.path.join(directory, "bench.yaml"), "w") as config:
            config.write(f"processes:\n  app:\n{process}    listen: 127.0.0.1:{port}\n")
        return [superwatch, "up", "-f", "bench.yaml"], {}
    if mode == "werkzeug-stat":
        return [python, "run.py"], {**env, "BENCH_RELOADER": "stat"}
    if mode == "werkzeug-watchdog":
        ensure_installed("watchdog", "watchdog", python)
        return [python, "run.py"], {**env, "BENCH_RELOADER": "watchdog"}
    if mode == "django-stat":
        return serve.split(), env
    if args.app == "django":
        serve += " --noreload"
    if mode == "watchfiles":
        ensure_installed("watchfiles", "watchfiles")
        return [sys.executable, "-m", "watchfiles", serve, "."], {**env, "BENCH_RELOADER": "none"}
    if mode == "entr":
        if shutil.which("entr") is None:
            raise FileNotFoundError("entr is not installed (apt-get install entr)")
        return ["sh", "-c", f"find . -name '*.py' | entr -n -r {serve}"], {**env, "BENCH_RELOADER": "none"}
    raise SystemExit(f"unknown mode {mode!r}; modes: {', '.join(MODES[args.app])}")


class Client(threading.Thread):
    """Sends GET /api/greeting back to back until stopped, recording each outcome."""

    def __init__(self, port, timeout):
        super().__init__(daemon=True)
        self.port, self.timeout = port, timeout
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.refused = self.failed = 0
        self.failures = collections.Counter()  # kind of failure -> count, shown on stderr
        self.latest = []  # (monotonic time of the response, body), for the edit loop to look at

    def run(self):
        while not self.stopping.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            outcome, kind = None, None
            try:
                connection.request("GET", "/api/greeting", headers={"Connection": "close"})
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace")
                outcome = "ok" if response.status == 200 else "failed"
                kind = f"status {response.status}"
            except ConnectionRefusedError:
                outcome = "refused"
            except (OSError, http.client.HTTPException) as error:
                outcome, kind = "failed", type(error).__name__
            finally:
                connection.close()
            now = time.monotonic()
            with self.lock:
                self.sent += 1
                if outcome == "ok":
                    self.latest.append((now, body))
                    del self.latest[:-200]
                elif outcome == "refused":
                    self.refused += 1
                else:
                    self.failed += 1
                    self.failures[kind] += 1
            if outcome != "ok":
                time.sleep(0.005)  # do not spin while nothing listens

    def first_response_with(self, text, after):
        with self.lock:
            for when, body in self.latest:
                if when >= after and text in body:
                    return when
        return None


def wait_for(condition, timeout, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    return None


def write_greeting(directory, greeting, app="flask"):
    """Rewrites helpers.py (Flask) or views.py (Django) in place, as most editors save."""
    name, template = ("views.py", VIEWS) if app == "django" else ("helpers.py", HELPERS)
    with open(os.path.join(directory, name), "w") as source:
        source.write(template.format(greeting=greeting))


def stop_group(process):
    """Stops the process group the mode started (it was started as a session leader)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def run_mode(mode, args):
    # The app in DIR/app, its log in DIR: a log inside a watched tree would itself trigger reloads.
    top = tempfile.mkdtemp(prefix=f"superwatch-bench-{mode}-")
    directory = os.path.join(top, "app")
    shutil.copytree(EXAMPLES[args.app], directory, ignore=shutil.ignore_patterns("__pycache__"))
    write_greeting(directory, "greeting 0", args.app)
    port = free_port()
    result = {"mode": mode, "edits": args.edits, "latencies": [], "missed": 0, "error": None}
    try:
        argv, extra_env = command_for(mode, directory, port, args)
    except (OSError, subprocess.CalledProcessError) as error:
        result["error"] = str(error)
        return result
    # Without this, two edits in the same second with the same size would load stale bytecode.
    env = {**os.environ, **extra_env, "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}
    log = open(os.path.join(top, "bench.log"), "wb")
    process = subprocess.Popen(argv, cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    client = Client(port, args.request_timeout)
    try:
        client.start()
        if not wait_for(lambda: client.first_response_with("greeting 0", 0), args.start_timeout):
            result["error"] = f"never served (see {log.name})"
            return result
        with client.lock:
            client.sent = client.refused = client.failed = 0  # count only what happens around edits
            client.failures.clear()
        for edit in range(1, args.edits + 1):
            text = f"greeting {edit}"
            edited = time.monotonic()
            write_greeting(directory, text, args.app)
            seen = wait_for(lambda: client.first_response_with(text, edited), args.edit_timeout)
            if seen is None:
                result["missed"] += 1
                print(f"{mode}: edit {edit} ({text!r}) never served within {args.edit_timeout} s", file=sys.stderr)
            else:
                result["latencies"].append(seen - edited)
            time.sleep(args.settle)  # let the new process settle (and its reloader take its snapshot)
    finally:
        client.stopping.set()
        client.join(args.request_timeout + 1)
        stop_group(process)
        log.close()
    result.update(sent=client.sent, refused=client.refused, failed=client.failed)
    if client.failures:
        print(f"{mode}: failures: {dict(client.failures)}", file=sys.stderr)
    if not args.keep:
        shutil.rmtree(top, ignore_errors=True)
    return result


def percentile(values, fraction):
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def table(results, markdown):
    header = ["mode", "requests", "refused", "failed", "missed", "median ms", "p90 ms"]
    rows = []
    for r in results:
        if r["error"]:
            rows.append([r["mode"], "-", "-", "-", "-", "-", r["error"]])
            continue
        latencies = [1000 * x for x in r["latencies"]]
        median = f"{statistics.median(latencies):.0f}" if latencies else "-"
        p90 = f"{percentile(latencies, 0.9):.0f}" if latencies else "-"
        rows.append([r["mode"], str(r["sent"]), str(r["refused"]), str(r["failed"]),
                     f"{r['missed']}/{r['edits']}", median, p90])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header] + rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--superwatch", default=os.environ.get("SUPERWATCH", os.path.join(ROOT, ".build/release/superwatch")),
                        help="the superwatch binary (default $SUPERWATCH or .build/release/superwatch)")
    parser.add_argument("--app", choices=sorted(EXAMPLES), default="flask", help="the example to run (default flask)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the app (default this one)")
    parser.add_argument("--modes", help="comma-separated modes (default: all of the app's)")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--edit-timeout", type=float, default=15, help="seconds to wait for each new greeting")
    parser.add_argument("--settle", type=float, default=0.5, help="seconds between a new greeting and the next edit")
    parser.add_argument("--start-timeout", type=float, default=30)
    parser.add_argument("--request-timeout", type=float, default=2)
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--keep", action="store_true", help="keep each mode's directory (and its bench.log)")
    args = parser.parse_args()
    args.superwatch = os.path.abspath(args.superwatch)  # each mode runs in its own directory
    results = []
    modes = args.modes or ",".join(MODES[args.app])
    for mode in [m.strip() for m in modes.split(",") if m.strip()]:
        print(f"running {mode} ...", file=sys.stderr)
        results.append(run_mode(mode, args))
    print(table(results, args.markdown))


if __name__ == "__main__":
    main()
