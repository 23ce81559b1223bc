import Foundation
import SuperwatchCore

/// Completes `up NAME`: the processes (and, for replicated ones, their `NAME.N` copies) of the config that the
/// command line being completed names with `-f`/`--file`, else of the one `up` would find in the current
/// directory. `words` is the whole command line as the shell split it, still quoted; `index` is the word being
/// completed, which is skipped when looking for `-f`.
///
/// A config that cannot be found or read completes nothing: a completion that printed the error would write
/// it into the middle of the user's command line, and running the command shows the error properly.
@Sendable func processNameCompletions(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
    let home = ProcessInfo.processInfo.environment["HOME"]
    let file = configFileNamed(in: words, completing: index).map { ShellWord.unquote($0, home: home) }
    guard let path = try? ConfigLoader.locate(explicit: file, in: "."),
        let config = try? ConfigLoader.load(path: path)
    else { return [] }
    var names = config.processes.map(\.name)
    if let planned = try? StackPlan.make(config) {
        names += planned.processes.filter { $0.replicaOf != nil }.map(\.name)
    }
    return names.filter { $0.hasPrefix(prefix) }
}

/// The value of the last `-f FILE`, `-fFILE`, `--file FILE` or `--file=FILE` in `words` before a `--`, as
/// typed, not counting the word at `completing`.
func configFileNamed(in words: [String], completing: Int) -> String? {
    var file: String?
    var index = 1
    while index < words.count {
        defer { index += 1 }
        let word = words[index]
        if word == "--" { break }
        if index == completing { continue }
        if word == "-f" || word == "--file" {
            // bash splits `--file=X` into `--file`, `=`, `X` (`=` is in COMP_WORDBREAKS); zsh and fish do not.
            if index + 1 < words.count && words[index + 1] == "=" { index += 1 }
            if index + 1 < words.count && index + 1 != completing { file = words[index + 1] }
            index += 1
        } else if word.hasPrefix("--file=") {
            file = String(word.dropFirst("--file=".count))
        } else if word.hasPrefix("-f"), !word.hasPrefix("--") {
            file = String(word.dropFirst(2))
        }
    }
    return file
}
