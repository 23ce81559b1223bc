import CSuperwatchShim
import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

private let esc = "\u{1B}"

/// What a pseudo-terminal's output becomes in the log: the chunks (as separate reads) through the filter and the
/// line splitter, as the I/O loop passes them, then the end of the output.
private func logLines(_ chunks: [String], colour: Bool = false, finish: Bool = true) -> [String] {
    var filter = TerminalFilter(keepsColour: colour)
    var splitter = LineSplitter(process: ProcessID(0), stream: .pty)
    let formatter = LogFormatter(names: ["tty"], options: LogOptions())
    var batch = OutputBatch()
    var filtered: [UInt8] = []
    for chunk in chunks {
        var bytes = Array(chunk.utf8)
        bytes.withUnsafeMutableBytes {
            if filter.filter(UnsafeRawBufferPointer($0), into: &filtered) { splitter.discardPending() }
        }
        filtered.withUnsafeBytes { splitter.consume($0, formatter: formatter, timestamp: [], into: &batch) }
    }
    if finish {
        filter.finish().withUnsafeBytes { splitter.consume($0, formatter: formatter, timestamp: [], into: &batch) }
        splitter.finish(formatter: formatter, timestamp: [], into: &batch)
    }
    return batch.lines.map { line in
        String(decoding: batch.lineBytes[line.offset..<(line.offset + line.length)], as: UTF8.self)
    }
}

@Suite struct TerminalFilterTests {
    @Test func crlfAndTheTerminalsCrCrLfBecomeLf() {
        #expect(logLines(["one\r\ntwo\r\r\nthree\n"]) == ["one", "two", "three"])
        // Cut between the CR and the LF by the reads.
        #expect(logLines(["one\r", "\ntwo\r\r", "\n"]) == ["one", "two"])
    }

    @Test func aBareCrKeepsOnlyTheLastRedrawOfTheLine() {
        #expect(logLines(["10%\r20%\r100%\r\n"]) == ["100%"])
        #expect(logLines(["done\nworking 1\rworking 2\rfinished\n"]) == ["done", "finished"])
        // The line being redrawn began in an earlier read (it waits in the splitter).
        #expect(logLines(["10%", "\r20", "%\r", "\n"]) == ["20%"])
        // Redrawn, then the output ends without a newline: the last redraw is the line.
        #expect(logLines(["1/3\r2/3\r3/3"]) == ["3/3"])
    }

    @Test func colourPassesThroughWhenTheLogIsColouredAndIsStrippedOtherwise() {
        let text = "\(esc)[31mred\(esc)[0m plain\n"
        #expect(logLines([text], colour: true) == ["\(esc)[31mred\(esc)[0m plain"])
        #expect(logLines([text], colour: false) == ["red plain"])
    }

    /// `up` keeps a terminal's colour in its records and strips it only as it prints text without colour: every
    /// SGR goes whole, nothing else does, and a line without ESC comes out as it went in.
    @Test func textWithoutColourLosesEverySGRAndNothingElse() {
        func plain(_ text: String) -> String {
            var out: [UInt8] = Array("> ".utf8)
            Array(text.utf8).withUnsafeBytes { TerminalFilter.appendWithoutColour($0, into: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        #expect(plain("\(esc)[31mred\(esc)[0m plain") == "> red plain")
        #expect(plain("\(esc)[1;38;5;208mbold orange\(esc)[m, é") == "> bold orange, é")
        #expect(plain("no escape at all") == "> no escape at all")
        #expect(plain("") == "> ")
        #expect(plain("cut \(esc)[3") == "> cut ", "a sequence cut at the end of the line goes")
        #expect(plain("lone \(esc)x") == "> lone x", "an ESC that starts no sequence goes alone")
        // What `up` prints: the line as the filter kept it (colour and all), then without it.
        let kept = logLines(["\(esc)[32mgreen\n"], colour: true)
        #expect(kept.map(plain) == ["> green"], "\(kept)")
    }

    @Test func colourThatSpansLinesIsResetAtEachEndAndShownAgainOnTheNextLine() {
        #expect(
            logLines(["\(esc)[1;32mone\ntwo\(esc)[0m\nthree\n"], colour: true) == [
                "\(esc)[1;32mone\(esc)[0m", "\(esc)[1;32mtwo\(esc)[0m", "three",
            ])
        // An unfinished last line in colour is reset too.
        #expect(logLines(["\(esc)[33mwarn"], colour: true) == ["\(esc)[33mwarn\(esc)[0m"])
    }

    @Test func cursorMovementClearingTitlesAndModesAreStrippedEvenWithColour() {
        let screen =
            "\(esc)[2J\(esc)[H\(esc)[3Aup\(esc)[K\(esc)]0;a title\u{7}\(esc)7\(esc)8\(esc)(B\(esc)[?2004hdone\(esc)[10;20H\n"
        #expect(logLines([screen], colour: true) == ["updone"])
        #expect(logLines([screen], colour: false) == ["updone"])
        // A title ended by ESC \ (ST), and one that is never ended stops at the newline.
        #expect(logLines(["\(esc)]2;t\(esc)\\a\n\(esc)]0;broken\nb\n"]) == ["a", "", "b"])
    }

    @Test func aSequenceCutByTheReadsIsStillRecognised() {
        #expect(logLines(["\(esc)[3", "1mred\(esc)", "[0m\r", "\n"], colour: true) == ["\(esc)[31mred\(esc)[0m"])
        #expect(logLines(["a\(esc)", "[2", "Kb\n"], colour: true) == ["ab"])
    }

    @Test func backspaceTakesBackACharacterAndOtherControlsAreDropped() {
        // What a terminal echoes for "abc", a correction and "d".
        #expect(logLines(["abc\u{8} \u{8}d\n"]) == ["abd"])
        #expect(logLines(["é\u{8}e\n"]) == ["e"])
        #expect(logLines(["bell\u{7}\u{7F}\tand tab\n"]) == ["bell\tand tab"])
    }

    @Test func invalidUtf8AndLongTextPassUnchanged() {
        var filter = TerminalFilter(keepsColour: false)
        var out: [UInt8] = []
        let bytes: [UInt8] = [0x61, 0xFF, 0xFE, 0x62, 0x0D, 0x0A]
        _ = bytes.withUnsafeBytes { filter.filter($0, into: &out) }
        #expect(out == [0x61, 0xFF, 0xFE, 0x62, 0x0A])
    }
}

@Suite struct AttachFrameTests {
    @Test func framesSurviveAnyCutAndUnknownTypesAreSkipped() {
        let frames: [AttachFrame] = [.input(Array("hello".utf8)), .resize(WindowSize(rows: 40, columns: 120))]
        var stream = frames.flatMap(\.encoded)
        stream.insert(contentsOf: [9, 0, 2, 0xAA, 0xBB], at: AttachFrame.input(Array("hello".utf8)).encoded.count)
        for cut in 0...stream.count {
            var parser = AttachFrame.Parser()
            let got = parser.consume(stream[..<cut]) + parser.consume(stream[cut...])
            #expect(got == frames, "cut at \(cut)")
        }
    }

    @Test func longInputGoesInSeveralFrames() {
        let input = [UInt8](repeating: 0x78, count: 70_000)
        var parser = AttachFrame.Parser()
        let got = parser.consume(AttachFrame.input(input).encoded)
        #expect(got.count == 2)
        #expect(got.flatMap { if case .input(let bytes) = $0 { return bytes } else { return [] } } == input)
    }
}

/// Real starts on a pseudo-terminal through the shim, both ways of creating the child.
@Suite struct PseudoterminalLaunchTests {
    /// Everything the child wrote to its terminal until the master reads EIO (the slave's last holder is gone).
    private func readToEnd(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return String(decoding: bytes, as: UTF8.self) }
            bytes += buffer[..<n]
        }
    }

    @Test(arguments: [SpawnMode.automatic, .fork])
    func theChildHasThePtyAsItsControllingTerminalInItsOwnSession(mode: SpawnMode) throws {
        let script = """
            [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo on-a-tty; stty size; echo "sid=$(ps -o sid= -p $$ | tr -d ' ') \
            pid=$$ tty=$(ps -o tty= -p $$ | tr -d ' ')"; echo to-stderr >&2
            """
        let request = LaunchRequest(
            arguments: ["/bin/sh", "-c", script], cwd: "/", environment: ["PATH": "/usr/bin:/bin"],
            stopSignal: .terminate, stopTimeoutMilliseconds: 1000, mode: mode,
            terminal: WindowSize(rows: 33, columns: 111))
        let launched = try Launcher.launch(request)
        let pid = launched.pid
        let (pidfd, master, stderr) = launched.takeDescriptors()
        defer {
            close(pidfd)
            close(master)
        }
        #expect(stderr == nil, "one stream for both")
        let output = readToEnd(master)
        let lines = output.split(separator: "\r\n").map(String.init)
        #expect(lines.first == "on-a-tty", "\(output)")
        #expect(lines.contains("33 111"), "the window size given: \(output)")
        let ids = try #require(lines.first { $0.hasPrefix("sid=") })
        #expect(ids.contains("sid=\(pid) pid=\(pid) tty=pts/"), "own session, controlling tty: \(ids)")
        #expect(lines.last == "to-stderr")
        var code: Int32 = -1
        var signal: Int32 = -1
        var pollFD = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        #expect(eventually { poll(&pollFD, 1, 100) == 1 })
        #expect(sw_pidfd_reap(pidfd, &code, &signal) == 1 && code == 0)
    }
}
