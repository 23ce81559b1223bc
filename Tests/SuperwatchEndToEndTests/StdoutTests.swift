import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The pid recorded in `file` by a process of the stack.
/// Whether nothing is left of the processes (and their groups: each leader's pid is its group's id).
private func allGone(_ pids: [pid_t]) -> Bool {
    !pids.contains(where: isAlive) && pids.allSatisfy { liveProcesses(inGroup: $0).isEmpty }
}

/// A stdout that is closed, stalled or missing never hangs the stack or loses its output silently.
@Suite(.serialized) struct StdoutTests {
    /// `up | head -N`, `up | less` and the pager quits: superwatch stops the stack as on SIGTERM and exits
    /// with 128 + SIGPIPE. Quiet: nothing is written after the reader leaves, so only the pipe itself can
    /// tell (epoll reports an error on it). Chatty: the next write fails with EPIPE.
    @Test(arguments: [false, true])
    func whenStdoutsReaderGoesAwayTheStackStopsAndSuperwatchExits141(chatty: Bool) throws {
        let yaml = """
            processes:
              a:
                command: "sleep 1000 & echo $! > a.child; echo $$ > a.leader; echo ready-a; \(chatty ? "while :; do echo more; sleep 0.01; done" : "wait")"
                stop_timeout: 2s
            """
        // The banner, `a * started (pid N): ...` and `a | ready-a`: the reader leaves once all three are there.
        try withStack(yaml, stdout: .closedAfter(lines: 3)) { run in
            #expect(eventually { readPID(run.dir, "a.leader") != nil && readPID(run.dir, "a.child") != nil })
            let pids = [readPID(run.dir, "a.leader"), readPID(run.dir, "a.child")].compactMap { $0 }
            #expect(run.waitForExit() == 128 + SIGPIPE)
            #expect(run.stdout.contains("a          | ready-a\n"))
            #expect(run.stderr.contains("superwatch: stdout was closed; stopping all processes"), "\(run.stderr)")
            #expect(eventually { allGone(pids) }, "no process of the stack survives")
        }
    }

    /// A reader that stops reading (a paused pager, a hung log shipper) slows the processes down: superwatch
    /// stops reading their pipes and they block on them. A signal still stops everything; what stdout never
    /// took is reported on stderr.
    @Test func aStalledReaderBlocksTheProcessesButNotAShutdown() throws {
        let yaml = """
            processes:
              producer: {command: "echo $$ > producer.pid; exec yes 'a line of output that nobody reads'", stop_timeout: 2s}
              idle: {command: "echo $$ > idle.pid; exec sleep 1000", stop_timeout: 2s}
            """
        try withStack(yaml, stdout: .stalled) { run in
            #expect(eventually { readPID(run.dir, "producer.pid") != nil && readPID(run.dir, "idle.pid") != nil })
            let producer = try #require(readPID(run.dir, "producer.pid"))
            let pids = [producer, try #require(readPID(run.dir, "idle.pid"))]
            #expect(eventually { waitChannel(producer).contains("pipe_write") }, "back-pressure blocks the producer")
            run.signal(SIGTERM)
            #expect(run.waitForExit(timeout: .seconds(30)) == 0, "the shutdown does not wait for stdout")
            let notice = #/superwatch: stdout is not being read; [1-9][0-9]* KiB of output not written\n/#
            #expect(run.stderr.contains(notice), "\(run.stderr)")
            #expect(eventually { allGone(pids) }, "no process of the stack survives")
        }
    }

    /// Back-pressure holds output back and loses none of it: once the reader reads again, every line arrives,
    /// whole and in order.
    @Test func outputHeldBackByAStalledReaderArrivesWholeOnceItReadsAgain() throws {
        let count = 200_000
        let dir = stack(
            """
            processes:
              p: {command: [python3, gen.py], restart: never}
            """)
        // ~13 MB: more than superwatch's queue and both pipes hold, so the producer must block on its pipe.
        dir.write(
            "gen.py",
            """
            import os, sys
            open('p.pid', 'w').write(str(os.getpid()))
            for i in range(\(count)): sys.stdout.write(f'line {i} ' + 'x' * 50 + '\\n')
            """)
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path, stdout: .stalled)
        #expect(eventually { readPID(dir, "p.pid") != nil })
        let producer = try #require(readPID(dir, "p.pid"))
        #expect(eventually { waitChannel(producer).contains("pipe_write") }, "back-pressure blocks the producer")
        #expect(isAlive(producer))
        run.resumeReading()
        #expect(run.waitForExit(timeout: .seconds(120)) == 0)
        #expect(lines(of: "p", in: run.stdout) == (0..<count).map { "line \($0) " + String(repeating: "x", count: 50) })
    }

    /// `superwatch up >&-` (or with 0 or 2 closed): /dev/null takes the closed descriptor before anything else
    /// can, so stdout is not some epoll descriptor, the log is not lost in it, and children still get
    /// /dev/null as stdin.
    @Test(arguments: [Int32(0), 1, 2])
    func aClosedStandardDescriptorBecomesDevNull(fd: Int32) throws {
        let yaml = """
            processes:
              a: {command: "readlink /proc/self/fd/0 > a.stdin; echo $$ > a.pid; echo hello; exec sleep 1000"}
            """
        try withStack(yaml, closing: [fd]) { run in
            #expect(eventually { readPID(run.dir, "a.pid") != nil })
            let pid = try #require(readPID(run.dir, "a.pid"))
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(run.pid)/fd/\(fd)")
            #expect(target == "/dev/null")
            #expect(run.read("a.stdin") == "/dev/null\n")
            if fd != 1 { #expect(run.waitFor("a          | hello")) }
            run.signal(SIGTERM)
            #expect(run.waitForExit() == 0)
            if fd != 1 { #expect(run.stdout.contains("stopping all processes")) }
            if fd != 2 { #expect(run.stderr.isEmpty, "\(run.stderr)") }
            #expect(eventually { allGone([pid]) })
        }
    }
}
