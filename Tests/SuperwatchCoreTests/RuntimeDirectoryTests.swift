import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

@Suite struct RuntimeDirectoryTests {
    @Test func isUnderXDGRuntimeDirElseInTmp() {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        #expect(
            RuntimeDirectory.location(environment: ["XDG_RUNTIME_DIR": dir.path], uid: 1000) == "\(dir.path)/superwatch"
        )
        #expect(
            RuntimeDirectory.location(environment: ["XDG_RUNTIME_DIR": dir.path + "/"], uid: 1000)
                == "\(dir.path)/superwatch")
        for unusable in ["", "relative/run", "\(dir.path)/missing"] {
            #expect(
                RuntimeDirectory.location(environment: ["XDG_RUNTIME_DIR": unusable], uid: 1000)
                    == "/tmp/superwatch-1000",
                "XDG_RUNTIME_DIR=\(unusable)")
        }
        #expect(RuntimeDirectory.location(environment: [:], uid: 42) == "/tmp/superwatch-42")
    }

    @Test func isCreatedPrivate() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let runtime = try RuntimeDirectory.prepare(environment: ["XDG_RUNTIME_DIR": dir.path])
        #expect(runtime.path == "\(dir.path)/superwatch")
        #expect(try mode(runtime.path) == 0o700)
        #expect(try RuntimeDirectory.prepare(environment: ["XDG_RUNTIME_DIR": dir.path]) == runtime, "and reused")
    }

    @Test func aDirectoryOthersCanUseIsRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let environment = ["XDG_RUNTIME_DIR": dir.path]
        mkdir("\(dir.path)/superwatch", 0o700)
        chmod("\(dir.path)/superwatch", 0o755)
        #expect {
            try RuntimeDirectory.prepare(environment: environment)
        } throws: { error in
            let error = error as? SuperwatchError
            return error?.code == .unsafeRuntimeDirectory && error?.message.contains("mode 755") == true
                && error?.exitStatus == 1
        }
        rmdir("\(dir.path)/superwatch")
        mkdir("\(dir.path)/elsewhere", 0o700)
        symlink("\(dir.path)/elsewhere", "\(dir.path)/superwatch")
        #expect {
            try RuntimeDirectory.prepare(environment: environment)
        } throws: { error in
            (error as? SuperwatchError)?.message.contains("is not a directory") == true
        }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give a directory to another user"))
    func aDirectoryOfAnotherUserIsRefused() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        mkdir("\(dir.path)/superwatch", 0o700)
        chown("\(dir.path)/superwatch", 65534, 65534)
        #expect {
            try RuntimeDirectory.prepare(environment: ["XDG_RUNTIME_DIR": dir.path])
        } throws: { error in
            (error as? SuperwatchError)?.message.contains("belongs to uid 65534") == true
        }
    }

    /// One key per file, however it is named: relative, absolute, through a symlink or with `..`.
    @Test func theKeyIsTheRealPathsHash() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let config = dir.write("stack/superwatch.yaml", "processes: {}\n")
        symlink("\(dir.path)/stack", "\(dir.path)/link")
        let real = try RuntimeDirectory.realPath(config)
        let key = try RuntimeDirectory.stackKey(configPath: config)
        #expect(key == String(SHA256.hexDigest(real).prefix(16)))
        #expect(key.count == 16 && key.allSatisfy(\.isHexDigit))
        #expect(try RuntimeDirectory.stackKey(configPath: "\(dir.path)/link/../stack/./superwatch.yaml") == key)
        #expect(try RuntimeDirectory.stackKey(configPath: "\(dir.path)/link/superwatch.yaml") == key)
        dir.write("other/superwatch.yaml", "processes: {}\n")
        #expect(try RuntimeDirectory.stackKey(configPath: "\(dir.path)/other/superwatch.yaml") != key)
        let runtime = RuntimeDirectory(checkedPath: "/run/x")
        #expect(runtime.file(for: try StackKey(configPath: config), extension: "sock") == "/run/x/\(key).sock")
    }

    @Test func aLockIsHeldByOneHolderAtATime() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let config = dir.write("superwatch.yaml", "processes: {}\n")
        let runtime = try RuntimeDirectory.prepare(environment: ["XDG_RUNTIME_DIR": dir.path])
        var first: StackLock? = try StackLock.acquire(StackKey(configPath: config), in: runtime)
        let path = try #require(first?.path)
        #expect(path == "\(runtime.path)/\(try RuntimeDirectory.stackKey(configPath: config)).lock")
        #expect(
            dir.read("superwatch/\((path as NSString).lastPathComponent)")
                == "\(getpid())\n\(try RuntimeDirectory.realPath(config))\n")
        #expect(try mode(path) == 0o600)
        // flock(2) locks belong to an open file description, so a second open in this process is refused too.
        #expect {
            try StackLock.acquire(StackKey(configPath: config), in: runtime)
        } throws: { error in
            let error = error as? SuperwatchError
            return error?.code == .alreadyRunning(pid: getpid()) && error?.message.contains("(pid \(getpid()))") == true
        }
        first = nil
        // A process forked by a test running in parallel holds a copy of the descriptor until its exec closes
        // it (close-on-exec), so the release is waited for rather than expected at once.
        var second: StackLock?
        #expect(
            eventually {
                second = try? StackLock.acquire(StackKey(configPath: config), in: runtime)
                return second != nil
            })
        #expect(second?.path == path, "released when its holder is gone")
    }

    func mode(_ path: String) throws -> mode_t {
        var info = stat()
        try #require(lstat(path, &info) == 0)
        return info.st_mode & 0o777
    }
}
