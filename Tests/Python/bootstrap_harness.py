# Drives superwatch's Werkzeug bootstrap as superwatch would: a bound, listening socket as fd 3, a report
# pipe as fd 4, `python BOOTSTRAP APP` in the app's directory. Then runs the steps of a scenario and prints
# what happened as JSON. (Tests/SuperwatchCoreTests/WerkzeugBootstrapTests.swift runs it.)
#
#   python3 bootstrap_harness.py CONFIG_JSON
#
# CONFIG: {"bootstrap": path of superwatch-werkzeug.py as superwatch writes it out, "cwd": dir, "app": spec, "debug": bool, "family": "inet"|"inet6"|"unix",
#          "env": {extra variables}, "unset": [variables], "steps": [step, ...], "timeout": seconds per wait,
#          "python": [argv prefix], "close_report": bool (close the pipe's read end at once: writes fail)}
# Steps:  {"get": "/path"}                 one HTTP GET over the socket; records status and body
#         {"wait_report": "suffix"}        until a reported path ends with suffix
#         {"wait_stderr": "text"}          until stderr contains text
#         {"signal": "TERM"|"INT"}         sends the signal to the bootstrap
# After the steps it waits for the bootstrap to exit (killing it after the timeout).
import fcntl
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def move_high(fd):
    """Moves fd to a number >= 100 so that 3 and 4 are free for the child's copies."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return high


def listening_socket(family, directory):
    if family == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(directory, "app.sock")
        sock.bind(path)
        address = path
    elif family == "inet6":
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.bind(("::1", 0))
        address = sock.getsockname()[:2]
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        address = sock.getsockname()
    sock.listen(64)
    return sock, address


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def http_get(family, address, path, timeout):
    if family == "unix":
        connection = UnixHTTPConnection(address, timeout)
    else:
        connection = http.client.HTTPConnection(address[0], address[1], timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": "localhost"})
        response = connection.getresponse()
        return {"status": response.status, "body": response.read().decode("utf-8", "replace")}
    finally:
        connection.close()


class Collector:
    """Reads a pipe to its end in a thread."""

    def __init__(self, fd):
        self.fd = fd
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self.lock:
                self.data += chunk

    def text(self):
        with self.lock:
            return self.data.decode("utf-8", "replace")


def wait_until(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def main():
    config = json.loads(sys.argv[1])
    timeout = config.get("timeout", 30)
    family = config.get("family", "inet")

    sock, address = listening_socket(family, config["cwd"])
    report_read, report_write = os.pipe()
    sock_fd = move_high(os.dup(sock.fileno()))
    sock.close()
    report_read = move_high(report_read)
    report_write = move_high(report_write)
    os.dup2(sock_fd, 3)
    os.dup2(report_write, 4)
    os.close(sock_fd)
    os.close(report_write)

    env = dict(os.environ)
    env.update({
        "LISTEN_FDS": "1", "LISTEN_FDNAMES": "app", "WERKZEUG_SERVER_FD": "3", "WERKZEUG_RUN_MAIN": "true",
        "SUPERWATCH_WSGI_DEBUG": "1" if config.get("debug") else "0",
        "SUPERWATCH_REPORT_FD": "4",
    })
    env.update(config.get("env", {}))
    for name in config.get("unset", []):
        env.pop(name, None)
    python = config.get("python", [sys.executable])
    child = subprocess.Popen(python + [config["bootstrap"], config["app"]], cwd=config["cwd"], env=env, pass_fds=(3, 4),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(3)
    os.close(4)
    stdout = Collector(child.stdout.fileno())
    stderr = Collector(child.stderr.fileno())
    if config.get("close_report"):
        os.close(report_read)
        report_read = os.open(os.devnull, os.O_RDONLY)
    report = Collector(report_read)

    def reported():
        # "file PATH", or "loaded MTIME_NS SIZE PATH" for a file the app read
        return [line[5:] if line.startswith("file ") else line.split(" ", 3)[3]
                for line in report.text().splitlines() if line.startswith(("file ", "loaded "))]

    results = {"responses": [], "waits": [], "async_responses": []}
    background = []

    def get_in_background(path):
        try:
            results["async_responses"].append(http_get(family, address, path, timeout))
        except OSError as error:
            results["async_responses"].append({"status": 0, "body": repr(error)})
    for step in config.get("steps", []):
        if "get" in step:
            ok = wait_until(lambda: " * Serving" in stderr.text() or child.poll() is not None, timeout)
            try:
                results["responses"].append(http_get(family, address, step["get"], timeout) if ok else None)
            except OSError as error:
                results["responses"].append({"status": 0, "body": repr(error)})
        elif "get_async" in step:
            thread = threading.Thread(target=get_in_background, args=(step["get_async"],), daemon=True)
            thread.start()
            background.append(thread)
        elif "wait_report" in step:
            suffix = step["wait_report"]
            results["waits"].append(wait_until(lambda: any(p.endswith(suffix) for p in reported()), timeout))
        elif "wait_stderr" in step:
            text = step["wait_stderr"]
            results["waits"].append(wait_until(lambda: text in stderr.text(), timeout))
        elif "signal" in step:
            child.send_signal(getattr(signal, "SIG" + step["signal"]))

    for thread in background:
        thread.join(timeout)
    try:
        code = child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        code = None
    stdout.thread.join(timeout)
    stderr.thread.join(timeout)
    report.thread.join(timeout)
    results.update({"exit": code, "stdout": stdout.text(), "stderr": stderr.text(), "report": report.text(),
                    "reported": reported()})
    print(json.dumps(results))


main()
