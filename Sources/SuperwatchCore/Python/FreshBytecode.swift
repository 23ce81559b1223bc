#if canImport(Glibc)
import Glibc
#endif

/// Makes a restarted Python process run the source that is on disk, never bytecode cached for an earlier
/// version of it.
///
/// A timestamp `.pyc` records its source's size and mtime in whole seconds, and that is all Python checks: a
/// `.py` file edited without changing its size within the second of the cached version (superwatch restarts
/// in tens of milliseconds; `sed -i`, a formatter or a tool making several edits lands there easily) would run
/// the old code. Two measures, each enough on its own where it applies:
/// - ``pythonSource`` is part of the Werkzeug bootstrap and of the injected `sitecustomize.py`: it makes the
///   source loader compare the app's own files by their mtime to the microsecond. It covers every import of
///   those processes, whoever restarted them (Werkzeug's own reloader exiting with code 3 included).
/// - ``removeCachedBytecode(of:root:pycachePrefix:)`` runs before superwatch starts a process again after a
///   watched change, for any program: it deletes the cached bytecode of the changed `.py` files, so the next
///   import compiles them.
enum FreshBytecode {
    /// Python, at column 0, defining and calling `_superwatch_exact_source_mtimes()`; for the Python programs
    /// superwatch runs. `os` and `sys` must be imported before it.
    static let pythonSource = #"""
def _superwatch_exact_source_mtimes():
    """Makes the source loader compare the app's own files with their cached bytecode by the microsecond.

    A .pyc stores its source's mtime as a 32-bit number and Python checks it and the size only; the loader gets
    the mtime from path_stats. For files outside the standard library and installed packages that mtime becomes
    st_mtime_ns // 1000, written into new .pyc files and compared with old ones alike, so bytecode of an
    earlier version never matches (the stored value repeats every 71 minutes, to the microsecond). A .pyc that
    plain Python wrote for such a file no longer matches and is compiled again, once. Installed packages and
    the standard library keep Python's own check and their .pyc files."""
    import importlib.machinery
    import site

    roots = {os.path.dirname(os.__file__)}
    # Old virtualenv versions ship a site module without these; "site-packages" in a path still tells.
    if hasattr(site, "getsitepackages"):
        roots.update(site.getsitepackages())
    if hasattr(site, "getusersitepackages"):
        roots.add(site.getusersitepackages())
    roots = tuple({os.path.join(path, "") for root in roots if root for path in (root, os.path.realpath(root))})
    loader = importlib.machinery.SourceFileLoader
    library_stats = loader.path_stats

    def path_stats(self, path):
        if path.startswith(roots) or "/site-packages/" in path or "/dist-packages/" in path:
            return library_stats(self, path)
        st = os.stat(path)
        return {"mtime": st.st_mtime_ns // 1000, "size": st.st_size}

    loader.path_stats = path_stats


try:
    _superwatch_exact_source_mtimes()
except Exception as error:  # an interpreter unlike CPython's: it runs as Python would, and the log says so
    sys.stderr.write("superwatch: cannot make Python check cached bytecode to the microsecond: %r\n" % (error,))
"""#

    /// Where a cached bytecode file could not be removed, and why.
    struct Failure: Sendable, Equatable {
        var path: String
        var errno: Int32
    }

    /// Removes the cached bytecode of every `.py` file in `changed` (paths relative to `root`, or absolute):
    /// `__pycache__/STEM.TAG.pyc` and `STEM.TAG.opt-N.pyc` beside it, and the same files in the mirror tree
    /// under `pycachePrefix` (PYTHONPYCACHEPREFIX, relative to `root` unless absolute; Python names the
    /// directory there by the path it imported from, so both the path as given and its real path are tried).
    /// Missing files and directories are fine; any other failure is returned, for the log.
    static func removeCachedBytecode(of changed: [String], root: String, pycachePrefix: String?) -> [Failure] {
        var stemsByDirectory: [String: Set<String>] = [:]
        for path in changed where path.hasSuffix(".py") {
            let absolute = absolutePath(path, root: root)
            guard let slash = absolute.lastIndex(of: "/") else { continue }
            let directory = slash == absolute.startIndex ? "/" : String(absolute[..<slash])
            let stem = String(absolute[absolute.index(after: slash)...].dropLast(3))
            if !stem.isEmpty { stemsByDirectory[directory, default: []].insert(stem) }
        }
        var prefix = pycachePrefix.flatMap { $0.isEmpty ? nil : $0 }
        if let relative = prefix, !relative.hasPrefix("/") { prefix = joinPath(root, relative) }
        var failures: [Failure] = []
        for (directory, stems) in stemsByDirectory.sorted(by: { $0.key < $1.key }) {
            var caches = [joinPath(directory, "__pycache__")]
            if let prefix {
                for variant in Set([directory, realPath(directory) ?? directory]) {
                    caches.append(joinPath(prefix, String(variant.drop { $0 == "/" })))
                }
            }
            for cache in caches { failures += removeBytecode(in: cache, of: stems) }
        }
        return failures
    }

    /// The module file name stem that cached bytecode file `name` belongs to: `app` for `app.TAG.pyc` and
    /// `app.TAG.opt-N.pyc` (the interpreter's tag, such as `cpython-311`, has no dot); nil for other names.
    static func cachedModuleStem(_ name: String) -> String? {
        guard name.hasSuffix(".pyc") else { return nil }
        var parts = name.dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
        if parts.count > 2, parts[parts.count - 1].hasPrefix("opt-") { parts.removeLast() }
        guard parts.count >= 2, !parts[parts.count - 1].isEmpty else { return nil }
        let stem = parts.dropLast().joined(separator: ".")
        return stem.isEmpty ? nil : stem
    }

    private static func removeBytecode(in cache: String, of stems: Set<String>) -> [Failure] {
        guard let stream = opendir(cache) else {
            return errno == ENOENT || errno == ENOTDIR ? [] : [Failure(path: cache, errno: errno)]
        }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if let stem = cachedModuleStem(name), stems.contains(stem) { names.append(name) }
        }
        closedir(stream)
        var failures: [Failure] = []
        for name in names {
            let path = joinPath(cache, name)
            if unlink(path) != 0 && errno != ENOENT { failures.append(Failure(path: path, errno: errno)) }
        }
        return failures
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
