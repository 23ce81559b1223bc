/// The Python program behind a `werkzeug:` process: it imports a WSGI application, serves it on the
/// listening socket superwatch passes in, and reports the source files the application is made of, so that
/// superwatch can restart the process when one of them changes.
///
/// superwatch runs `PYTHON -c source` in the process's working directory with:
/// - fd 3: the bound, listening socket (AF_INET, AF_INET6 or AF_UNIX), also named by `WERKZEUG_SERVER_FD=3`
///   and `LISTEN_FDS=1`. The program takes host, port and family from the socket itself.
/// - `SUPERWATCH_WSGI_APP`: `module`, `module:name`, `module:factory()` or `module:factory('dev', x=1)`,
///   read as `flask --app` reads it (arguments must be Python literals; nothing is evaluated).
/// - `SUPERWATCH_WSGI_DEBUG`: `1` wraps the app in Werkzeug's interactive debugger (and sets `FLASK_DEBUG=1`
///   unless it is set, as `flask run --debug` does); anything else leaves it off.
/// - `SUPERWATCH_REPORT_FD`: the write end of a pipe. The program writes `file ABSOLUTE-PATH\n` lines on it,
///   each file once, in one write per batch: the app's modules (not the standard library or installed
///   packages, unless the app itself is installed there) right after the import, and modules imported later
///   shortly after they load. A closed pipe only stops the reports.
///
/// The program removes `LISTEN_*`, `WERKZEUG_SERVER_FD`, `WERKZEUG_RUN_MAIN` and `SUPERWATCH_REPORT_FD` from
/// its environment, so programs the app starts do not look for descriptors they do not have. Werkzeug's own
/// reloader stays off: superwatch watches the reported files.
///
/// On SIGTERM or SIGINT the program stops accepting, lets the requests it has taken finish (at most 10 s;
/// connections not yet accepted wait in the socket for the next process) and exits with 0; a second signal
/// exits at once. It unblocks both signals at start, since a signal mask survives exec. stdout is made
/// line-buffered so that `print` output shows up as it happens. The app's own modules are checked against
/// their cached bytecode by the microsecond (`FreshBytecode`).
///
/// Exit status: 0 after SIGTERM or SIGINT; ``importFailedExitCode`` when the app cannot be loaded (the
/// traceback is on stderr and the files to watch, including the ones the error names, have been reported:
/// keep the process down until one changes); ``werkzeugMissingExitCode`` when Werkzeug cannot be imported
/// (stderr says how to install it); 1 when fd `WERKZEUG_SERVER_FD` (default 3) is not a listening socket.
enum WerkzeugBootstrap {
    /// The program's source, for `python -c`.
    static let source: String = #"""
        # superwatch's Werkzeug bootstrap: serves one WSGI application on the listening socket that superwatch
        # passes in, and tells superwatch which source files the application is made of.
        #
        # Environment (set by superwatch):
        #   WERKZEUG_SERVER_FD     the inherited listening socket (3); AF_INET, AF_INET6 or AF_UNIX
        #   SUPERWATCH_WSGI_APP    "module", "module:name" or "module:factory(literal args)", as `flask --app`
        #   SUPERWATCH_WSGI_DEBUG  "1" wraps the app in Werkzeug's interactive debugger
        #   SUPERWATCH_REPORT_FD   an inherited pipe; lines "file <absolute path>\n" name files to watch
        # Exit codes: 0 after SIGTERM or SIGINT, 75 when the app cannot be imported (the files to watch have been
        # reported first), 76 when Werkzeug is not installed for this interpreter.
        import contextlib
        import os
        import signal
        import sys
        import threading

        # The app's own modules are checked against their cached bytecode by the microsecond (FreshBytecode.swift).
        \#(FreshBytecode.pythonSource)

        IMPORT_FAILED = 75
        WERKZEUG_MISSING = 76


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


        def take_environment():
            """Reads superwatch's variables and removes the ones that describe inherited descriptors, so that
            programs the app starts do not try to use descriptors they do not have."""
            env = os.environ
            settings = {
                "spec": env.get("SUPERWATCH_WSGI_APP", "").strip(),
                "debug": env.get("SUPERWATCH_WSGI_DEBUG") == "1",
                "server_fd": int(env.get("WERKZEUG_SERVER_FD") or 3),
                "report_fd": int(env.get("SUPERWATCH_REPORT_FD") or -1),
            }
            for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WERKZEUG_SERVER_FD", "WERKZEUG_RUN_MAIN",
                         "SUPERWATCH_REPORT_FD"):
                env.pop(name, None)
            return settings


        # ---------------------------------------------------------------------------------------------------------
        # Which files belong to the application


        def _real(path):
            return os.path.normcase(os.path.realpath(path))


        def _library_roots():
            """Directories holding the standard library and installed packages, which are not watched."""
            import site
            import sysconfig

            roots = set()
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

            def __init__(self, fd):
                self.fd = fd if fd >= 0 else None
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
                        top = name.partition(".")[0]
                        if top not in self.preloads:
                            self.preloads.add(top)
                            self.new_preloads.append(top)
                return files

            def is_installed_package(self, path):
                """Whether `path` belongs to an installed package (site-packages), which a warm standby
                interpreter may import ahead of time: it does not change while the app is edited."""
                parts = _real(path).split(os.sep)
                return "site-packages" in parts or "dist-packages" in parts

            def report(self, extra=()):
                """Reports the files of all loaded modules plus `extra`, skipping ones reported before."""
                with self.lock:
                    if self.fd is None:
                        return
                    batch = []
                    for path in self.module_files() + list(extra):
                        if path not in self.reported and os.path.isfile(path):
                            self.reported.add(path)
                            batch.append(f"file {path}\n")
                    batch.extend(f"preload {name}\n" for name in self.new_preloads)
                    self.new_preloads = []
                    data = "".join(batch).encode("utf-8", "surrogateescape")
                    try:
                        with stop_signals.deferred():  # a stop must not cut a line in half
                            while data:  # a blocking pipe takes it all in one write unless a signal interrupts it
                                written = os.write(self.fd, data)
                                data = data[written:]
                    except OSError:  # superwatch closed its end (EPIPE) or the fd is gone: stop reporting
                        self.fd = None

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
            """The files an import error names: SyntaxError.filename and every non-library frame's file."""
            files = []
            if isinstance(error, SyntaxError) and error.filename:
                files.append(os.path.abspath(error.filename))
            tb = error.__traceback__
            while tb is not None:
                name = tb.tb_frame.f_code.co_filename
                if name and not name.startswith("<") and not reporter.is_library(name):
                    files.append(os.path.abspath(name))
                tb = tb.tb_next
            return files


        # ---------------------------------------------------------------------------------------------------------
        # Finding the application, as `flask --app` does


        class AppNotFound(Exception):
            """The module imported but the spec does not name a WSGI application in it."""


        def parse_spec(spec):
            """Splits "module[:expr]" into (module, name, args, kwargs); name is None for a bare module. The
            expression is a name or a call of a name with literal arguments; nothing in it is evaluated."""
            import ast

            module, _, expr = spec.partition(":")
            module = module.strip()
            if not module:
                raise AppNotFound(f"no module in {spec!r}; expected 'module', 'module:name' or 'module:factory(args)'")
            if not expr.strip():
                return module, None, (), {}
            try:
                node = ast.parse(expr.strip(), mode="eval").body
            except SyntaxError:
                raise AppNotFound(f"cannot parse {expr!r} as a name or a call") from None
            if isinstance(node, ast.Name):
                return module, node.id, None, None  # None: a name, not a call
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                raise AppNotFound(f"{expr!r} must be a name or a call of a name, such as create_app('dev')")
            try:
                args = tuple(ast.literal_eval(arg) for arg in node.args)
                kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg is not None}
            except ValueError:
                raise AppNotFound(f"the arguments in {expr!r} must be Python literals") from None
            return module, node.func.id, args, kwargs


        def _is_factory(obj):
            """A plain function that can be called without arguments; a function needing two arguments is taken
            to be a WSGI application itself."""
            import inspect

            if not inspect.isfunction(obj):
                return False
            try:
                inspect.signature(obj).bind()
            except TypeError:
                return False
            return True


        def load_app(spec):
            import importlib

            module_name, name, args, kwargs = parse_spec(spec)
            module = importlib.import_module(module_name)
            if name is None:
                for candidate in ("app", "application"):
                    app = getattr(module, candidate, None)
                    if app is not None and callable(app):
                        return module_name, app
                for candidate in ("create_app", "make_app"):
                    factory = getattr(module, candidate, None)
                    if _is_factory(factory):
                        return module_name, _checked(factory(), f"{module_name}:{candidate}()")
                raise AppNotFound(f"found no app, application, create_app or make_app in module {module_name!r}; "
                                  f"name one with '{module_name}:name'")
            try:
                obj = getattr(module, name)
            except AttributeError:
                raise AppNotFound(f"module {module_name!r} has no attribute {name!r}") from None
            if args is not None:
                return module_name, _checked(obj(*args, **kwargs), spec)
            if _is_factory(obj):
                return module_name, _checked(obj(), spec)
            return module_name, _checked(obj, spec)


        def _checked(app, spec):
            if not callable(app):
                raise AppNotFound(f"{spec!r} is a {type(app).__name__}, not a WSGI application")
            return app


        def print_import_error(error):
            """Prints the traceback without the bootstrap's and importlib's own frames."""
            import traceback

            tb = error.__traceback__
            while tb is not None and (tb.tb_frame.f_code.co_filename == "<string>"
                                      or tb.tb_frame.f_globals.get("__name__", "").startswith("importlib")):
                tb = tb.tb_next
            if isinstance(error, AppNotFound):
                print(f"superwatch: {error}", file=sys.stderr)
            else:
                traceback.print_exception(type(error), error, tb, file=sys.stderr)


        # ---------------------------------------------------------------------------------------------------------
        # Serving


        DRAIN_TIMEOUT = 10  # seconds a stopping process waits for running requests (superwatch may kill it sooner)


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
                """A subclass of the request handler `base` that keeps the count."""
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

                return CountingHandler


        def server_address(fd):
            """(host, port, display URL) for the listening socket on `fd`, in the form make_server expects."""
            import socket

            probe = socket.socket(fileno=fd)  # detects the family; detached below so fd stays open
            try:
                family, address = probe.family, probe.getsockname()
                if not probe.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                    raise OSError(0, "it is not listening")
            finally:
                probe.detach()
            if family == socket.AF_UNIX:
                path = address.decode("utf-8", "surrogateescape") if isinstance(address, bytes) else address
                return f"unix://{path}", 0, f"unix:{path}"
            host, port = address[0], address[1]
            shown = f"[{host}]" if family == socket.AF_INET6 else host
            return host, port, f"http://{shown}:{port}"


        def wait_for_go(fd, preload):
            """Standby: superwatch started this interpreter ahead of the next restart. Import the installed
            packages the app used last time (never the app's own files, which may still change), then wait for
            superwatch's "go" line, which carries the start's environment (SUPERWATCH_CHANGED), and go on as
            a normal start. End of file means superwatch no longer needs this standby: exit quietly."""
            import importlib
            import json

            for name in filter(None, preload.split(",")):
                try:
                    importlib.import_module(name)
                except BaseException as error:  # a package that cannot be imported ahead of time is imported later
                    if isinstance(error, Stop):
                        raise
            data = b""
            while not data.endswith(b"\n"):
                chunk = os.read(fd, 65536)
                if not chunk:
                    sys.exit(0)
                data += chunk
            os.close(fd)
            line = data.decode("utf-8", "surrogateescape").rstrip("\n")
            if line.startswith("go "):
                for key, value in json.loads(line[3:]).items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


        def main():
            settings = take_environment()
            stop_signals.install()
            # superwatch shows output line by line; a pipe would otherwise hold print()s back for kilobytes.
            if hasattr(sys.stdout, "reconfigure"):
                sys.stdout.reconfigure(line_buffering=True)

            # The project's directory comes first, as an absolute path so module files are absolute.
            cwd = os.getcwd()
            sys.path[:] = [cwd] + [p for p in sys.path if p not in ("", cwd)]

            try:
                import werkzeug.serving
            except ImportError as error:
                print(f"superwatch: werkzeug is not installed for {sys.executable}; install it with: "
                      f"{sys.executable} -m pip install werkzeug", file=sys.stderr)
                if error.name != "werkzeug":  # installed but broken, or shadowed by a local werkzeug.py
                    print(f"superwatch: importing werkzeug failed: {error!r}", file=sys.stderr)
                return WERKZEUG_MISSING

            standby_fd = int(os.environ.pop("SUPERWATCH_STANDBY_FD", "") or -1)
            if standby_fd >= 0:
                wait_for_go(standby_fd, os.environ.pop("SUPERWATCH_PRELOAD", ""))

            try:
                host, port, url = server_address(settings["server_fd"])
            except OSError as error:
                fd = settings["server_fd"]
                print(f"superwatch: fd {fd} is not a listening socket: {error.strerror}", file=sys.stderr)
                return 1

            reporter = FileReporter(settings["report_fd"])
            # An unguarded app.run() in the module must not take over: Flask ignores it when started by its CLI.
            # `debug` also puts Flask in debug mode, as `flask run --debug` does, so errors reach the debugger.
            saved_flask_cli = os.environ.get("FLASK_RUN_FROM_CLI")
            os.environ["FLASK_RUN_FROM_CLI"] = "true"
            if settings["debug"]:
                os.environ.setdefault("FLASK_DEBUG", "1")
            try:
                module_name, app = load_app(settings["spec"])
            except (Exception, SystemExit) as error:
                print_import_error(error)
                reporter.report(extra=traceback_files(error, reporter))
                sys.stderr.flush()
                return IMPORT_FAILED
            finally:
                if saved_flask_cli is None:
                    os.environ.pop("FLASK_RUN_FROM_CLI", None)
                else:
                    os.environ["FLASK_RUN_FROM_CLI"] = saved_flask_cli
            reporter.set_app_module(module_name)
            reporter.watch_imports()
            reporter.report()

            if settings["debug"]:
                from werkzeug.debug import DebuggedApplication

                app = DebuggedApplication(app, evalex=True)
                if not host.startswith("unix://"):
                    app.trusted_hosts.append(host)
            in_flight = InFlight()
            server = werkzeug.serving.make_server(host, port, app, threaded=True, fd=settings["server_fd"],
                                                  request_handler=in_flight.handler(werkzeug.serving.WSGIRequestHandler))
            in_flight.attach(server)
            os.close(settings["server_fd"])  # make_server serves on its own duplicate
            print(f" * Serving {settings['spec']} on {url}", file=sys.stderr)
            if settings["debug"] and app.pin:
                print(f" * Debugger is active; PIN: {app.pin}", file=sys.stderr)
            elif settings["debug"]:
                print(" * Debugger is active; PIN disabled", file=sys.stderr)
            sys.stderr.flush()
            try:
                server.serve_forever()
            finally:
                # Stopped (or failed): accepting has ended, and connections not yet accepted wait in superwatch's
                # socket for the next process. Let the requests already running finish first.
                in_flight.wait_until_idle(DRAIN_TIMEOUT)
            return 0


        try:
            status = main()
        except Stop:
            status = 0
        sys.exit(status)
        """#

    /// The app could not be imported or found; its files have been reported.
    static let importFailedExitCode: Int32 = 75

    /// `import werkzeug` failed for the interpreter that ran the program.
    static let werkzeugMissingExitCode: Int32 = 76
}
