import CSuperwatchShim
import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// Real starts through the shim, with each way of creating the child: clone3(CLONE_PIDFD) and the fork +
/// pidfd_open fallback that seccomp'd containers and kernels before 5.3 get.
@Suite struct LauncherTests {
    private func request(_ script: String, mode: SpawnMode, passing fds: [Int32] = [], cwd: String = "/")
        -> LaunchRequest
    {
        LaunchRequest(
            arguments: ["/bin/sh", "-c", script], cwd: cwd, environment: ["PATH": "/usr/bin:/bin"], passFDs: fds,
            stopSignal: .terminate, stopTimeoutMilliseconds: 1000, mode: mode)
    }

    /// Everything the child wrote to `fd` until end of file.
    private func readAll(_ fd: Int32) throws -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try retryingEINTR("read") { read(fd, &buffer, buffer.count) }
            if n == 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes += buffer[..<n]
        }
    }

    /// Reaps the process through its pidfd (waiting until it has exited) and returns its exit code.
    private func exitCode(_ launched: borrowing LaunchedProcess) -> Int32? {
        var code: Int32 = -1
        var signal: Int32 = -1
        var pollFD = pollfd(fd: launched.pidfd.rawValue, events: Int16(POLLIN), revents: 0)
        guard eventually({ poll(&pollFD, 1, 100) == 1 }), sw_pidfd_reap(launched.pidfd.rawValue, &code, &signal) == 1,
            signal == 0
        else { return nil }
        return code
    }

    /// The child runs in its own session with the output pipe as stdout; its pidfd is that child's (it reaps
    /// its exit code); and the mode says how it was created.
    @Test(arguments: [SpawnMode.automatic, .fork])
    func startsAProcessAndWatchesItThroughItsPidfd(mode: SpawnMode) throws {
        let launched = try Launcher.launch(request("echo $$ $(ps -o sid= -p $$); exit 7", mode: mode))
        // The automatic mode uses clone3 wherever the kernel (and any seccomp filter) allows it.
        #expect(launched.usedClone3 == (mode == .automatic && sw_clone3_available() == 1))
        let words = try readAll(launched.stdout.rawValue).split(separator: " ").map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(words == ["\(launched.pid)", "\(launched.pid)"], "its pid, which is its session id")
        #expect(exitCode(launched) == 7)
        #expect(fcntl(launched.pidfd.rawValue, F_GETFD) & FD_CLOEXEC != 0)
    }

    /// A failure in the child between its creation and exec comes back as an error naming the step, in both
    /// modes, and leaves no process behind.
    @Test(arguments: [SpawnMode.automatic, .fork])
    func aChildSideFailureIsReported(mode: SpawnMode) {
        #expect {
            _ = try Launcher.launch(request("true", mode: mode, cwd: "/nonexistent-superwatch-test"))
        } throws: { error in
            (error as? SuperwatchError)?.message
                == "cannot enter /nonexistent-superwatch-test: No such file or directory"
        }
    }

    /// As many descriptors as the shim can pass arrive, the last as fd 3 + 255; one more is an error that says
    /// so, never a silent cut (which used to give the child only the first 256).
    @Test(arguments: [SpawnMode.automatic, .fork])
    func passesUpToTheLimitAndRefusesMore(mode: SpawnMode) throws {
        let devNull = OwnedDescriptor(takingOwnershipOf: open("/dev/null", O_RDONLY | O_CLOEXEC))
        let limit = Launcher.maximumPassedDescriptors
        #expect(limit == 256)
        let last = 3 + limit - 1
        let launched = try Launcher.launch(
            request(
                "test -e /proc/self/fd/\(last) && ! test -e /proc/self/fd/\(last + 1) && echo yes", mode: mode,
                passing: Array(repeating: devNull.rawValue, count: limit)))
        #expect(try readAll(launched.stdout.rawValue) == "yes\n")
        #expect(exitCode(launched) == 0)
        #expect {
            _ = try Launcher.launch(
                request("true", mode: mode, passing: Array(repeating: devNull.rawValue, count: limit + 1)))
        } throws: { error in
            guard let error = error as? SuperwatchError else { return false }
            return error.code == .spawn && error.message.contains("257 descriptors")
                && error.message.contains("at most 256")
        }
    }

    @Test func spawnModeComesFromTheEnvironment() {
        #expect(SpawnMode(environment: ["SUPERWATCH_SPAWN": "fork"]) == .fork)
        #expect(SpawnMode(environment: [:]) == .automatic)
    }
}
