import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// `LogFanOut.addProcesses`: the processes a live reload adds get a ring and a name, and the name column grows
/// to fit them.
@Suite struct LogFanOutReloadTests {
    @Test func addedProcessesGetARingANameAndAWiderColumn() throws {
        let pipe = try Launcher.makePipe(size: nil)
        defer { close(pipe.read) }
        let sink = OutputSink(fd: pipe.write)
        let output = LogFanOut(formatter: LogFormatter(names: ["web"], options: LogOptions()), sink: sink)
        output.event(ProcessID(0), SupervisorEvent(.started, "started (pid 1)"))
        let formatter = output.addProcesses(["a-much-longer-name"], capacities: [2])
        #expect(formatter.names == ["web", "a-much-longer-name"])
        #expect(output.name(of: ProcessID(1)) == "a-much-longer-name" && output.name(of: nil) == "superwatch")
        output.event(ProcessID(0), SupervisorEvent(.started, "started (pid 2)"))
        var batch = OutputBatch()
        for index in 1...3 {
            var text = Array("line \(index)".utf8)
            text.withUnsafeMutableBytes { bytes in
                batch.appendLine(
                    process: ProcessID(1), stream: .stdout, line: UnsafeRawBufferPointer(bytes), formatter: formatter,
                    timestamp: [])
            }
        }
        output.write(&batch)
        #expect(output.recent(processes: [ProcessID(1)], tail: 10).map(\.text) == ["line 2", "line 3"])
        #expect(
            output.recent(processes: [ProcessID(1)], tail: 10).map(\.process) == [
                "a-much-longer-name", "a-much-longer-name",
            ])
        #expect(sink.finish(within: .seconds(5)) == .written)
        close(pipe.write)
        var got: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let n = buffer.withUnsafeMutableBytes({ read(pipe.read, $0.baseAddress, $0.count) }), n > 0 {
            got += buffer[0..<n]
        }
        #expect(
            String(decoding: got, as: UTF8.self) == """
                web        * started (pid 1)
                web                * started (pid 2)
                a-much-longer-name | line 1
                a-much-longer-name | line 2
                a-much-longer-name | line 3

                """)
    }
}
