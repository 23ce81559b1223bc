import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One of the Python files of `EmbeddedPython` (generated at build time from Python/*.py by the EmbedPython
/// plugin).
struct EmbeddedPythonFile: Sendable {
    let name: String
    let text: String
}

/// The Python superwatch runs, written out for one `up`: a private directory holding every file of
/// `EmbeddedPython`, removed when `up` ends.
///
/// - `superwatch-werkzeug.py`, the bootstrap of `werkzeug:` processes, runs as a file
///   (`PYTHON …/superwatch-werkzeug.py APP`), so `ps` and `top` show what runs and Python reports tracebacks
///   with real file names. Its docstring describes the protocol; `PythonProtocol` is generated from it.
/// - `sitecustomize.py` drains a plain Werkzeug app's requests before its own reloader exits: the directory goes
///   first on `PYTHONPATH` of processes that get `WERKZEUG_SERVER_FD`.
/// - `superwatch_fresh_bytecode.py`, imported by both, checks the app's own modules against their cached bytecode
///   by the microsecond (`FreshBytecode`).
///
/// The files are Python in the source tree, so Python's own tools compile and test them (`.ci/run`,
/// Tests/Python), and embedded in the binary at build time, so the one `superwatch` that `make install` copies
/// carries them.
struct PythonFiles: Sendable {
    /// The directory holding the files (mode 0700).
    let directory: String

    /// The Werkzeug bootstrap, run as a file.
    var bootstrap: String { "\(directory)/\(EmbeddedPython.superwatchWerkzeug.name)" }

    /// The directory to put first on `PYTHONPATH` for the injected `sitecustomize.py`.
    var siteDirectory: String { directory }

    /// Writes every file into `directory`, created with mode 0700. A directory already there is the leftover of
    /// an `up` of the same config that could not clean up (SIGKILL); the caller holds that config's lock, so it
    /// is nobody's now and is replaced.
    static func install(at directory: String) throws(SuperwatchError) -> PythonFiles {
        // Best effort: one that cannot be removed makes mkdir fail with EEXIST, which is reported.
        try? FileManager.default.removeItem(atPath: directory)
        do {
            try retryingEINTR("mkdir") { mkdir(directory, 0o700) }
        } catch {
            throw SuperwatchError(
                error.code, "cannot create \(directory) for superwatch's Python files: \(error.message)")
        }
        return try fill(PythonFiles(directory: directory))
    }

    /// Writes every file into a new private directory under the temporary directory (`TMPDIR`, else /tmp): for
    /// tests, and for callers without a runtime directory.
    static func installTemporary() throws(SuperwatchError) -> PythonFiles {
        let temporary = NSTemporaryDirectory()
        let separator = temporary.hasSuffix("/") ? "" : "/"
        var template = Array("\(temporary)\(separator)superwatch-python-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else {
            let err = Errno.current
            throw SuperwatchError(
                .system(syscall: "mkdtemp", errno: err),
                "cannot create a directory for superwatch's Python files: \(err)")
        }
        return try fill(PythonFiles(directory: String(cString: made)))
    }

    /// Removes the directory and everything in it (Python may have written `__pycache__` there).
    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func fill(_ files: PythonFiles) throws(SuperwatchError) -> PythonFiles {
        do {
            for file in EmbeddedPython.all { try write(file.text, to: "\(files.directory)/\(file.name)") }
        } catch {
            files.remove()
            throw error
        }
        return files
    }

    private static func write(_ text: String, to path: String) throws(SuperwatchError) {
        let file = OwnedDescriptor(
            takingOwnershipOf: try retryingEINTR("open(\(path))") {
                open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            })
        try writeFully(file.rawValue, Array(text.utf8), name: "write(\(path))")
        // A written file: its close is checked (a deferred write error shows there).
        try file.close()
    }
}
