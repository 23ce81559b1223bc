import Foundation

/// The resolved config as `superwatch check` prints it: one block per process, every effective setting.
public func describe(_ config: Config) -> String {
    var out = "\(config.file): ok, \(counted(config.processes.count, "process", plural: "processes"))\n"
    for spec in config.processes {
        out += "\n\(spec.name):\n"
        out += "  command: \(spec.command)\n"
        out += "  cwd: \(spec.cwd)\n"
        var env = config.env.merging(spec.env) { $1 }
        env["SUPERWATCH_PROCESS"] = spec.name
        // As `up` sets it: a TCP socket's port wins over any PORT the config gives.
        var pickedPort = false
        if let port = spec.firstTCPPort {
            env["PORT"] = String(port)
            pickedPort = port == 0
        }
        // Quoted as a shell reads them, so spaces, quotes and newlines in a value are visible and exact.
        let assignments = env.sorted { $0.key < $1.key }.map { key, value in
            key == "PORT" && pickedPort ? "PORT=(the port picked at start)" : "\(key)=\(ShellWord.quote(value))"
        }
        out += "  env: \(assignments.joined(separator: " "))\n"
        out += "  restart_codes: \(spec.restartCodes.sorted().map(String.init).joined(separator: ", "))\n"
        out +=
            "  restart: \(spec.restart.rawValue) (max_restarts \(spec.maxRestarts), backoff \(spec.backoff.humanReadable))\n"
        out += "  stop: \(SignalName.describe(spec.stopSignal)), then SIGKILL after \(spec.stopTimeout.humanReadable)\n"
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
