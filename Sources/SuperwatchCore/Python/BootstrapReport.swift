/// What a `werkzeug:` bootstrap reported on its report pipe: files to watch (the modules its app loaded, and
/// after a failed import the files its traceback names and where a missing module would be found, which may not
/// exist yet) and installed packages it imported (for a standby interpreter to import ahead of time). The line
/// format is `superwatch-werkzeug.py`'s (beside this file), whose protocol block `PythonProtocol` is generated
/// from: `REPORT_FILE` and `REPORT_PRELOAD`, each followed by a space and the rest of the line, and
/// `REPORT_LOADED`, followed by a space, the file's mtime in nanoseconds, a space, its size, a space and the path.
struct BootstrapReport: Sendable, Equatable {
    var files: [String] = []
    var preloads: [String] = []
    /// The files among `files` that the process read, with the stamp each had then: the watcher compares it with
    /// the file once it watches it, so that an edit between the read and the watch is a change too.
    var loaded: [String: LoadedStamp] = [:]

    /// The report in `lines` (complete lines, `\n`-separated); lines of other kinds, and `loaded` lines whose
    /// numbers do not parse, are skipped.
    init(lines: String) {
        let file = PythonProtocol.reportFile + " "
        let preload = PythonProtocol.reportPreload + " "
        let loadedFile = PythonProtocol.reportLoaded + " "
        for line in lines.split(separator: "\n") {
            if line.hasPrefix(file) { files.append(String(line.dropFirst(file.count))) }
            if line.hasPrefix(preload) { preloads.append(String(line.dropFirst(preload.count))) }
            if line.hasPrefix(loadedFile) {
                // The path is the rest of the line: it may hold spaces.
                let fields = line.dropFirst(loadedFile.count).split(
                    separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                guard fields.count == 3, let modified = Int64(fields[0]), let size = Int64(fields[1]),
                    !fields[2].isEmpty
                else { continue }
                let path = String(fields[2])
                files.append(path)
                loaded[path] = LoadedStamp(modified: modified, size: size)
            }
        }
    }

    var isEmpty: Bool { files.isEmpty && preloads.isEmpty }

    /// Reads a report pipe as it arrives, in chunks cut anywhere: holds an unfinished last line until the rest
    /// of it comes, so that a path split between two reads is never reported in pieces.
    struct Parser {
        private var pending: [UInt8] = []

        init() {}

        /// The report in the complete lines received so far (with `chunk`); nil when they report nothing.
        mutating func consume(_ chunk: UnsafeRawBufferPointer) -> BootstrapReport? {
            pending.append(contentsOf: chunk)
            guard let end = pending.lastIndex(of: 0x0A) else { return nil }
            let text = String(decoding: pending[...end], as: UTF8.self)
            pending.removeSubrange(...end)
            let report = BootstrapReport(lines: text)
            return report.isEmpty ? nil : report
        }
    }
}

/// A file as a process read it: its modification time (nanoseconds since the epoch) and size.
public struct LoadedStamp: Sendable, Hashable {
    public var modified: Int64
    public var size: Int64

    public init(modified: Int64, size: Int64) {
        self.modified = modified
        self.size = size
    }
}
