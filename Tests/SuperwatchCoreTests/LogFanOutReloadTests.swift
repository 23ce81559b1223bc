import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// `LogFanOut.addProcesses`: the processes a live reload adds get a ring and a name, and the name column grows
/// to fit them.
@Suite struct LogFanOutReloadTests {
    @Test func addedProcessesGetARingANameAndAWiderColumn() throws {
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        try #require(devNull >= 0)
        defer { close(devNull) }
        let sink = OutputSink(fd: devNull)
        defer { sink.finish(within: .seconds(5)) }
        let output = LogFanOut(formatter: LogFormatter(names: ["web"], options: LogOptions()), sink: sink)
        let started = SupervisorEvent(.started, "started (pid 1)")
        #expect(
            String(decoding: output.formatter.event(process: ProcessID(0), started), as: UTF8.self)
                == "web        * started (pid 1)\n")
        let formatter = output.addProcesses(["a-much-longer-name"], capacities: [2])
        #expect(formatter.names == ["web", "a-much-longer-name"] && output.formatter.names == formatter.names)
        #expect(output.name(of: ProcessID(1)) == "a-much-longer-name" && output.name(of: nil) == "superwatch")
        #expect(
            String(decoding: formatter.event(process: ProcessID(0), started), as: UTF8.self)
                == "web                * started (pid 1)\n")
        var batch = OutputBatch()
        for index in 1...3 {
            var text = Array("line \(index)".utf8)
            text.withUnsafeMutableBytes { bytes in
                batch.appendLine(
                    process: ProcessID(1), stream: .stdout, line: UnsafeRawBufferPointer(bytes), formatter: formatter,
                    timestamp: [])
            }
        }
        #expect(String(decoding: batch.terminal, as: UTF8.self).hasPrefix("a-much-longer-name | line 1\n"))
        output.write(&batch)
        let kept = output.recent(processes: [ProcessID(1)], tail: 10)
        #expect(kept.map(\.text) == ["line 2", "line 3"], "its own ring, of its own size")
        #expect(kept.map(\.process) == ["a-much-longer-name", "a-much-longer-name"])
    }
}
