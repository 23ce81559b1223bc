/// What one start of a process sees: its argv, its environment and which descriptor carries what. Computed in
/// this one place from the planned process, the sockets held for it and what the start adds, so that `up` (which
/// starts it), `check` (which prints it) and `export systemd` (which writes it into a unit) cannot disagree.
///
/// Nothing here has effects: the supervisor makes the pipes, resolves the interpreter (`PythonInterpreter`) and
/// writes the Python files, and passes what it got; `check` passes placeholders for what only exists while `up`
/// runs.
struct ChildLaunch: Sendable, Equatable {
    /// What a descriptor passed to the child carries.
    enum Descriptor: Sendable, Equatable {
        /// The process's held socket at this index of its `listen` addresses (systemd's `LISTEN_FDS`).
        case listenSocket(Int)
        /// The write end of the pipe a `werkzeug:` bootstrap reports the files of its loaded modules on.
        case report
        /// The read end of the pipe a standby interpreter waits on for "go".
        case standbyGo
    }

    /// A socket held for the process, as far as what the child sees depends on it.
    struct Socket: Sendable, Equatable {
        /// The TCP port (the bound one under `up`; 0 in `check` when `up` picks it), or nil for a Unix socket.
        var port: UInt16?

        /// The socket `listen` asks for, before it is bound.
        init(_ address: ListenAddress) {
            if case .tcp(_, let port) = address { self.port = port } else { port = nil }
        }

        init(port: UInt16?) { self.port = port }
    }

    /// Where the Python files superwatch runs are (`PythonFiles`), or placeholders where they do not exist.
    struct PythonLocations: Sendable, Equatable {
        /// The `werkzeug:` bootstrap, run as a file.
        var bootstrap: String
        /// The directory put first on `PYTHONPATH` for the injected `sitecustomize.py`.
        var siteDirectory: String

        init(_ files: PythonFiles) {
            bootstrap = files.bootstrap
            siteDirectory = files.siteDirectory
        }

        init(directory: String) {
            self.init(PythonFiles(directory: directory))
        }

        /// For `check`: the directory is made only when `up` starts (`KEY.python` in the runtime directory).
        static let placeholder = PythonLocations(directory: "…")
    }

    /// The first descriptor passed on; 0, 1 and 2 are stdin, stdout and stderr.
    static let firstDescriptor: Int32 = 3
    /// At most this many changed paths go into `SUPERWATCH_CHANGED` (the variable has a size limit).
    static let changedPathLimit = 100
    /// Variables that describe how superwatch itself was started (by systemd, by a Werkzeug reloader): they are
    /// not its children's, whose own activation is set here when they have sockets.
    static let activationVariables = [
        "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WERKZEUG_SERVER_FD", "WERKZEUG_RUN_MAIN",
    ]
    /// What the passer of the sockets sets: systemd does so itself for an exported unit (`LISTEN_PID` is
    /// written between fork and exec, so it is not in `environment` either way).
    static let socketActivationVariables: Set<String> = ["LISTEN_FDS", "LISTEN_FDNAMES"]

    var arguments: [String]
    var environment: [String: String]
    /// The descriptors passed, in order: the first becomes the child's fd 3, the next 4, and so on.
    var descriptors: [Descriptor]

    /// The child's descriptor number for `descriptor`, or nil when it is not passed.
    func number(of descriptor: Descriptor) -> Int32? {
        descriptors.firstIndex(of: descriptor).map { Self.firstDescriptor + Int32($0) }
    }

    /// The environment every process of a stack starts from: `inherited` (superwatch's own) without superwatch's
    /// activation variables, under the stack's global `env` (its env files included).
    static func baseEnvironment(inherited: [String: String], stack: [String: String]) -> [String: String] {
        var environment = inherited
        for key in activationVariables { environment.removeValue(forKey: key) }
        return environment.merging(stack) { $1 }
    }

    /// `SUPERWATCH_CHANGED` for a start caused by `changed`: the first `changedPathLimit` paths, one per line; nil
    /// when nothing changed. (A standby interpreter gets it with its "go" line.)
    static func changedVariable(_ changed: [String]) -> String? {
        changed.isEmpty ? nil : changed.prefix(changedPathLimit).joined(separator: "\n")
    }

    /// What a process sees apart from its descriptors and interpreter: `base`, under its own env (env files
    /// included, `PORT` and `SUPERWATCH_REPLICA` from `StackPlan`), `SUPERWATCH_PROCESS`, the first
    /// `changedPathLimit` of `changed` as `SUPERWATCH_CHANGED`, and `PYTHONUNBUFFERED=1` unless something set it.
    /// A wrapper script of a `werkzeug:` process's interpreter is asked in this environment.
    static func processEnvironment(_ spec: ProcessSpec, base: [String: String], changed: [String] = [])
        -> [String: String]
    {
        var environment = base.merging(spec.env) { $1 }
        environment["SUPERWATCH_PROCESS"] = spec.name
        if let value = changedVariable(changed) { environment["SUPERWATCH_CHANGED"] = value }
        // Python block-buffers output to a pipe: without this, a print() would show up kilobytes later.
        if environment["PYTHONUNBUFFERED"] == nil { environment["PYTHONUNBUFFERED"] = "1" }
        return environment
    }

    /// One start of `spec`.
    /// - Parameters:
    ///   - sockets: the sockets held for it, in `listen` order (a `werkzeug:` process always has one).
    ///   - base: `baseEnvironment` (`check` and `export` pass the stack's env alone).
    ///   - changed: the paths whose change caused this start.
    ///   - python: where superwatch's Python files are; nil when there are none (`export`): then no bootstrap and
    ///     no injected `sitecustomize.py`.
    ///   - interpreter: the `werkzeug:` process's interpreter as resolved; nil: its `python:` as written.
    ///   - reportPipe: whether the start has a report pipe (a `werkzeug:` bootstrap, or a Python command whose
    ///     reloader superwatch replaces).
    ///   - standbyPreloads: for a standby interpreter, the packages it imports before it waits for "go".
    static func make(
        _ spec: ProcessSpec, sockets: [Socket], base: [String: String], changed: [String] = [],
        python: PythonLocations?, interpreter: PythonInterpreter? = nil, reportPipe: Bool = false,
        standbyPreloads: [String]? = nil
    ) -> ChildLaunch {
        var environment = processEnvironment(spec, base: base, changed: changed)
        var arguments = spec.command.arguments
        var descriptors: [Descriptor] = []
        if let app = spec.werkzeug, let python {
            let interpreter = interpreter ?? PythonInterpreter(program: app.python)
            interpreter.apply(to: &environment)
            arguments = [interpreter.program, python.bootstrap, app.target]
        }
        if !sockets.isEmpty {
            // systemd's socket-activation protocol; LISTEN_PID is filled in by the shim after fork.
            descriptors = sockets.indices.map { .listenSocket($0) }
            environment["LISTEN_FDS"] = String(sockets.count)
            environment["LISTEN_FDNAMES"] = sockets.map { _ in spec.name }.joined(separator: ":")
            if let port = sockets.lazy.compactMap(\.port).first { environment["PORT"] = String(port) }
            if sockets[0].port != nil {
                // Werkzeug serves on an inherited socket only with both set; never set one without the other.
                environment["WERKZEUG_SERVER_FD"] = String(firstDescriptor)
                environment["WERKZEUG_RUN_MAIN"] = "true"
            }
        }
        // The injected sitecustomize.py: it drains a plain Werkzeug app on a held socket, and replaces the
        // reloader of a Python command (superwatch_reloader.py).
        if let python, spec.werkzeug == nil, environment["WERKZEUG_SERVER_FD"] != nil || spec.replacesPythonReloader {
            environment["PYTHONPATH"] = [python.siteDirectory, environment["PYTHONPATH"]].compactMap { $0 }
                .joined(separator: ":")
        }
        if spec.reportsFiles, python != nil {
            if let app = spec.werkzeug {
                environment[PythonProtocol.envDebug] = app.debug ? "1" : "0"
            } else {
                environment[PythonProtocol.envReloader] = "1"
            }
            if reportPipe {
                environment[PythonProtocol.envReportFd] = String(firstDescriptor + Int32(descriptors.count))
                descriptors.append(.report)
            }
            if let standbyPreloads {
                environment[PythonProtocol.envStandbyFd] = String(firstDescriptor + Int32(descriptors.count))
                environment[PythonProtocol.envPreload] = standbyPreloads.joined(separator: ",")
                descriptors.append(.standbyGo)
            }
        }
        return ChildLaunch(arguments: arguments, environment: environment, descriptors: descriptors)
    }

    /// A start of `spec` as `check` and `export systemd` show it: from the stack's env alone (not superwatch's
    /// own environment), with the sockets `listen` asks for and no changed paths. `python` as for `make`.
    static func planned(_ spec: ProcessSpec, stackEnvironment: [String: String], python: PythonLocations?)
        -> ChildLaunch
    {
        make(
            spec, sockets: spec.listen.map { Socket($0.address) }, base: stackEnvironment, python: python,
            reportPipe: spec.reportsFiles)
    }

    /// A start of `spec` where nothing passes it sockets and its program binds its address itself (a Kubernetes
    /// pod): what `planned` gives it without descriptors and socket activation, and with `PORT` the port of its
    /// first TCP `listen` address, as under `up`. The arguments are the command's (a `werkzeug:` app's are the
    /// exporter's to choose: superwatch's bootstrap only serves on a passed socket).
    static func selfBound(_ spec: ProcessSpec, stackEnvironment: [String: String]) -> ChildLaunch {
        var launch = make(spec, sockets: [], base: stackEnvironment, python: nil)
        if let port = spec.firstTCPPort { launch.environment["PORT"] = String(port) }
        return launch
    }
}
