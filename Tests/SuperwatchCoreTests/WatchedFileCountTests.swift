import Testing

@testable import SuperwatchCore

/// `FileWatcher.watchedFileCounts`, which `superwatch status` shows as each process's `watched_files`.
@Suite("Watched file counts")
struct WatchedFileCountTests {
    @Test(arguments: [WatcherKind.native, .poll])
    func eachProcessCountsItsMatchingAndExtraFilesAgainAfterAChange(kind: WatcherKind) async throws {
        let tree = WatcherTempTree()
        tree.write("src/a.py")
        tree.write("src/b.py")
        tree.write("src/readme.txt")
        tree.write("settings.toml")
        let specs = [
            watcherSpec(
                tree, process: 0, globs: ["src/*.py"],
                extraFiles: [tree.path("settings.toml"), tree.path("later"), tree.path("src/a.py")],
                kind: kind),
            watcherSpec(tree, process: 2, globs: ["**/*.txt"], kind: kind),
        ]
        try await withWatcher(specs) { watcher, recorder in
            // An extra file that does not exist yet is not counted, one the globs match too is counted once.
            // Counted off the watcher's thread: soon after the scan, and after each settled change.
            #expect(await recorder.wait { _ in watcher.watchedFileCounts() == [ProcessID(0): 3, ProcessID(2): 1] })
            tree.write("src/c.py")
            #expect(await recorder.wait { $0.settled(0).count == 1 })
            #expect(await recorder.wait { _ in watcher.watchedFileCounts()[ProcessID(0)] == 4 })
            watcher.addFiles(process: ProcessID(2), paths: [tree.path("settings.toml")])
            #expect(await recorder.wait { _ in watcher.watchedFileCounts()[ProcessID(2)] == 2 })
        }
    }
}
