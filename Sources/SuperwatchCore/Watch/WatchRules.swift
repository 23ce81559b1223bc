/// One spec's globs and ignores, compiled: decides, one path component at a time, which directories are worth
/// walking (and watching) and which files in them count.
///
/// Ignore patterns follow `.gitignore`: a pattern with no `/` but a trailing one (`node_modules/`) is a
/// directory name excluded at any depth; one with no `/` at all (`*.pyc`, `4913`) is a name excluded at any
/// depth, file or directory; anything else (`build/gen/`, `docs/*.md`, `**/tmp`) is anchored at the root, and
/// a directory it matches is excluded with everything inside.
struct WatchRules: Sendable {
    /// Always excluded, in addition to the user's ignores.
    static let defaultIgnores = [
        ".git/", ".hg/", ".svn/", "__pycache__/", "node_modules/", ".venv/", "venv/", ".build/", ".tox/",
        ".nox/", ".mypy_cache/", ".pytest_cache/", "*.pyc", "*.swp", "*.swx", "*~", ".#*", "4913", ".DS_Store",
    ]

    let globs: GlobSet
    /// Names excluded at any depth (files and directories).
    let ignoredNames: GlobSet
    /// Directory names excluded at any depth.
    let ignoredDirectoryNames: GlobSet
    /// Paths excluded relative to the root, each also as `pattern/**` so that a directory it names is excluded
    /// with its contents.
    let ignoredPaths: GlobSet

    init(globs: [String], ignore: [String]) throws(SuperwatchError) {
        self.globs = try GlobSet(globs)
        var names: [String] = []
        var directoryNames: [String] = []
        var paths: [String] = []
        for pattern in WatchRules.defaultIgnores + ignore {
            var body = Substring(pattern)
            while body.hasPrefix("./") { body.removeFirst(2) }
            let anchored = body.hasPrefix("/")
            while body.hasPrefix("/") { body.removeFirst() }
            let directoryOnly = body.hasSuffix("/")
            while body.hasSuffix("/") { body.removeLast() }
            if body.isEmpty {
                throw SuperwatchError(.invalidConfig, "empty ignore pattern '\(pattern)'")
            }
            if !anchored && !body.contains("/") {
                if directoryOnly { directoryNames.append(String(body)) } else { names.append(String(body)) }
            } else {
                if !directoryOnly { paths.append(String(body)) }
                paths.append(body + "/**")
            }
        }
        ignoredNames = try GlobSet(names)
        ignoredDirectoryNames = try GlobSet(directoryNames)
        ignoredPaths = try GlobSet(paths)
    }

    init(_ spec: WatchSpec) throws(SuperwatchError) {
        try self.init(globs: spec.globs, ignore: spec.ignore)
    }

    /// Whether the ignores exclude file `path` (absolute), whatever the globs say: for files added one at a time
    /// (the modules a `werkzeug:` app imported), as Werkzeug's `exclude_patterns` does for its reloader. Under
    /// `root` every ignore applies to the path relative to it; outside, where patterns relative to the root
    /// cannot reach, a pattern without `/` still excludes the file by its name.
    func ignores(file path: String, root: String) -> Bool {
        let prefix = root == "/" ? "/" : root + "/"
        guard path.hasPrefix(prefix) else {
            return ignoredNames.acceptsAfter(ignoredNames.initial, String(path.split(separator: "/").last ?? ""))
        }
        var components = path.dropFirst(prefix.count).split(separator: "/").map(String.init)
        guard let name = components.popLast() else { return false }
        var state = ignoredPaths.initial
        for directory in components {
            if ignoredDirectoryNames.acceptsAfter(ignoredDirectoryNames.initial, directory)
                || ignoredNames.acceptsAfter(ignoredNames.initial, directory)
            {
                return true
            }
            state = ignoredPaths.advance(state, directory)
            if ignoredPaths.matchesEverythingBelow(state) { return true }
        }
        return ignoredNames.acceptsAfter(ignoredNames.initial, name) || ignoredPaths.acceptsAfter(state, name)
    }

    /// Where the walk stands in one directory: its path relative to the root and the automaton states
    /// reached there.
    struct Cursor: Sendable {
        /// Relative to the root, `/`-separated; empty for the root itself.
        var path: String
        var watch: GlobSet.State
        var ignore: GlobSet.State

        func childPath(_ name: String) -> String { path.isEmpty ? name : path + "/" + name }
    }

    /// The root's cursor, or nil when no glob can match anything.
    var rootCursor: Cursor? {
        guard globs.canMatchBelow(globs.initial) else { return nil }
        return Cursor(path: "", watch: globs.initial, ignore: ignoredPaths.initial)
    }

    /// The cursor of subdirectory `name`, or nil when it is ignored or nothing below it can match: then it is
    /// neither walked nor watched.
    func enter(_ cursor: Cursor, directory name: UnsafeBufferPointer<UInt8>) -> Cursor? {
        if ignoredDirectoryNames.matchesName(name) || ignoredNames.matchesName(name) { return nil }
        let watch = globs.advance(cursor.watch, name)
        guard globs.canMatchBelow(watch) else { return nil }
        let ignore = ignoredPaths.advance(cursor.ignore, name)
        if ignoredPaths.matchesEverythingBelow(ignore) { return nil }
        return Cursor(path: cursor.childPath(String(decoding: name, as: UTF8.self)), watch: watch, ignore: ignore)
    }

    func enter(_ cursor: Cursor, directory name: String) -> Cursor? {
        var name = name
        return name.withUTF8 { enter(cursor, directory: $0) }
    }

    /// Whether file `name` in the cursor's directory counts.
    func matchesFile(_ cursor: Cursor, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        globs.acceptsAfter(cursor.watch, name)
            && !ignoredNames.matchesName(name)
            && !ignoredPaths.acceptsAfter(cursor.ignore, name)
    }

    func matchesFile(_ cursor: Cursor, _ name: String) -> Bool {
        var name = name
        return name.withUTF8 { matchesFile(cursor, $0) }
    }
}
