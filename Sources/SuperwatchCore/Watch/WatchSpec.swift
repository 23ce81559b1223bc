/// One process's watch set: which files, under which directory, restart it, and how changes are noticed.
public struct WatchSpec: Sendable, Equatable {
    /// The process whose watch set this is.
    public var process: ProcessID
    /// The process's name, for messages that are not printed with its prefix.
    public var name: String?
    /// Absolute directory (the process's cwd); globs are relative to it.
    public var root: String
    /// Globs relative to `root`. Empty, with no `extraFiles`: nothing to watch.
    public var globs: [String]
    /// The user's ignores; `WatchRules.defaultIgnores` always apply as well.
    public var ignore: [String]
    /// Absolute paths of single files (anywhere) that also trigger; never ignored.
    public var extraFiles: [String]
    public var kind: WatcherKind
    /// How often polling compares the files.
    public var interval: Duration
    /// The quiet period that ends a burst of changes.
    public var debounce: Duration
    /// Kept even with nothing to watch yet, because files will be added at run time (`addFiles`): the
    /// modules a `werkzeug:` app imports, or a Python command whose reloader superwatch replaces.
    public var acceptsAddedFiles = false

    public init(
        process: ProcessID, root: String, globs: [String], ignore: [String] = [], extraFiles: [String] = [],
        kind: WatcherKind = .auto, interval: Duration = .seconds(1), debounce: Duration = .milliseconds(20)
    ) {
        self.process = process
        self.root = root
        self.globs = globs
        self.ignore = ignore
        self.extraFiles = extraFiles
        self.kind = kind
        self.interval = interval
        self.debounce = debounce
    }

    /// The watch set of a configured process.
    public init(process: ProcessID, spec: ProcessSpec) {
        self.init(
            process: process, root: spec.cwd, globs: spec.watch, ignore: spec.ignore, extraFiles: spec.extraFiles,
            kind: spec.watcher, interval: spec.interval, debounce: spec.debounce)
        acceptsAddedFiles = spec.reportsFiles
        name = spec.name
    }

    /// Whether the spec names files of its own to watch (globs or extra files), before any added at run time.
    public var namesFiles: Bool { !globs.isEmpty || !extraFiles.isEmpty }

    /// Whether there is anything to watch.
    public var isEmpty: Bool { !namesFiles && !acceptsAddedFiles }
}

/// What the watcher tells the supervisor.
public enum WatchEvent: Sendable, Equatable {
    /// The first matching change of a burst, delivered at once (no debounce) so the supervisor can start
    /// stopping the old process immediately; `path` as in `settled`.
    case burstStarted(process: ProcessID, path: String)
    /// The burst is over (no further matching change for `debounce`): every distinct changed path of the burst,
    /// in order of first occurrence, relative to the root when under it (`/`-separated), else absolute.
    case settled(process: ProcessID, paths: [String])
    /// Something worth telling the user once, such as falling back to polling.
    case notice(process: ProcessID?, message: String)
}
