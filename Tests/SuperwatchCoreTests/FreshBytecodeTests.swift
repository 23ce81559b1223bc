import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// Sets `path`'s mtime (and atime) to `seconds` + `nanoseconds`.
func setMtime(_ path: String, seconds: Int, nanoseconds: Int) throws {
    var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
    guard utimensat(AT_FDCWD, path, &times, 0) == 0 else {
        throw SuperwatchError(.system(syscall: "utimensat", errno: .current), "utimensat \(path)")
    }
}

/// The names of the cached bytecode files of module `stem` in `directory`/__pycache__.
func cachedBytecode(of stem: String, in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/__pycache__")) ?? [])
        .filter { FreshBytecode.cachedModuleStem($0) == stem }
}

@Suite struct FreshBytecodeTests {
    @Test(
        arguments: [
            ("app.cpython-311.pyc", "app"),
            ("app.cpython-311.opt-1.pyc", "app"),
            ("app.cpython-311.opt-2.pyc", "app"),
            ("app.pypy39.pyc", "app"),
            ("app.v1.cpython-311.pyc", "app.v1"),
            ("app.py", nil),
            ("app.pyc", nil),
            (".cpython-311.pyc", nil),
            ("app..pyc", nil),
        ] as [(String, String?)])
    func cachedBytecodeNamesTheirModule(_ name: String, _ stem: String?) {
        #expect(FreshBytecode.cachedModuleStem(name) == stem)
    }

    @Test func theBytecodeOfChangedFilesIsRemovedAndNothingElse() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let kept = [
            "app2.cpython-311.pyc", "application.cpython-311.pyc", "app.v1.cpython-311.pyc", "other.cpython-311.pyc",
        ]
        for name in ["app.cpython-311.pyc", "app.cpython-311.opt-1.pyc", "app.cpython-312.pyc"] + kept {
            dir.write("__pycache__/" + name, "")
        }
        dir.write("pkg/__pycache__/mod.cpython-311.pyc", "")
        dir.write("pkg/__pycache__/__init__.cpython-311.pyc", "")
        let failures = FreshBytecode.removeCachedBytecode(
            of: ["app.py", "\(dir.path)/pkg/mod.py", "templates/index.html", "gone/x.py"], root: dir.path,
            pycachePrefix: nil)
        #expect(failures.isEmpty)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/__pycache__")) == Set(kept))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir.path + "/pkg/__pycache__") == [
                "__init__.cpython-311.pyc"
            ])
    }

    /// PYTHONPYCACHEPREFIX moves the caches into a mirror tree named by the source's absolute directory.
    @Test(arguments: [true, false])
    func aPycachePrefixTreeIsCleanedToo(absolute: Bool) throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let prefix = absolute ? dir.path + "/cache" : "cache"
        dir.write("cache\(dir.path)/src/app.cpython-311.pyc", "")
        dir.write("cache\(dir.path)/src/keep.cpython-311.pyc", "")
        let failures = FreshBytecode.removeCachedBytecode(of: ["src/app.py"], root: dir.path, pycachePrefix: prefix)
        #expect(failures.isEmpty)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: "\(dir.path)/cache\(dir.path)/src") == [
                "keep.cpython-311.pyc"
            ])
    }

    @Test func whatCannotBeRemovedIsReported() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        dir.write("__pycache__/app.cpython-311.pyc/inside", "a directory where the bytecode should be")
        dir.write("pkg/__pycache__", "a file where the directory should be: nothing to remove")
        let failures = FreshBytecode.removeCachedBytecode(
            of: ["app.py", "pkg/mod.py"], root: dir.path, pycachePrefix: nil)
        #expect(failures == [FreshBytecode.Failure(path: dir.path + "/__pycache__/app.cpython-311.pyc", errno: EISDIR)])
    }

    /// The `sitecustomize.py` superwatch injects makes Python compare the app's own modules by the microsecond;
    /// plain Python, given the same files, runs the stale bytecode (which shows the test can fail).
    @Test func theInjectedSitecustomizeRunsASameSizeEditWithinTheSecond() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let python = try PythonFiles.installTemporary()
        defer { python.remove() }
        let drain = python.siteDirectory
        let second = Int(time(nil))
        let helpers = dir.write("helpers.py", "VERSION = 'v1'\n")
        try setMtime(helpers, seconds: second, nanoseconds: 0)
        func importVersion(injected: Bool) throws -> String {
            let python =
                ["env", "-u", "PYTHONDONTWRITEBYTECODE"] + (injected ? ["PYTHONPATH=\(drain)"] : [])
                + ["python3", "-c", "import helpers; print(helpers.VERSION)"]
            let result = try runCommand(python, in: dir.path)
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try importVersion(injected: false) == "v1")
        #expect(cachedBytecode(of: "helpers", in: dir.path).count == 1, "Python wrote the bytecode")
        dir.write("helpers.py", "VERSION = 'v2'\n")
        try setMtime(helpers, seconds: second, nanoseconds: 300_000_000)
        #expect(try importVersion(injected: false) == "v1", "plain Python runs the bytecode of the old version")
        #expect(try importVersion(injected: true) == "v2")
        dir.write("helpers.py", "VERSION = 'v3'\n")
        try setMtime(helpers, seconds: second, nanoseconds: 600_000_000)
        #expect(try importVersion(injected: true) == "v3", "bytecode written with microseconds is checked too")
        #expect(try importVersion(injected: false) == "v3", "and plain Python does not take it for its own")
    }

    /// The standard library and installed packages keep Python's own check (and their cached bytecode).
    @Test func librariesKeepPythonsOwnCheck() throws {
        let python = try PythonFiles.installTemporary()
        defer { python.remove() }
        let drain = python.siteDirectory
        let script = """
            import importlib.machinery, os, sys
            def stats(path):
                return importlib.machinery.SourceFileLoader("probe", path).path_stats(path)["mtime"]
            print(stats(os.__file__) == os.stat(os.__file__).st_mtime)
            print(stats(sys.argv[1]) == os.stat(sys.argv[1]).st_mtime_ns // 1000)
            """
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let own = dir.write("own.py", "")
        let result = try runCommand(["env", "PYTHONPATH=\(drain)", "python3", "-c", script, own], in: dir.path)
        #expect(result.stdout == "True\nTrue\n", "\(result.stderr)")
    }
}
