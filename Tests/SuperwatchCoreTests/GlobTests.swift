import Testing

@testable import SuperwatchCore

@Suite("Glob")
struct GlobTests {
    static let cases: [(pattern: String, path: String, matches: Bool)] = [
        ("*.py", "app.py", true),
        ("*.py", ".hidden.py", true),
        ("*.py", "a/app.py", false),
        ("*.py", "app.pyc", false),
        ("*.py", "app.py/x", false),
        ("**/*.py", "app.py", true),
        ("**/*.py", "a/b/app.py", true),
        ("**/*.py", "a/b/app.js", false),
        ("src/**/*.py", "src/x.py", true),
        ("src/**/*.py", "src/a/b/x.py", true),
        ("src/**/*.py", "lib/x.py", false),
        ("src/**/*.py", "srcx/x.py", false),
        ("src/", "src/a/b.txt", true),
        ("src/", "src/b.txt", true),
        ("src/", "src", false),
        ("src/**", "src/x", true),
        ("src/**", "srcx/y", false),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/x/y/c", false),
        ("**", "x", true),
        ("**", "a/b/c", true),
        ("**/test_*.py", "tests/unit/test_x.py", true),
        ("**/**/*.py", "a.py", true),
        ("?.txt", "a.txt", true),
        ("?.txt", "ab.txt", false),
        ("?.txt", "é.txt", true),
        ("?.txt", ".txt", false),
        ("[abc].c", "b.c", true),
        ("[abc].c", "d.c", false),
        ("[a-z]1", "q1", true),
        ("[a-z]1", "Q1", false),
        ("[!a]x", "bx", true),
        ("[!a]x", "ax", false),
        ("[^a]x", "ax", false),
        ("[]]", "]", true),
        ("[!]]", "a", true),
        ("[a-]", "-", true),
        ("[à-ö]", "é", true),
        ("*.{py,toml}", "pyproject.toml", true),
        ("*.{py,toml}", "x.py", true),
        ("*.{py,toml}", "x.js", false),
        ("{src,lib/**}/*.py", "src/a.py", true),
        ("{src,lib/**}/*.py", "lib/x/y/a.py", true),
        ("{src,lib/**}/*.py", "lib/a.py", true),
        ("{src,lib/**}/*.py", "src/x/a.py", false),
        ("{a,b{c,d}}.txt", "bd.txt", true),
        ("{a,b{c,d}}.txt", "a.txt", true),
        ("{a,b{c,d}}.txt", "b.txt", false),
        ("{,x}y", "y", true),
        ("a*b*c", "axxbyyc", true),
        ("a*b*c", "abcb", false),
        ("*a*", "banana", true),
        ("*.*", "Makefile", false),
        ("\\*.txt", "*.txt", true),
        ("\\*.txt", "a.txt", false),
        ("\\{a,b}", "{a,b}", true),
        ("./app.py", "app.py", true),
        ("/app.py", "app.py", true),
        ("Makefile", "Makefile", true),
        ("Makefile", "sub/Makefile", false),
        ("a/b", "a//b", true),
        ("*", "dir/file", false),
        ("*/*", "dir/file", true),
    ]

    @Test(arguments: cases)
    func matching(_ example: (pattern: String, path: String, matches: Bool)) throws {
        let glob = try Glob(example.pattern)
        #expect(glob.matches(example.path) == example.matches, "\(example.pattern) vs \(example.path)")
    }

    @Test(arguments: ["[abc", "src/[a", "{a,b", "*.{py", "a{b{c}", "", "[z-a]", "[a/b]"])
    func badPatternsAreConfigErrors(_ pattern: String) {
        #expect {
            _ = try Glob(pattern)
        } throws: { error in
            guard let error = error as? SuperwatchError else { return false }
            return error.code == .invalidConfig && error.message.contains("'\(pattern)'")
        }
    }

    @Test func bracesBeyondTheLimitAreRejected() {
        let pattern = String(repeating: "{a,b}", count: 13)
        #expect(throws: SuperwatchError.self) { _ = try Glob(pattern) }
    }

    /// Which directories a spec walks (and so watches): only those that can hold a match.
    @Test(arguments: [
        (["src/**/*.py"], "src", true),
        (["src/**/*.py"], "src/a/b", true),
        (["src/**/*.py"], "lib", false),
        (["*.py"], "a", false),
        (["**/*.py"], "a/b", true),
        (["**/*.py"], "a/node_modules", false),
        (["**/*.py"], "node_modules", false),
        (["**"], "x/.git", false),
        (["**"], "venv", false),
        (["**"], ".nox", false),
        (["**"], "a/.nox", false),
        (["**"], "__pycache__", false),
        (["{src,lib/**}/*.py"], "lib/deep/er", true),
        (["{src,lib/**}/*.py"], "src/deep", false),
        (["config/settings.toml"], "config", true),
        (["config/settings.toml"], "other", false),
    ])
    func directoriesWorthWalking(_ globs: [String], _ directory: String, _ walked: Bool) throws {
        let rules = try WatchRules(globs: globs, ignore: [])
        var cursor = rules.rootCursor
        for name in directory.split(separator: "/") {
            cursor = cursor.flatMap { rules.enter($0, directory: String(name)) }
        }
        #expect((cursor != nil) == walked)
    }

    @Test(arguments: [
        ("app.py", true),
        ("x.pyc", false),
        ("a/b.swp", false),
        ("a/.#b.py", false),
        ("4913", false),
        ("sub/4913", false),
        ("notes~", false),
        (".DS_Store", false),
        ("build/out.txt", false),
        ("deep/build/out.txt", false),
        ("docs/readme.md", false),
        ("sub/docs/readme.md", true),
        ("server.log", false),
        ("gen/x.py", false),
        ("generated/x.py", true),
        ("node_modules/x.js", false),
        ("a/node_modules/b/x.js", false),
        (".nox/tests/lib/x.py", false),
    ])
    func ignores(_ path: String, _ counts: Bool) throws {
        let rules = try WatchRules(globs: ["**"], ignore: ["build/", "docs/*.md", "*.log", "/gen"])
        var components = path.split(separator: "/").map(String.init)
        let name = components.removeLast()
        var cursor = rules.rootCursor
        for directory in components {
            cursor = cursor.flatMap { rules.enter($0, directory: directory) }
        }
        let matched = cursor.map { rules.matchesFile($0, name) } ?? false
        #expect(matched == counts)
    }

    /// Files added one at a time (the modules a `werkzeug:` app imported) are subject to the same ignores as
    /// the walk, relative to the root; outside it only patterns without `/` apply, by the file's name.
    @Test(arguments: [
        ("/p/app.py", false),
        ("/p/settings_local.py", true),
        ("/p/sub/settings_local.py", true),
        ("/p/build/gen.py", true),
        ("/p/a/build/gen.py", true),
        ("/p/docs/conf.md", true),
        ("/p/sub/docs/conf.md", false),
        ("/p/gen/x.py", true),
        ("/p/generated/x.py", false),
        ("/p/migrations/0001.py", true),
        ("/p/migrations.py", false),
        ("/p/.nox/lib/x.py", true),
        ("/p/x.pyc", true),
        ("/elsewhere/settings_local.py", true),
        ("/elsewhere/build/gen.py", false),
        ("/elsewhere/migrations/0001.py", false),
    ])
    func ignoresAddedFiles(_ path: String, _ ignored: Bool) throws {
        let rules = try WatchRules(
            globs: [], ignore: ["build/", "docs/*.md", "settings_local.py", "/gen", "migrations/**"])
        #expect(rules.ignores(file: path, root: "/p") == ignored)
    }
}
