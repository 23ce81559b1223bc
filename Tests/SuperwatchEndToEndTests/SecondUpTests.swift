import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct SecondUpTests {
    @Test func aSecondUpOfTheSameConfigIsRefusedNamingTheFirstUntilItIsKilled() throws {
        let dir = stack("processes:\n  ticker: {command: \"echo started >> starts; exec sleep 300\"}\n")
        let elsewhere = TemporaryDirectory()
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { [dir, elsewhere, runtime].forEach { $0.remove() } }
        let environment = ["XDG_RUNTIME_DIR": runtime.path]
        let first = try SuperwatchRun(["up"], in: dir.path, environment: environment)
        defer { first.signal(SIGKILL) }
        #expect(first.waitFor("ticker     * started"))

        // The same file by another name: through a symlinked directory, from another directory.
        symlink(dir.path, "\(elsewhere.path)/link")
        let second = try SuperwatchRun.run(
            ["up", "-f", "link/superwatch.yaml"], in: elsewhere.path, environment: environment)
        #expect(second.status == 1)
        #expect(
            second.stderr == """
                superwatch: error: superwatch is already running link/superwatch.yaml (pid \(first.pid)); \
                stop it first (Ctrl-C in its terminal, or kill \(first.pid))\n
                """)
        #expect(second.stdout.isEmpty)
        #expect(dir.read("starts") == "started\n", "the second up started nothing")
        // The lock and, beside it, the control socket of the same key.
        let lockFiles = try FileManager.default.contentsOfDirectory(atPath: "\(runtime.path)/superwatch").sorted()
        #expect(lockFiles.count == 2 && lockFiles[0].hasSuffix(".lock") && lockFiles[1].hasSuffix(".sock"))
        #expect(lockFiles[1].dropLast(5) == lockFiles[0].dropLast(5))
        #expect(runtime.read("superwatch/\(lockFiles[0])")?.hasPrefix("\(first.pid)\n") == true)

        // `check` and an `up` of another config are not held up by it.
        #expect(try SuperwatchRun.run(["check"], in: dir.path, environment: environment).status == 0)
        elsewhere.write("superwatch.yaml", "processes:\n  other: {command: \"echo other ran\", restart: never}\n")
        let other = try SuperwatchRun.run(["up"], in: elsewhere.path, environment: environment)
        #expect(other.status == 0, "\(other.stderr)")
        #expect(other.stdout.contains("other ran"))

        // A SIGKILLed superwatch leaves no stale lock: the kernel drops it with the process.
        first.signal(SIGKILL)
        #expect(first.waitForExit() == SIGKILL && first.process.terminationReason == .uncaughtSignal)
        let third = try SuperwatchRun(["up"], in: dir.path, environment: environment)
        defer { third.signal(SIGKILL) }
        #expect(third.waitFor("ticker     * started"))
        #expect(eventually { dir.read("starts") == "started\nstarted\n" })
        third.signal(SIGINT)
        #expect(third.waitForExit() == 0)
    }

    @Test func aRuntimeDirectoryOthersCanUseIsRefused() throws {
        let dir = stack("processes:\n  ticker: {command: \"touch ran\"}\n")
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { [dir, runtime].forEach { $0.remove() } }
        mkdir("\(runtime.path)/superwatch", 0o700)
        chmod("\(runtime.path)/superwatch", 0o777)
        let result = try SuperwatchRun.run(["up"], in: dir.path, environment: ["XDG_RUNTIME_DIR": runtime.path])
        #expect(result.status == 1)
        #expect(
            result.stderr == """
                superwatch: error: the runtime directory \(runtime.path)/superwatch is open to other users (mode 777); \
                run `chmod 700 \(runtime.path)/superwatch`\n
                """)
        #expect(dir.read("ran") == nil)
    }
}
