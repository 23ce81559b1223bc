"""What superwatch's Python shares: the protocol with superwatch, stop signals, which files and packages an app
is made of (reported on superwatch's report pipe) and a standby interpreter's wait for "go".

Imported by the Werkzeug bootstrap (superwatch-werkzeug.py) and by superwatch_reloader.py (which the injected
sitecustomize.py loads for a Python command whose reloader superwatch replaces). Everything imported here is
imported lazily where it is not needed by both.
"""
import contextlib
import os
import signal
import sys
import threading

# superwatch-protocol: begin
# superwatch's Swift side (enum PythonProtocol) is generated from the constants between these two markers at
# build time (Plugins/EmbedPythonTool), so both sides share one definition.
#
# Exit status: the app could not be imported or found. Its traceback is on stderr and the files to watch have
# been reported: keep the process down until one of them changes.
EXIT_IMPORT_FAILED = 75
# Exit status: Werkzeug cannot be imported by this interpreter (stderr says how to install it).
EXIT_WERKZEUG_MISSING = 76
# Exit status: the server descriptor is not a listening socket.
EXIT_NO_SOCKET = 1
# Report line "file ABSOLUTE-PATH": a file to watch; it may not exist yet.
REPORT_FILE = "file"
# Report line "loaded MTIME_NS SIZE ABSOLUTE-PATH": a file to watch that the process has read, with the st_mtime_ns
# and st_size it had then. Once superwatch watches it, it compares them with the file on disk and takes a difference
# for a change: an edit made after the import but before the watch was in place is not lost.
REPORT_LOADED = "loaded"
# Report line "preload NAME": an installed top-level package the app imports, for a standby interpreter.
REPORT_PRELOAD = "preload"
# Environment: the descriptor of the report pipe.
ENV_REPORT_FD = "SUPERWATCH_REPORT_FD"
# Environment: "1" turns Werkzeug's interactive debugger on.
ENV_DEBUG = "SUPERWATCH_WSGI_DEBUG"
# Environment: "1" when superwatch plays the parent of a Python command's reloader (Werkzeug's or Django's): the
# injected sitecustomize.py replaces the reloader's loop with reports on the report pipe.
ENV_RELOADER = "SUPERWATCH_RELOADER"
# Environment: the descriptor a standby interpreter reads its "go" line from.
ENV_STANDBY_FD = "SUPERWATCH_STANDBY_FD"
# Environment: the packages a standby interpreter imports ahead of time, comma-separated.
ENV_PRELOAD = "SUPERWATCH_PRELOAD"
# The line that wakes a standby interpreter: GO, a space, a JSON object of environment changes (null: unset).
GO = "go"
# superwatch-protocol: end

# This file's directory: its files are superwatch's, never the app's.
HERE = os.path.dirname(os.path.abspath(__file__))


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


class Stop(BaseException):
    """Raised in the main thread by SIGTERM or SIGINT; unwinds everything and ends with status 0."""


class StopSignals:
    """Turns SIGTERM and SIGINT into Stop, except inside `deferred()` sections of the main thread (handing
    an accepted connection to its thread, writing a report), where Stop waits for the section's end.
    Signals are never blocked: the kernel then delivers them to the main thread, waking it at once."""

    def __init__(self):
        self.received = False
        self.deferring = 0

    def install(self):
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.handle)
        # A signal mask survives exec: a parent that blocked these (some test runners and thread pools do)
        # would otherwise make the process unstoppable but by SIGKILL.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def handle(self, signum, frame):
        if self.received:  # a second signal while stopping means "now"
            os._exit(0)
        self.received = True
        if not self.deferring:
            raise Stop()

    @contextlib.contextmanager
    def deferred(self):
        if threading.current_thread() is not threading.main_thread():
            yield  # handlers run only in the main thread
            return
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1
        if self.received and not self.deferring:
            raise Stop()


stop_signals = StopSignals()


def exit_now(status):
    """Ends the process with `status` at once: the app's atexit handlers run and the output is flushed, but the
    interpreter is not torn down (with Flask loaded that takes about 100 ms, and the next process waits for this
    one to be gone)."""
    import atexit

    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_functions is not None:
        run_exit_functions()  # prints a handler's exception as Python's own exit would, and goes on
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or replaced by the app: nothing left to flush
            pass
    os._exit(status)


def _real(path):
    return os.path.normcase(os.path.realpath(path))


def _library_roots():
    """Directories holding the standard library, installed packages and this bootstrap, which are not watched."""
    import site
    import sysconfig

    roots = {HERE}
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.add(paths[key])
    try:
        roots.update(site.getsitepackages())
    except AttributeError:  # some virtualenv versions ship a site module without it
        pass
    if site.ENABLE_USER_SITE and site.USER_SITE:
        roots.add(site.USER_SITE)
    return tuple(_real(root).rstrip(os.sep) + os.sep for root in roots)


def _module_source(module):
    """The source file a module was loaded from, or None (built-in, namespace or vanished)."""
    try:
        path = getattr(module, "__file__", None)
    except Exception:  # modules with a custom __getattr__ may raise anything
        return None
    if not isinstance(path, str) or not path:
        return None
    if path.endswith((".pyc", ".pyo")):
        import importlib.util

        try:
            source = importlib.util.source_from_cache(path)
        except ValueError:  # a .pyc that is not under __pycache__ (a sourceless distribution)
            source = None
        if source and os.path.isfile(source):
            path = source
    return os.path.abspath(path)


class FileReporter:
    """Writes "file PATH" lines to superwatch's report pipe, each file once per process."""

    def __init__(self, fd, exclude_patterns=(), preload_modules=False):
        """`exclude_patterns`: fnmatch patterns of absolute paths never reported, as Werkzeug's exclude_patterns.
        `preload_modules`: name every installed module for a standby (a command's standby may import submodules
        ahead of time), not only the top-level packages."""
        self.fd = fd if fd >= 0 else None
        self.exclude_patterns = tuple(exclude_patterns or ())
        self.preload_modules = preload_modules
        self.reported = set()  # paths
        self.seen_modules = set()  # names of the modules already looked at
        self.preloads = set()  # installed top-level packages the app uses, told to superwatch once
        self.new_preloads = []
        self.library_roots = _library_roots()
        self.app_roots = ()  # files of the app's own package are reported even from site-packages
        self.lock = threading.Lock()  # the main thread and the reporter thread both report
        if self.fd is not None:
            try:
                os.set_inheritable(self.fd, False)  # not for programs the app starts
            except OSError:
                self.fd = None  # superwatch passed no pipe: nothing to report to

    def set_app_module(self, module_name):
        """Exempts the app's top-level package (or module) from the library filter."""
        top = sys.modules.get(module_name.partition(".")[0])
        if top is None:
            return
        roots = [_real(p).rstrip(os.sep) + os.sep for p in getattr(top, "__path__", None) or ()]
        source = _module_source(top)
        if source:
            roots.append(_real(source))
        self.app_roots = tuple(roots)

    def is_library(self, path):
        """Whether file `path` is not the app's: the standard library, an installed package or superwatch's."""
        real = _real(path)
        if self.app_roots and real.startswith(self.app_roots):
            return False
        if real.startswith(self.library_roots):
            return True
        parts = real.split(os.sep)
        return "site-packages" in parts or "dist-packages" in parts

    def module_files(self):
        """Files of the modules loaded since the last call, minus library files."""
        files = []
        for name, module in list(sys.modules.copy().items()):
            if name in self.seen_modules:
                continue
            self.seen_modules.add(name)
            path = _module_source(module)
            if path and not self.is_library(path):
                files.append(path)
            elif path and self.is_installed_package(path):
                top = name if self.preload_modules else name.partition(".")[0]
                if top not in self.preloads:
                    self.preloads.add(top)
                    self.new_preloads.append(top)
        return files

    def is_installed_package(self, path):
        """Whether `path` belongs to an installed package (site-packages), which a warm standby
        interpreter may import ahead of time: it does not change while the app is edited."""
        parts = _real(path).split(os.sep)
        return "site-packages" in parts or "dist-packages" in parts

    def is_excluded(self, path):
        """Whether `path` matches one of the exclude patterns (Werkzeug matches them against the absolute path)."""
        if not self.exclude_patterns:
            return False
        import fnmatch

        return any(fnmatch.fnmatch(path, pattern) for pattern in self.exclude_patterns)

    def report(self, extra=(), candidates=()):
        """Reports the files of all loaded modules plus `extra`, and the paths in `candidates` whether they exist
        or not (where a missing module would be found), skipping ones reported before."""
        with self.lock:
            if self.fd is None:
                return
            batch = []
            existing = [path for path in self.module_files() + list(extra) if os.path.isfile(path)]
            for path in existing + list(candidates):
                if path not in self.reported and not self.is_excluded(path):
                    self.reported.add(path)
                    batch.append(self.line(path))
            batch.extend(f"{REPORT_PRELOAD} {name}\n" for name in self.new_preloads)
            self.new_preloads = []
            data = "".join(batch).encode("utf-8", "surrogateescape")
            try:
                with stop_signals.deferred():  # a stop must not cut a line in half
                    while data:  # a blocking pipe takes it all in one write unless a signal interrupts it
                        written = os.write(self.fd, data)
                        data = data[written:]
            except OSError:  # superwatch closed its end (EPIPE) or the fd is gone: stop reporting
                self.fd = None

    @staticmethod
    def line(path):
        """The report line of `path`: with the stamp it had when the process read it, when the loader noted one
        (superwatch_fresh_bytecode, which the bootstrap and sitecustomize.py import first thing, notes them)."""
        fresh = sys.modules.get("superwatch_fresh_bytecode")
        stamp = fresh.loaded.get(path) if fresh is not None else None
        if stamp is None:
            return f"{REPORT_FILE} {path}\n"
        return f"{REPORT_LOADED} {stamp[0]} {stamp[1]} {path}\n"

    def watch_imports(self):
        """Reports modules imported from now on. An audit hook notices imports (CPython raises the "import"
        event only for modules that are not loaded yet); a thread reports their files shortly after."""
        import time

        if self.fd is None:
            return
        imported = threading.Event()

        def hook(event, args):
            if event == "import":
                imported.set()

        def reporter():
            while self.fd is not None:
                imported.wait()
                time.sleep(0.05)  # let the import finish and the imports it triggers happen
                imported.clear()
                self.report()

        sys.addaudithook(hook)
        threading.Thread(target=reporter, name="superwatch-reporter", daemon=True).start()


def traceback_files(error, reporter):
    """The files an import error names: SyntaxError.filename and every non-library frame's file, for the error
    and the ones it was raised from."""
    files = []
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, SyntaxError) and error.filename and not error.filename.startswith("<"):
            files.append(os.path.abspath(error.filename))
        tb = error.__traceback__
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name and not name.startswith("<") and not reporter.is_library(name):
                files.append(os.path.abspath(name))
            tb = tb.tb_next
        error = error.__cause__ or error.__context__
    return files


def missing_module_candidates(error, search_path, is_library):
    """Where the module a ModuleNotFoundError names would be found once it exists: NAME.py and NAME/__init__.py
    in its parent package's directories, or, for a top-level module, in each directory of `search_path` that is
    not the standard library's or an installed package's (`is_library` takes a file path). Any other error: []."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return []
    parent, _, last = error.name.rpartition(".")
    if parent:
        package = sys.modules.get(parent)
        directories = list(getattr(package, "__path__", None) or ())
    else:
        directories = [os.path.abspath(entry or os.curdir) for entry in search_path]
        directories = [entry for entry in directories
                       if os.path.isdir(entry) and not is_library(os.path.join(entry, "__init__.py"))]
    candidates = []
    for directory in dict.fromkeys(directories):  # each once, in order
        candidates += [os.path.join(directory, last + ".py"), os.path.join(directory, last, "__init__.py")]
    return candidates


class InFlight:
    """Counts what a stop must wait for: each accepted connection until its first request is answered, and
    each later request while it runs. Idle keep-alive connections do not count (clients retry those)."""

    def __init__(self):
        self.count = 0
        self.idle = threading.Condition()

    def enter(self):
        with self.idle:
            self.count += 1

    def leave(self):
        with self.idle:
            self.count -= 1
            self.idle.notify_all()

    def wait_until_idle(self, timeout):
        with self.idle:
            self.idle.wait_for(lambda: self.count <= 0, timeout)

    def attach(self, server):
        """Counts connections from their accept. A stop waits until an accepted connection has its thread,
        so it never drops a connection it has taken from the socket."""
        accept_one, hand_over = server._handle_request_noblock, server.process_request

        def handle_request_noblock():
            with stop_signals.deferred():
                accept_one()

        def process_request(request, client_address):
            self.enter()
            try:
                hand_over(request, client_address)
            except BaseException:
                self.leave()
                raise

        server._handle_request_noblock = handle_request_noblock
        server.process_request = process_request

    def handler(self, base):
        """A subclass of the request handler `base` that keeps the count (a request of Werkzeug's handler
        counts in run_wsgi)."""
        in_flight = self

        class CountingHandler(base):
            counted_since_accept = True

            def handle_one_request(self):
                try:
                    return super().handle_one_request()
                finally:
                    self.release_accept()

            def run_wsgi(self):
                in_flight.enter()
                try:
                    return super().run_wsgi()
                finally:
                    in_flight.leave()

            def finish(self):
                try:
                    super().finish()
                finally:
                    self.release_accept()

            def release_accept(self):
                if self.counted_since_accept:
                    self.counted_since_accept = False
                    in_flight.leave()

        CountingHandler.__name__ = base.__name__
        return CountingHandler

    def application(self, app):
        """The WSGI application `app`, counting each request until the server closes its response: for servers
        whose handler has no run_wsgi (Django's)."""
        in_flight = self

        class Response:
            def __init__(self, result):
                self.result, self.open = result, True

            def __iter__(self):
                return iter(self.result)

            def close(self):
                if not self.open:
                    return
                self.open = False
                try:
                    if hasattr(self.result, "close"):
                        self.result.close()
                finally:
                    in_flight.leave()

        def counted(environ, start_response):
            in_flight.enter()
            try:
                return Response(app(environ, start_response))
            except BaseException:
                in_flight.leave()
                raise

        return counted


class LibraryOnly:
    """While a standby imports ahead of time: any module that is not the standard library's or an installed
    package's cannot be imported (a settings module imported now would be served after it changed)."""

    def __init__(self, is_library):
        self.is_library = is_library

    def find_spec(self, name, path=None, target=None):
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None:
            return None
        places = [spec.origin] if spec.origin else list(spec.submodule_search_locations or ())
        places = [place for place in places if place not in ("built-in", "frozen")]
        if any(not self.is_library(os.path.join(place, "__init__.py") if os.path.isdir(place) else place)
               for place in places):
            raise ImportError(f"superwatch: {name} is the app's, not imported ahead of time", name=name)
        return None  # the usual finders load it


def preload_modules(names):
    """Standby: imports the installed modules in `names` (comma-separated) ahead of time, never one of the
    app's (`LibraryOnly`); one that cannot be imported now is imported later, when the app needs it."""
    import importlib

    guard = LibraryOnly(FileReporter(-1).is_library)
    sys.meta_path.insert(0, guard)
    try:
        for name in filter(None, names.split(",")):
            try:
                importlib.import_module(name)
            except BaseException as error:
                if isinstance(error, Stop):
                    raise
    finally:
        sys.meta_path.remove(guard)


def wait_for_go(fd, preload=""):
    """Standby: superwatch started this interpreter ahead of the next restart. Import the installed
    packages the app used last time (never the app's own files, which may still change), then wait for
    superwatch's "go" line, which carries the start's environment (SUPERWATCH_CHANGED), and go on as
    a normal start. End of file means superwatch no longer needs this standby: exit quietly (at once: it ran
    nothing that needs cleaning up, and it may be waiting inside sitecustomize, where SystemExit is no exit)."""
    import json

    preload_modules(preload)
    data = b""
    while not data.endswith(b"\n"):
        chunk = os.read(fd, 65536)
        if not chunk:
            os._exit(0)
        data += chunk
    os.close(fd)
    line = data.decode("utf-8", "surrogateescape").rstrip("\n")
    if line.startswith(GO + " "):
        for key, value in json.loads(line[len(GO) + 1:]).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
