import Foundation
import SuperwatchCore
import Testing

@Suite struct DotEnvTests {
    func parse(_ text: String) throws -> [String] {
        try DotEnv.parse(text, file: ".env").map { "\($0.key)=\($0.value)" }
    }

    /// The error `text` fails with, as the user reads it.
    func failure(_ text: String) -> String? {
        do {
            _ = try DotEnv.parse(text, file: ".env")
            return nil
        } catch {
            #expect(error.code == .invalidConfig)
            return error.description
        }
    }

    // MARK: - Accepted syntax

    @Test func plainAssignments() throws {
        #expect(try parse("A=1\nB=two words\nC=") == ["A=1", "B=two words", "C="])
    }

    @Test func blankLinesAndCommentLinesAreSkipped() throws {
        #expect(try parse("\n# a comment\n   \n\t# indented comment\nA=1\n\n") == ["A=1"])
    }

    @Test func exportPrefix() throws {
        #expect(try parse("export A=1\nexport\tB=2\n  export   C = 3") == ["A=1", "B=2", "C=3"])
    }

    @Test func aVariableCalledExport() throws {
        #expect(try parse("export=1\nexport = 2\nexport  =3") == ["export=1", "export=2", "export=3"])
    }

    @Test func whitespaceAroundNameAndUnquotedValueIsTrimmed() throws {
        #expect(try parse("  A =   spaced out  \t\nB\t=\tx") == ["A=spaced out", "B=x"])
    }

    @Test func trailingCommentAfterUnquotedValue() throws {
        #expect(
            try parse("A=1 # the answer\nB=2\t#tab before\nC= # only a comment\nD=\t#") == ["A=1", "B=2", "C=", "D="])
    }

    @Test func hashWithoutBlankBeforeItIsPartOfTheValue() throws {
        #expect(
            try parse("URL=http://localhost/#top\nCOLOR=#ff0000") == ["URL=http://localhost/#top", "COLOR=#ff0000"])
    }

    @Test func singleQuotesAreLiteral() throws {
        let pairs = try DotEnv.parse(#"A='  $HOME \n "x" # not a comment '"#, file: ".env")
        #expect(pairs.map(\.value) == [#"  $HOME \n "x" # not a comment "#])
    }

    @Test func doubleQuotesWithEscapes() throws {
        let pairs = try DotEnv.parse(#"A="line1\nline2\tx \"q\" back\\slash \$HOME""#, file: ".env")
        #expect(pairs.map(\.value) == ["line1\nline2\tx \"q\" back\\slash $HOME"])
    }

    @Test func unknownEscapesAreKeptAsWritten() throws {
        let pairs = try DotEnv.parse(#"A="C:\dir\x""#, file: ".env")
        #expect(pairs.map(\.value) == [#"C:\dir\x"#])
    }

    @Test func quotedValuesKeepTheirSpacesAndMayBeFollowedByAComment() throws {
        #expect(try parse("A=\"  x  \"  # comment\nB='  y  '\t#c\nC=\"\"\nD=''") == ["A=  x  ", "B=  y  ", "C=", "D="])
    }

    func expanded(_ text: String, _ environment: [String: String] = [:]) throws -> [String] {
        try DotEnv.parse(text, file: ".env", environment: environment).map { "\($0.key)=\($0.value)" }
    }

    @Test func bracedReferencesExpandFromEarlierLinesThenTheEnvironment() throws {
        #expect(
            try expanded("A=1\nB=${A}/${HOME}\nC=\"${B}!\"", ["HOME": "/h", "A": "env"]) == [
                "A=1", "B=1//h", "C=1//h!",
            ])
        #expect(try expanded("B=${A}\nA=1", ["A": "env"]) == ["B=env", "A=1"], "a later line is not seen yet")
        #expect(try expanded("A=${UNSET}x") == ["A=x"])
    }

    @Test func aDefaultReplacesAnUnsetOrEmptyValue() throws {
        #expect(
            try expanded("A=${U:-d}\nB=${E:-d}\nC=${S:-d}\nD=\"${U:-two words}\"", ["E": "", "S": "s"])
                == ["A=d", "B=d", "C=s", "D=two words"])
    }

    @Test func singleQuotesEscapedDollarsAndBareDollarsAreNotExpanded() throws {
        #expect(
            try expanded(#"A='${X}'\#nB="\${X}"\#nC=$X\#nD=${X}$"#, ["X": "x"]) == ["A=${X}", "B=${X}", "C=$X", "D=x$"])
    }

    @Test func aReferenceOtherThanTheTwoFormsIsAnErrorAtItsDollar() {
        let advice =
            "write ${NAME} or ${NAME:-default}; for a literal `$` write \\$ inside double quotes, or use single quotes"
        #expect(failure("A=x${B") == ".env:1:4: error: `${` without a closing `}`; \(advice)")
        #expect(failure("A=\"${}\"") == ".env:1:4: error: `${}` is not supported: `` is not a variable name; \(advice)")
        #expect(
            failure("A=${B-c}") == ".env:1:3: error: `${B-c}` is not supported: `B-c` is not a variable name; \(advice)"
        )
        #expect(failure("\nA=${B:?c}") == ".env:2:3: error: `${B:?c}` is not supported; \(advice)")
    }

    @Test func quotedValuesMaySpanLines() throws {
        #expect(try parse("A=\"first\nsecond\"\nB='x\r\ny'\nC=3") == ["A=first\nsecond", "B=x\r\ny", "C=3"])
    }

    @Test func aLoneCarriageReturnEndsALine() throws {
        #expect(try parse("A=1\rB=2\r\rC=\"3\"\r") == ["A=1", "B=2", "C=3"])
        #expect(
            failure("A=1\rB\r")
                == ".env:2:1: error: expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment"
        )
    }

    @Test func moreEscapesInDoubleQuotesAndTwoInSingleQuotes() throws {
        let pairs = try DotEnv.parse(#"A="\r\a\b\f\v\'"\#nB='it\'s \\ \n'"#, file: ".env")
        #expect(pairs.map(\.value) == ["\r\u{07}\u{08}\u{0C}\u{0B}'", #"it's \ \n"#])
    }

    @Test func valueMayContainEquals() throws {
        #expect(try parse("DSN=postgres://u:p@h/db?sslmode=disable") == ["DSN=postgres://u:p@h/db?sslmode=disable"])
    }

    @Test func repeatedKeysAreAllReturnedInOrder() throws {
        #expect(try parse("A=1\nB=2\nA=3") == ["A=1", "B=2", "A=3"])
    }

    @Test func crlfLineEndingsAndByteOrderMark() throws {
        #expect(try parse("\u{FEFF}A=1\r\nB=\"2\"\r\n# c\r\n") == ["A=1", "B=2"])
    }

    @Test func emptyText() throws {
        #expect(try parse("").isEmpty)
        #expect(try parse("# only comments\n\n").isEmpty)
    }

    @Test func nonASCIIValues() throws {
        #expect(try parse("GREETING=grüß dich ✓") == ["GREETING=grüß dich ✓"])
    }

    // MARK: - Errors, each at its line and column

    @Test func lineWithoutEquals() {
        #expect(
            failure("A=1\n  JUST_A_NAME\n")
                == ".env:2:3: error: expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment"
        )
    }

    @Test func exportWithoutAssignment() {
        #expect(
            failure("export A")
                == ".env:1:1: error: expected KEY=VALUE but this line has no `=`; write it as NAME=value, or start it with `#` to make it a comment"
        )
    }

    @Test func missingName() {
        #expect(failure("\n\n  =value") == ".env:3:3: error: missing variable name before `=`; write it as NAME=value")
    }

    @Test func nameStartingWithADigit() {
        #expect(
            failure("1ABC=x")
                == ".env:1:1: error: `1ABC` is not a valid variable name; use letters, digits and `_`, not starting with a digit"
        )
    }

    @Test func nameWithABadCharacterPointsAtIt() {
        #expect(
            failure("OK=1\nexport MY-VAR=x")
                == ".env:2:10: error: `MY-VAR` is not a valid variable name; use letters, digits and `_`, not starting with a digit"
        )
        #expect(
            failure("TWO WORDS=x")
                == ".env:1:4: error: `TWO WORDS` is not a valid variable name; use letters, digits and `_`, not starting with a digit"
        )
        #expect(
            failure("NÄME=x")
                == ".env:1:2: error: `NÄME` is not a valid variable name; use letters, digits and `_`, not starting with a digit"
        )
    }

    @Test func unterminatedSingleQuote() {
        #expect(
            failure("A=1\nB = 'open\nC=2")
                == ".env:2:5: error: unterminated single-quoted value: no closing `'` before the end of the file; add one (a quoted value may span lines)"
        )
    }

    @Test func unterminatedDoubleQuote() {
        #expect(
            failure("A=\"open")
                == ".env:1:3: error: unterminated double-quoted value: no closing `\"` before the end of the file; add one (a quoted value may span lines)"
        )
    }

    @Test func escapedQuoteDoesNotCloseTheValue() {
        #expect(
            failure(#"A="ends with \""#)
                == #".env:1:3: error: unterminated double-quoted value: no closing `"` before the end of the file; add one (a quoted value may span lines)"#
        )
    }

    @Test func errorsAfterAMultiLineValueAreAtTheirOwnLine() {
        #expect(
            failure("A=\"first\nsecond\" x")
                == ".env:2:9: error: unexpected text after the closing quote; put the whole value inside the quotes, or start a comment with `#`"
        )
    }

    @Test func textAfterClosingQuote() {
        #expect(
            failure("A='x'y")
                == ".env:1:6: error: unexpected text after the closing quote; put the whole value inside the quotes, or start a comment with `#`"
        )
        #expect(
            failure("\nB=\"x\"  more")
                == ".env:2:8: error: unexpected text after the closing quote; put the whole value inside the quotes, or start a comment with `#`"
        )
    }

    @Test func columnsCountUnicodeScalars() {
        #expect(
            failure("A=\"ü\" é")
                == ".env:1:7: error: unexpected text after the closing quote; put the whole value inside the quotes, or start a comment with `#`"
        )
    }

    @Test func errorsNameTheFileAsGiven() {
        do {
            _ = try DotEnv.parse("oops", file: "config/dev.env")
            Issue.record("expected an error")
        } catch {
            #expect(error.location == SourceLocation(file: "config/dev.env", line: 1, column: 1))
            #expect(error.exitStatus == 2)
        }
    }

    // MARK: - load(path:)

    @Test func loadReadsAFileAndTheLastValueWins() throws {
        let path = try temporaryFile("A=1\nexport B='two'\nA=3\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try DotEnv.load(path: path) == ["A": "3", "B": "two"])
    }

    @Test func loadReportsErrorsWithThePath() throws {
        let path = try temporaryFile("A=1\nB\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try DotEnv.load(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.location == SourceLocation(file: path, line: 2, column: 1))
        }
    }

    @Test func loadOfAMissingFile() {
        do {
            _ = try DotEnv.load(path: "/nonexistent/superwatch-test.env")
            Issue.record("expected an error")
        } catch {
            #expect(
                error.description
                    == "/nonexistent/superwatch-test.env: error: env file /nonexistent/superwatch-test.env does not exist; create it or remove it from the config"
            )
        }
    }

    @Test func aNULIsAnErrorAtItsPositionNotACutValue() {
        #expect(
            failure("A=1\nB=x\u{0}y\n") == ".env:2:4: error: a NUL character cannot be passed to a process; remove it")
    }

    @Test func aVariableTooLongForTheKernelIsAnErrorNamingIt() throws {
        // KEY=VALUE, at most MAX_ARG_STRLEN - 1 bytes.
        let fits = String(repeating: "v", count: ExecLimits.maximumStringLength - 3)
        #expect(try parse("A=1\nXY=\(fits)") == ["A=1", "XY=\(fits)"])
        #expect(
            failure("A=1\n  XY=\"\(fits)v\"")
                == ".env:2:3: error: XY=VALUE is 131072 bytes; the kernel passes at most 131071 bytes per environment variable (MAX_ARG_STRLEN), so no process could be started with it"
        )
    }

    @Test func loadOfAFileThatIsNotUTF8() throws {
        let path = NSTemporaryDirectory() + "superwatch-\(UUID().uuidString).env"
        try Data([0x41, 0x3D, 0xFF, 0xFE]).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try DotEnv.load(path: path)
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "\(path):1:3: error: invalid UTF-8 (byte 0xFF); save the file as UTF-8")
        }
    }

    func temporaryFile(_ contents: String) throws -> String {
        let path = NSTemporaryDirectory() + "superwatch-\(UUID().uuidString).env"
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
