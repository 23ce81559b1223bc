"""superwatch's reload path for the Python commands people already run: `python app.py` with app.run(debug=True)
or use_reloader=True, `flask run --debug`/`--reload`, `python -m flask run`, and Django's `manage.py runserver`.

The injected sitecustomize.py loads this module when superwatch sets SUPERWATCH_RELOADER=1 (a command that looks
like Python, without `reloader: werkzeug`). Nothing changes until the program starts its framework's reloader:
Werkzeug's run_with_reloader (called by run_simple, so by app.run and flask run) or Django's
autoreload.run_with_reloader (runserver). Then, instead of a reloader process that starts the program again as its
child and a loop that polls (or uses watchdog) in that child, this process

- reports on superwatch's report pipe what the framework's reloader would have watched: for Werkzeug, what its stat
  reloader finds (the modules' files and the Python files under the app's own sys.path directories, plus
  `extra_files`, minus `exclude_patterns`, which is where FLASK_RUN_EXTRA_FILES and FLASK_RUN_EXCLUDE_PATTERNS
  arrive); for Django, what its StatReloader watches (modules, translations, template directories); modules
  imported later and, for Jinja environments that do not re-read templates themselves, each template loaded; and
  the installed modules it imported, which the next standby interpreter imports ahead of time;
- serves in the main thread, and on SIGTERM or SIGINT stops accepting, lets running requests finish (at most 10 s)
  and exits with 0; superwatch watches the files and starts the next process, usually a standby interpreter;
- with `listen:`, Django's development server serves on the socket superwatch holds (WERKZEUG_SERVER_FD), as
  Werkzeug's already does; and when the program fails to start (an exception out of the server's function) the
  files its traceback names are reported and it exits with EXIT_IMPORT_FAILED: superwatch waits for a change.

A standby interpreter (SUPERWATCH_STANDBY_FD) is the same command started early: sitecustomize.py imports the
installed modules the last run used, never the app's own files, and waits for "go" before the program runs.
"""
import os
import sys
import threading

import superwatch_runtime as runtime

# Seconds a stopping process waits for running requests (superwatch kills it after its stop_timeout anyway).
DRAIN_TIMEOUT = 10


class Reloader:
    """What this process knows while superwatch replaces its framework's reloader."""

    def __init__(self, environ):
        self.report_fd = int(environ.pop(runtime.ENV_REPORT_FD, "") or -1)
        self.standby_fd = int(environ.pop(runtime.ENV_STANDBY_FD, "") or -1)
        self.preload = environ.pop(runtime.ENV_PRELOAD, "")
        self.reporter = None  # made when the framework's reloader would start
        self.in_flight = runtime.InFlight()
        if self.report_fd >= 0:
            try:
                os.set_inheritable(self.report_fd, False)  # not for programs the app starts
            except OSError:
                self.report_fd = -1

    # -- Serving and draining -------------------------------------------------------------------------------

    def track(self, server):
        """Counts what a stop must wait for on a socketserver-based server (Werkzeug's or Django's): an accepted
        connection until its first request ends, and each later request while it runs (`InFlight`)."""
        self.in_flight.attach(server)
        server.RequestHandlerClass = self.in_flight.handler(server.RequestHandlerClass)
        if hasattr(server, "set_app"):  # Django's: no run_wsgi, and the application arrives after the server
            set_app = server.set_app
            server.set_app = lambda application: set_app(self.in_flight.application(application))

    def serve(self, main_func, args=(), kwargs=None, extra_errors=lambda: ()):
        """Runs the server function in the main thread until SIGTERM or SIGINT, then drains and exits 0. An
        exception out of it is shown, its files reported, and the process exits with EXIT_IMPORT_FAILED."""
        runtime.stop_signals.install()
        try:
            main_func(*args, **(kwargs or {}))
        except runtime.Stop:
            pass
        except Exception as error:
            import traceback

            traceback.print_exc()
            sys.stderr.flush()
            if self.reporter is not None:
                self.reporter.report(extra=list(runtime.traceback_files(error, self.reporter)) + list(extra_errors()))
            os._exit(runtime.EXIT_IMPORT_FAILED)
        self.in_flight.wait_until_idle(DRAIN_TIMEOUT)
        runtime.exit_now(0)

    # -- Reporting ------------------------------------------------------------------------------------------

    def start_reporting(self, files, exclude_patterns=(), missing=()):
        """Reports `files` (the framework reloader's watch list; library files are left out) and `missing` (files
        that may appear), then modules as they are imported."""
        self.reporter = runtime.FileReporter(self.report_fd, exclude_patterns, preload_modules=True)
        mine = [path for path in files if not path.endswith((".pyc", ".pyo")) and not self.reporter.is_library(path)]
        self.reporter.report(extra=mine, candidates=missing)
        self.reporter.watch_imports()
        sys.stderr.write(f" * superwatch reloads this process on changes ({len(self.reporter.reported)} files)\n")
        sys.stderr.flush()

    # -- Werkzeug -------------------------------------------------------------------------------------------

    def werkzeug_run_with_reloader(self, original):
        reloader = self

        def run_with_reloader(main_func, extra_files=None, exclude_patterns=None, interval=1, reloader_type="auto"):
            if threading.current_thread() is not threading.main_thread():
                return original(main_func, extra_files, exclude_patterns, interval, reloader_type)
            extra = [os.path.abspath(path) for path in extra_files or ()]
            try:
                from werkzeug._reloader import _find_stat_paths

                files = list(_find_stat_paths(set(extra), set(exclude_patterns or ())))
            except Exception:  # another Werkzeug: the modules alone (the reporter adds them)
                files = []
            reloader.start_reporting(files + extra, exclude_patterns,
                                     missing=[path for path in extra if not os.path.exists(path)])
            reloader.serve(main_func)

        return run_with_reloader

    # -- Django ---------------------------------------------------------------------------------------------

    def django_run_with_reloader(self, autoreload, original):
        reloader = self

        def run_with_reloader(main_func, *args, **kwargs):
            if threading.current_thread() is not threading.main_thread():
                return original(main_func, *args, **kwargs)
            files = []
            try:
                # What Django's own StatReloader would watch: every module, the directories that receivers of
                # autoreload_started add (templates, translations) and the files of errors so far.
                stat = autoreload.StatReloader()
                autoreload.autoreload_started.send(sender=stat)
                files = [str(path) for path in stat.watched_files()]
            except Exception as error:
                sys.stderr.write(f"superwatch: cannot list Django's watched files: {error!r}\n")
            reloader.start_reporting(files)
            reloader.serve(main_func, args, kwargs,
                           extra_errors=lambda: [str(path) for path in getattr(autoreload, "_error_files", ())])

        return run_with_reloader

    def serve_on_held_socket(self, server_class):
        """Makes Django's WSGIServer serve on the socket superwatch holds instead of binding its own."""
        original_bind, original_activate = server_class.server_bind, server_class.server_activate

        def held_descriptor():
            fd = os.environ.get("WERKZEUG_SERVER_FD")
            return int(fd) if fd and fd.isdigit() else None

        def server_bind(server):
            fd = held_descriptor()
            if fd is None:
                return original_bind(server)
            import socket

            server.socket.close()
            held = socket.socket(fileno=os.dup(fd))
            server.socket, server.address_family = held, held.family
            server.server_address = held.getsockname()
            server.server_name, server.server_port = str(server.server_address[0]), server.server_address[1]
            if hasattr(server, "setup_environ"):
                server.setup_environ()

        def server_activate(server):
            # The held socket listens already, with superwatch's backlog; listen() again would shrink it.
            if held_descriptor() is None:
                original_activate(server)

        server_class.server_bind = server_bind
        server_class.server_activate = server_activate


class _Finder:
    """Finds the modules below as usual and patches each once it has run."""

    def __init__(self, patches):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        if name not in self.patches:
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original_exec, patch = spec.loader.exec_module, self.patches[name]

        def exec_module(module):
            original_exec(module)
            patch(module)

        spec.loader.exec_module = exec_module
        return spec


def _patches(reloader):
    def werkzeug_reloader(module):
        module.run_with_reloader = reloader.werkzeug_run_with_reloader(module.run_with_reloader)

    def tracking(server_class):
        original_init = server_class.__init__

        def __init__(server, *args, **kwargs):
            original_init(server, *args, **kwargs)
            reloader.track(server)

        server_class.__init__ = __init__

    def werkzeug_serving(module):
        tracking(module.BaseWSGIServer)

    def django_autoreload(module):
        module.run_with_reloader = reloader.django_run_with_reloader(module, module.run_with_reloader)

    def django_basehttp(module):
        tracking(module.WSGIServer)
        reloader.serve_on_held_socket(module.WSGIServer)

    def jinja_loaders(module):
        original = module.FileSystemLoader.get_source

        def get_source(loader, environment, template):
            source = original(loader, environment, template)
            # A Jinja environment with auto_reload (Flask in debug mode) re-reads a changed template itself.
            if reloader.reporter is not None and not environment.auto_reload and source[1]:
                reloader.reporter.report(extra=[source[1]])
            return source

        module.FileSystemLoader.get_source = get_source

    return {
        "werkzeug._reloader": werkzeug_reloader,
        "werkzeug.serving": werkzeug_serving,
        "django.utils.autoreload": django_autoreload,
        "django.core.servers.basehttp": django_basehttp,
        "jinja2.loaders": jinja_loaders,
    }


def preload_and_wait(reloader):
    """Standby: imports the installed modules the last run used, then waits for superwatch's "go"."""
    runtime.wait_for_go(reloader.standby_fd, reloader.preload)
    # The program's file is read once this returns: its stamp, for the report (superwatch_runtime.REPORT_LOADED).
    note_main_file()


def note_main_file():
    """Notes the stamp of the script Python runs after sitecustomize (`python app.py`, `manage.py`), before
    Python reads it: superwatch compares it with the file once it watches it."""
    script = sys.argv[0] if sys.argv else ""
    if script.endswith(".py") and os.path.isfile(script):
        import superwatch_fresh_bytecode

        superwatch_fresh_bytecode.record_loaded(script)


def install(environ):
    """Called by sitecustomize.py: takes superwatch's variables out of the environment (programs the app starts
    are not superwatch's), patches the reloaders as they load, and in a standby waits for "go"."""
    environ.pop(runtime.ENV_RELOADER, None)
    reloader = Reloader(environ)
    sys.meta_path.insert(0, _Finder(_patches(reloader)))
    if reloader.standby_fd >= 0:
        preload_and_wait(reloader)
    else:
        note_main_file()
    return reloader
