import Foundation
import Testing

@testable import SuperwatchCore

/// The difference a live config reload applies (`ReloadDifference`): from the plan `up` runs and the new one,
/// which processes start, stop, restart (and why) and stay untouched.
@Suite struct ReloadDifferenceTests {
    /// The config as `up` plans it (ports from 5000, as `up` without `--port`).
    func plan(_ yaml: String, concurrency: [String: Int] = [:]) throws -> Config {
        let config = try ConfigLoader.parse(yaml: yaml, file: "superwatch.yaml", directory: "/srv")
        return try StackPlan.make(config, concurrency: concurrency)
    }

    let base = """
        processes:
          web:
            command: python3 -m http.server $PORT
            env: {GREETING: hi}
          worker:
            command: ./worker
        """

    @Test func theSameConfigChangesNothing() throws {
        let difference = ReloadDifference.compute(old: try plan(base), new: try plan(base))
        #expect(difference == ReloadDifference(unchanged: ["web", "worker"]))
        #expect(difference.isEmpty)
        #expect(difference.event.message == "config reloaded: nothing changed")
        #expect(difference.event.kind == .reloaded)
    }

    @Test func addedRemovedAndChangedProcessesAreTold() throws {
        // web's GREETING changes; worker goes, api comes in its place.
        let new = base.replacingOccurrences(of: "GREETING: hi", with: "GREETING: hello")
            .replacingOccurrences(of: "worker:\n    command: ./worker", with: "api:\n    command: ./api")
        let difference = ReloadDifference.compute(old: try plan(base), new: try plan(new))
        #expect(difference.added == ["api"])
        #expect(difference.removed == ["worker"])
        #expect(difference.changed == [.init(name: "web", changes: [.env])])
        #expect(difference.unchanged == [])
        #expect(difference.event.message == "config reloaded: started api; stopped worker; restarted web (env changed)")
        #expect(difference.summary == ReloadSummary(added: ["api"], removed: ["worker"], restarted: ["web"]))
    }

    /// The stack's `env` (where env files and `.env` go) is part of what every child sees.
    @Test func aStackEnvChangeRestartsEveryProcess() throws {
        let new = "env: {LEVEL: debug}\n" + base
        let difference = ReloadDifference.compute(old: try plan(base), new: try plan(new))
        #expect(difference.changed.map(\.name) == ["web", "worker"])
        #expect(difference.changed.allSatisfy { $0.changes == [.env] })
    }

    /// A process renamed is a different process: the old one stops, the new one starts.
    @Test func aRenameIsARemovalAndAnAddition() throws {
        let difference = ReloadDifference.compute(
            old: try plan(base), new: try plan(base.replacingOccurrences(of: "worker:", with: "jobs:")))
        #expect(difference.added == ["jobs"])
        #expect(difference.removed == ["worker"])
        #expect(difference.unchanged == ["web"])
    }

    /// A new process before the others shifts the ports StackPlan gives (every instance gets a `PORT`, used or
    /// not): theirs change, so they restart; one added at the end leaves them alone.
    @Test func aShiftedPortIsAnEnvChange() throws {
        let new = base.replacingOccurrences(of: "processes:\n", with: "processes:\n  db:\n    command: ./db\n")
        let difference = ReloadDifference.compute(old: try plan(base), new: try plan(new))
        #expect(difference.added == ["db"])
        #expect(difference.changed == [.init(name: "web", changes: [.env]), .init(name: "worker", changes: [.env])])
        #expect(difference.unchanged == [])
        let appended = ReloadDifference.compute(old: try plan(base), new: try plan(base + "\n  db:\n    command: ./db"))
        #expect(appended.added == ["db"])
        #expect(appended.unchanged == ["web", "worker"])
    }

    @Test func eachKindOfSettingIsItsOwnReason() throws {
        let old = try plan(base)
        func changes(_ edit: (inout ProcessSpec) -> Void) -> [ReloadDifference.Change] {
            var new = old
            edit(&new.processes[1])
            return ReloadDifference.compute(old: old, new: new).changed.first?.changes ?? []
        }
        #expect(changes { $0.command = .shell("./worker --fast") } == [.command])
        #expect(changes { $0.cwd = "/elsewhere" } == [.cwd])
        #expect(changes { $0.listen = [ListenSpec(.tcp(host: "127.0.0.1", port: 8000))] } == [.env, .listen])
        #expect(changes { $0.watch = ["**/*.py"] } == [.watch])
        #expect(changes { $0.ignore = ["build"] } == [.watch])
        #expect(changes { $0.debounce = .milliseconds(100) } == [.watch])
        #expect(changes { $0.maxRestarts = 1 } == [.restart])
        #expect(changes { $0.restartCodes = [3, 4] } == [.restart])
        #expect(changes { $0.stopSignal = .interrupt } == [.stop])
        #expect(changes { $0.stopTimeout = .seconds(1) } == [.stop])
        #expect(changes { $0.dependsOn = [Dependency("web", .started)] } == [.dependencies])
        #expect(changes { $0.readyTimeout = .seconds(5) } == [.dependencies])
        #expect(changes { $0.restartDependents = true } == [.dependencies])
        #expect(changes { $0.reloader = .werkzeug } == [.reloader])
        #expect(changes { $0.tty = true } == [.tty])
        #expect(changes { $0.location = SourceLocation(file: "superwatch.yaml", line: 9, column: 3) } == [])
        #expect(
            ReloadDifference.Change.allCases.map(\.phrase) == [
                "command changed", "env changed", "cwd changed", "listen changed", "watch settings changed",
                "restart settings changed", "stop settings changed", "depends_on, ready or health changed",
                "reloader changed", "tty changed",
            ])
    }

    /// Replicas are compared one by one: one more replica starts one more instance, the others stay.
    @Test func moreReplicasStartOnlyTheNewOnes() throws {
        let old = try plan(base, concurrency: ["worker": 2])
        let new = try plan(base, concurrency: ["worker": 3])
        let difference = ReloadDifference.compute(old: old, new: new)
        #expect(difference.added == ["worker.3"])
        #expect(difference.removed == [])
        #expect(difference.unchanged == ["web", "worker.1", "worker.2"])
        let fewer = ReloadDifference.compute(old: new, new: old)
        #expect(fewer.removed == ["worker.3"])
        #expect(fewer.event.message == "config reloaded: stopped worker.3")
    }
}
