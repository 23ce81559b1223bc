import Foundation
import Synchronization
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary directory tree, removed when released.
final class WatcherTempTree: Sendable {
    let root: String

    init() {
        var template = Array("/tmp/superwatch-watch-XXXXXX".utf8CString)
        root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func path(_ relative: String) -> String { relative.hasPrefix("/") ? relative : root + "/" + relative }

    /// Writes (creating parent directories) in place: open, write, close.
    func write(_ relative: String, _ text: String = "x") {
        let full = path(relative)
        mkdir((full as NSString).deletingLastPathComponent)
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot write \(full)")
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// Writes the way Foundation's atomic write does: a temporary file beside it, renamed over it.
    func writeAtomically(_ relative: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(relative)), options: .atomic)
    }

    func mkdir(_ relative: String) {
        try? FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }

    func remove(_ relative: String) { try? FileManager.default.removeItem(atPath: path(relative)) }

    func rename(_ from: String, _ to: String) { Glibc.rename(path(from), path(to)) }
}

/// Collects a watcher's events and waits for conditions on them.
final class WatcherRecorder: Sendable {
    private let storage = Mutex<[WatchEvent]>([])

    var handler: @Sendable (WatchEvent) -> Void { { [self] event in storage.withLock { $0.append(event) } } }
    var events: [WatchEvent] { storage.withLock { $0 } }

    func settled(_ process: Int) -> [[String]] {
        events.compactMap { if case .settled(ProcessID(process), let paths) = $0 { return paths } else { return nil } }
    }

    func started(_ process: Int) -> [String] {
        events.compactMap {
            if case .burstStarted(ProcessID(process), let path) = $0 { return path } else { return nil }
        }
    }

    func notices() -> [String] {
        events.compactMap { if case .notice(_, let message) = $0 { return message } else { return nil } }
    }

    /// Waits (generously: this is not a timing assertion) until `condition` holds.
    @discardableResult
    func wait(upTo timeout: Duration = .seconds(10), _ condition: (WatcherRecorder) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(self)
    }

    /// Lets several debounce periods pass, so that an event that should not come would have come.
    func quietPeriod() async { try? await Task.sleep(for: .milliseconds(700)) }
}

/// Runs `body` with a started watcher on `specs` (as if `fs.inotify.max_user_watches` were `watchLimit`, when
/// given) and a recorder of its events; stops the watcher afterwards, also when `body` throws.
func withWatcher(
    _ specs: [WatchSpec], watchLimit: Int? = nil, _ body: (FileWatcher, WatcherRecorder) async throws -> Void
) async throws {
    let recorder = WatcherRecorder()
    let watcher =
        if let watchLimit {
            try FileWatcher(specs: specs, watchLimit: watchLimit, onEvent: recorder.handler)
        } else {
            try FileWatcher(specs: specs, onEvent: recorder.handler)
        }
    watcher.start()
    defer { watcher.stop() }
    try await body(watcher, recorder)
}

func watcherSpec(
    _ tree: WatcherTempTree, process: Int = 0, globs: [String], ignore: [String] = [], extraFiles: [String] = [],
    kind: WatcherKind = .native, interval: Duration = .milliseconds(200)
) -> WatchSpec {
    WatchSpec(
        process: ProcessID(process), root: tree.root, globs: globs, ignore: ignore, extraFiles: extraFiles, kind: kind,
        interval: interval, debounce: .milliseconds(200))
}

@Suite("Watcher")
struct WatcherTests {
    @Test func defaultIgnoresProduceNoEvents() async throws {
        let tree = WatcherTempTree()
        tree.mkdir("node_modules/pkg")
        tree.mkdir("__pycache__")
        tree.mkdir(".git")
        try await withWatcher([watcherSpec(tree, globs: ["**"])]) { _, recorder in
            tree.write("node_modules/pkg/index.js")
            tree.write("node_modules/new/index.js")
            tree.write("__pycache__/app.cpython-312.pyc")
            tree.write("x.pyc")
            tree.write(".git/HEAD")
            tree.write("4913")
            tree.write(".app.py.swp")
            tree.write("app.py~")
            tree.write("app.py")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.started(0) == ["app.py"])
            #expect(recorder.settled(0) == [["app.py"]])
        }
    }

    @Test func userIgnoresAddToTheDefaults() async throws {
        let tree = WatcherTempTree()
        tree.mkdir("build")
        let spec = watcherSpec(tree, globs: ["**/*.py"], ignore: ["build/", "*_test.py"])
        try await withWatcher([spec]) { _, recorder in
            tree.write("build/gen.py")
            tree.write("a_test.py")
            tree.write("venv/lib/site.py")
            tree.write("main.py")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.settled(0) == [["main.py"]])
        }
    }

    @Test func newSubdirectoryIsWatched() async throws {
        let tree = WatcherTempTree()
        try await withWatcher([watcherSpec(tree, globs: ["**/*.py"])]) { watcher, recorder in
            // Created before the watcher can have added a watch for the new directories: found by scanning them.
            tree.write("a/b/c/early.py")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.settled(0).first?.contains("a/b/c/early.py") == true)
            tree.write("a/b/c/later.py")
            #expect(await recorder.wait { $0.settled(0).count == 2 })
            #expect(recorder.settled(0).last == ["a/b/c/later.py"])
        }
    }

    @Test func removedAndRecreatedDirectoryIsWatchedAgain() async throws {
        let tree = WatcherTempTree()
        tree.write("pkg/mod.py")
        try await withWatcher([watcherSpec(tree, globs: ["**/*.py"])]) { _, recorder in
            tree.remove("pkg")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.settled(0)[0] == ["pkg/mod.py"])
            tree.mkdir("pkg")
            #expect(await recorder.wait(upTo: .seconds(1)) { $0.settled(0).count > 1 } == false)
            tree.write("pkg/mod.py", "again")
            #expect(await recorder.wait { $0.settled(0).count == 2 })
            #expect(recorder.settled(0)[1] == ["pkg/mod.py"])
            tree.write("pkg/mod.py", "and again")
            #expect(await recorder.wait { $0.settled(0).count == 3 })
        }
    }

    @Test func atomicRenameSaveIsOneBurst() async throws {
        let tree = WatcherTempTree()
        tree.write("app.py", "old")
        try await withWatcher([watcherSpec(tree, globs: ["*.py"])]) { _, recorder in
            tree.write(".app.py.tmp1234", "new")
            tree.rename(".app.py.tmp1234", "app.py")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            await recorder.quietPeriod()
            #expect(recorder.started(0) == ["app.py"])
            #expect(recorder.settled(0) == [["app.py"]])
        }
    }

    /// Foundation's atomic write: a temporary `.dat.nosync…` file, renamed over the real one. The temporary
    /// file matches `**` too, but it is left out of the burst's paths.
    @Test func temporaryFilesOfAnAtomicSaveAreNotReported() async throws {
        let tree = WatcherTempTree()
        tree.write("app.py", "old")
        try await withWatcher([watcherSpec(tree, globs: ["**"])]) { _, recorder in
            try tree.writeAtomically("app.py", "new")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            await recorder.quietPeriod()
            #expect(recorder.started(0).count == 1)
            #expect(recorder.settled(0) == [["app.py"]])
        }
    }

    /// vim's default save: probe with 4913, move the original to a backup, write anew, drop the backup.
    @Test func vimStyleSaveIsOneBurst() async throws {
        let tree = WatcherTempTree()
        tree.write("app.py", "old")
        try await withWatcher([watcherSpec(tree, globs: ["**"])]) { _, recorder in
            tree.write("4913")
            tree.remove("4913")
            tree.rename("app.py", "app.py~")
            tree.write("app.py", "new")
            chmod(tree.path("app.py"), 0o644)
            tree.remove("app.py~")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            await recorder.quietPeriod()
            #expect(recorder.settled(0) == [["app.py"]])
        }
    }

    @Test func sedInPlaceIsOneBurst() async throws {
        let tree = WatcherTempTree()
        tree.write("app.py", "old\n")
        try await withWatcher([watcherSpec(tree, globs: ["*.py"])]) { _, recorder in
            let sed = try Process.run(
                URL(fileURLWithPath: "/bin/sed"), arguments: ["-i", "s/old/new/", tree.path("app.py")])
            sed.waitUntilExit()
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            await recorder.quietPeriod()
            #expect(recorder.settled(0) == [["app.py"]])
        }
    }

    @Test func burstOfWritesSettlesOnce() async throws {
        let tree = WatcherTempTree()
        tree.mkdir("src")
        try await withWatcher([watcherSpec(tree, globs: ["src/"])]) { _, recorder in
            for index in 0..<200 { tree.write("src/file\(index % 150).txt", "\(index)") }
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            await recorder.quietPeriod()
            #expect(recorder.started(0).count == 1)
            // Each file once. Not their order: a file's close-write event comes late when a process forked by
            // a concurrent test briefly holds a copy of its descriptor (BurstTests checks the order itself).
            let settled = recorder.settled(0)
            #expect(settled.count == 1)
            #expect(settled.first?.count == 150)
            #expect(Set(settled.first ?? []) == Set((0..<150).map { "src/file\($0).txt" }))
        }
    }

    @Test func extraFilesOutsideTheRoot() async throws {
        let tree = WatcherTempTree()
        let elsewhere = WatcherTempTree()
        elsewhere.write("settings.env", "A=1")
        elsewhere.write("other.env", "B=1")
        let spec = watcherSpec(tree, globs: ["*.py"], extraFiles: [elsewhere.path("settings.env")])
        try await withWatcher([spec]) { _, recorder in
            elsewhere.write("other.env", "B=2")
            elsewhere.write("settings.env", "A=2")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.settled(0) == [[elsewhere.path("settings.env")]])
            // An editor's atomic save over it counts too.
            elsewhere.write("settings.env.tmp", "A=3")
            elsewhere.rename("settings.env.tmp", "settings.env")
            #expect(await recorder.wait { $0.settled(0).count == 2 })
            #expect(recorder.settled(0).last == [elsewhere.path("settings.env")])
        }
    }

    @Test func filesAddedAtRunTime() async throws {
        let tree = WatcherTempTree()
        let site = WatcherTempTree()
        site.write("lib/module.py")
        tree.write("notes.txt")
        try await withWatcher([watcherSpec(tree, globs: ["*.py"])]) { watcher, recorder in
            watcher.addFiles(process: ProcessID(0), paths: [site.path("lib/module.py"), tree.path("notes.txt")])
            watcher.addFiles(process: ProcessID(0), paths: [site.path("lib/module.py")])
            watcher.addFiles(process: ProcessID(7), paths: [site.path("lib/other.py")])
            // The request is handled on the watcher thread; write again until it has been.
            for attempt in 0..<10 {
                site.write("lib/module.py", "changed \(attempt)")
                if await recorder.wait(upTo: .seconds(1), { $0.settled(0).count >= 1 }) { break }
            }
            tree.write("notes.txt", "changed")
            #expect(await recorder.wait { $0.settled(0).contains(["notes.txt"]) })
            #expect(recorder.settled(0).first == [site.path("lib/module.py")])
        }
    }

    @Test func disjointSpecsOnlyNotifyTheirProcess() async throws {
        let tree = WatcherTempTree()
        tree.mkdir("a")
        tree.mkdir("b")
        let specs = [watcherSpec(tree, process: 0, globs: ["a/**"]), watcherSpec(tree, process: 1, globs: ["b/**"])]
        try await withWatcher(specs) { _, recorder in
            tree.write("a/x.txt")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            await recorder.quietPeriod()
            #expect(recorder.settled(0) == [["a/x.txt"]])
            #expect(recorder.started(1).isEmpty && recorder.settled(1).isEmpty)
            tree.write("b/y.txt")
            #expect(await recorder.wait { $0.settled(1).count == 1 })
            #expect(recorder.settled(0).count == 1)
        }
    }

    @Test func oneChangeCanConcernSeveralProcesses() async throws {
        let tree = WatcherTempTree()
        tree.mkdir("shared")
        let specs = [
            watcherSpec(tree, process: 0, globs: ["**/*.py"]),
            WatchSpec(
                process: ProcessID(1), root: tree.path("shared"), globs: ["*.py"], kind: .native,
                debounce: .milliseconds(50)),
        ]
        try await withWatcher(specs) { _, recorder in
            tree.write("shared/lib.py")
            #expect(await recorder.wait { $0.settled(0).count == 1 && $0.settled(1).count == 1 })
            #expect(recorder.settled(0) == [["shared/lib.py"]])
            #expect(recorder.settled(1) == [["lib.py"]])
        }
    }

    @Test func specsWithNothingToWatchAreIgnored() async throws {
        let tree = WatcherTempTree()
        try await withWatcher([watcherSpec(tree, globs: [])]) { watcher, recorder in
            tree.write("app.py")
            await recorder.quietPeriod()
            watcher.stop()
            #expect(recorder.events.isEmpty)
        }
    }

    @Test func badGlobIsAConfigError() {
        let tree = WatcherTempTree()
        #expect {
            _ = try FileWatcher(specs: [watcherSpec(tree, globs: ["src/[ab"])], onEvent: { _ in })
        } throws: { ($0 as? SuperwatchError)?.code == .invalidConfig }
    }

    @Test func noEventAfterStop() async throws {
        let tree = WatcherTempTree()
        try await withWatcher([watcherSpec(tree, globs: ["*"])]) { watcher, recorder in
            watcher.stop()
            tree.write("x")
            await recorder.quietPeriod()
            #expect(recorder.events.isEmpty)
        }
    }

    @Test func countMatches() throws {
        let tree = WatcherTempTree()
        for path in [
            "a.py", "b.py", "src/c.py", "src/deep/d.py", "src/e.txt", "node_modules/f.py", "src/__pycache__/g.py",
        ] {
            tree.write(path)
        }
        #expect(FileWatcher.countMatches(watcherSpec(tree, globs: ["**/*.py"])) == 4)
        #expect(FileWatcher.countMatches(watcherSpec(tree, globs: ["*.py"])) == 2)
        #expect(FileWatcher.countMatches(watcherSpec(tree, globs: ["src/"])) == 3)
        #expect(FileWatcher.countMatches(watcherSpec(tree, globs: ["src/"], ignore: ["deep/"])) == 2)
        #expect(FileWatcher.countMatches(watcherSpec(tree, globs: ["[bad"])) == 0)
    }

    @Test func specFromProcessConfig() {
        let process = ProcessSpec(
            name: "web", command: .shell("python app.py"), cwd: "/srv/app", watch: ["**/*.py"], ignore: ["tmp/"],
            extraFiles: ["/etc/app.env"], watcher: .poll, interval: .seconds(2), debounce: .milliseconds(50))
        let spec = WatchSpec(process: ProcessID(3), spec: process)
        var expected = WatchSpec(
            process: ProcessID(3), root: "/srv/app", globs: ["**/*.py"], ignore: ["tmp/"],
            extraFiles: ["/etc/app.env"], kind: .poll, interval: .seconds(2), debounce: .milliseconds(50))
        expected.name = "web"
        // A Python command reports what its reloader would watch (superwatch_reloader.py), added at run time.
        expected.acceptsAddedFiles = true
        #expect(spec == expected)
    }
}
