import CSuperwatchShim

#if canImport(Glibc)
    import Glibc
#endif

/// inotify: one watch per directory that can hold a match (shared by every spec that walks it), plus the
/// parent directories of extra files, filtered by name so that an editor's rename over the file still counts.
extension WatchLoop {
    /// Watches spec `index`'s tree and extra files.
    func startNative(_ index: Int) throws(SuperwatchError) {
        watched[index].mode = .native
        if let cursor = watched[index].rules.rootCursor {
            try watchTree(index, watched[index].root, at: cursor, reportFiles: false)
        }
        for path in watched[index].extraFiles.sorted() {
            guard case .native = watched[index].mode else { return }
            try watchExtraFile(index, path)
        }
    }

    /// Watches `path` (at `cursor`) and every directory below it that can hold a match. With `reportFiles`,
    /// each matching file found counts as changed: the directory is new, and files made in it before its watch
    /// existed have produced no event.
    func watchTree(
        _ index: Int, _ path: String, at cursor: WatchRules.Cursor, reportFiles: Bool
    ) throws(SuperwatchError) {
        guard let inotify else { return }
        var failure: Errno?
        TreeWalker(rules: watched[index].rules).walk(
            path, at: cursor,
            directory: { directory, cursor in
                switch inotify.addWatch(directory) {
                case .success(let wd):
                    register(wd, directory) {
                        $0.trees.removeAll { $0.spec == index }
                        $0.trees.append((index, cursor))
                    }
                    return .descend
                case .failure(let error) where error == .noSpace || error == .outOfMemory:
                    failure = error
                    return .stop
                case .failure:
                    return .skip  // gone already, not a directory, or not readable
                }
            },
            file: { _, cursor, name, _ in
                if reportFiles { change(index, cursor.childPath(String(decoding: name, as: UTF8.self))) }
            })
        if let failure { try fallBack(index, syscall: "inotify_add_watch", errno: failure) }
    }

    /// Watches the directory of extra file `path` for spec `index`; when that directory does not exist
    /// (yet), its nearest existing ancestor, until the missing directories appear. Throws only while `init`
    /// runs.
    func watchExtraFile(_ index: Int, _ path: String) throws(SuperwatchError) {
        guard let inotify, let slash = path.lastIndex(of: "/") else { return }
        let directory = parentDirectory(of: path)
        let name = String(path[path.index(after: slash)...])
        switch inotify.addWatch(directory) {
        case .success(let wd):
            register(wd, directory) { $0.extraNames[index, default: []].insert(name) }
        case .failure(let error) where error == .noSpace || error == .outOfMemory:
            try fallBack(index, syscall: "inotify_add_watch", errno: error)
        case .failure(let error) where error == .noSuchFileOrDirectory || error == .notADirectory:
            try awaitDirectory(index, path, below: directory)
        case .failure:
            break  // not readable: nothing to watch
        }
    }

    /// Watches the nearest existing ancestor of the missing `directory` of extra file `path`, so that the next
    /// missing directory on the way to it is seen when it is created (`mkdir -p` makes them one by one).
    private func awaitDirectory(_ index: Int, _ path: String, below directory: String) throws(SuperwatchError) {
        guard let inotify else { return }
        var ancestor = directory
        while ancestor != "/" {
            ancestor = parentDirectory(of: ancestor)
            switch inotify.addWatch(ancestor) {
            case .success(let wd):
                register(wd, ancestor) { $0.awaited[index, default: []].insert(path) }
                // A directory made between the failed watch below and this one raised no event here.
                let next = nextComponent(from: ancestor, to: path)
                var info = stat()
                if stat(joinPath(ancestor, next), &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR {
                    try awaitedDirectoryAppeared(in: wd, name: next)
                }
                return
            case .failure(let error) where error == .noSpace || error == .outOfMemory:
                try fallBack(index, syscall: "inotify_add_watch", errno: error)
                return
            case .failure(let error) where error == .noSuchFileOrDirectory || error == .notADirectory:
                continue
            case .failure:
                return  // not readable: nothing to watch
            }
        }
    }

    /// Directory `name` appeared in watched directory `wd`: the extra files awaited below it are watched
    /// further down, and one that exists by now (made before any watch could see it) counts as changed.
    private func awaitedDirectoryAppeared(in wd: Int32, name: String) throws(SuperwatchError) {
        guard var directory = directories[wd] else { return }
        let prefix = joinPath(directory.path, name) + "/"
        var found: [(index: Int, path: String)] = []
        for (index, paths) in directory.awaited {
            for path in paths.sorted() where path.hasPrefix(prefix) { found.append((index, path)) }
        }
        guard !found.isEmpty else { return }
        for (index, path) in found { directory.awaited[index]?.remove(path) }
        directory.awaited = directory.awaited.filter { !$0.value.isEmpty }
        directories[wd] = directory
        if directory.isUnused { forgetWatch(wd) }
        for (index, path) in found {
            guard case .native = watched[index].mode else { continue }
            try watchExtraFile(index, path)
            if threadStarted && FileStamp(path) != nil { change(index, displayPath(path, for: index)) }
        }
    }

    /// The extra files (and awaited ones) that the dropped watch of `directory` stood for are watched again
    /// from its nearest existing ancestor: the directory was deleted or moved, and may come back.
    private func awaitAgain(_ directory: WatchedDirectory) {
        var paths: [(index: Int, path: String)] = []
        for (index, names) in directory.extraNames { paths += names.map { (index, joinPath(directory.path, $0)) } }
        for (index, awaited) in directory.awaited { paths += awaited.map { (index, $0) } }
        for (index, path) in paths.sorted(by: { ($0.index, $0.path) < ($1.index, $1.path) }) {
            guard case .native = watched[index].mode else { continue }
            try? watchExtraFile(index, path)  // falling back only throws while `init` runs
        }
    }

    /// Removes watch `wd`, which nothing needs any more.
    private func forgetWatch(_ wd: Int32) {
        guard let directory = directories[wd] else { return }
        inotify?.removeWatch(wd)
        directories[wd] = nil
        if descriptorByPath[directory.path] == wd { descriptorByPath[directory.path] = nil }
    }

    /// Records what watch `wd` on `path` is for.
    private func register(_ wd: Int32, _ path: String, _ update: (inout WatchedDirectory) -> Void) {
        if let previous = descriptorByPath[path], previous != wd { directories[previous] = nil }
        if let existing = directories[wd], existing.path != path {
            // The same directory under a new name (it was moved): start over.
            descriptorByPath[existing.path] = nil
            directories[wd] = nil
        }
        descriptorByPath[path] = wd
        update(&directories[wd, default: WatchedDirectory(path: path)])
    }

    /// Drops every watch interest of spec `index`, removing watches nobody else needs.
    func forgetNativeWatches(of index: Int) {
        for (wd, var directory) in directories {
            directory.trees.removeAll { $0.spec == index }
            directory.extraNames[index] = nil
            directory.awaited[index] = nil
            if directory.isUnused {
                forgetWatch(wd)
            } else {
                directories[wd] = directory
            }
        }
    }

    /// Drops the watches of `path` and everything below it (it was moved away or deleted).
    private func forgetSubtree(_ path: String) {
        let prefix = path + "/"
        let gone = descriptorByPath.filter { $0.key == path || $0.key.hasPrefix(prefix) }
        var dropped: [WatchedDirectory] = []
        for (path, wd) in gone {
            inotify?.removeWatch(wd)
            if let directory = directories[wd] { dropped.append(directory) }
            directories[wd] = nil
            descriptorByPath[path] = nil
        }
        for directory in dropped.sorted(by: { $0.path < $1.path }) { awaitAgain(directory) }
    }

    /// Acts on one inotify event.
    func handle(_ event: Inotify.Event) {
        if event.has(IN_Q_OVERFLOW) {
            rescanAfterOverflow()
            return
        }
        guard let directory = directories[event.wd] else { return }
        if event.has(IN_IGNORED) {
            // The kernel dropped the watch: the directory is gone.
            directories[event.wd] = nil
            if descriptorByPath[directory.path] == event.wd { descriptorByPath[directory.path] = nil }
            awaitAgain(directory)
            return
        }
        if event.has(IN_DELETE_SELF) || event.has(IN_MOVE_SELF) {
            for (index, cursor) in directory.trees where cursor.path.isEmpty {
                notice(
                    index,
                    "watched directory \(directory.path) was \(event.has(IN_MOVE_SELF) ? "moved" : "deleted"); "
                        + "its file changes are no longer noticed")
            }
            if event.has(IN_MOVE_SELF) { forgetSubtree(directory.path) }
            return
        }
        if event.name.isEmpty { return }
        let path = joinPath(directory.path, event.name)
        if event.has(IN_ISDIR) {
            handleDirectoryEvent(event, path: path, in: directory)
            return
        }
        let trees = directory.trees.filter { watched[$0.spec].rules.matchesFile($0.cursor, event.name) }
        let extras = directory.extraNames.filter { $0.value.contains(event.name) }.map(\.key)
        if trees.isEmpty && extras.isEmpty { return }
        if event.has(IN_CREATE) && !isLinkOrExtraLink(path) {
            // A new regular file: not a change until it has been written (its IN_CLOSE_WRITE follows), but if
            // it is gone again within the burst it was only a temporary file.
            for (index, cursor) in trees { watched[index].burst.noteCreated(cursor.childPath(event.name)) }
            return
        }
        let removed = event.has(IN_DELETE) || event.has(IN_MOVED_FROM)
        for (index, cursor) in trees { change(index, cursor.childPath(event.name), removed: removed) }
        for index in extras.sorted() { change(index, displayPath(path, for: index), removed: removed) }
    }

    private func handleDirectoryEvent(_ event: Inotify.Event, path: String, in directory: WatchedDirectory) {
        if (event.has(IN_CREATE) || event.has(IN_MOVED_TO)) && !directory.awaited.isEmpty {
            try? awaitedDirectoryAppeared(in: event.wd, name: event.name)  // falling back only throws in `init`
        }
        if event.has(IN_DELETE) || event.has(IN_MOVED_FROM) {
            // A deleted tree's files were reported one by one; a moved-away tree's files vanished at once.
            if event.has(IN_MOVED_FROM) {
                for (index, cursor) in directory.trees {
                    if let child = watched[index].rules.enter(cursor, directory: event.name) {
                        change(index, child.path)
                    }
                }
            }
            forgetSubtree(path)
        }
        if event.has(IN_CREATE) || event.has(IN_MOVED_TO) {
            for (index, cursor) in directory.trees {
                guard case .native = watched[index].mode,
                    let child = watched[index].rules.enter(cursor, directory: event.name)
                else { continue }
                // Falling back only throws while `init` runs.
                try? watchTree(index, path, at: child, reportFiles: true)
            }
        }
    }

    /// Whether a just-created entry is a symbolic link or a new hard link, which are complete at once.
    private func isLinkOrExtraLink(_ path: String) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        let type = info.st_mode & S_IFMT
        return type == S_IFLNK || (type == S_IFREG && info.st_nlink > 1)
    }

    /// The kernel dropped events: watch whatever directories appeared meanwhile and count it as a change.
    private func rescanAfterOverflow() {
        for index in watched.indices {
            guard case .native = watched[index].mode else { continue }
            if let cursor = watched[index].rules.rootCursor {
                try? watchTree(index, watched[index].root, at: cursor, reportFiles: false)
            }
            change(index, ".")
        }
    }
}

/// The directory holding absolute `path` (`/` for a top-level entry).
func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
    return String(path[..<slash])
}

/// The first component of absolute `path` below its ancestor directory `ancestor`.
func nextComponent(from ancestor: String, to path: String) -> String {
    let rest = path.dropFirst(ancestor == "/" ? 1 : ancestor.count + 1)
    return String(rest.prefix { $0 != "/" })
}
