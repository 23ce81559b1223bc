import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct KeeperTests {
    /// The keeper used to hold 4,096 groups and silently drop the rest. Process group ids above Linux's
    /// PID_MAX_LIMIT (2^22) cannot exist, so thousands of them fill the table without a kill reaching anything;
    /// the real groups registered after them must still be stopped when the keeper's pipe closes. The keeper and
    /// the children are created both ways: clone3(CLONE_PIDFD) and the fork + pidfd_open fallback.
    @Test(arguments: [SpawnMode.automatic, .fork])
    func stopsGroupsRegisteredAfterThousandsOfOthers(mode: SpawnMode) throws {
        let keeper = try Containment.startKeeper(cgroupParent: nil, mode: mode)
        defer { waitForExit(keeper.pid) }
        for index in 0..<5_000 {
            keeper.register(pid_t(5_000_000 + index), signal: SIGTERM, timeoutMilliseconds: 100)
        }
        var pids: [pid_t] = []
        var descriptors: [Int32] = []
        for _ in 0..<3 {
            // The child registers its own group with the keeper between fork and exec, as every run does.
            let launched = try Launcher.launch(
                LaunchRequest(
                    arguments: ["sleep", "1000"], cwd: "/", environment: ["PATH": "/usr/bin:/bin"],
                    keeperFD: keeper.writeFD, stopSignal: .terminate, stopTimeoutMilliseconds: 500, mode: mode))
            pids.append(launched.pid)
            let taken = launched.takeDescriptors()
            descriptors += [taken.pidfd, taken.stdout] + (taken.stderr.map { [$0] } ?? [])
        }
        #expect(pids.allSatisfy { isAlive($0) })
        close(keeper.writeFD)
        #expect(eventually { !pids.contains { isAlive($0) } }, "the keeper stopped the groups past 4,096")
        for pid in pids { waitForExit(pid) }
        descriptors.forEach { close($0) }
        close(keeper.pidfd)
    }

    private func waitForExit(_ pid: pid_t) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

@Suite struct ProcessTableTests {
    func entry(_ pid: pid_t, parent: pid_t, group: pid_t, state: Character = "S") -> ProcessTable.Entry {
        ProcessTable.Entry(
            pid: pid, parent: parent, group: group, state: UInt8(ascii: state.unicodeScalars.first!),
            name: "p\(pid)")
    }

    @Test func findsWhatLeftTheGroupsAndWhereItCameFrom() {
        var table = ProcessTable()
        for process in [
            entry(10, parent: 1, group: 9),  // superwatch (the reaper)
            entry(11, parent: 10, group: 9),  // its keeper
            entry(100, parent: 10, group: 100),  // a run
            entry(101, parent: 100, group: 100),  // its child, still in its group
            entry(102, parent: 100, group: 102),  // setsid: left the group
            entry(103, parent: 102, group: 102),  // a child of that, in the escaped group
            entry(104, parent: 10, group: 104),  // a daemon whose parent exited: re-parented to superwatch
            entry(105, parent: 10, group: 100),  // orphaned but still in the run's group: no escape
            entry(106, parent: 100, group: 106, state: "Z"),  // a zombie escapes nothing
            entry(200, parent: 1, group: 200),  // nothing of ours
        ] { table.entries[process.pid] = process }
        let found = table.escapees(from: [100], reaper: 10, own: [100, 11])
        let origins = Dictionary(uniqueKeysWithValues: found.map { ($0.entry.pid, $0.origin ?? -1) })
        #expect(origins == [102: 100, 103: 100, 104: -1])
    }

    @Test func parsesStatWithParenthesesInTheName() {
        let line = Array("42 (a (b) c) S 7 42 42 0 -1 4194560 99 0 0 0 1 2 0 0 20 0 3 0 150\n".utf8)
        var expected = entry(42, parent: 7, group: 42).with(name: "a (b) c")
        expected.threads = 3
        #expect(ProcessTable.parse(pid: 42, line[...]) == expected)
    }

    @Test func readsItsOwnTree() {
        let table = ProcessTable.read(under: getpid())
        #expect(table.entries[getpid()]?.parent == getppid())
    }
}

extension ProcessTable.Entry {
    func with(name: String) -> Self {
        var copy = self
        copy.name = name
        return copy
    }
}

@Suite struct CgroupTreeTests {
    @Test func findsTheUnifiedHierarchyInAHybridLayout() throws {
        let mountinfo = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        let mount = try #require(CgroupTree.unifiedMount(mountinfo: mountinfo))
        #expect(mount.point == "/sys/fs/cgroup/unified")
        #expect(mount.root == "/")
    }

    @Test func readsOptionalFieldsAndEscapedPaths() throws {
        let mountinfo =
            "29 23 0:26 /user.slice /sys/fs/my\\040cgroup rw,nosuid shared:9 master:1 - cgroup2 cgroup2 rw\n"
        let mount = try #require(CgroupTree.unifiedMount(mountinfo: mountinfo))
        #expect(mount.point == "/sys/fs/my cgroup")
        #expect(mount.root == "/user.slice")
    }

    @Test func findsNoHierarchyWithoutCgroup2() {
        #expect(
            CgroupTree.unifiedMount(mountinfo: "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n") == nil)
    }

    @Test func readsTheOwnCgroupFromTheV2Line() {
        #expect(CgroupTree.ownCgroup("4:memory:/x\n0::/user.slice/session-2.scope\n") == "/user.slice/session-2.scope")
        #expect(CgroupTree.ownCgroup("4:memory:/x\n") == nil)
    }

    @Test func runNamesFitTheKeepersRecord() {
        #expect(CgroupTree.runName(process: "web.1", runID: 17) == "web.1-17")
        let long = CgroupTree.runName(process: String(repeating: "x", count: 100), runID: 123_456)
        #expect(long.utf8.count == 47)
        #expect(long.hasSuffix("x-123456"))
    }
}
