/// The `depends_on` edges between the processes of a stack: which process waits for which, and in what
/// condition. Built from the config (to find cycles) and from the planned instances (to run them, where a
/// dependency on `db` means every replica of `db`). Pure: no processes, no clock; the supervisor asks it.
struct DependencyGraph: Sendable, Equatable {
    /// What instance `from` needs of instance `target`.
    struct Edge: Sendable, Equatable {
        var target: Int
        /// The name as `depends_on` wrote it (the process, not the replica).
        var name: String
        var condition: DependencyCondition
    }

    /// Per instance, what it needs, in the order `depends_on` names it.
    let needs: [[Edge]]
    /// Per instance, the instances that need it.
    let dependents: [[Int]]
    /// Per instance, names of `depends_on` that no planned instance has (`up api` leaves `db` out).
    let absent: [[String]]

    init(_ specs: [ProcessSpec]) {
        var needs: [[Edge]] = []
        var absent: [[String]] = []
        var dependents = [[Int]](repeating: [], count: specs.count)
        for (index, spec) in specs.enumerated() {
            var edges: [Edge] = []
            var missing: [String] = []
            for dependency in spec.dependsOn {
                let targets = specs.indices.filter {
                    specs[$0].name == dependency.name || specs[$0].replicaOf == dependency.name
                }
                if targets.isEmpty { missing.append(dependency.name) }
                for target in targets {
                    edges.append(Edge(target: target, name: dependency.name, condition: dependency.condition))
                    if !dependents[target].contains(index) { dependents[target].append(index) }
                }
            }
            needs.append(edges)
            absent.append(missing)
        }
        self.needs = needs
        self.dependents = dependents
        self.absent = absent
    }

    /// A cycle, as the instances along it with the first repeated at the end (`[api, db, api]`), the first
    /// one found walking the instances in order; nil when there is none.
    func cycle() -> [Int]? {
        enum Mark { case unvisited, onPath, done }
        var marks = [Mark](repeating: .unvisited, count: needs.count)
        var path: [Int] = []
        func visit(_ node: Int) -> [Int]? {
            marks[node] = .onPath
            path.append(node)
            for edge in needs[node] {
                switch marks[edge.target] {
                case .onPath:
                    let start = path.firstIndex(of: edge.target)!
                    return Array(path[start...]) + [edge.target]
                case .unvisited:
                    if let found = visit(edge.target) { return found }
                case .done:
                    break
                }
            }
            path.removeLast()
            marks[node] = .done
            return nil
        }
        for node in needs.indices where marks[node] == .unvisited {
            if let found = visit(node) { return found }
        }
        return nil
    }

    /// Whether some instance that needs `index` is still up (`isDown` says which are not): at shutdown a
    /// process is stopped only after everything that depends on it has stopped.
    func hasLiveDependents(_ index: Int, isDown: (Int) -> Bool) -> Bool {
        dependents[index].contains { !isDown($0) }
    }

    /// What instance `index` still waits for, one entry per name (a process with replicas is met once all of
    /// them are), in the order `depends_on` names them; empty when it can start.
    func unmet(_ index: Int, status: (Int) -> DependencyStatus) -> [UnmetDependency] {
        var result: [UnmetDependency] = []
        for edge in needs[index] {
            let state = status(edge.target)
            guard !state.satisfies(edge.condition) else { continue }
            if let existing = result.firstIndex(where: { $0.name == edge.name }) {
                if result[existing].failure == nil { result[existing].failure = state.failure }
            } else {
                result.append(UnmetDependency(name: edge.name, condition: edge.condition, failure: state.failure))
            }
        }
        return result
    }
}

/// Where one instance stands, as far as its dependents care; the supervisor derives it from its lifecycle.
struct DependencyStatus: Sendable, Equatable {
    /// A run of it is up now.
    var running = false
    /// Its current run's readiness probe passed (a process without one: its run started).
    var ready = false
    /// Its last run exited with 0 and it is not running again.
    var completed = false
    /// Why it will not get to a condition on its own (it exited, gave up, was stopped, its probe timed out),
    /// said of it: `it exited with code 1`.
    var failure: String?

    func satisfies(_ condition: DependencyCondition) -> Bool {
        switch condition {
        case .started: return running || completed
        case .ready: return ready
        case .completed: return completed
        }
    }
}

/// A dependency an instance waits for.
struct UnmetDependency: Sendable, Equatable {
    var name: String
    var condition: DependencyCondition
    var failure: String?

    /// `waiting for db (ready), migrate (completed)`; with failures, each says why: `waiting for migrate
    /// (completed): it exited with code 1`.
    static func describe(_ unmet: [UnmetDependency]) -> String {
        let parts = unmet.map { item in
            "\(item.name) (\(item.condition.rawValue))" + (item.failure.map { ": \($0)" } ?? "")
        }
        return "waiting for " + parts.joined(separator: unmet.contains { $0.failure != nil } ? "; " : ", ")
    }
}
