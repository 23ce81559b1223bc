import Foundation
import SuperwatchTestSupport
import Testing

@Suite struct CompletionTests {
    /// Loads the generated bash completion script and asks it, as bash's programmable completion does, for the
    /// candidates of the last word: COMP_WORDS and COMP_CWORD as bash sets them, the cursor at the end.
    static let completeScript = #"""
        bin=$1; shift
        source <("$bin" --generate-completion-script bash) || exit 1
        COMP_WORDS=("$bin" "$@")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        COMP_LINE="${COMP_WORDS[*]}"
        COMP_POINT=${#COMP_LINE}
        _superwatch "$bin" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf '%s\n' "${COMPREPLY[@]}"
        """#

    /// What bash offers for the last of `words` (typed after `superwatch`, as the shell split them), in `dir`.
    func complete(_ words: [String], in dir: TemporaryDirectory) throws -> Set<String> {
        let result = try runCommand(["bash", "\(dir.path)/complete.sh", superwatchBinary] + words, in: dir.path)
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty, "\(words): \(result.stderr)")
        return Set(result.stdout.split(separator: "\n").map(String.init))
    }

    @Test func bashCompletesProcessNamesFilesAndDirectories() throws {
        let dir = stack(
            """
            processes:
              web: {command: x, replicas: 2}
              worker: {command: x}
              api: {command: x}
            """)
        defer { dir.remove() }
        dir.write("complete.sh", Self.completeScript)
        dir.write("other dir/Procfile", "alpha: sleep 1\nbeta: sleep 2\n")
        dir.write("units/.keep", "")

        #expect(try complete(["up", ""], in: dir) == ["web", "web.1", "web.2", "worker", "api"])
        #expect(try complete(["up", "wo"], in: dir) == ["worker"])
        #expect(try complete(["up", "api", "w"], in: dir) == ["web", "web.1", "web.2", "worker"])
        // The config named on the command line, quoted as typed, in every form argument-parser accepts.
        #expect(try complete(["up", "-f", #"other\ dir/Procfile"#, ""], in: dir) == ["alpha", "beta"])
        #expect(try complete(["up", "-f", #""other dir/Procfile""#, "--timestamps", "b"], in: dir) == ["beta"])
        #expect(
            try complete(["up", "--file", "=", #"'other dir/Procfile'"#, ""], in: dir) == ["alpha", "beta"],
            "bash splits --file=X at the =")
        #expect(try complete(["up", "-f", "nosuch.yaml", ""], in: dir) == [], "no config, no names, no error")
        // -f completes files (and directories to descend into); export systemd DIR only directories.
        #expect(try complete(["up", "-f", "sup"], in: dir) == ["superwatch.yaml"])
        #expect(
            try complete(["check", "-f", ""], in: dir).isSuperset(of: ["superwatch.yaml", "other dir", "complete.sh"]))
        #expect(try complete(["export", "systemd", ""], in: dir) == ["other dir", "units"])
        #expect(try complete(["check", "--p"], in: dir) == ["--port"])
    }

    /// zsh and fish use the same hooks: files for -f, the custom completion for `up NAME`, directories for
    /// `export systemd DIR`.
    @Test func zshAndFishScriptsCompleteTheSameWay() throws {
        let dir = stack("processes:\n  web: {command: x}\n")
        defer { dir.remove() }
        let zsh = try SuperwatchRun.run(["--generate-completion-script", "zsh"], in: dir.path).stdout
        #expect(zsh.contains(#"{-f,--file}'[The config file"#) && zsh.contains(":file:_files'"))
        #expect(zsh.contains("'*:names:{__superwatch_custom_complete ---completion up -- positional@0"))
        #expect(zsh.contains("':directory:_files -/'"))
        let fish = try SuperwatchRun.run(["--generate-completion-script", "fish"], in: dir.path).stdout
        #expect(fish.contains("\"superwatch up\" f file' -s 'f' -l 'file' -d 'The config file"))
        #expect(fish.contains("---completion up -- positional@0"))
        #expect(fish.contains(#""superwatch export systemd" -eq 1' -fa '(__superwatch_complete_directories)'"#))
        for shell in ["zsh", "fish"] {
            let names = try SuperwatchRun.run(
                ["---completion", "up", "--", "positional@0", "2", "0", "superwatch", "up", ""],
                in: dir.path, environment: ["SAP_SHELL": shell])
            #expect(
                names.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                    !$0.isEmpty
                } == ["web"],
                "\(shell)")
        }
    }
}
