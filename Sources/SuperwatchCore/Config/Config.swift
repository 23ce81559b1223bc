/// The validated contents of a `superwatch.yaml` (or a Procfile): what to run, ready for the supervisor.
/// Paths are absolute; defaults are filled in.
public struct Config: Sendable, Equatable {
    /// The file this came from (as the user named it), for messages.
    public var file: String
    /// The directory relative paths in the file are resolved against.
    public var directory: String
    /// Environment for every process, over superwatch's own.
    public var env: [String: String]
    /// Where each variable of `env` was set (a line of `.env` or of an `env_file`, or an `env` value), for
    /// errors found after loading, such as a `PORT` that is not a port.
    public var envLocations: [String: SourceLocation] = [:]
    /// Lines the reader skipped, to print before anything runs.
    public var warnings: [ConfigWarning] = []
    /// Absolute paths of the env files read (the top-level and the processes' `env_file`s, or `.env`), in the
    /// order read: a live reload watches them with the config.
    public var envFiles: [String] = []
    /// In the order written.
    public var processes: [ProcessSpec]

    public init(file: String, directory: String, env: [String: String] = [:], processes: [ProcessSpec]) {
        self.file = file
        self.directory = directory
        self.env = env
        self.processes = processes
    }
}

/// How to run a process: through `/bin/sh -c` (a string in the config), as an argv (a list), or as a WSGI app
/// that superwatch's bootstrap serves (`werkzeug:`).
public enum Command: Sendable, Equatable, CustomStringConvertible {
    case shell(String)
    case argv([String])
    /// The bootstrap, a file written when `up` starts, run by the app's interpreter (`ChildLaunch` puts in the
    /// interpreter as resolved and the file's path).
    case werkzeug(WerkzeugApp)

    /// The argv to execute. A shell line that is one simple command runs as `exec LINE`, so the program
    /// replaces the shell: its pid is the one superwatch started (which `LISTEN_PID` must name) and signals
    /// reach it directly. A `werkzeug:` app's shows where the bootstrap will be (`ChildLaunch` has the real one).
    public var arguments: [String] {
        switch self {
        case .shell(let line): return ["/bin/sh", "-c", Self.isSimpleCommand(line) ? "exec \(line)" : line]
        case .argv(let argv): return argv
        case .werkzeug(let app): return [app.python, ChildLaunch.PythonLocations.placeholder.bootstrap, app.target]
        }
    }

    /// Shell words that are not programs `exec` could run.
    private static let shellOnlyWords: Set<String> = [
        "if", "then", "for", "while", "until", "case", "{", "!", "[[", "exec", "cd", "export", "set", "trap",
        "ulimit", "umask", "eval", ".", "source", "alias", "unset", "read", "wait", "shift", "local", "return",
        "exit", "type", "hash", "readonly", "getopts", "jobs", "fg", "bg", "times", "command",
    ]

    /// One command, no lists, pipelines, subshells or leading assignments.
    static func isSimpleCommand(_ line: String) -> Bool {
        guard !line.contains(where: { ";&|()`\n".contains($0) }) else { return false }
        guard let first = line.split(separator: " ", omittingEmptySubsequences: true).first else { return false }
        return !first.contains("=") && !shellOnlyWords.contains(String(first))
    }

    public var description: String {
        switch self {
        case .shell(let line): return line
        case .argv(let argv): return Self.describe(argv)
        case .werkzeug: return Self.describe(arguments)
        }
    }

    private static func describe(_ argv: [String]) -> String {
        argv.map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    }
}

/// What to do when a process exits with a code that is not a restart code.
public enum RestartPolicy: String, Sendable, Equatable, CaseIterable {
    case never
    case onFailure = "on-failure"
    case always
}

/// Which mechanism notices file changes.
public enum WatcherKind: String, Sendable, Equatable, CaseIterable {
    /// inotify, falling back to polling where it cannot work.
    case auto
    case native
    case poll
}

/// One process of the stack, as configured.
public struct ProcessSpec: Sendable, Equatable {
    public var name: String
    public var command: Command
    /// Absolute working directory.
    public var cwd: String
    /// This process's own `env:` (merged over the global env when it starts).
    public var env: [String: String]
    public var restartCodes: Set<Int32>
    public var restart: RestartPolicy
    public var maxRestarts: Int
    public var backoff: Duration
    public var stopSignal: UnixSignal
    public var stopTimeout: Duration
    /// `stop_signal` and `stop_timeout` when the config does not set them; also what a process that left its
    /// run and whose run is unknown gets (Containment).
    public static let defaultStopSignal: UnixSignal = .terminate
    public static let defaultStopTimeout: Duration = .seconds(5)
    /// Globs relative to `cwd`; empty: not watched.
    public var watch: [String]
    public var ignore: [String]
    /// Absolute paths of single files that also trigger a restart.
    public var extraFiles: [String]
    public var watcher: WatcherKind
    public var interval: Duration
    public var debounce: Duration
    /// Sockets superwatch binds before the first start and hands to every start (fds 3, 4, ...).
    public var listen: [ListenSpec] = []
    /// Set for a `werkzeug:` process: superwatch serves this WSGI app itself through its bootstrap.
    public var werkzeug: WerkzeugApp? {
        if case .werkzeug(let app) = command { return app }
        return nil
    }
    /// Who reloads a Python command that starts Werkzeug's or Django's reloader (`reloader:`).
    public var reloader: PythonReloader = .superwatch
    /// Run on a pseudo-terminal of its own (`tty: true`, or `up --tty`) instead of pipes: its stdout and
    /// stderr are one stream, and `superwatch attach` can type into it.
    public var tty = false
    /// How many copies `up` runs (`replicas:`); `StackPlan` turns them into one spec each.
    public var replicas: Int = 1
    /// For an instance `StackPlan` made of a process with several replicas, that process's name. Replicas
    /// share the process's held sockets (the kernel spreads connections over their accepts).
    public var replicaOf: String?
    /// How many of its last lines (and events) `superwatch logs` can show: the size of its ring buffer
    /// (`log_buffer:`, else the top-level `log_buffer:`, else `ProcessSpec.defaultLogBuffer`).
    public var logBuffer: Int = ProcessSpec.defaultLogBuffer
    /// Where the process is declared (its name in the YAML, its line in a Procfile), for errors found later,
    /// such as a PORT above 65535.
    public var location: SourceLocation?
    /// The container image `export kubernetes` runs the process from (`image:`); `up` does not use it.
    public var image: String?
    /// Where each key of the process's mapping is written (empty for a Procfile line), so that an exporter can
    /// point at a setting it cannot carry over rather than drop it silently.
    public var keyLocations: [String: SourceLocation] = [:]
    /// `ready:`, as written; `readiness` is the probe that applies (with the default for held sockets).
    public var ready: Probe?
    /// How long after a start the readiness probe may take to pass before dependents are told it failed.
    public var readyTimeout: Duration = ProcessSpec.defaultReadyTimeout
    /// How often the readiness probe is tried until it passes (and how long one attempt may take).
    public var readyPeriod: Duration = ProcessSpec.defaultReadyPeriod
    /// `health:`: the liveness probe, tried once the process is ready.
    public var health: HealthCheck?
    /// `depends_on:`: what must hold of other processes before this one starts, in the order written.
    public var dependsOn: [Dependency] = []
    /// `restart_dependents:`: when this process is ready again after a restart, restart its dependents.
    public var restartDependents = false

    public init(
        name: String, command: Command, cwd: String, env: [String: String] = [:],
        restartCodes: Set<Int32> = [3], restart: RestartPolicy = .onFailure, maxRestarts: Int = 5,
        backoff: Duration = .seconds(1), stopSignal: UnixSignal = defaultStopSignal,
        stopTimeout: Duration = defaultStopTimeout,
        watch: [String] = [], ignore: [String] = [], extraFiles: [String] = [], watcher: WatcherKind = .auto,
        interval: Duration = .seconds(1), debounce: Duration = .milliseconds(20)
    ) {
        self.name = name
        self.command = command
        self.cwd = cwd
        self.env = env
        self.restartCodes = restartCodes
        self.restart = restart
        self.maxRestarts = maxRestarts
        self.backoff = backoff
        self.stopSignal = stopSignal
        self.stopTimeout = stopTimeout
        self.watch = watch
        self.ignore = ignore
        self.extraFiles = extraFiles
        self.watcher = watcher
        self.interval = interval
        self.debounce = debounce
    }

    /// The ring buffer's size when the config names none.
    public static let defaultLogBuffer = 10_000
    /// The bounds of `log_buffer:`: at least one line; at most a million (about 100 MB of 100-byte lines).
    public static let logBufferRange = 1...1_000_000

    /// Whether file changes can bring this process back. A `werkzeug:` process always is: it watches the
    /// modules its app imported.
    public var isWatched: Bool { !watch.isEmpty || !extraFiles.isEmpty || werkzeug != nil }

    /// The port of the first TCP address in `listen` (0: picked at start), which becomes the process's PORT.
    public var firstTCPPort: UInt16? {
        listen.lazy.compactMap { listen -> UInt16? in
            if case .tcp(_, let port) = listen.address { return port }
            return nil
        }.first
    }
}

/// One `listen:` entry with where it was written, for errors such as a port in use.
public struct ListenSpec: Sendable, Equatable {
    public var address: ListenAddress
    public var location: SourceLocation?

    public init(_ address: ListenAddress, at location: SourceLocation? = nil) {
        self.address = address
        self.location = location
    }
}

/// A WSGI app that superwatch runs directly with Werkzeug's development server (`werkzeug:`).
public struct WerkzeugApp: Sendable, Equatable {
    /// `module:attribute`, `module:factory()` or `module:factory('dev')`, as `flask --app` takes it.
    public var target: String
    /// The interpreter: a name looked up on PATH or a path (absolute once loaded; written relative to the process's cwd).
    public var python: String
    /// Werkzeug's interactive debugger.
    public var debug: Bool

    public init(target: String, python: String = "python3", debug: Bool = false) {
        self.target = target
        self.python = python
        self.debug = debug
    }
}

/// The keys the config accepts, in one place: the loader checks against these and the JSON Schema test
/// compares them with `schema/superwatch.schema.json`, so the two cannot drift apart.
public enum ConfigKeys {
    public static let topLevel = ["version", "env", "env_file", "log_buffer", "processes"]
    public static let process = [
        "command", "cwd", "env", "env_file", "replicas", "restart_codes", "restart", "max_restarts", "backoff",
        "stop_signal",
        "stop_timeout", "watch", "ignore", "extra_files", "watcher", "interval", "debounce", "listen", "werkzeug",
        "python", "debug", "log_buffer", "reloader", "depends_on", "ready", "ready_timeout", "ready_period", "health",
        "restart_dependents", "image", "tty",
    ]
}
