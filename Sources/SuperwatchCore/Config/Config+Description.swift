import Foundation

/// The resolved config as `superwatch check` prints it: one block per process, every effective setting. What a
/// process runs, its environment and its descriptors are those `up` gives it (`ChildLaunch`), from the stack's
/// env alone (not superwatch's own environment), with a placeholder for where `up` writes its Python files.
public func describe(_ config: Config) -> String {
    var out = "\(config.file): ok, \(counted(config.processes.count, "process", plural: "processes"))\n"
    for spec in config.processes {
        let child = ChildLaunch.planned(spec, stackEnvironment: config.env, python: .placeholder)
        out += "\n\(spec.name):\n"
        if case .werkzeug = spec.command {
            out += "  command: \(Command.argv(child.arguments))\n"
        } else {
            out += "  command: \(spec.command)\n"
        }
        out += "  cwd: \(spec.cwd)\n"
        let pickedPort = spec.firstTCPPort == 0
        // Quoted as a shell reads them, so spaces, quotes and newlines in a value are visible and exact.
        let assignments = child.environment.sorted { $0.key < $1.key }.map { key, value in
            key == "PORT" && pickedPort ? "PORT=(the port picked at start)" : "\(key)=\(ShellWord.quote(value))"
        }
        out += "  env: \(assignments.joined(separator: " "))\n"
        if !child.descriptors.isEmpty {
            let fds = child.descriptors.enumerated().map { offset, descriptor in
                let what: String
                switch descriptor {
                case .listenSocket(let socket): what = "\(spec.listen[socket].address)"
                case .report:
                    what = spec.werkzeug != nil ? "the bootstrap's report pipe" : "the reloader's report pipe"
                case .standbyGo: what = "a standby interpreter's go pipe"
                }
                return "\(ChildLaunch.firstDescriptor + Int32(offset)) \(what)"
            }
            out += "  fds: \(fds.joined(separator: ", "))\n"
        }
        out += "  restart_codes: \(spec.restartCodes.sorted().map(String.init).joined(separator: ", "))\n"
        out +=
            "  restart: \(spec.restart.rawValue) (max_restarts \(spec.maxRestarts), backoff \(spec.backoff.humanReadable))\n"
        out += "  stop: \(spec.stopSignal), then SIGKILL after \(spec.stopTimeout.humanReadable)\n"
        if spec.tty {
            out += "  tty: true (stdin, stdout and stderr on a pseudo-terminal; `superwatch attach \(spec.name)`)\n"
        }
        for listen in spec.listen {
            if case .tcp(_, 0) = listen.address {
                out += "  listen: \(listen.address) (a free port is picked when `up` starts; the log shows it)\n"
            } else if case .unix(let path) = listen.address,
                !FileManager.default.fileExists(atPath: (path as NSString).deletingLastPathComponent)
            {
                out += "  listen: \(listen.address) (its directory is created when `up` starts)\n"
            } else {
                out += "  listen: \(listen.address)\n"
            }
        }
        if let app = spec.werkzeug {
            out += "  werkzeug: \(app.target) (python \(app.python), debugger \(app.debug ? "on" : "off"))\n"
        }
        if spec.isWatched {
            let matches = FileWatcher.countMatches(WatchSpec(process: ProcessID(0), spec: spec))
            out += "  watch: \(spec.watch.joined(separator: ", ")) (\(counted(matches, "file")) match now)\n"
            if !spec.ignore.isEmpty { out += "  ignore: \(spec.ignore.joined(separator: ", "))\n" }
            if !spec.extraFiles.isEmpty {
                let files = spec.extraFiles.map {
                    FileManager.default.fileExists(atPath: $0) ? $0 : "\($0) (does not exist yet)"
                }
                out += "  extra_files: \(files.joined(separator: ", "))\n"
            }
            out +=
                "  watcher: \(spec.watcher.rawValue) (interval \(spec.interval.humanReadable), debounce \(spec.debounce.humanReadable))\n"
        }
    }
    return out
}
