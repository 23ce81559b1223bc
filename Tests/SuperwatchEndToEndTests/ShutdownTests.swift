import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The config of a stack whose processes record their pids (leader and a backgrounded grandchild) in files.
func pidRecordingConfig(extra: String = "") -> String {
    """
    processes:
      a:
        command: "sleep 1000 & echo $! > a.grandchild; echo $$ > a.leader; echo ready-a; wait"
        stop_timeout: 2s
      b:
        command: [sh, -c, "sh -c 'sleep 1000' & echo $! > b.grandchild; echo $$ > b.leader; echo ready-b; wait"]
        stop_timeout: 2s
    \(extra)
    """
}

func recordedPIDs(_ dir: TemporaryDirectory) -> [pid_t] {
    ["a.leader", "a.grandchild", "b.leader", "b.grandchild"].compactMap {
        dir.read($0).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

@Suite(.serialized) struct ShutdownTests {
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func aSignalStopsEveryProcessGroupAndExitsZero(signal: Int32) throws {
        try withStack(pidRecordingConfig()) { run in
            #expect(run.waitFor("ready-a") && run.waitFor("ready-b"))
            #expect(eventually { recordedPIDs(run.dir).count == 4 })
            let pids = recordedPIDs(run.dir)
            #expect(pids.allSatisfy(isAlive))
            run.signal(signal)
            #expect(run.waitForExit() == 0)
            #expect(eventually { !pids.contains(where: isAlive) }, "no process of the stack survives")
            #expect(run.stdout.contains("stopping all processes"))
        }
    }

    @Test func noOrphansAfterSuperwatchIsKilled() throws {
        try withStack(pidRecordingConfig()) { run in
            #expect(run.waitFor("ready-a") && run.waitFor("ready-b"))
            #expect(eventually { recordedPIDs(run.dir).count == 4 })
            let pids = recordedPIDs(run.dir)
            run.signal(SIGKILL)
            _ = run.waitForExit()
            // The keeper stops the groups with their stop signal at once; 2s stop_timeout + 1s is the bound.
            #expect(eventually(timeout: .seconds(20)) { !pids.contains(where: isAlive) }, "no orphans after SIGKILL")
        }
    }

    @Test func aChildIgnoringTheStopSignalIsKilledAfterStopTimeout() throws {
        let yaml = """
            processes:
              stubborn:
                command: "trap 'echo got TERM' TERM; echo $$ > pid; echo ready; while true; do sleep 0.05; done"
                stop_timeout: 300ms
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("ready"))
            run.signal(SIGINT)
            #expect(run.waitForExit() == 0)
            #expect(run.stdout.contains("stubborn   | got TERM"))
            #expect(run.stdout.contains("did not stop within 300ms; sending SIGKILL to its process group"))
            #expect(run.stdout.contains("stopped (killed by SIGKILL)"))
            let pid = try #require(
                run.read("pid").flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            #expect(eventually { !isAlive(pid) })
        }
    }

    @Test func aSecondInterruptKillsAtOnce() throws {
        let yaml = """
            processes:
              stubborn:
                command: "trap '' TERM INT; echo ready; while true; do sleep 0.05; done"
                stop_timeout: 60s
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("ready"))
            run.signal(SIGINT)
            #expect(run.waitFor("stopping all processes"))
            run.signal(SIGINT)
            #expect(run.waitForExit(timeout: .seconds(20)) == 0, "well before the 60s stop_timeout")
            #expect(run.stdout.contains("killing every process group now"))
        }
    }

    @Test func aBackgroundedGrandchildDoesNotOutliveItsExitedLeader() throws {
        let yaml = """
            processes:
              leaver: {command: "sleep 1000 & echo $! > gc; echo bye", restart: never, stop_timeout: 1s}
              stay: {command: "sleep 1000"}
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("leaver     * exited with code 0"))
            let gc = try #require(run.read("gc").flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
            #expect(eventually { !isAlive(gc) })
            run.signal(SIGTERM)
            #expect(run.waitForExit() == 0)
        }
    }
}

/// Regressions found in review: output of a group after its leader exits, a low descriptor limit, a dead
/// keeper.
@Suite(.serialized) struct GroupOutputAndKeeperTests {
    @Test func whatTheRestOfTheGroupWritesAfterTheLeaderExitsIsPrintedBeforeTheExit() throws {
        let result = try runStack(
            """
            processes:
              g:
                command: "(trap 'seq 1 20000; echo LAST-LINE; exit 0' TERM; while :; do sleep 0.05; done) & sleep 0.3; exit 1"
                restart: never
            """)
        #expect(result.status == 1)
        let output = lines(of: "g", in: result.stdout)
        #expect(
            output.filter { Int($0) != nil } == (1...20000).map(String.init), "every line of the backgrounded child")
        #expect(output.last == "LAST-LINE")
        let last = try #require(result.stdout.range(of: "g          | LAST-LINE\n"))
        let exited = try #require(result.stdout.range(of: "g          * exited with code 1"))
        #expect(last.upperBound <= exited.lowerBound)
    }

    @Test func processesStartUnderALowDescriptorLimit() throws {
        let dir = stack("processes:\n  e: {command: echo hi, restart: never}\n")
        defer { dir.remove() }
        let result = try runCommand(["sh", "-c", "ulimit -n 64 && exec \"$0\" up", superwatchBinary], in: dir.path)
        #expect(result.status == 0)
        #expect(result.stdout.contains("e          | hi\n"), "\(result.stdout)\(result.stderr)")
    }

    @Test func whenTheKeeperDiesProcessesStillStartAndTheLossIsReported() throws {
        try withStack("processes:\n  r: {command: 'echo run; sleep 0.2; exit 3'}\n") { run in
            #expect(run.waitFor("r          | run"))
            let keeper = try #require(childProcesses(of: run.pid).first { processName($0) == "superwatch-keep" })
            kill(keeper, SIGKILL)
            let before = run.stdout.components(separatedBy: "r          | run").count
            #expect(run.waitFor("r          | run", count: before + 2))
            #expect(run.waitFor("the keeper process is gone"))
            #expect(!run.stdout.contains("killed by SIGPIPE"))
        }
    }
}

/// The pids whose parent is `pid`, from /proc.
func childProcesses(of pid: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(pid_t.init).filter { candidate in
        guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 && pid_t(fields[1]) == pid
    }
}

/// A process's name (comm).
func processName(_ pid: pid_t) -> String? {
    (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
}
