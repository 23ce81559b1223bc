import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How superwatch keeps escaped processes within reach: in a cgroup per run where cgroup v2 is writable, or
/// by scanning /proc (forced with SUPERWATCH_NO_CGROUP=1).
enum ContainmentMode: String, CaseIterable, CustomTestStringConvertible {
    case cgroups, scan

    var environment: [String: String] { self == .scan ? ["SUPERWATCH_NO_CGROUP": "1"] : [:] }
    var testDescription: String { rawValue }

    /// Whether this machine lets superwatch use it.
    var isAvailable: Bool { self == .scan || cgroupV2Directory != nil }
    /// The modes this machine can run: a mode it cannot is not listed (and so not run) rather than passed.
    static var available: [ContainmentMode] { allCases.filter(\.isAvailable) }
}

/// superwatch's own cgroup v2 directory when it may create cgroups there (root, or a delegated cgroup);
/// nil otherwise.
let cgroupV2Directory: String? = {
    guard let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8),
        let own = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8))?
            .split(separator: "\n").first(where: { $0.hasPrefix("0::") })?.dropFirst(3)
    else { return nil }
    for line in mountinfo.split(separator: "\n") {
        let fields = line.split(separator: " ")
        guard let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count, fields[dash + 1] == "cgroup2",
            fields[3] == "/"
        else { continue }
        let directory = String(fields[4]) + (own == "/" ? "" : String(own))
        let probe = "\(directory)/superwatch-test-probe-\(getpid())"
        guard mkdir(probe, 0o755) == 0 else { return nil }
        rmdir(probe)
        return directory
    }
    return nil
}()

func readPID(_ dir: TemporaryDirectory, _ name: String) -> pid_t? {
    dir.read(name).flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
}

/// The config of a stack whose processes start daemons that leave their process group: one with setsid (its
/// parent stays), one double-forked (its parents exit, so it is re-parented).
let daemonConfig = """
    processes:
      setsid:
        command: "setsid sleep 1000 & echo $! > setsid.pid; echo ready; wait"
        stop_timeout: 2s
      daemon:
        command: "python3 daemonize.py"
        stop_timeout: 2s
    """

/// What the `daemon` process of `daemonConfig` runs, as `daemonize.py`.
let daemonizeScript = """
    import os
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open("daemon.tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename("daemon.tmp", "daemon.pid")
            os.execvp("sleep", ["sleep", "1000"])
        os._exit(0)
    os.wait()
    print("ready", flush=True)
    os.execvp("sleep", ["sleep", "1000"])
    """

@Suite(.serialized) struct EscapedProcessTests {
    /// setsid'd and double-forked daemons: stopped with the stack after SIGINT, and by the keeper after
    /// SIGKILL, with cgroups and without.
    @Test(arguments: ContainmentMode.available, [SIGINT, SIGKILL])
    func daemonsThatLeaveTheirGroupAreStoppedWithTheStack(containment: ContainmentMode, signal: Int32) throws {
        try withStack(daemonConfig, files: ["daemonize.py": daemonizeScript], environment: containment.environment) {
            run in
            #expect(run.waitFor("ready", count: 2))
            #expect(eventually { readPID(run.dir, "setsid.pid") != nil && readPID(run.dir, "daemon.pid") != nil })
            let daemons = [readPID(run.dir, "setsid.pid"), readPID(run.dir, "daemon.pid")].compactMap { $0 }
            #expect(daemons.count == 2 && daemons.allSatisfy(isAlive))
            let cgroup = cgroupV2Directory.map { "\($0)/superwatch-\(run.pid)" }
            switch containment {
            case .cgroups:
                #expect(!run.stdout.contains("do not get cgroups"))
                let cgroupPath = try #require(cgroup)
                #expect(FileManager.default.fileExists(atPath: cgroupPath))
            case .scan:
                #expect(run.stdout.contains("do not get cgroups (SUPERWATCH_NO_CGROUP is set)"))
                // Without cgroups an escape is only known once a scan has seen it; after SIGKILL, only the keeper
                // is left to stop what superwatch found.
                // (The name in parentheses is the program's at that moment: it may not have run `sleep` yet.)
                #expect(run.waitFor("setsid     * pid \(daemons[0]) ("))
                #expect(run.stdout.contains("left its process group; it is stopped with setsid"))
                #expect(run.waitFor("superwatch * pid \(daemons[1]) ("))
                #expect(
                    run.stdout.contains("left its process group and its parent exited; it is stopped with the stack"))
            }
            run.signal(signal)
            let status = run.waitForExit()
            if signal == SIGINT { #expect(status == 0) }
            #expect(eventually(timeout: .seconds(30)) { !daemons.contains(where: isAlive) }, "\(run.stdout)")
            if containment == .cgroups, let cgroup {
                #expect(eventually { !FileManager.default.fileExists(atPath: cgroup) }, "the cgroups are removed")
            }
        }
    }

    /// The fork + pidfd_open fallback end to end (`SUPERWATCH_SPAWN=fork`, what superwatch does by itself where
    /// clone3 is refused): a process that exits with code 3 is started again, and after superwatch is SIGKILLed
    /// the keeper, created the same way, stops the process.
    @Test func theForkFallbackStartsRestartsAndContains() throws {
        let dir = stack(
            """
            processes:
              once:
                command: "if [ ! -e again ]; then touch again; exit 3; fi; echo $$ > pid; exec sleep 1000"
            """)
        defer { dir.remove() }
        let run = try SuperwatchRun(["up"], in: dir.path, environment: ["SUPERWATCH_SPAWN": "fork"])
        #expect(run.waitFor("exit code 3 asks for a restart"))
        #expect(run.stdout.contains("processes are created with fork and pidfd_open (SUPERWATCH_SPAWN=fork)"))
        #expect(eventually { readPID(dir, "pid") != nil })
        let pid = try #require(readPID(dir, "pid"))
        #expect(isAlive(pid))
        run.signal(SIGKILL)
        _ = run.waitForExit()
        #expect(eventually(timeout: .seconds(30)) { !isAlive(pid) }, "the keeper stopped it: \(run.stdout)")
    }

    /// With cgroups, a daemon is part of the run that started it: nothing outlives its process, even what
    /// left its process group.
    @Test(.enabled(if: ContainmentMode.cgroups.isAvailable, "needs a writable cgroup v2 hierarchy"))
    func aDaemonDoesNotOutliveTheProcessThatStartedIt() throws {
        let yaml = """
            processes:
              leaver: {command: "setsid sleep 1000 & echo $! > d; echo bye", restart: never, stop_timeout: 1s}
              stay: {command: "sleep 1000"}
            """
        try withStack(yaml) { run in
            #expect(run.waitFor("leaver     * exited with code 0"))
            let daemon = try #require(readPID(run.dir, "d"))
            #expect(eventually { !isAlive(daemon) })
            #expect(run.process.isRunning)
            run.signal(SIGTERM)
            #expect(run.waitForExit() == 0)
        }
    }

    /// Without cgroups, a daemon whose parent exited before a scan saw it cannot be traced to its process:
    /// it is logged and stopped with the stack.
    @Test func withoutCgroupsAnOrphanedDaemonIsStoppedWithTheStack() throws {
        let yaml = """
            processes:
              leaver: {command: "setsid sleep 1000 & echo $! > d; echo bye", restart: never, stop_timeout: 1s}
              stay: {command: "sleep 1000"}
            """
        try withStack(yaml, environment: ContainmentMode.scan.environment) { run in
            #expect(run.waitFor("leaver     * exited with code 0"))
            let daemon = try #require(readPID(run.dir, "d"))
            #expect(run.waitFor("pid \(daemon) ("))
            #expect(run.stdout.contains("left its process group"))
            run.signal(SIGTERM)
            #expect(run.waitForExit() == 0)
            #expect(eventually { !isAlive(daemon) })
        }
    }
}

@Suite(.serialized) struct CgroupFallbackTests {
    /// An unprivileged user may not create cgroups here: superwatch says so once and scans instead. The
    /// daemon's parent exits before any scan, so it is found, logged and stopped when the stack ends.
    @Test(
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
            "needs root to run superwatch as nobody"))
    func withoutPermissionSuperwatchFallsBackWithANotice() throws {
        let dir = stack(
            """
            processes:
              e: {command: "setsid sh -c 'echo $$ > d; exec sleep 1000' & echo started; sleep 0.2", restart: never}
            """)
        defer { dir.remove() }
        chmod(dir.path, 0o777)
        let result = try runCommand(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", superwatchBinary, "up"],
            in: dir.path)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.components(separatedBy: "processes do not get cgroups (cannot create ").count == 2)
        #expect(
            result.stdout.contains("Permission denied): a process that leaves its process group is found by a scan"))
        let daemon = try #require(readPID(dir, "d"))
        #expect(result.stdout.contains("pid \(daemon) ("))
        #expect(result.stdout.contains("left its process group"))
        #expect(eventually { !isAlive(daemon) })
    }
}

@Suite(.serialized) struct KeeperReplacementTests {
    /// A keeper that dies is replaced at once and given every live group: SIGKILL of superwatch afterwards
    /// still leaves nothing running.
    @Test(arguments: ContainmentMode.available)
    func aKilledKeeperIsReplacedAndTheGuaranteeHolds(containment: ContainmentMode) throws {
        try withStack(pidRecordingConfig(), environment: containment.environment) { run in
            #expect(run.waitFor("ready-a") && run.waitFor("ready-b"))
            #expect(eventually { recordedPIDs(run.dir).count == 4 })
            let pids = recordedPIDs(run.dir)
            let keeper = try #require(childProcesses(of: run.pid).first { processName($0) == "superwatch-keep" })
            kill(keeper, SIGKILL)
            #expect(run.waitFor("the keeper process is gone (pid \(keeper), killed by SIGKILL); a new keeper (pid "))
            #expect(run.stdout.contains("now holds the 2 running process groups"))
            let replacement = try #require(childProcesses(of: run.pid).first { processName($0) == "superwatch-keep" })
            #expect(replacement != keeper)
            run.signal(SIGKILL)
            _ = run.waitForExit()
            #expect(
                eventually(timeout: .seconds(30)) { !(pids + [replacement]).contains(where: isAlive) },
                "no process of the stack remains")
        }
    }
}

@Suite(.serialized) struct LimitTests {
    /// `exit 3` forever used to restart hundreds of times a second: after 10 quick restarts in a row the
    /// restart code counts as a failure, so the policy's backoff and max_restarts apply.
    @Test func aRestartCodeStormBacksOffAndGivesUp() throws {
        let result = try runStack(
            """
            processes:
              storm: {command: [sh, -c, "exit 3"], backoff: 100ms, max_restarts: 2}
            """)
        #expect(result.status == 3, "a restart code that gave up is a failure")
        #expect(
            result.stdout.contains(
                "storm      * exit code 3 asked for a restart 10 times in a row, each within 100ms of starting: treating it as a failure"
            ))
        #expect(result.stdout.contains("storm      * restarting in 100ms (restart 1 of 2"))
        #expect(result.stdout.contains("storm      * gave up after 2 restarts in a row"))
        #expect(result.stdout.components(separatedBy: "storm      * started").count - 1 >= 13)
    }

    /// superwatch raises its own soft descriptor limit to the hard one; its processes get the original back.
    @Test func twentyProcessesStartUnderALowSoftLimit() throws {
        var yaml = "processes:\n"
        for index in 1...20 { yaml += "  p\(index): {command: 'ulimit -n; sleep 0.5', restart: never}\n" }
        let dir = stack(yaml)
        defer { dir.remove() }
        let result = try runCommand(["sh", "-c", "ulimit -S -n 64 && exec \"$0\" up", superwatchBinary], in: dir.path)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(!result.stdout.contains("cannot start"))
        for index in 1...20 { #expect(lines(of: "p\(index)", in: result.stdout) == ["64"]) }
    }

    /// Under a low hard limit, the starts that do not fit say whose limit it is.
    @Test func aStartBeyondTheHardLimitNamesSuperwatchsLimit() throws {
        var yaml = "processes:\n"
        for index in 1...30 { yaml += "  p\(index): {command: [sleep, '0.5'], restart: never}\n" }
        let dir = stack(yaml)
        defer { dir.remove() }
        let result = try runCommand(["sh", "-c", "ulimit -n 64 && exec \"$0\" up", superwatchBinary], in: dir.path)
        #expect(result.status == 127, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("* cannot start: superwatch has reached its own limit of 64 open descriptors"))
        #expect(!result.stdout.contains("Too many open files"))
    }
}

/// Thousands of processes take minutes to start on a busy 2-core machine, so this runs only with
/// SUPERWATCH_SLOW_TESTS=1; `KeeperTests` checks the same limit through the keeper itself in every run.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["SUPERWATCH_SLOW_TESTS"] == "1"))
struct ManyProcessesTests {
    /// The keeper used to hold 4,096 groups: with 4,150 replicas, SIGKILL of superwatch left 54 running.
    @Test func noOrphansAfterSIGKILLWithMoreThan4096Groups() throws {
        var yaml = "processes:\n"
        for index in 0..<5 {
            yaml += "  p\(index): {command: [sleep, '100\(index)'], replicas: 830, stop_timeout: 2s}\n"
        }
        // Without cgroups the keeper's table is all there is.
        try withStack(yaml, environment: ContainmentMode.scan.environment) { run in
            #expect(run.waitFor(" * started (pid ", count: 4_150, timeout: .seconds(600)))
            let children = childProcesses(of: run.pid).filter { processName($0) == "sleep" }
            #expect(children.count == 4_150)
            run.signal(SIGKILL)
            _ = run.waitForExit()
            #expect(eventually(timeout: .seconds(60)) { !children.contains(where: isAlive) })
        }
    }
}
