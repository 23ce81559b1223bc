import Testing

@testable import SuperwatchCore

/// `HeldSockets.bind(for:keeping:unchanged:)`, the sockets of a live reload, with real Unix sockets.
@Suite struct HeldSocketsReloadTests {
    func process(_ name: String, _ paths: [String], in directory: String) -> ProcessSpec {
        var spec = ProcessSpec(name: name, command: .shell("serve"), cwd: directory)
        spec.listen = paths.map { ListenSpec(.unix(path: "\(directory)/\($0)")) }
        return spec
    }

    @Test func keptTakenOverAndNewAddressesAndOneARunningProcessKeepsIsInUse() throws {
        let tree = WatcherTempTree()
        defer { withExtendedLifetime(tree) {} }
        let directory = tree.root
        let current = try HeldSockets.bind(for: [
            process("web", ["web.sock"], in: directory), process("old", ["old.sock"], in: directory),
            process("api", ["api.sock"], in: directory),
        ])
        let web = try #require(current[ProcessID(0)].first)
        let old = try #require(current[ProcessID(1)].first)
        // web keeps its address and adds one; old is removed and api takes its address over; new is new.
        let next = try HeldSockets.bind(
            for: [
                process("web", ["web.sock", "web2.sock"], in: directory), nil,
                process("api", ["old.sock"], in: directory), process("new", ["new.sock"], in: directory),
            ],
            keeping: current, unchanged: [])
        #expect(next[ProcessID(0)].first === web && next[ProcessID(0)].count == 2)
        #expect(next[ProcessID(1)].isEmpty)
        #expect(next[ProcessID(2)].map { $0 === old } == [true], "the same socket, not bound again")
        #expect(next[ProcessID(3)].map(\.url) == ["unix:\(directory)/new.sock"])

        // A process asking for an address another running process keeps: in use, and the error says where.
        var thief = process("thief", ["web.sock"], in: directory)
        thief.listen[0].location = SourceLocation(file: "superwatch.yaml", line: 7, column: 13)
        #expect {
            _ = try HeldSockets.bind(
                for: [process("web", ["web.sock"], in: directory), nil, nil, thief], keeping: current,
                unchanged: [ProcessID(0)])
        } throws: { error in
            let error = error as? SuperwatchError
            return error?.code == .addressInUse && error?.location?.line == 7
        }
        #expect(current[ProcessID(0)].first === web, "the running stack's sockets are as they were")
    }
}
