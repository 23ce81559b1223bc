import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

/// Runs a table of `.env` texts through python-dotenv's `dotenv_values` and through superwatch's reader and
/// compares what each makes of them. Most agree; the rest are the documented differences (README, "Env
/// files"), each with the reason superwatch differs.
@Suite struct DotEnvPythonDotenvTests {
    /// The environment both readers expand `${NAME}` from.
    static let environment = ["SW_SET": "from-env", "SW_EMPTY": "", "SW_SHARED": "env"]

    /// Inputs both read the same way: the cases of python-dotenv's own test_parser.py and test_variables.py
    /// that superwatch accepts, plus the interpolation and multi-line forms compose files use.
    static let agreed: [String] = [
        "", "# comment", "  \n\t\n", "a=b", "a=b\n", "a=b\r\n", "a=b\rc=d", "a=b\r\nc=d", "a=b\n\nc=d",
        "export a=b", "export  a=b", " a=b", "a =b", "a= b", "a=b ", "a = b c ", "a=b#c", "a=b # c", "a=b\t# c",
        "a=#b", "a=", "a=\nb=c", "a='b'", "a='b'\n", "a='b' # c", "a='b'# c", "a=\"b\"", "a=\"b\"#c",
        "a=''", "a=\"\"", "a='  b  '", "a=\"  b  \"", "a='b\\nc'", "a='b\\'c'", "a='b\\\\c'", "a='\\d'",
        "a=\"b\\nc\"", "a=\"b\\tc\"", "a=\"b\\\"c\"", "a=\"b\\'c\"", "a=\"b\\\\c\"", "a=\"\\d\"", "a=\"b\\rc\"",
        "a=\"b\\fc\\vd\\ae\\bf\"", "a=\"b\nc\"", "a='b\nc'", "a=\"b\r\nc\"", "a=\"b\rc\"", "a=\"\nb\n\"\nc=d",
        "a=b=c", "a=b'c", "a=b\"c", "a=\"b#c\"", "a=é", "a=\"é\"", "a=\"b\\\\\"", "a=b\nexport c=d",
        "a=${SW_SET}", "a=\"${SW_SET}\"", "a=x${SW_SET}y", "a=${SW_UNSET}", "a=${SW_UNSET:-d}",
        "a=${SW_SET:-d}", "a=\"${SW_UNSET:-two words}\"", "a=${SW_UNSET:-}", "a=1\nb=${a}", "a=1\nb=\"${a}2\"",
        "SW_SHARED=file\nb=${SW_SHARED}", "b=${c}\nc=1", "a=1\na=${a}2", "a=$SW_SET", "a=\"$SW_SET\"", "a=$",
        "a=\"$\"", "a=${SW_SET}${SW_SET}", "a=$${SW_SET}", "a=\"${SW_UNSET:-x y}\" # c", "a=a$b{c}",
        "a=b\u{00A0} c", "# comment\na=\"b\nc\"\nd=e\n", "a=b\n# comment 1", "# comment 1\n# comment 2",
        "export export_a=1", "export port=8000", "a=\"S3cr3t_P4ssw#rD\" #\nb=c",
    ]

    /// Inputs superwatch reads differently, with what it makes of them ("error" when it refuses the file)
    /// and why.
    static let different: [(input: String, superwatch: String, why: String)] = [
        ("a='${SW_SET}'", "a=${SW_SET}", "single quotes are literal, as in compose and the shell"),
        ("a=${SW_EMPTY:-d}", "a=d", ":- replaces an empty value too, as in compose and the shell"),
        ("a=\"\\$b\"", "a=$b", "\\$ is the escape for a literal $ in double quotes"),
        ("a=\"\\${SW_SET}\"", "a=${SW_SET}", "\\$ is the escape for a literal $ in double quotes"),
        (
            "\u{FEFF}a=b", "a=b",
            "a byte order mark is not part of the first name (python-dotenv's own tests expect that)"
        ),
        ("a= #b", "a=", "a # after blanks starts a comment, even right after =; python-dotenv's own tests expect that"),
        ("a=${SW_UNSET", "error", "an unclosed ${ is a mistake; compose refuses it"),
        ("a=${}", "error", "no variable name; compose refuses it"),
        ("a=${b-c}", "error", "compose's ${b-c}: python-dotenv looks up a variable named b-c"),
        ("a=${b:?c}", "error", "compose's ${b:?c}: python-dotenv keeps it as written"),
        ("a\nc=d", "error", "a line without =: python-dotenv sets no value, compose refuses it"),
        ("'a'=b", "error", "a quoted name"),
        ("a-b=c", "error", "not a variable name a process can be given"),
        ("uglyKey[%$=\"S3cr3t\" #\na=b", "error", "not a variable name a process can be given"),
        ("[=b", "error", "not a variable name a process can be given"),
        (" export 'a'=b", "error", "a quoted name"),
        ("a: b\nc=d", "error", "python-dotenv skips the line with a warning and reads on"),
        ("a=  # comment", "a=", "a # after blanks starts a comment; python-dotenv's own tests expect that"),
        ("=b\nc=d", "error", "python-dotenv skips the line with a warning and reads on"),
        ("a=\"b\nc=d", "error", "python-dotenv skips the line with a warning and reads on"),
        ("a='b'c\nc=d", "error", "python-dotenv skips the line with a warning and reads on"),
        ("a=\"b\" c\nc=d", "error", "python-dotenv skips the line with a warning and reads on"),
    ]

    /// What python-dotenv makes of each input: its variables in order as `KEY=VALUE` joined by `|` (a name
    /// it sets without a value as `KEY`), after `skipped|` when it skipped a line it could not parse.
    func pythonDotenv(_ inputs: [String]) throws -> [String] {
        let script = """
            import io, json, sys
            from dotenv import dotenv_values
            from dotenv.parser import parse_stream
            out = []
            for text in json.load(sys.stdin):
                values = dotenv_values(stream=io.StringIO(text))
                skipped = any(b.error for b in parse_stream(io.StringIO(text)))
                pairs = [k if v is None else f"{k}={v}" for k, v in values.items()]
                out.append("|".join((["skipped"] if skipped else []) + pairs))
            json.dump(out, sys.stdout)
            """
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let variables = Self.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let result = try runCommand(
            ["-i", "PATH=\(path)"] + variables + ["python3", "-c", script],
            input: try JSONEncoder().encode(inputs))
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode([String].self, from: Data(result.stdout.utf8))
    }

    /// The same summary of superwatch's reading, or `error` when it refuses the text.
    func superwatch(_ text: String) -> String {
        guard let pairs = try? DotEnv.parse(text, file: ".env", environment: Self.environment) else { return "error" }
        var order: [String] = []
        var values: [String: String] = [:]
        for (key, value) in pairs {
            if values[key] == nil { order.append(key) }
            values[key] = value
        }
        return order.map { "\($0)=\(values[$0]!)" }.joined(separator: "|")
    }

    @Test(.enabled(if: pythonCanImport("dotenv"), "needs python-dotenv"))
    func superwatchReadsWhatPythonDotenvReadsTheSameWay() throws {
        let expected = try pythonDotenv(Self.agreed)
        for (input, python) in zip(Self.agreed, expected) {
            #expect(superwatch(input) == python, "input: \(escapingForTest(input))")
        }
    }

    @Test(.enabled(if: pythonCanImport("dotenv"), "needs python-dotenv"))
    func theDocumentedDifferencesAreRealAndAsDocumented() throws {
        let python = try pythonDotenv(Self.different.map(\.input))
        for (entry, python) in zip(Self.different, python) {
            #expect(superwatch(entry.input) == entry.superwatch, "input: \(escapingForTest(entry.input))")
            #expect(
                python != entry.superwatch, "no longer a difference (\(entry.why)): \(escapingForTest(entry.input))")
        }
    }

    func escapingForTest(_ text: String) -> String { text.debugDescription }
}
