/// What a live config reload changes: the processes (planned instances, so `web.2` on its own) the new plan
/// adds, removes, must restart and can leave running. Pure: computed from the plan `up` runs and the new one,
/// matched by name.
///
/// A process's *resolved settings* are everything that decides how a run of it behaves:
/// - what the child sees, as `ChildLaunch.planned` computes it from the stack's env: its argv (the command, a
///   `werkzeug:` app's interpreter and target), its environment (the stack's `env`, env files and `.env`, its
///   own `env`, `PORT`, `SUPERWATCH_REPLICA`, a `werkzeug:` app's `debug`) and its descriptors;
/// - its `cwd` and its `listen` addresses (a different address is a different held socket);
/// - its watch settings (`watch`, `ignore`, `extra_files`, `watcher`, `interval`, `debounce`);
/// - its restart settings (`restart`, `restart_codes`, `max_restarts`, `backoff`);
/// - its stop settings (`stop_signal`, `stop_timeout`);
/// - its start order and health settings (`depends_on`, `ready`, `ready_timeout`, `ready_period`, `health`,
///   `restart_dependents`), its `reloader` and its `tty`.
/// What superwatch's own environment adds is the same before and after, so it is left out of the comparison;
/// where the process is declared (its line) is not a setting.
struct ReloadDifference: Sendable, Equatable {
    /// Which part of a process's resolved settings changed, in the order a message lists them.
    enum Change: String, Sendable, Equatable, CaseIterable {
        case command, env, cwd, listen, watch, restart, stop, dependencies, reloader, tty

        /// How the event message says it: `env changed`.
        var phrase: String {
            switch self {
            case .command, .env, .cwd, .listen: return "\(rawValue) changed"
            case .watch, .restart, .stop: return "\(rawValue) settings changed"
            case .dependencies: return "depends_on, ready or health changed"
            case .reloader: return "reloader changed"
            case .tty: return "tty changed"
            }
        }
    }

    /// A process whose resolved settings changed, and what changed.
    struct Changed: Sendable, Equatable {
        var name: String
        var changes: [Change]
    }

    /// In the new plan's order.
    var added: [String] = []
    /// In the old plan's order.
    var removed: [String] = []
    /// In the new plan's order.
    var changed: [Changed] = []
    /// In the new plan's order.
    var unchanged: [String] = []

    /// Matches the processes of `old` and `new` by name and compares their resolved settings.
    static func compute(old: Config, new: Config) -> ReloadDifference {
        var difference = ReloadDifference()
        let oldByName = Dictionary(old.processes.map { ($0.name, $0) }) { first, _ in first }
        let newNames = Set(new.processes.map(\.name))
        difference.removed = old.processes.map(\.name).filter { !newNames.contains($0) }
        for spec in new.processes {
            guard let previous = oldByName[spec.name] else {
                difference.added.append(spec.name)
                continue
            }
            let changes = changes(from: previous, in: old.env, to: spec, in: new.env)
            if changes.isEmpty {
                difference.unchanged.append(spec.name)
            } else {
                difference.changed.append(Changed(name: spec.name, changes: changes))
            }
        }
        return difference
    }

    /// What differs between the resolved settings of `old` under the stack env `oldEnv` and `new` under `newEnv`.
    static func changes(
        from old: ProcessSpec, in oldEnv: [String: String], to new: ProcessSpec, in newEnv: [String: String]
    ) -> [Change] {
        let python = ChildLaunch.PythonLocations.placeholder
        let before = ChildLaunch.planned(old, stackEnvironment: oldEnv, python: python)
        let after = ChildLaunch.planned(new, stackEnvironment: newEnv, python: python)
        var changes: [Change] = []
        if before.arguments != after.arguments { changes.append(.command) }
        if before.environment != after.environment { changes.append(.env) }
        if old.cwd != new.cwd { changes.append(.cwd) }
        if old.listen.map(\.address) != new.listen.map(\.address) || before.descriptors != after.descriptors {
            changes.append(.listen)
        }
        if old.watch != new.watch || old.ignore != new.ignore || old.extraFiles != new.extraFiles
            || old.watcher != new.watcher || old.interval != new.interval || old.debounce != new.debounce
        {
            changes.append(.watch)
        }
        if old.restart != new.restart || old.restartCodes != new.restartCodes || old.maxRestarts != new.maxRestarts
            || old.backoff != new.backoff
        {
            changes.append(.restart)
        }
        if old.stopSignal != new.stopSignal || old.stopTimeout != new.stopTimeout { changes.append(.stop) }
        if old.dependsOn != new.dependsOn || old.ready != new.ready || old.readyTimeout != new.readyTimeout
            || old.readyPeriod != new.readyPeriod || old.health != new.health
            || old.restartDependents != new.restartDependents
        {
            changes.append(.dependencies)
        }
        if old.reloader != new.reloader { changes.append(.reloader) }
        if old.tty != new.tty { changes.append(.tty) }
        return changes
    }

    var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }

    /// For the control API and `superwatch reload`.
    var summary: ReloadSummary {
        ReloadSummary(added: added, removed: removed, restarted: changed.map(\.name), unchanged: unchanged)
    }

    /// The one event a reload logs: `config reloaded: started api; stopped worker; restarted web (env changed)`,
    /// or `config reloaded: nothing changed`. The JSON fields list the names, comma-separated.
    var event: SupervisorEvent {
        var parts: [String] = []
        if !added.isEmpty { parts.append("started " + added.joined(separator: ", ")) }
        if !removed.isEmpty { parts.append("stopped " + removed.joined(separator: ", ")) }
        if !changed.isEmpty {
            let restarted = changed.map { "\($0.name) (\($0.changes.map(\.phrase).joined(separator: ", ")))" }
            parts.append("restarted " + restarted.joined(separator: ", "))
        }
        let message = "config reloaded: " + (parts.isEmpty ? "nothing changed" : parts.joined(separator: "; "))
        let fields: [(String, SupervisorEvent.Value)] = [
            ("started", .string(added.joined(separator: ","))),
            ("stopped", .string(removed.joined(separator: ","))),
            ("restarted", .string(changed.map(\.name).joined(separator: ","))),
            ("unchanged", .string(unchanged.joined(separator: ","))),
        ]
        return SupervisorEvent(.reloaded, message, fields)
    }
}
