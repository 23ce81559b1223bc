import Foundation

/// Makes a plain Werkzeug/Flask app (`python3 app.py` with `listen:`) finish the requests it is serving
/// before its own reloader exits with code 3.
///
/// Werkzeug's reloader calls `sys.exit(3)` from the main thread while the server and request threads are
/// daemons, so a request accepted a moment before is cut off. superwatch holds the listening socket, so
/// connections not yet accepted simply wait for the next process; only the in-flight ones need help. For
/// processes that get `WERKZEUG_SERVER_FD`, superwatch puts a directory with this `sitecustomize.py` first on
/// `PYTHONPATH`. It patches Werkzeug (only if it is importable) so that a reload — its own, or superwatch's
/// SIGTERM — first stops the server from accepting, waits (at most 10 s) for running requests, then exits as
/// before. It then removes itself from
/// `sys.path` and imports the user's own `sitecustomize`, if any. `SUPERWATCH_NO_DRAIN=1` turns it off.
/// Whatever its setting, the file also checks the app's own modules against their cached bytecode by the
/// microsecond (`FreshBytecode`), since Werkzeug's reloader restarts the process without superwatch seeing
/// which file changed.
enum WerkzeugDrain {
    static let sitecustomize = #"""
# Written by superwatch (see WerkzeugDrain.swift): drain in-flight requests before Werkzeug's reloader exits.
# Werkzeug is patched only as the app imports it, so other Python programs pay for the bytecode check only
# (about half a millisecond).
import os
import sys

# Whatever restarted this process, the app's own modules are checked against their cached bytecode by the
# microsecond (FreshBytecode.swift), so it never runs code of an earlier version.
\#(FreshBytecode.pythonSource)

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


if os.environ.get("SUPERWATCH_NO_DRAIN") != "1" and "WERKZEUG_SERVER_FD" in os.environ:
    sys.meta_path.insert(0, _SuperwatchFinder())
_superwatch_chain()
"""#

    /// Writes the file into a fresh private directory and returns that directory (for PYTHONPATH).
    static func install() -> String? {
        let template = "\(NSTemporaryDirectory())/superwatch-python-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = bytes.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else { return nil }
        let directory = String(cString: made)
        guard FileManager.default.createFile(atPath: "\(directory)/sitecustomize.py", contents: Data(sitecustomize.utf8)) else {
            return nil
        }
        return directory
    }
}
