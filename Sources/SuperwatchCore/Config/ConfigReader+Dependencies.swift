import Yams

/// `ready:`, `health:` and `depends_on:`: the probes of a process and what it waits for; then, once every
/// process is read, the checks that need them all (unknown names, conditions, cycles).
extension ConfigReader {
    /// A `ready:` mapping (one probe), or the probe of a `health:` mapping (`liveness`, which also has
    /// `period` and `failures`, read by the caller).
    func probe(_ node: Node, what: String, cwd: String, liveness: Bool) throws(SuperwatchError) -> Probe {
        let allowed = liveness ? Probe.kinds + ["period", "failures"] : Probe.kinds
        let pairs = try mapping(node, what: what, allowed: allowed)
        var found: (probe: Probe, key: String)?
        for (key, keyNode, value) in pairs where Probe.kinds.contains(key) {
            if let found {
                throw error(keyNode, "\(what) takes one probe; found both `\(found.key)` and `\(key)`")
            }
            found = (try probeValue(key, value, what: "\(what): `\(key)`", liveness: liveness), key)
        }
        guard let found else {
            throw error(node, "\(what) needs a probe: one of tcp, http, exec, log (e.g. {tcp: 127.0.0.1:5432})")
        }
        return found.probe
    }

    private func probeValue(_ kind: String, _ value: Node, what: String, liveness: Bool) throws(SuperwatchError)
        -> Probe
    {
        switch kind {
        case "tcp":
            let advice = "; write HOST:PORT, such as 127.0.0.1:5432"
            guard case .string? = try typed(value) else {
                throw error(value, "\(what) must be a string, found \(try describe(value))\(advice)")
            }
            let text = try nonEmptyString(value, what: what)
            guard case .success(.tcp(let host, let port)) = ListenAddress.parse(text, directory: "/"), port > 0 else {
                throw error(
                    value, "\(what): `\(shown(text))` is not a TCP address with a port from 1 to 65535\(advice)")
            }
            return .tcp(host: host.isEmpty ? "127.0.0.1" : host, port: port)
        case "http":
            let text = try nonEmptyString(value, what: what)
            switch HTTPProbeTarget.parse(text) {
            case .success(let target): return .http(target)
            case .failure(let failure): throw error(value, "\(what): \(failure.message)")
            }
        case "exec":
            let command = try nonEmptyString(value, what: what)
            if let problem = ExecLimits.argumentProblem(command) {
                throw error(value, "\(what) is too long: \(problem)")
            }
            return .exec(command)
        default:
            let pattern = try nonEmptyString(value, what: what)
            if liveness {
                throw error(
                    value, "a `log` probe can only say when a process is ready; use tcp, http or exec for `health`")
            }
            do { _ = try LogPattern(pattern) } catch {
                throw self.error(
                    value, "\(what): `\(shown(pattern))` is not an extended regular expression: \(error.message)")
            }
            return .log(pattern)
        }
    }

    /// `health: {http: URL, period: 5s, failures: 3}`.
    func healthCheck(_ node: Node, cwd: String) throws(SuperwatchError) -> HealthCheck {
        var check = HealthCheck(probe: try probe(node, what: "`health`", cwd: cwd, liveness: true))
        for (key, _, value) in try mapping(node, what: "`health`", allowed: Probe.kinds + ["period", "failures"]) {
            switch key {
            case "period": check.period = try duration(value, key: .readyPeriod, what: "`health`: `period`")
            case "failures":
                check.failures = try integer(value, what: "`health`: `failures`", range: HealthCheck.failuresRange)
            default: break
            }
        }
        return check
    }

    /// `depends_on: [db, cache]` (short form, conditions resolved later) or `depends_on: {db: ready}`.
    func dependencies(_ node: Node, of process: String) throws(SuperwatchError) -> [Dependency] {
        var result: [Dependency] = []
        func add(_ name: String, _ condition: DependencyCondition?, at item: Node) throws(SuperwatchError) {
            guard !result.contains(where: { $0.name == name }) else {
                throw error(item, "`depends_on` names `\(shown(name))` twice; remove one")
            }
            var dependency = Dependency(name, condition ?? .started, at: location(item))
            dependency.isShortForm = condition == nil
            result.append(dependency)
        }
        switch node {
        case .sequence:
            for item in try list(node, what: "`depends_on`") {
                try add(try nonEmptyString(item, what: "an item of `depends_on`"), nil, at: item)
            }
        case .mapping:
            let conditions = DependencyCondition.allCases.map(\.rawValue).joined(separator: ", ")
            for (name, keyNode, value) in try mapping(node, what: "`depends_on`", allowed: nil) {
                let text = try string(value, what: "the condition for `\(shown(name))`")
                guard let condition = DependencyCondition(rawValue: text) else {
                    throw error(
                        value, "the condition for `\(shown(name))` must be one of \(conditions); found `\(shown(text))`"
                    )
                }
                try add(name, condition, at: keyNode)
            }
        default:
            throw error(
                node,
                "`depends_on` must be a list of process names or a mapping of names to conditions, found "
                    + "\(try describe(node)); write e.g. [db] or {db: ready}")
        }
        return result
    }

    /// Checks every `depends_on` against the other processes and fills in the short form's condition: `ready`
    /// when the process has a readiness probe, else `started`. Unknown names, `ready` of a process that has no
    /// probe, and cycles are errors at the entry that names them.
    func resolveDependencies(_ processes: inout [ProcessSpec]) throws(SuperwatchError) {
        let names = processes.map(\.name)
        for index in processes.indices {
            for (position, dependency) in processes[index].dependsOn.enumerated() {
                guard let target = processes.first(where: { $0.name == dependency.name }) else {
                    var message = "`depends_on`: no process named `\(shown(dependency.name))`"
                    if let suggestion = closestMatch(to: dependency.name, in: names) {
                        message += "; did you mean `\(suggestion)`?"
                    } else {
                        message += "; the processes are \(names.joined(separator: ", "))"
                    }
                    throw SuperwatchError(.invalidConfig, escapingControlCharacters(message), at: dependency.location)
                }
                if dependency.isShortForm {
                    processes[index].dependsOn[position].condition = target.readiness == nil ? .started : .ready
                } else if dependency.condition == .ready, target.readiness == nil {
                    throw SuperwatchError(
                        .invalidConfig,
                        "`\(target.name)` has no readiness probe, so it is never `ready`; give it one with `ready:` "
                            + "(e.g. {tcp: 127.0.0.1:5432}) or wait for it to be `started`",
                        at: dependency.location)
                }
            }
        }
        if let cycle = DependencyGraph(processes).cycle() {
            let first = processes[cycle[0]]
            let entry = first.dependsOn.first { $0.name == processes[cycle[1]].name }
            throw SuperwatchError(
                .invalidConfig,
                "dependency cycle: \(cycle.map { processes[$0].name }.joined(separator: " -> ")); "
                    + "remove one of these `depends_on` entries",
                at: entry?.location ?? first.location)
        }
    }
}
