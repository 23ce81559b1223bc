import Foundation
import Testing
@testable import SuperwatchCore

@Suite("Watcher polling")
struct WatcherPollingTests {
    @Test func pollingSeesModifiedNewAndDeletedFiles() async throws {
        let tree = WatcherTempTree()
        tree.write("src/a.py", "1")
        tree.write("src/b.py", "1")
        tree.write("src/keep.py", "1")
        let recorder = WatcherRecorder()
        let watcher = try FileWatcher(specs: [watcherSpec(tree, globs: ["src/**/*.py"], kind: .poll)], onEvent: recorder.handler)
        watcher.start()
        defer { watcher.stop() }
        tree.write("src/a.py", "22")
        tree.write("src/new/c.py")
        tree.remove("src/b.py")
        tree.write("src/ignored.txt")
        let all = { (recorder: WatcherRecorder) in Set(recorder.settled(0).flatMap { $0 }) }
        #expect(await recorder.wait { all($0) == ["src/a.py", "src/new/c.py", "src/b.py"] })
        await recorder.quietPeriod()
        #expect(all(recorder) == ["src/a.py", "src/new/c.py", "src/b.py"])
    }

    @Test func pollingSeesAnAtomicSaveOfTheSameSize() async throws {
        let tree = WatcherTempTree()
        tree.write("app.py", "aaaa")
        let elsewhere = WatcherTempTree()
        elsewhere.write("app.env", "X=1")
        let recorder = WatcherRecorder()
        let spec = watcherSpec(tree, globs: ["*.py"], extraFiles: [elsewhere.path("app.env")], kind: .poll)
        let watcher = try FileWatcher(specs: [spec], onEvent: recorder.handler)
        watcher.start()
        defer { watcher.stop() }
        tree.write("tmp", "bbbb")
        tree.rename("tmp", "app.py")
        #expect(await recorder.wait { $0.settled(0).count == 1 })
        #expect(recorder.settled(0) == [["app.py"]])
        elsewhere.write("app.env", "X=2")
        #expect(await recorder.wait { $0.settled(0).count == 2 })
        #expect(recorder.settled(0).last == [elsewhere.path("app.env")])
    }

    @Test func pollingMakesNoEventsWhenNothingChanges() async throws {
        let tree = WatcherTempTree()
        tree.write("a.py")
        let recorder = WatcherRecorder()
        let watcher = try FileWatcher(specs: [watcherSpec(tree, globs: ["*.py"], kind: .poll)], onEvent: recorder.handler)
        watcher.start()
        await recorder.quietPeriod()
        watcher.stop()
        #expect(recorder.events.isEmpty)
    }
}
