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
/// - `superwatch_fresh_bytecode.py`, imported by the Werkzeug bootstrap and by the injected `sitecustomize.py`
///   (`PythonFiles`), makes the source loader compare the app's own files by their mtime to the microsecond. It
///   covers every import of those processes, whoever restarted them (Werkzeug's own reloader included).
/// - ``removeCachedBytecode(of:root:pycachePrefix:)`` runs before superwatch starts a process again after a
///   watched change, for any program: it deletes the cached bytecode of the changed `.py` files, so the next
///   import compiles them.
enum FreshBytecode {
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
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            if let stem = cachedModuleStem(name), stems.contains(stem) { names.append(name) }
        }
        closeDirectory(stream)
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
