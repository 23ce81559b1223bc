import SuperwatchCore
import Testing

@Suite struct StackPlanTests {
    let config = Config(
        file: "superwatch.yaml", directory: "/srv",
        processes: [
            ProcessSpec(name: "web", command: .shell("serve"), cwd: "/srv"),
            ProcessSpec(name: "worker", command: .shell("work"), cwd: "/srv"),
            ProcessSpec(name: "clock", command: .shell("tick"), cwd: "/srv"),
        ])

    func summary(_ planned: Config) -> [String] {
        planned.processes.map { "\($0.name) PORT=\($0.env["PORT"] ?? "-") R=\($0.env["SUPERWATCH_REPLICA"] ?? "-")" }
    }

    @Test func eachProcessGetsAPortHundredApart() throws {
        #expect(
            summary(try StackPlan.make(config)) == ["web PORT=5000 R=1", "worker PORT=5100 R=1", "clock PORT=5200 R=1"])
        #expect(summary(try StackPlan.make(config, basePort: 8000)).first == "web PORT=8000 R=1")
    }

    @Test func aReloadKeepsThePortsOfTheProcessesItKeeps() throws {
        let first = StackPlan.portSlots(["web", "worker", "clock"], basePort: 5000, keeping: [:])
        #expect(first == ["web": 5000, "worker": 5100, "clock": 5200], "by position the first time")
        // `api` is inserted first and `worker` removed: web and clock keep theirs, api gets the lowest free one.
        let second = StackPlan.portSlots(["api", "web", "clock"], basePort: 5000, keeping: first)
        #expect(second == ["api": 5100, "web": 5000, "clock": 5200])
        // A new process whose position's port is free gets it.
        let third = StackPlan.portSlots(["api", "web", "clock", "mail"], basePort: 5000, keeping: second)
        #expect(third["mail"] == 5300)

        var reordered = config
        reordered.processes.insert(ProcessSpec(name: "api", command: .shell("api"), cwd: "/srv"), at: 0)
        reordered.processes[2].replicas = 2
        let planned = try StackPlan.make(
            reordered,
            portSlots: StackPlan.portSlots(
                reordered.processes.map(\.name), basePort: 5000,
                keeping: ["web": 5000, "worker": 5100, "clock": 5200]))
        #expect(
            summary(planned) == [
                "api PORT=5300 R=1", "web PORT=5000 R=1", "worker.1 PORT=5100 R=1", "worker.2 PORT=5101 R=2",
                "clock PORT=5200 R=1",
            ])
    }

    @Test func aPlanSourcePlansAgainKeepingPortsUnlessTheBaseChanged() throws {
        let source = PlanSource(path: "superwatch.yaml", environment: [:])
        let first = try source.plan(config)
        #expect(first.portSlots == ["web": 5000, "worker": 5100, "clock": 5200])
        var edited = config
        edited.processes.remove(at: 0)
        edited.processes.append(ProcessSpec(name: "web2", command: .shell("serve"), cwd: "/srv"))
        let second = try source.plan(edited, keeping: first)
        #expect(summary(second.plan) == ["worker PORT=5100 R=1", "clock PORT=5200 R=1", "web2 PORT=5000 R=1"])
        edited.env["PORT"] = "7000"
        let rebased = try source.plan(edited, keeping: second)
        #expect(summary(rebased.plan) == ["worker PORT=7000 R=1", "clock PORT=7100 R=1", "web2 PORT=7200 R=1"])
    }

    @Test func replicasAreNamedNumberedAndPortedOneApart() throws {
        var config = self.config
        config.processes[1].replicas = 3
        let planned = try StackPlan.make(config)
        #expect(
            summary(planned) == [
                "web PORT=5000 R=1", "worker.1 PORT=5100 R=1", "worker.2 PORT=5101 R=2", "worker.3 PORT=5102 R=3",
                "clock PORT=5200 R=1",
            ])
        #expect(planned.processes.allSatisfy { $0.replicas == 1 })
        #expect(planned.processes[2].command == .shell("work"))
    }

    @Test func concurrencyOverridesReplicasAndZeroLeavesOut() throws {
        var config = self.config
        config.processes[1].replicas = 3
        let planned = try StackPlan.make(config, concurrency: ["web": 2, "worker": 0])
        #expect(
            summary(planned) == ["web.1 PORT=5000 R=1", "web.2 PORT=5001 R=2", "clock PORT=5200 R=1"],
            "ports keep the position in the file even when a process is left out")
    }

    @Test func aPortTheConfigSetsIsKept() throws {
        var config = self.config
        config.processes[0].env["PORT"] = "9999"
        config.processes[1].listen = [ListenSpec(.tcp(host: "127.0.0.1", port: 7000))]
        config.processes[2].listen = [ListenSpec(.unix(path: "/tmp/x.sock"))]
        #expect(
            summary(try StackPlan.make(config)) == ["web PORT=9999 R=1", "worker PORT=- R=1", "clock PORT=5200 R=1"])
        config.env["PORT"] = "4000"
        #expect(summary(try StackPlan.make(config)).last == "clock PORT=5200 R=1", "a global PORT is only the base")
    }

    @Test func aWerkzeugProcessListensOnItsAssignedPort() throws {
        var config = self.config
        config.processes[1].command = .werkzeug(WerkzeugApp(target: "app:app"))
        let planned = try StackPlan.make(config, basePort: 6000)
        #expect(planned.processes[1].listen == [ListenSpec(.tcp(host: "127.0.0.1", port: 6100))])
        #expect(planned.processes[1].env["PORT"] == nil, "the supervisor sets PORT from the socket")
    }

    @Test func onlySelectsProcessesOrSingleReplicas() throws {
        var config = self.config
        config.processes[0].replicas = 2
        #expect(try StackPlan.make(config, only: ["web"]).processes.map(\.name) == ["web.1", "web.2"])
        #expect(try StackPlan.make(config, only: ["web.2", "clock"]).processes.map(\.name) == ["web.2", "clock"])
        #expect(
            throws: SuperwatchError(.usage, "no process named `nope` in superwatch.yaml; it has web, worker, clock")
        ) {
            try StackPlan.make(config, only: ["nope"])
        }
        #expect(throws: SuperwatchError(.usage, "nothing to start: -c runs no copy of worker")) {
            try StackPlan.make(config, concurrency: ["worker": 0], only: ["worker"])
        }
    }

    @Test func badConcurrencyIsAUsageError() throws {
        #expect(try StackPlan.parseConcurrency(["web=2,worker=3", "web=1"]) == ["web": 1, "worker": 3])
        for bad in ["web", "web=-1", "=2", "web=two", "web=2,"] {
            #expect(throws: SuperwatchError.self) { try StackPlan.parseConcurrency([bad]) }
        }
        #expect(
            throws: SuperwatchError(
                .usage, "-c names `db`, which is not a process in superwatch.yaml; it has web, worker, clock")
        ) {
            try StackPlan.make(config, concurrency: ["db": 1])
        }
    }

    @Test func replicasOfAProcessWithSocketsShareItsAddress() throws {
        var sockets = config
        sockets.processes[0].listen = [ListenSpec(.tcp(host: "", port: 80))]
        let planned = try StackPlan.make(sockets, concurrency: ["web": 2])
        #expect(planned.processes[0].replicaOf == "web" && planned.processes[1].replicaOf == "web")
        #expect(planned.processes[0].listen == planned.processes[1].listen)
        #expect(planned.processes[2].replicaOf == nil)
    }

    @Test func basePortComesFromTheFlagThenTheStacksEnvThenTheEnvironment() throws {
        var fromFile = config
        fromFile.env["PORT"] = "9000"
        #expect(try StackPlan.basePort(flag: 7000, config: fromFile, environment: ["PORT": "8000"]) == 7000)
        #expect(try StackPlan.basePort(flag: nil, config: fromFile, environment: ["PORT": "8000"]) == 9000)
        #expect(try StackPlan.basePort(flag: nil, config: config, environment: ["PORT": "8000"]) == 8000)
        #expect(try StackPlan.basePort(flag: nil, config: config, environment: [:]) == 5000)
    }

    @Test func aBasePortOutsideOneTo65535IsAnErrorWhereverItComesFrom() throws {
        #expect(throws: SuperwatchError(.usage, "--port must be between 1 and 65535, found 0")) {
            try StackPlan.basePort(flag: 0, config: config, environment: [:])
        }
        for junk in ["junk", "0", "65536", "", "80 "] {
            #expect(
                throws: SuperwatchError(
                    .usage,
                    "PORT=\(junk) in superwatch's environment is not a port number from 1 to 65535; unset it or start with --port"
                )
            ) {
                try StackPlan.basePort(flag: nil, config: config, environment: ["PORT": junk])
            }
        }
        var fromFile = config
        fromFile.env["PORT"] = "70000"
        fromFile.envLocations["PORT"] = SourceLocation(file: ".env", line: 2, column: 6)
        #expect(
            throws: SuperwatchError(
                .invalidConfig,
                "PORT=70000 is not a port number from 1 to 65535; the first process gets this PORT and each later one 100 more",
                at: SourceLocation(file: ".env", line: 2, column: 6))
        ) {
            try StackPlan.basePort(flag: nil, config: fromFile, environment: ["PORT": "8000"])
        }
        // --port still wins over a bad value in the file, as it wins over a good one.
        #expect(try StackPlan.basePort(flag: 6000, config: fromFile, environment: [:]) == 6000)
    }

    @Test func aGlobalPortIsTheBaseOfTheNumberingNotEveryProcesssPort() throws {
        var config = self.config
        config.env["PORT"] = "8000"
        config.processes[2].env["PORT"] = "7777"
        let planned = try StackPlan.make(
            config, basePort: try StackPlan.basePort(flag: nil, config: config, environment: [:]))
        #expect(summary(planned) == ["web PORT=8000 R=1", "worker PORT=8100 R=1", "clock PORT=7777 R=1"])
    }

    @Test func aPortPast65535IsAnErrorAtTheProcessNotAClampedPort() throws {
        var config = self.config
        config.processes[2].location = SourceLocation(file: "superwatch.yaml", line: 9, column: 3)
        #expect(
            throws: SuperwatchError(
                .usage,
                "process `clock` would get PORT 65600 (65400 + 100 × 2), above 65535; start the ports lower (--port or PORT), or set PORT in its env",
                at: SourceLocation(file: "superwatch.yaml", line: 9, column: 3))
        ) {
            try StackPlan.make(config, basePort: 65400)
        }
        config.processes[2].env["PORT"] = "8000"
        #expect(summary(try StackPlan.make(config, basePort: 65400)).last == "clock PORT=8000 R=1")
        var werkzeug = ProcessSpec(name: "api", command: .argv(["python3"]), cwd: "/srv")
        werkzeug.command = .werkzeug(WerkzeugApp(target: "app"))
        #expect(throws: SuperwatchError.self) {
            try StackPlan.make(
                Config(file: "superwatch.yaml", directory: "/srv", processes: [werkzeug]), basePort: 65536)
        }
    }
}
