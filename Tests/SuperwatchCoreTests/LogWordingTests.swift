import Testing

@testable import SuperwatchCore

@Suite struct AddressInUseScanTests {
    private func scan(_ chunks: [String]) -> Bool {
        var scanner = AddressInUseScan()
        return chunks.contains { chunk in Array(chunk.utf8).withUnsafeBytes { scanner.scan($0) } }
    }

    @Test func findsEachFormOfTheError() {
        #expect(scan(["OSError: [Errno 98] Address already in use\n"]))
        #expect(scan(["listen tcp :8080: bind: address already in use\n"]))
        #expect(scan(["Error: listen EADDRINUSE :::3000\n"]))
        #expect(scan(["socket.error: [Errno 98]\n"]))
        #expect(!scan(["Address in use? no.\n", "EADDR", "NOTAVAIL\n"]))
    }

    /// The phrase cut between two reads, even into pieces smaller than itself.
    @Test func findsThePhraseAcrossReads() {
        #expect(scan(["OSError: [Errno 9", "8] Addr", "ess already in", " use\n"]))
        #expect(scan([String(repeating: "x", count: 5000) + "Address alre", "ady in use"]))
        #expect(scan(["E", "A", "D", "D", "R", "I", "N", "U", "S", "E"]))
    }
}

@Suite struct CommandPortTests {
    @Test func aCommandUsesPortWhenItNamesTheVariable() {
        #expect(Command.shell("python3 -m http.server $PORT").usesPort)
        #expect(Command.shell("serve --port=${PORT:-8000}").usesPort)
        #expect(Command.argv(["sh", "-c", "exec serve \"$PORT\""]).usesPort)
        #expect(!Command.shell("python3 -m http.server 8000").usesPort)
        #expect(!Command.shell("echo $PORTS $SUPERWATCH_PORT").usesPort)
        #expect(!Command.argv(["python3", "app.py"]).usesPort)
    }
}
