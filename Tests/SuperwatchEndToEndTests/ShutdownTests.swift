import Foundation
import SuperwatchTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A stack whose processes record their pids (leader and a backgrounded grandchild) in files.
func pidRecordingStack(extra: String = "") -> TemporaryDirectory {
    stack("""
        processes:
          a:
            command: "sleep 1000 & echo $! > a.grandchild; echo $$ > a.leader; echo ready-a; wait"
            stop_timeout: 2s
          b:
            command: [sh, -c, "sh -c 'sleep 1000' & echo $! > b.grandchild; echo $$ > b.leader; echo ready-b; wait"]
            stop_timeout: 2s
        \(extra)
        """)
}

func recordedPIDs(_ dir: TemporaryDirectory) -> [pid_t] {
    ["a.leader", "a.grandchild", "b.leader", "b.grandchild"].compactMap {
        dir.read($0).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

@Suite(.serialized) struct ShutdownTests {
    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func aSignalStopsEveryProcessGroupAndExitsZero(signal: Int32) throws {
        let dir = pidRecordingStack()
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        #expect(run.waitFor("ready-a") && run.waitFor("ready-b"))
        #expect(eventually { recordedPIDs(dir).count == 4 })
        let pids = recordedPIDs(dir)
        #expect(pids.allSatisfy(isAlive))
        run.signal(signal)
        #expect(run.waitForExit() == 0)
        #expect(eventually { !pids.contains(where: isAlive) }, "no process of the stack survives")
        #expect(run.stdout.contains("stopping all processes"))
    }

    @Test func noOrphansAfterSuperwatchIsKilled() throws {
        let dir = pidRecordingStack()
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        #expect(run.waitFor("ready-a") && run.waitFor("ready-b"))
        #expect(eventually { recordedPIDs(dir).count == 4 })
        let pids = recordedPIDs(dir)
        run.signal(SIGKILL)
        _ = run.waitForExit()
        // The keeper stops the groups with their stop signal at once; 2s stop_timeout + 1s is the bound.
        #expect(eventually(timeout: .seconds(20)) { !pids.contains(where: isAlive) }, "no orphans after SIGKILL")
    }

    @Test func aChildIgnoringTheStopSignalIsKilledAfterStopTimeout() throws {
        let dir = stack("""
            processes:
              stubborn:
                command: "trap 'echo got TERM' TERM; echo $$ > pid; echo ready; while true; do sleep 0.05; done"
                stop_timeout: 300ms
            """)
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        #expect(run.waitFor("ready"))
        run.signal(SIGINT)
        #expect(run.waitForExit() == 0)
        #expect(run.stdout.contains("stubborn | got TERM"))
        #expect(run.stdout.contains("did not stop within 300ms; sending SIGKILL to its process group"))
        #expect(run.stdout.contains("stopped (killed by SIGKILL)"))
        let pid = try #require(dir.read("pid").flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(eventually { !isAlive(pid) })
    }

    @Test func aSecondInterruptKillsAtOnce() throws {
        let dir = stack("""
            processes:
              stubborn:
                command: "trap '' TERM INT; echo ready; while true; do sleep 0.05; done"
                stop_timeout: 60s
            """)
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        #expect(run.waitFor("ready"))
        run.signal(SIGINT)
        #expect(run.waitFor("stopping all processes"))
        run.signal(SIGINT)
        #expect(run.waitForExit(timeout: .seconds(20)) == 0, "well before the 60s stop_timeout")
        #expect(run.stdout.contains("killing every process group now"))
    }

    @Test func aBackgroundedGrandchildDoesNotOutliveItsExitedLeader() throws {
        let dir = stack("""
            processes:
              leaver: {command: "sleep 1000 & echo $! > gc; echo bye", restart: never, stop_timeout: 1s}
              stay: {command: "sleep 1000"}
            """)
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path)
        #expect(run.waitFor("leaver * exited with code 0"))
        let gc = try #require(dir.read("gc").flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        #expect(eventually { !isAlive(gc) })
        run.signal(SIGTERM)
        #expect(run.waitForExit() == 0)
    }
}
