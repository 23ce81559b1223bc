"""Makes a restarted Python process run the source on disk, never bytecode cached for an earlier version of it.

superwatch writes this module beside the Werkzeug bootstrap (superwatch-werkzeug.py) and the injected
sitecustomize.py, which both import it first thing; importing it installs the check. Why it is needed and what
else superwatch does about stale bytecode: FreshBytecode.swift.
"""
import os
import sys

# The app's own source files as the loader read them: absolute path -> (st_mtime_ns, st_size) of the stat it
# based the read on. Reported to superwatch (superwatch_runtime.FileReporter), which compares them with the files
# once it watches them: an edit between this import and the start of superwatch's watch is not lost.
loaded = {}


def record_loaded(path, st=None):
    """Notes that the process reads source file `path` now (`st`: the stat the read is based on, else taken
    here, before the read)."""
    try:
        if st is None:
            st = os.stat(path)
        loaded[os.path.abspath(path)] = (st.st_mtime_ns, st.st_size)
    except (OSError, ValueError):  # gone, or a path Python cannot stat: reported without a stamp
        pass


def library_roots():
    """Directories of the standard library and installed packages (each as itself and as its real path, with a
    trailing separator): their files keep Python's own bytecode check."""
    import site

    roots = {os.path.dirname(os.__file__)}
    # Old virtualenv versions ship a site module without these; "site-packages" in a path still tells.
    if hasattr(site, "getsitepackages"):
        roots.update(site.getsitepackages())
    if hasattr(site, "getusersitepackages"):
        roots.add(site.getusersitepackages())
    return tuple({os.path.join(path, "") for root in roots if root for path in (root, os.path.realpath(root))})


def is_library(path, roots):
    """Whether `path` (as the loader sees it) belongs to the standard library or an installed package."""
    return path.startswith(roots) or "/site-packages/" in path or "/dist-packages/" in path


def exact_source_mtimes():
    """Makes the source loader compare the app's own files with their cached bytecode by the microsecond.

    A .pyc stores its source's mtime as a 32-bit number and Python checks it and the size only; the loader gets
    the mtime from path_stats. For files outside the standard library and installed packages that mtime becomes
    st_mtime_ns // 1000, written into new .pyc files and compared with old ones alike, so bytecode of an
    earlier version never matches (the stored value repeats every 71 minutes, to the microsecond). A .pyc that
    plain Python wrote for such a file no longer matches and is compiled again, once. Installed packages and
    the standard library keep Python's own check and their .pyc files."""
    import importlib.machinery

    roots = library_roots()
    loader = importlib.machinery.SourceFileLoader
    library_stats = loader.path_stats

    def path_stats(self, path):
        if is_library(path, roots):
            return library_stats(self, path)
        st = os.stat(path)
        record_loaded(path, st)  # get_code reads the source (or its bytecode) after this stat
        return {"mtime": st.st_mtime_ns // 1000, "size": st.st_size}

    loader.path_stats = path_stats


try:
    exact_source_mtimes()
except Exception as error:  # an interpreter unlike CPython's: it runs as Python would, and the log says so
    sys.stderr.write("superwatch: cannot make Python check cached bytecode to the microsecond: %r\n" % (error,))
