import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

@Suite struct ShellWordTests {
    @Test(arguments: [
        ("plain", "plain"),
        ("", "''"),
        ("/usr/local/bin:/usr/bin", "/usr/local/bin:/usr/bin"),
        ("a=b,c@d%e+f", "a=b,c@d%e+f"),
        ("hello world", "'hello world'"),
        ("it's", #"'it'\''s'"#),
        ("$HOME `id` *", "'$HOME `id` *'"),
        ("caf\u{e9}", "'caf\u{e9}'"),
        ("line1\nline2", #"$'line1\nline2'"#),
        ("tab\there, it's \\ \u{1b}[0m", #"$'tab\there, it\'s \\ \x1b[0m'"#),
    ])
    func quotes(value: String, quoted: String) {
        #expect(ShellWord.quote(value) == quoted)
        #expect(ShellWord.unquote(quoted, home: nil) == value, "reads back")
    }

    /// The quoted words are what bash itself reads back as the value.
    @Test func bashReadsTheQuotedWordsBack() throws {
        let values = [
            "hello world", "it's", "a\nb\r\nc", "\\n is not a newline", "$(echo no) `no` ${X}", "x\u{7f}y", "\u{1}",
        ]
        for value in values {
            let result = try runCommand(["bash", "-c", "printf %s \(ShellWord.quote(value))"])
            #expect(result.status == 0)
            #expect(result.stdout == value, "\(ShellWord.quote(value))")
        }
    }

    @Test func unquotesWhatAUserTypes() {
        #expect(ShellWord.unquote(#"my\ config.yaml"#, home: "/home/u") == "my config.yaml")
        #expect(ShellWord.unquote(#""dir/my \"x\" \$y.yaml""#, home: nil) == #"dir/my "x" $y.yaml"#)
        #expect(ShellWord.unquote(#""back\slash""#, home: nil) == #"back\slash"#)
        #expect(ShellWord.unquote("~/stack/superwatch.yaml", home: "/home/u") == "/home/u/stack/superwatch.yaml")
        #expect(ShellWord.unquote("~", home: "/home/u") == "/home/u")
        #expect(ShellWord.unquote("~other/x", home: "/home/u") == "~other/x")
        #expect(ShellWord.unquote("'~/x'", home: "/home/u") == "~/x")
        #expect(ShellWord.unquote("'unterminated dir/", home: nil) == "unterminated dir/")
        #expect(ShellWord.unquote(#"$'\x41\x4'"#, home: nil) == "A\u{4}")
    }
}
