import Foundation
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Watcher polling")
struct WatcherPollingTests {
    @Test func pollingSeesModifiedNewAndDeletedFiles() async throws {
        let tree = WatcherTempTree()
        tree.write("src/a.py", "1")
        tree.write("src/b.py", "1")
        tree.write("src/keep.py", "1")
        try await withWatcher([watcherSpec(tree, globs: ["src/**/*.py"], kind: .poll)]) { _, recorder in
            tree.write("src/a.py", "22")
            tree.write("src/new/c.py")
            tree.remove("src/b.py")
            tree.write("src/ignored.txt")
            let all = { (recorder: WatcherRecorder) in Set(recorder.settled(0).flatMap { $0 }) }
            #expect(await recorder.wait { all($0) == ["src/a.py", "src/new/c.py", "src/b.py"] })
            await recorder.quietPeriod()
            #expect(all(recorder) == ["src/a.py", "src/new/c.py", "src/b.py"])
        }
    }

    @Test func pollingSeesAnAtomicSaveOfTheSameSize() async throws {
        let tree = WatcherTempTree()
        tree.write("app.py", "aaaa")
        let elsewhere = WatcherTempTree()
        elsewhere.write("app.env", "X=1")
        let spec = watcherSpec(tree, globs: ["*.py"], extraFiles: [elsewhere.path("app.env")], kind: .poll)
        try await withWatcher([spec]) { _, recorder in
            tree.write("tmp", "bbbb")
            tree.rename("tmp", "app.py")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.settled(0) == [["app.py"]])
            elsewhere.write("app.env", "X=2")
            #expect(await recorder.wait { $0.settled(0).count == 2 })
            #expect(recorder.settled(0).last == [elsewhere.path("app.env")])
        }
    }

    @Test func pollingMakesNoEventsWhenNothingChanges() async throws {
        let tree = WatcherTempTree()
        tree.write("a.py")
        try await withWatcher([watcherSpec(tree, globs: ["*.py"], kind: .poll)]) { watcher, recorder in
            await recorder.quietPeriod()
            watcher.stop()
            #expect(recorder.events.isEmpty)
        }
    }
}

@Suite("Watcher fallback")
struct WatcherFallbackTests {
    /// With too few inotify watches for the tree (as with a low `fs.inotify.max_user_watches`), an `.auto` spec
    /// says so once and polls instead; its changes still arrive.
    @Test func autoFallsBackToPollingAtTheWatchLimit() async throws {
        let tree = WatcherTempTree()
        for directory in ["a", "b", "c/d"] { tree.write("\(directory)/m.py") }
        let spec = watcherSpec(tree, globs: ["**/*.py"], kind: .auto)
        try await withWatcher([spec], watchLimit: 2) { _, recorder in
            #expect(await recorder.wait { !$0.notices().isEmpty })
            #expect(
                recorder.notices() == [
                    "inotify watch limit reached (ENOSPC); polling every 200ms instead — raise it with: "
                        + "sudo sysctl fs.inotify.max_user_watches=524288"
                ])
            tree.write("c/d/m.py", "changed")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.settled(0) == [["c/d/m.py"]])
            #expect(recorder.notices().count == 1)
        }
    }

    /// A directory created later that goes over the limit also switches the spec to polling.
    @Test func autoFallsBackWhenANewDirectoryGoesOverTheLimit() async throws {
        let tree = WatcherTempTree()
        tree.write("a/m.py")
        let spec = watcherSpec(tree, globs: ["**/*.py"], kind: .auto)
        try await withWatcher([spec], watchLimit: 2) { _, recorder in
            tree.mkdir("b")
            #expect(await recorder.wait { !$0.notices().isEmpty })
            tree.write("b/new.py")
            #expect(await recorder.wait { $0.settled(0).flatMap { $0 }.contains("b/new.py") })
        }
    }

    @Test func nativeAtTheWatchLimitIsAnError() throws {
        let tree = WatcherTempTree()
        for directory in ["a", "b"] { tree.write("\(directory)/m.py") }
        #expect {
            _ = try FileWatcher(
                specs: [watcherSpec(tree, globs: ["**/*.py"], kind: .native)], watchLimit: 2, onEvent: { _ in })
        } throws: { error in
            guard let error = error as? SuperwatchError else { return false }
            return error.code == .system(syscall: "inotify_add_watch", errno: .noSpace)
                && error.message.contains("max_user_watches") && error.message.contains("watcher: poll")
        }
    }
}

@Suite struct RemoteFilesystemTests {
    @Test func localDirectoriesAreNotRemote() {
        #expect(remoteFilesystem(containing: "/tmp") == nil)
        #expect(remoteFilesystem(containing: "/proc") == nil)
    }
}
