/// Turns a validated `Config` into what runs: one `ProcessSpec` per instance, with the replicas expanded
/// (`web.1`, `web.2`, ...), processes that get no copies left out, and each instance's `PORT` and
/// `SUPERWATCH_REPLICA` written into its env. The supervisor and `export systemd` both take its output, so
/// neither knows about replicas or ports.
public enum StackPlan {
    /// The port base when neither `--port` nor a `PORT` in the stack's env or superwatch's environment gives
    /// one (foreman's).
    public static let defaultBasePort = 5000
    /// Ports between two processes in the file: room for 100 replicas each.
    public static let portStride = 100

    /// The base port: `--port` when given, else `PORT` from the stack's global env (`.env`, the top-level
    /// `env_file` or `env`), else `PORT` from superwatch's own environment, else 5000. The file wins over the
    /// environment because foreman and honcho both read it that way: a `.env` belongs to the project, a
    /// `PORT` in the shell may be left over from something else. A value that is not a port from 1 to 65535
    /// is an error, at its position when it comes from a file.
    public static func basePort(flag: Int?, config: Config, environment: [String: String]) throws(SuperwatchError)
        -> Int
    {
        if let flag {
            guard (1...65535).contains(flag) else {
                throw SuperwatchError(.usage, "--port must be between 1 and 65535, found \(flag)")
            }
            return flag
        }
        if let text = config.env["PORT"] {
            guard let port = portNumber(text) else {
                throw SuperwatchError(
                    .invalidConfig,
                    "PORT=\(shown(text)) is not a port number from 1 to 65535; the first process gets this PORT "
                        + "and each later one 100 more",
                    at: config.envLocations["PORT"] ?? SourceLocation(file: config.file))
            }
            return port
        }
        if let text = environment["PORT"] {
            guard let port = portNumber(text) else {
                throw SuperwatchError(
                    .usage,
                    "PORT=\(shown(text)) in superwatch's environment is not a port number from 1 to 65535; unset it "
                        + "or start with --port")
            }
            return port
        }
        return defaultBasePort
    }

    /// `text` as a port from 1 to 65535, or nil.
    static func portNumber(_ text: String) -> Int? {
        guard let port = ListenAddress.port(text), port > 0 else { return nil }
        return Int(port)
    }

    /// Parses `-c` values: each a comma-separated list of `NAME=COUNT`; a later count for a name wins.
    public static func parseConcurrency(_ values: [String]) throws(SuperwatchError) -> [String: Int] {
        var counts: [String: Int] = [:]
        for value in values {
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, let count = Int(parts[1]), (0...1000).contains(count) else {
                    throw SuperwatchError(
                        .usage, "-c: `\(item)` is not NAME=COUNT (a count from 0 to 1000); write e.g. -c web=2,worker=0"
                    )
                }
                counts[String(parts[0])] = count
            }
        }
        return counts
    }

    /// Expands `config` for `up`.
    /// - Parameters:
    ///   - concurrency: copies per process name from `-c`, over each process's `replicas`; 0 leaves it out.
    ///   - only: names to start (a process name selects all its instances, `web.2` one instance); empty: all.
    ///   - basePort: what the first process's `PORT` is; each later process in the file gets 100 more and
    ///     each replica after the first 1 more.
    ///   - portSlots: the first `PORT` of each process by name, when not by its position (`portSlots(_:)`).
    public static func make(
        _ config: Config, concurrency: [String: Int] = [:], only: [String] = [], basePort: Int = defaultBasePort,
        portSlots: [String: Int]? = nil
    ) throws(SuperwatchError) -> Config {
        guard (1...65535).contains(basePort) else {
            throw SuperwatchError(.usage, "the base port must be between 1 and 65535, found \(basePort)")
        }
        let names = config.processes.map(\.name)
        for name in concurrency.keys.sorted() where !names.contains(name) {
            throw SuperwatchError(
                .usage,
                "-c names `\(name)`, which is not a process in \(config.file); it has \(names.joined(separator: ", "))")
        }
        var planned = config
        planned.processes = []
        for (index, spec) in config.processes.enumerated() {
            let count = concurrency[spec.name] ?? spec.replicas
            let port = portSlots?[spec.name] ?? basePort + portStride * index
            let slot = (port - basePort) / portStride
            for replica in stride(from: 1, through: count, by: 1) {
                planned.processes.append(
                    try instance(
                        of: spec, replica: replica, of: count, port: port + replica - 1,
                        origin: "\(basePort) + \(portStride) × \(slot)\(replica > 1 ? " + \(replica - 1)" : "")"))
            }
        }
        return try select(only, from: planned, original: config)
    }

    /// The first `PORT` of each of `names` (the processes of a config, in order) when a live reload plans it
    /// again: a process `previous` has keeps its port, so that a process the reload does not touch keeps the
    /// PORT it runs with even when processes are added or removed before it; a new one gets its position's
    /// (`basePort` + 100 × its index) unless a kept process has that, else the lowest such port no process has.
    public static func portSlots(_ names: [String], basePort: Int, keeping previous: [String: Int]) -> [String: Int] {
        var slots: [String: Int] = [:]
        for name in names { slots[name] = previous[name] }
        var taken = Set(slots.values)
        for (index, name) in names.enumerated() where slots[name] == nil {
            var port = basePort + portStride * index
            if taken.contains(port) {
                port = basePort
                while taken.contains(port) { port += portStride }
            }
            slots[name] = port
            taken.insert(port)
        }
        return slots
    }

    /// Replica `replica` of `count` of `spec`, named `NAME.N` when there are several. `origin` says how `port`
    /// was computed, for the error when it is past 65535.
    static func instance(
        of spec: ProcessSpec, replica: Int, of count: Int, port: Int, origin: String
    ) throws(SuperwatchError) -> ProcessSpec {
        var instance = spec
        instance.name = count > 1 ? "\(spec.name).\(replica)" : spec.name
        instance.replicas = 1
        instance.replicaOf = count > 1 ? spec.name : nil
        instance.env["SUPERWATCH_REPLICA"] = String(replica)
        // Only the process's own env or env_file overrides the numbering; a global PORT is its base.
        let configuredPort = spec.env["PORT"]
        let first = port - (replica - 1)
        func checked(_ port: Int) throws(SuperwatchError) -> Int {
            guard port > 65535 else { return port }
            throw SuperwatchError(
                .usage,
                "process `\(instance.name)` would get PORT \(port) (\(origin)), above 65535; start the ports lower "
                    + "(--port or PORT), or set PORT in its env",
                at: spec.location)
        }
        if spec.werkzeug != nil && spec.listen.isEmpty {
            // One address for all replicas (they share its socket): the first replica's port.
            // The reader has refused a PORT of its own that is not a port (at its line).
            let chosen: UInt16
            if let configuredPort, let number = ListenAddress.port(configuredPort) {
                chosen = number
            } else {
                chosen = UInt16(try checked(first))
            }
            instance.listen = [ListenSpec(.tcp(host: "127.0.0.1", port: chosen))]
        }
        // A TCP socket's port is what the supervisor puts in PORT; a value the config set is kept.
        if configuredPort == nil && instance.firstTCPPort == nil { instance.env["PORT"] = String(try checked(port)) }
        return instance
    }

    /// Keeps the instances `only` names; an unknown name is a usage error.
    static func select(_ only: [String], from planned: Config, original: Config) throws(SuperwatchError) -> Config {
        guard !only.isEmpty else {
            guard !planned.processes.isEmpty else {
                throw SuperwatchError(.usage, "nothing to start: -c leaves out every process of \(original.file)")
            }
            return planned
        }
        let names = original.processes.map(\.name)
        var selected = planned
        selected.processes = []
        for name in only {
            guard names.contains(name) || planned.processes.contains(where: { $0.name == name }) else {
                throw SuperwatchError(
                    .usage, "no process named `\(name)` in \(original.file); it has \(names.joined(separator: ", "))")
            }
        }
        for spec in planned.processes {
            let base = spec.name.split(separator: ".").first.map(String.init) ?? spec.name
            if only.contains(spec.name) || only.contains(base) { selected.processes.append(spec) }
        }
        guard !selected.processes.isEmpty else {
            throw SuperwatchError(.usage, "nothing to start: -c runs no copy of \(only.joined(separator: ", "))")
        }
        return selected
    }
}
