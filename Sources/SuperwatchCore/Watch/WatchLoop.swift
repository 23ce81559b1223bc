import CSuperwatchShim
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The state and thread of a `FileWatcher`: per spec its rules, mode (inotify or polling) and burst; the
/// inotify instance and what each watch descriptor stands for.
///
/// Thread confinement: `init` runs on the creating thread; from `run()` on, everything except `mailbox`,
/// `threadID` and `finished` is touched only by the watcher thread (the thread start orders the two).
/// Other threads only call `send`. That is why it is `@unchecked Sendable`.
final class WatchLoop: @unchecked Sendable {
    /// How a spec's changes are noticed.
    enum Mode {
        case native
        case polling(PollState)
        /// Nothing can be watched (inotify failed for good at run time and the spec asked for it).
        case off
    }

    /// One spec and what the watcher keeps for it.
    struct Watched {
        var spec: WatchSpec
        var rules: WatchRules
        /// `spec.root`, normalized.
        var root: String
        var mode: Mode = .native
        /// Absolute paths: `spec.extraFiles` and those added by `addFiles`.
        var extraFiles: Set<String> = []
        var burst = Burst()
        /// Notices already given (each is given once).
        var notices: Set<String> = []
    }

    /// A watched directory: which specs walk it (with their cursors), which single files in it specs want,
    /// and which extra files further down specs wait for, their directories not existing yet.
    struct WatchedDirectory {
        var path: String
        var trees: [(spec: Int, cursor: WatchRules.Cursor)] = []
        var extraNames: [Int: Set<String>] = [:]
        /// Absolute paths of extra files below this directory whose own directory is missing.
        var awaited: [Int: Set<String>] = [:]
        var isUnused: Bool { trees.isEmpty && extraNames.isEmpty && awaited.isEmpty }
    }

    enum Message: Sendable {
        case addFiles(process: ProcessID, paths: [String], loaded: [String: LoadedStamp])
        case stop
    }

    var watched: [Watched] = []
    let onEvent: @Sendable (WatchEvent) -> Void
    let clock = ContinuousClock()
    var inotify: Inotify?
    var directories: [Int32: WatchedDirectory] = [:]
    var descriptorByPath: [String: Int32] = [:]
    /// Events produced before the thread runs (notices from `init`), delivered first thing.
    var pending: [WatchEvent] = []
    /// Whether `run()` has begun: before, the creating thread is still in `init`.
    var threadStarted = false
    var running = true

    /// How many files each process's spec watches (its matching files and existing extra files), for
    /// `superwatch status`: taken after the first scan, and again after each settled burst and `addFiles`.
    let fileCounts = FileCounts()

    private let mailbox: Mailbox<Message>
    private let threadID = Mutex<pthread_t?>(nil)
    private let finished = DispatchSemaphore(value: 0)

    /// `watchLimit`: for tests, a stand-in for `fs.inotify.max_user_watches`.
    init(
        specs: [WatchSpec], watchLimit: Int? = nil, onEvent: @escaping @Sendable (WatchEvent) -> Void
    ) throws(SuperwatchError) {
        self.onEvent = onEvent
        mailbox = try Mailbox()
        for spec in specs where !spec.isEmpty {
            var entry = Watched(spec: spec, rules: try WatchRules(spec), root: normalizedDirectory(spec.root))
            entry.extraFiles = Set(spec.extraFiles.map { absolutePath($0, root: entry.root) })
            watched.append(entry)
            for path in spec.extraFiles.map({ absolutePath($0, root: entry.root) }) where FileStamp(path) == nil {
                notice(watched.count - 1, "extra file \(path) does not exist yet; creating it will restart the process")
            }
        }
        if watched.contains(where: { $0.spec.kind != .poll }) {
            do {
                inotify = try Inotify(watchLimit: watchLimit)
            } catch {
                guard let code = error.errno else { throw error }
                for index in watched.indices where watched[index].spec.kind != .poll {
                    try fallBack(index, syscall: "inotify_init1", errno: code)
                }
            }
        }
        for index in watched.indices {
            if watched[index].spec.kind == .auto, case .native = watched[index].mode,
                let filesystem = remoteFilesystem(containing: watched[index].root)
            {
                // inotify only sees changes made through this machine's kernel.
                notice(
                    index,
                    "\(watched[index].root) is on \(filesystem), where changes made elsewhere raise no inotify "
                        + "events; polling every \(watched[index].spec.interval.humanReadable) instead (`watcher: native` forces inotify)"
                )
                startPolling(index)
            } else if watched[index].spec.kind == .poll {
                startPolling(index)
            } else if case .native = watched[index].mode {
                try startNative(index)
            }
        }
        for index in watched.indices { recount(index) }
    }

    // MARK: - Requests from other threads

    func send(_ message: Message) {
        mailbox.send(message)
    }

    var isCurrentThread: Bool {
        threadID.withLock { id in id.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    func waitUntilFinished() { finished.wait() }

    // MARK: - The thread

    func run() {
        threadID.withLock { $0 = pthread_self() }
        threadStarted = true
        defer {
            inotify = nil  // drops every kernel watch now rather than when the watcher is released
            finished.signal()
        }
        for event in pending { onEvent(event) }
        pending = []
        var events: [Inotify.Event] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
        defer { buffer.deallocate() }
        while running {
            var fds = [
                pollfd(fd: mailbox.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: inotify?.fd ?? -1, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, nfds_t(fds.count), timeoutUntilNextDeadline())
            if ready < 0 {
                let err = Errno.current
                if err == .interrupted { continue }
                // Only ENOMEM can happen here (EFAULT and EINVAL would be bugs): watching ends, but not in silence.
                for index in watched.indices { notice(index, "file watching stopped: poll: \(err)") }
                break
            }
            if fds[0].revents != 0 { handleInbox() }
            if fds[1].revents != 0, let inotify {
                inotify.read(into: &events, buffer: buffer)
                for event in events { handle(event) }
            }
            let now = clock.now
            for index in watched.indices {
                if case .polling(let state) = watched[index].mode, state.due <= now { pollNow(index, at: now) }
                if let paths = watched[index].burst.settle(at: now) {
                    onEvent(.settled(process: watched[index].spec.process, paths: paths))
                    recount(index)  // after: the restart does not wait for the count
                }
            }
        }
    }

    /// Milliseconds until the nearest burst end or poll, rounded up so the thread never wakes too early to act;
    /// -1 (block until something happens) when there is none.
    private func timeoutUntilNextDeadline() -> Int32 {
        var nearest: ContinuousClock.Instant?
        for entry in watched {
            for deadline in [entry.burst.deadline, entry.pollDue].compactMap({ $0 }) {
                if nearest.map({ deadline < $0 }) ?? true { nearest = deadline }
            }
        }
        guard let nearest else { return -1 }
        let (seconds, attoseconds) = (nearest - clock.now).components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        if nanoseconds <= 0 { return 0 }
        return Int32(min((nanoseconds + 999_999) / 1_000_000, Int64(Int32.max)))
    }

    private func handleInbox() {
        for message in mailbox.receive() {
            switch message {
            case .stop:
                running = false
            case .addFiles(let process, let paths, let loaded):
                for index in watched.indices where watched[index].spec.process == process {
                    addFiles(index, paths, loaded: loaded)
                    recount(index)
                }
            }
        }
    }

    private func addFiles(_ index: Int, _ paths: [String], loaded: [String: LoadedStamp]) {
        for reported in paths {
            let path = absolutePath(reported, root: watched[index].root)
            guard !watched[index].rules.ignores(file: path, root: watched[index].root) else { continue }
            if watched[index].extraFiles.insert(path).inserted {
                switch watched[index].mode {
                case .native: try? watchExtraFile(index, path)  // falling back only throws while `init` runs
                case .polling(var state):
                    if let stamp = FileStamp(path) { state.files[displayPath(path, for: index)] = stamp }
                    watched[index].mode = .polling(state)
                case .off: break
                }
            }
            // The watch is in place now: what changed between the process's read and here is compared instead.
            if let stamp = loaded[reported] { compareLoaded(index, path, stamp) }
        }
    }

    /// A change of spec `index` when file `path` is no longer what the process read (`stamp`): edited, or gone.
    private func compareLoaded(_ index: Int, _ path: String, _ stamp: LoadedStamp) {
        if case .off = watched[index].mode { return }
        guard let now = FileStamp(path) else {
            return change(index, displayPath(path, for: index), removed: true)
        }
        if now.modified != stamp.modified || now.size != stamp.size { change(index, displayPath(path, for: index)) }
    }

    /// Counts spec `index`'s files again (`fileCounts`): polling has them from its last poll; otherwise the
    /// tree is walked again, without the stat of each file that polling needs, on a thread of the concurrency
    /// pool: a walk of a large tree takes as long as the watcher's own first scan, and this thread must keep
    /// reading events meanwhile. The walk costs one `readdir` pass per count; only `status` shows it.
    func recount(_ index: Int) {
        let process = watched[index].spec.process
        if case .polling(let state) = watched[index].mode {
            fileCounts.store(state.files.count, for: process, generation: fileCounts.nextGeneration(for: process))
            return
        }
        let (rules, root, extraFiles) = (watched[index].rules, watched[index].root, watched[index].extraFiles)
        let generation = fileCounts.nextGeneration(for: process)
        let counts = fileCounts
        Task.detached(priority: .utility) {
            let count = Self.countFiles(rules: rules, root: root, extraFiles: extraFiles)
            counts.store(count, for: process, generation: generation)
        }
    }

    /// The files under `root` that `rules` match, plus the existing `extraFiles` the globs do not match.
    private static func countFiles(rules: WatchRules, root: String, extraFiles: Set<String>) -> Int {
        var count = 0
        var matched = Set<String>()
        if let cursor = rules.rootCursor {
            TreeWalker(rules: rules).walk(
                root, at: cursor, directory: { _, _ in .descend },
                file: { directory, _, name, _ in
                    count += 1
                    // Only to leave out an extra file the globs match too.
                    if !extraFiles.isEmpty {
                        matched.insert(joinPath(directory, String(decoding: name, as: UTF8.self)))
                    }
                })
        }
        return count + extraFiles.count { !matched.contains($0) && FileStamp($0) != nil }
    }

    // MARK: - Changes and notices

    /// Records a change for spec `index` (`removed`: the file is gone); the first of a burst is reported at once.
    func change(_ index: Int, _ path: String, removed: Bool = false) {
        let spec = watched[index].spec
        if watched[index].burst.record(path, removed: removed, at: clock.now, debounce: spec.debounce) {
            onEvent(.burstStarted(process: spec.process, path: path))
        }
    }

    /// Tells the user something once per spec (queued while `init` runs).
    func notice(_ index: Int, _ message: String) {
        guard watched[index].notices.insert(message).inserted else { return }
        let event = WatchEvent.notice(process: watched[index].spec.process, message: message)
        if threadStarted { onEvent(event) } else { pending.append(event) }
    }

    /// A changed file as reported: relative to the spec's root when under it, else absolute.
    func displayPath(_ absolute: String, for index: Int) -> String {
        let root = watched[index].root
        if absolute == root { return "." }
        let prefix = root == "/" ? "/" : root + "/"
        return absolute.hasPrefix(prefix) ? String(absolute.dropFirst(prefix.count)) : absolute
    }

    /// inotify cannot watch spec `index` (any more) because `syscall` failed with `code`: an `.auto` spec polls
    /// from now on, with a notice; for a `.native` one that is an error during `init` and a notice later.
    func fallBack(_ index: Int, syscall: String, errno code: Errno) throws(SuperwatchError) {
        let spec = watched[index].spec
        let reason: String
        var advice = ""
        switch code {
        case .noSpace:
            reason = "inotify watch limit reached (ENOSPC)"
            advice = " — raise it with: sudo sysctl fs.inotify.max_user_watches=524288"
        case .tooManyOpenFiles:
            reason = "inotify instance limit reached (\(syscall): \(code))"
            advice = " — raise it with: sudo sysctl fs.inotify.max_user_instances=1024"
        default:
            reason = "inotify unavailable (\(syscall): \(code))"
        }
        if spec.kind == .native {
            let message =
                "cannot watch the files of \(spec.name ?? spec.process.description) with inotify: \(reason)\(advice)"
                + "; or set `watcher: poll`"
            if !threadStarted { throw SuperwatchError(.system(syscall: syscall, errno: code), message) }
            notice(index, message + " (changes in directories not yet watched are missed)")
            return
        }
        forgetNativeWatches(of: index)
        notice(index, "\(reason); polling every \(spec.interval.humanReadable) instead\(advice)")
        startPolling(index)
    }
}

/// The kind of network or FUSE filesystem `path` is on (from statfs(2)'s magic number), or nil for a local one.
func remoteFilesystem(containing path: String) -> String? {
    var info = statfs()
    guard statfs(path, &info) == 0 else { return nil }
    let kinds: [Int: String] = [
        0x6969: "NFS", 0x517B: "SMB", 0xFF53_4D42: "CIFS", 0xFE53_4D42: "SMB2", 0x6573_5546: "a FUSE filesystem",
        0x0102_1997: "9P (a VM or WSL share)", 0x00C3_6400: "CephFS", 0x0BD0_0BD0: "Lustre", 0x7461_636F: "OCFS2",
        0x786F_4256: "VirtualBox shared folders",
    ]
    return kinds[Int(info.f_type)]
}

extension WatchLoop.Watched {
    var pollDue: ContinuousClock.Instant? {
        if case .polling(let state) = mode { return state.due }
        return nil
    }
}

extension SuperwatchError {
    /// The errno of a failed system call, if that is what this is. Not inlined: Swift 6.3.1's optimizer, inlining
    /// this switch into a typed `catch` (CgroupTree.create), failed its ownership verification and crashed the
    /// release build ("Found ownership error?!").
    @inline(never)
    var errno: Errno? {
        if case .system(_, let code) = self.code { return code }
        return nil
    }
}

/// `path` if absolute, else resolved against `root`.
func absolutePath(_ path: String, root: String) -> String {
    path.hasPrefix("/") ? path : joinPath(root, path)
}

/// The last count of each process's watched files, written by the counting tasks `recount` starts; a count
/// started before a newer one is dropped (`generation`), so the figure is never older than the last change.
final class FileCounts: Sendable {
    private let state = Mutex<(counts: [ProcessID: Int], generations: [ProcessID: Int])>(([:], [:]))

    var counts: [ProcessID: Int] { state.withLock { $0.counts } }

    func nextGeneration(for process: ProcessID) -> Int {
        state.withLock { state in
            state.generations[process, default: 0] += 1
            return state.generations[process]!
        }
    }

    func store(_ count: Int, for process: ProcessID, generation: Int) {
        state.withLock { state in
            if state.generations[process] == generation { state.counts[process] = count }
        }
    }
}
