import Testing

@testable import SuperwatchCore

/// The report a `werkzeug:` bootstrap writes (`superwatch-werkzeug.py`), read as the I/O loop reads it: in
/// chunks cut anywhere.
@Suite struct BootstrapReportTests {
    private func feed(_ parser: inout BootstrapReport.Parser, _ text: String) -> BootstrapReport? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { parser.consume(UnsafeRawBufferPointer($0)) }
    }

    @Test func aLineCutBetweenReadsIsReportedWholeOnceItEnds() {
        var parser = BootstrapReport.Parser()
        #expect(feed(&parser, "\(PythonProtocol.reportFile) /app/mod") == nil)
        let first = feed(&parser, "els.py\n\(PythonProtocol.reportPreload) fla")
        #expect(first?.files == ["/app/models.py"])
        #expect(first?.preloads == [])
        let second = feed(&parser, "sk\n\(PythonProtocol.reportFile) /app/a b.py\n")
        #expect(second?.preloads == ["flask"])
        #expect(second?.files == ["/app/a b.py"], "a path keeps its spaces")
    }

    @Test func linesOfOtherKindsReportNothing() {
        var parser = BootstrapReport.Parser()
        #expect(feed(&parser, "hello world\n\(PythonProtocol.reportFile)\nfile\n") == nil)
        #expect(BootstrapReport(lines: "filex /a\npreloadx b\n").isEmpty)
    }

    @Test func filesAndPreloadsAreReadInOrder() {
        let report = BootstrapReport(
            lines: "file /app/app.py\npreload flask\nfile /app/helpers.py\npreload werkzeug\n")
        #expect(report.files == ["/app/app.py", "/app/helpers.py"])
        #expect(report.preloads == ["flask", "werkzeug"])
        #expect(!report.isEmpty)
    }

    @Test func linesOfOtherKindsAndKindsWithoutASpaceAreSkipped() {
        let report = BootstrapReport(lines: "\nfile\nfiles /x\npreloadflask\ngo {}\nFILE /y\n")
        #expect(report.isEmpty)
    }

    @Test func aLoadedFileIsWatchedWithTheStampItHadWhenRead() {
        let report = BootstrapReport(
            lines: "file /app/app.py\nloaded 1700000000123456789 42 /app/a dir/views.py\nloaded 5 0 /app/empty.py\n")
        #expect(report.files == ["/app/app.py", "/app/a dir/views.py", "/app/empty.py"], "a path keeps its spaces")
        #expect(
            report.loaded == [
                "/app/a dir/views.py": LoadedStamp(modified: 1_700_000_000_123_456_789, size: 42),
                "/app/empty.py": LoadedStamp(modified: 5, size: 0),
            ])
    }

    @Test func aLoadedLineWhoseNumbersDoNotParseIsSkipped() {
        let report = BootstrapReport(
            lines: "loaded x 1 /a.py\nloaded 1 /b.py\nloaded 1 2 \nloaded 1  /c.py\nloaded1 2 /d.py\n")
        #expect(report.isEmpty)
        #expect(report.loaded.isEmpty)
    }
}
