import Foundation
import Testing

@testable import SuperwatchCore

/// Extra files that do not exist when watching starts: said once, and a change once they appear, even when
/// their directories are created later, one at a time or all at once, or deleted and made again.
@Suite("Watcher: missing extra files")
struct WatcherMissingFileTests {
    @Test(arguments: [WatcherKind.native, .poll])
    func aMissingExtraFileCountsOnceItAndItsDirectoriesAreCreated(kind: WatcherKind) async throws {
        let tree = WatcherTempTree()
        let elsewhere = WatcherTempTree()
        let deep = elsewhere.path("config/deep/settings.toml")
        let beside = elsewhere.path("beside.toml")
        let spec = watcherSpec(tree, globs: ["*.py"], extraFiles: [deep, beside], kind: kind)
        try await withWatcher([spec]) { _, recorder in
            #expect(await recorder.wait { $0.notices().count == 2 })
            #expect(
                Set(recorder.notices()) == [
                    "extra file \(deep) does not exist yet; creating it will restart the process",
                    "extra file \(beside) does not exist yet; creating it will restart the process",
                ])

            // The directories one at a time: none of them is a change, the file is.
            elsewhere.mkdir("config")
            await recorder.quietPeriod()
            elsewhere.mkdir("config/deep")
            await recorder.quietPeriod()
            #expect(recorder.settled(0).isEmpty)
            elsewhere.write("config/deep/settings.toml", "a = 1")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(recorder.settled(0) == [[deep]])

            // Deleted with its directories, then made again in one go (as mkdir -p and a write do).
            elsewhere.remove("config")
            #expect(await recorder.wait { $0.settled(0).count == 2 })
            #expect(recorder.settled(0).last == [deep])
            elsewhere.write("config/deep/settings.toml", "a = 2")
            #expect(await recorder.wait { $0.settled(0).count == 3 })
            #expect(recorder.settled(0).last == [deep])
            elsewhere.write("config/deep/settings.toml", "a = 3")
            #expect(await recorder.wait { $0.settled(0).count == 4 })

            // A file whose directory exists.
            elsewhere.write("beside.toml", "b = 1")
            #expect(await recorder.wait { $0.settled(0).count == 5 })
            #expect(recorder.settled(0).last == [beside])
            await recorder.quietPeriod()
            #expect(recorder.settled(0).count == 5)
            #expect(recorder.notices().count == 2, "each missing file is announced once, at start")
        }
    }

    /// Files that exist at start are not announced.
    @Test func anExistingExtraFileIsNotAnnounced() async throws {
        let tree = WatcherTempTree()
        tree.write("settings.toml")
        let spec = watcherSpec(tree, globs: ["*.py"], extraFiles: [tree.path("settings.toml")])
        try await withWatcher([spec]) { watcher, recorder in
            tree.write("settings.toml", "2")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            watcher.stop()
            #expect(recorder.notices().isEmpty)
        }
    }
}
