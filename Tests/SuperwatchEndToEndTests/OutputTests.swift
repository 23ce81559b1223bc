import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct OutputTests {
    @Test func twoHundredThousandLinesFromFourProcessesArriveWholeAndInOrder() throws {
        let producer =
            "import sys\nw=sys.stdout.write\nfor i in range(50000): w(f'{sys.argv[1]} line {i} ' + 'x'*40 + '\\n')\n"
        let dir = stack(
            """
            processes:
              p1: {command: [python3, gen.py, p1]}
              p2: {command: [python3, gen.py, p2]}
              p3: {command: [python3, gen.py, p3]}
              p4: {command: [python3, gen.py, p4]}
            """)
        dir.write("gen.py", producer)
        defer { dir.remove() }
        let result = try SuperwatchRun.run(["up"], in: dir.path, timeout: .seconds(120))
        #expect(result.status == 0)
        for name in ["p1", "p2", "p3", "p4"] {
            let got = lines(of: name, in: result.stdout)
            let expected = (0..<50000).map { "\(name) line \($0) " + String(repeating: "x", count: 40) }
            #expect(got == expected, "every line of \(name), whole and in order")
        }
    }

    @Test func aLastLineWithoutNewlineIsPrintedBeforeTheExit() throws {
        let result = try runStack("processes:\n  p: {command: \"printf 'first\\\\nno newline at end'\"}\n")
        let out = result.stdout
        #expect(lines(of: "p", in: out) == ["first", "no newline at end"])
        let lineEnd = try #require(out.range(of: "no newline at end\n"))
        let exit = try #require(out.range(of: "p          * exited with code 0"))
        #expect(lineEnd.upperBound <= exit.lowerBound)
    }

    @Test func aTwoMebibyteLineAndInvalidUTF8PassThroughUnchanged() throws {
        let yaml = """
            processes:
              big: {command: [python3, -c, "import sys; sys.stdout.write('a' * (2 << 20) + '\\\\n'); sys.stdout.flush(); sys.stdout.buffer.write(b'bad \\\\xff\\\\xfe bytes\\\\n')"]}
            """
        try withStack(yaml) { run in
            #expect(run.waitForExit() == 0)
            let bytes = run.stdoutBytes
            let bigLine = Array("big        | ".utf8) + [UInt8](repeating: UInt8(ascii: "a"), count: 2 << 20) + [0x0A]
            #expect(bytes.firstRange(of: bigLine) != nil)
            #expect(
                bytes.firstRange(of: Array("big        | bad ".utf8) + [0xFF, 0xFE] + Array(" bytes\n".utf8)) != nil)
        }
    }

    /// Python block-buffers a pipe: a print() would show up only kilobytes (or an exit) later. Children get
    /// PYTHONUNBUFFERED=1 unless the config or superwatch's own environment sets it (to anything).
    @Test func pythonWritesAtOnceUnlessTheConfigOrTheEnvironmentSaysOtherwise() throws {
        let yaml = """
            processes:
              default: {command: [python3, -c, "print('printed', flush=False); import time; time.sleep(1000)"]}
              shown: {command: 'echo "[$PYTHONUNBUFFERED]"'}
              config: {command: 'echo "[$PYTHONUNBUFFERED]"', env: {PYTHONUNBUFFERED: ""}}
            """
        try withStack(yaml, unsetting: ["PYTHONUNBUFFERED"]) { run in
            #expect(run.waitFor("default    | printed"), "a print shows up while the process runs\n\(run.stdout)")
            #expect(run.waitFor("shown      | [1]"))
            #expect(run.waitFor("config     | []"), "the config's own value is kept")
            run.signal(SIGTERM)
            #expect(run.waitForExit() == 0)
            let inherited = try SuperwatchRun(["up", "shown"], in: run.path, environment: ["PYTHONUNBUFFERED": "0"])
            #expect(inherited.waitForExit() == 0)
            #expect(
                inherited.stdout.contains("shown      | [0]"),
                "superwatch's own environment is kept\n\(inherited.stdout)")
        }
    }

    /// A `command: |` block of several lines: the "started" event is several lines, each with its prefix, so
    /// that every line of the stream says whose it is. The JSON log keeps it one object (its text escaped).
    @Test func everyLineOfAMultiLineEventCarriesThePrefix() throws {
        let yaml = """
            processes:
              multi:
                command: |
                  echo first
                  echo second
                restart: never
              b: {command: echo hi, restart: never}
            """
        try withStack(yaml) { run in
            let result = run.finish()
            #expect(result.status == 0)
            #expect(result.stdout.contains("multi      * started (pid "))
            #expect(result.stdout.contains("\nmulti      * echo second\n"))
            let body = result.stdout.split(separator: "\n")
            #expect(!body.isEmpty)
            for line in body {
                #expect(
                    line.hasPrefix("multi      | ") || line.hasPrefix("multi      * ")
                        || line.hasPrefix("b          | ")
                        || line.hasPrefix("b          * ") || line.hasPrefix("superwatch * "),
                    "a line without its prefix: \(line)")
            }
            let json = try SuperwatchRun.run(["up", "--log-format", "json"], in: run.path)
            #expect(json.status == 0)
            for line in json.stdout.split(separator: "\n") {
                #expect(
                    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil, "not one JSON object: \(line)")
            }
            #expect(json.stdout.contains(#"echo first\necho second"#))
        }
    }

    /// A line longer than the 64 MiB cap is printed in pieces, and an event says so, once for the line.
    @Test func aLineOverTheCapIsSplitAndTheSplitIsAnnounced() throws {
        let length = 70_000_000
        let yaml = """
            processes:
              b: {command: "head -c \(length) /dev/zero | tr '\\\\0' a; echo; echo after", restart: never}
            """
        try withStack(yaml) { run in
            #expect(run.waitForExit(timeout: .seconds(120)) == 0)
            // memchr and counts, not String: this log is too big for Character-wise APIs in a debug build.
            let logLines = run.stdoutBytes.withUnsafeBufferPointer { buffer -> [(text: String, length: Int)] in
                var lines: [(String, Int)] = []
                var start = 0
                while start < buffer.count,
                    let hit = memchr(buffer.baseAddress! + start, 0x0A, buffer.count - start)
                {
                    let end = buffer.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    lines.append((String(decoding: buffer[start..<min(end, start + 80)], as: UTF8.self), end - start))
                    start = end + 1
                }
                return lines
            }
            let event = "b          * a line over 64 MiB was split"
            #expect(logLines.filter { $0.text == event }.count == 1, "once for the line")
            let pieces = logLines.filter { $0.text.hasPrefix("b          | aaaa") }.map {
                $0.length - "b          | ".count
            }
            #expect(pieces.count == 2)
            #expect(pieces.first ?? 0 >= 64 << 20)
            #expect(pieces.reduce(0, +) == length, "every byte of the line arrives")
            let eventIndex = try #require(logLines.firstIndex { $0.text == event })
            #expect(
                logLines[eventIndex - 1].text.hasPrefix("b          | aaaa")
                    && logLines[eventIndex + 1].text.hasPrefix("b          | aaaa"),
                "said after the first piece")
            #expect(
                logLines.suffix(4).map(\.text) == [
                    "b          | after", "b          * exited with code 0",
                    "b          * not restarting (restart: never)",
                    "superwatch * all processes have stopped; exit status 0",
                ])
        }
    }
}
