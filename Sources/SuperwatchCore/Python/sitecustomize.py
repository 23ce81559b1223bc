"""Written by superwatch for a plain Werkzeug/Flask app (`python3 app.py` with `listen:`): in-flight requests
are drained before Werkzeug's reloader exits, and the app's own modules are checked against their cached bytecode
by the microsecond.

Werkzeug's reloader calls sys.exit(3) from the main thread while the server and request threads are daemons, so
a request accepted a moment before would be cut off. superwatch holds the listening socket, so connections not
yet accepted wait for the next process; only the in-flight ones need help. superwatch puts the directory holding
this file first on PYTHONPATH for processes that get WERKZEUG_SERVER_FD. Werkzeug is patched only as the app
imports it (an import hook), so other Python programs pay for the bytecode check only (about half a
millisecond). SUPERWATCH_NO_DRAIN=1 turns the draining off. This file then removes its directory from sys.path
and imports the user's own sitecustomize, if there is one.
"""
import os
import sys

# Whatever restarted this process (Werkzeug's own reloader included, which superwatch does not see), the app's
# own modules are checked against their cached bytecode by the microsecond, so it never runs an earlier version.
import superwatch_fresh_bytecode  # noqa: F401  (importing it installs the check)

_superwatch_idle = None
_superwatch_state = {"active": 0, "servers": []}


def _superwatch_patch(module):
    """Patches Werkzeug's server (to count connections) and its reloader (to drain them), each as it loads."""
    global _superwatch_idle
    import threading

    if _superwatch_idle is None:
        _superwatch_idle = threading.Condition()
    idle, state = _superwatch_idle, _superwatch_state
    if module.__name__ == "werkzeug.serving":
        original_init = module.BaseWSGIServer.__init__

        def __init__(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            state["servers"].append(self)
            # A connection counts from its accept (in the serving thread) until its socket is shut down
            # (in its request thread), so none is lost between the two.
            accept, finish = self.process_request, self.shutdown_request

            def process_request(request, client_address):
                with idle:
                    state["active"] += 1
                accept(request, client_address)

            def shutdown_request(request):
                try:
                    finish(request)
                finally:
                    with idle:
                        state["active"] = max(0, state["active"] - 1)
                        idle.notify_all()

            self.process_request, self.shutdown_request = process_request, shutdown_request

        module.BaseWSGIServer.__init__ = __init__
    elif module.__name__ == "werkzeug._reloader":
        import signal

        def drain():
            # Stop accepting (new connections wait in superwatch's socket for the next process), then let
            # the requests already running finish.
            for server in state["servers"]:
                stopper = threading.Thread(target=server.shutdown, daemon=True)
                stopper.start()
                stopper.join(5)
            with idle:
                idle.wait_for(lambda: state["active"] == 0, timeout=10)

        original_trigger = module.ReloaderLoop.trigger_reload
        original_enter = module.ReloaderLoop.__enter__

        def trigger_reload(self, filename):
            drain()
            original_trigger(self, filename)

        def on_stop(signum, frame):
            drain()
            sys.exit(0)

        def __enter__(self):
            # run_with_reloader has just made SIGTERM exit at once; superwatch's own restarts (a `watch:`
            # change) and shutdowns send SIGTERM, so it drains first too.
            result = original_enter(self)
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, on_stop)
            return result

        module.ReloaderLoop.trigger_reload = trigger_reload
        module.ReloaderLoop.__enter__ = __enter__


class _SuperwatchFinder:
    """Finds Werkzeug's serving and reloader modules as usual and patches each once it has run."""

    def find_spec(self, name, path=None, target=None):
        if name not in ("werkzeug.serving", "werkzeug._reloader"):
            return None
        import importlib.machinery

        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original_exec = spec.loader.exec_module

        def exec_module(module):
            original_exec(module)
            try:
                _superwatch_patch(module)
            except Exception:
                pass

        spec.loader.exec_module = exec_module
        return spec


def _superwatch_chain():
    """Steps aside so the user's own sitecustomize, if any, still runs."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    ours = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def wants_draining(environ):
    """Whether to patch Werkzeug: the process serves on a socket superwatch holds, and the user did not opt out."""
    return environ.get("SUPERWATCH_NO_DRAIN") != "1" and "WERKZEUG_SERVER_FD" in environ


if __name__ == "sitecustomize":  # not when a test imports this file under another name
    if os.environ.get("SUPERWATCH_RELOADER") == "1":
        # superwatch plays the parent of this command's reloader (superwatch_reloader.py says how); a standby
        # interpreter waits in there for "go".
        import superwatch_reloader

        superwatch_reloader.install(os.environ)
    elif wants_draining(os.environ):
        sys.meta_path.insert(0, _SuperwatchFinder())
    _superwatch_chain()
