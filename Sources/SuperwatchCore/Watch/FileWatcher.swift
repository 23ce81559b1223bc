import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Watches the files of every process that has a watch set and reports changes as bursts (`WatchEvent`),
/// one burst state per process.
///
/// One thread does all the work: it blocks in `poll(2)` on one inotify instance shared by every spec and on an
/// eventfd for requests from other threads, with a timeout only while a burst is open or a polling spec is
/// due, so an idle watcher costs no CPU. `onEvent` is called on that thread; it must not wait for a thread
/// that is calling `stop()`.
///
/// The initial scan (walking each root, adding the inotify watches or taking the polling baseline) happens in
/// `init`, so that a spec with `watcher: native` that cannot work is a thrown error; changes made after `init`
/// returns are reported once `start()` has been called.
public final class FileWatcher: Sendable {
    private let loop: WatchLoop
    private let lifecycle = Mutex<Lifecycle>(.idle)

    private enum Lifecycle { case idle, running, stopped }

    /// Compiles every spec's globs (a bad one is an `.invalidConfig` error), sets up inotify and scans.
    /// Specs with neither globs nor extra files are ignored.
    public init(specs: [WatchSpec], onEvent: @escaping @Sendable (WatchEvent) -> Void) throws(SuperwatchError) {
        loop = try WatchLoop(specs: specs, onEvent: onEvent)
    }

    /// For tests: as if `fs.inotify.max_user_watches` were `watchLimit`.
    init(
        specs: [WatchSpec], watchLimit: Int, onEvent: @escaping @Sendable (WatchEvent) -> Void
    ) throws(SuperwatchError) {
        loop = try WatchLoop(specs: specs, watchLimit: watchLimit, onEvent: onEvent)
    }

    deinit {
        loop.send(.stop)
    }

    /// Starts the watcher thread. Calling it again does nothing.
    public func start() {
        let shouldStart = lifecycle.withLock { state in
            guard case .idle = state else { return false }
            state = .running
            return true
        }
        guard shouldStart else { return }
        let thread = Thread { [loop] in loop.run() }
        thread.name = "superwatch-watch"
        thread.start()
    }

    /// Stops the watcher. Called from any thread but the watcher's own (from `onEvent`), it returns once the
    /// thread has ended, so no event follows it.
    public func stop() {
        let wasRunning = lifecycle.withLock { state in
            defer { state = .stopped }
            if case .running = state { return true }
            return false
        }
        loop.send(.stop)
        if wasRunning && !loop.isCurrentThread { loop.waitUntilFinished() }
    }

    /// Adds individual absolute files to a process's watch set at run time (the Python bootstrap reports
    /// imported modules this way). Files the spec's ignores exclude are left out. Idempotent. A file is watched through its directory (by name), so one that
    /// does not exist yet counts once it is created; when its directory does not exist either, through the
    /// nearest directory above it that does, until the missing ones are created.
    ///
    /// `loaded` gives, for files the process has read, the stamp each had then: once the file is watched, a
    /// file that differs from it (or is gone) is a change, as if the edit had come after the watch began.
    public func addFiles(process: ProcessID, paths: [String], loaded: [String: LoadedStamp] = [:]) {
        loop.send(.addFiles(process: process, paths: paths, loaded: loaded))
    }

    /// How many files each process's watch set holds (matching files and existing extra files, those added
    /// included), as of the first scan or the last settled change; a process without a watch set is absent.
    public func watchedFileCounts() -> [ProcessID: Int] {
        loop.fileCounts.counts
    }

    /// How many files under `spec.root` match the spec now (for `superwatch check`); 0 when a pattern is bad.
    public static func countMatches(_ spec: WatchSpec) -> Int {
        guard let rules = try? WatchRules(spec), let cursor = rules.rootCursor else { return 0 }
        var count = 0
        TreeWalker(rules: rules).walk(
            normalizedDirectory(spec.root), at: cursor, directory: { _, _ in .descend },
            file: { _, _, _, _ in count += 1 })
        return count
    }
}

/// An absolute directory path without a trailing `/` (except for `/` itself).
func normalizedDirectory(_ path: String) -> String {
    var path = Substring(path)
    while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
    return String(path)
}
