"""superwatch's Werkzeug bootstrap: serves one WSGI application on the listening socket superwatch passes in, and
tells superwatch which source files the application is made of, so that it restarts the process when one changes.

superwatch writes this file, with superwatch_fresh_bytecode.py beside it, into a private directory and runs
`PYTHON superwatch-werkzeug.py APP` in the app's directory, where APP is "module", "module:name" or
"module:factory(literal args)", read as `flask --app` reads it (nothing in it is evaluated), and with:
  fd 3 (WERKZEUG_SERVER_FD)  the bound, listening socket (AF_INET, AF_INET6 or AF_UNIX); host, port and family
                             come from the socket itself
  SUPERWATCH_WSGI_DEBUG      "1" wraps the app in Werkzeug's interactive debugger (and sets FLASK_DEBUG=1 unless
                             it is set, as `flask run --debug` does)
  SUPERWATCH_REPORT_FD       the write end of a pipe for the report (below); a closed pipe only stops reports
  SUPERWATCH_STANDBY_FD      (a standby interpreter) the read end of a pipe on which superwatch writes "go"
  SUPERWATCH_PRELOAD         (a standby interpreter) installed packages to import before waiting for "go"

The report is lines "file ABSOLUTE-PATH", or "loaded MTIME_NS SIZE ABSOLUTE-PATH" for a source file with the stamp
it had when Python read it (each file once, in one write per batch): the app's modules (not the
standard library or installed packages, unless the app itself is installed there) right after the import, modules
imported later shortly after they load, and when the import fails, the files its traceback names and where a
module that was not found would be found (files that may not exist yet); and lines "preload NAME" naming the
installed modules the app imported, for the next standby interpreter.

The program removes LISTEN_*, WERKZEUG_SERVER_FD, WERKZEUG_RUN_MAIN and SUPERWATCH_REPORT_FD from its environment,
so programs the app starts do not look for descriptors they do not have. Werkzeug's own reloader stays off.

On SIGTERM or SIGINT it stops accepting, lets the requests it has taken finish (at most 10 s; connections not yet
accepted wait in the socket for the next process) and exits with 0; a second signal exits at once. It unblocks
both signals at start, since a signal mask survives exec. stdout is made line-buffered.

Exit status: 0 after SIGTERM or SIGINT; the EXIT_ codes of the protocol block (superwatch_runtime.py) otherwise.
"""
import os
import sys

# Imported from this file's directory before anything else, which installs the check that makes the app's own
# modules run as they are on disk, never as bytecode cached for an earlier version.
import superwatch_fresh_bytecode  # noqa: F401
# What the bootstrap shares with superwatch_reloader.py; its protocol block is superwatch's protocol.
from superwatch_runtime import (  # noqa: F401  (the unit tests reach some through this module)
    ENV_DEBUG, ENV_PRELOAD, ENV_REPORT_FD, ENV_STANDBY_FD, EXIT_IMPORT_FAILED, EXIT_NO_SOCKET, EXIT_WERKZEUG_MISSING,
    HERE, FileReporter, InFlight, Stop, _real, exit_now, missing_module_candidates, stop_signals, traceback_files,
    wait_for_go)




def take_environment(argv, env):
    """Reads the app spec and superwatch's variables, and removes the variables that describe inherited
    descriptors, so that programs the app starts do not try to use descriptors they do not have."""
    settings = {
        "spec": argv[1].strip() if len(argv) > 1 else "",
        "debug": env.get(ENV_DEBUG) == "1",
        "server_fd": int(env.get("WERKZEUG_SERVER_FD") or 3),
        "report_fd": int(env.get(ENV_REPORT_FD) or -1),
    }
    for name in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WERKZEUG_SERVER_FD", "WERKZEUG_RUN_MAIN", ENV_REPORT_FD):
        env.pop(name, None)
    return settings


# ---------------------------------------------------------------------------------------------------------
# Which files belong to the application


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
    ours = _real(HERE) + os.sep
    while tb is not None and (_real(tb.tb_frame.f_code.co_filename).startswith(ours)
                              or tb.tb_frame.f_globals.get("__name__", "").startswith("importlib")):
        tb = tb.tb_next
    if isinstance(error, AppNotFound):
        print(f"superwatch: {error}", file=sys.stderr)
    else:
        traceback.print_exception(type(error), error, tb, file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------
# Serving


DRAIN_TIMEOUT = 10  # seconds a stopping process waits for running requests (superwatch may kill it sooner)


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


def main():
    settings = take_environment(sys.argv, os.environ)
    stop_signals.install()
    # superwatch shows output line by line; a pipe would otherwise hold print()s back for kilobytes.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)

    # The project's directory comes first, as an absolute path so module files are absolute, as with `python -c`
    # (running a file put this file's directory there instead: the app must not import superwatch's files).
    cwd = os.getcwd()
    sys.path[:] = [cwd] + [p for p in sys.path if p not in ("", cwd) and _real(p) != _real(HERE)]

    try:
        import werkzeug.serving
    except ImportError as error:
        print(f"superwatch: werkzeug is not installed for {sys.executable}; install it with: "
              f"{sys.executable} -m pip install werkzeug", file=sys.stderr)
        if error.name != "werkzeug":  # installed but broken, or shadowed by a local werkzeug.py
            print(f"superwatch: importing werkzeug failed: {error!r}", file=sys.stderr)
        return EXIT_WERKZEUG_MISSING

    standby_fd = int(os.environ.pop(ENV_STANDBY_FD, "") or -1)
    if standby_fd >= 0:
        wait_for_go(standby_fd, os.environ.pop(ENV_PRELOAD, ""))

    try:
        host, port, url = server_address(settings["server_fd"])
    except OSError as error:
        fd = settings["server_fd"]
        print(f"superwatch: fd {fd} is not a listening socket: {error.strerror}", file=sys.stderr)
        return EXIT_NO_SOCKET

    # Every installed module the app imports is named for the next standby, submodules too (werkzeug.debug,
    # say, which `import werkzeug` does not import): the standby imports them all ahead of time.
    reporter = FileReporter(settings["report_fd"], preload_modules=True)
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
        reporter.report(extra=traceback_files(error, reporter),
                        candidates=missing_module_candidates(error, sys.path, reporter.is_library))
        sys.stderr.flush()
        return EXIT_IMPORT_FAILED
    finally:
        if saved_flask_cli is None:
            os.environ.pop("FLASK_RUN_FROM_CLI", None)
        else:
            os.environ["FLASK_RUN_FROM_CLI"] = saved_flask_cli
    if settings["debug"]:  # imported before the report, which names it for the next standby
        from werkzeug.debug import DebuggedApplication

        app = DebuggedApplication(app, evalex=True)
        if not host.startswith("unix://"):
            app.trusted_hosts.append(host)
    reporter.set_app_module(module_name)
    reporter.watch_imports()
    reporter.report()

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


if __name__ == "__main__":  # not when a test imports this file for its functions
    try:
        status = main()
    except Stop:
        status = 0
    # Not sys.exit: tearing the interpreter down takes about 100 ms with Flask loaded, and a restart waits for this
    # process to be gone before its standby goes on.
    exit_now(status)
