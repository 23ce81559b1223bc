import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// More of /proc/PID/stat and of the escape search than ContainmentTests.swift covers: names that look like
/// fields, short and broken lines, and chains of parents.
extension ProcessTableTests {
    func parse(_ text: String, pid: pid_t = 42) -> ProcessTable.Entry? {
        ProcessTable.parse(pid: pid, Array(text.utf8)[...])
    }

    @Test func parsesANameWithSpacesAndAClosingParenthesisFollowedByFields() {
        let parsed = parse("42 ()) Z 9 9 ) R 1 2) S 7 8 8 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1\n")
        #expect(parsed?.name == ")) Z 9 9 ) R 1 2")
        #expect(parsed?.state == UInt8(ascii: "S") && parsed?.parent == 7 && parsed?.group == 8)
        #expect(parsed?.isZombie == false)
    }

    @Test func aZombieAndADeadProcessAreZombies() {
        #expect(parse("42 (sh) Z 7 42 42")?.isZombie == true)
        #expect(parse("42 (sh) X 7 42 42")?.isZombie == true)
        #expect(parse("42 (sh) S 7 42 42")?.isZombie == false)
    }

    @Test func withoutTheThreadCountALineStillGivesParentAndGroup() {
        #expect(parse("42 (sh) S 7") == nil, "the group is missing")
        let short = parse("42 (sh) S 7 40")
        #expect(short?.parent == 7 && short?.group == 40 && short?.threads == 1)
    }

    @Test(arguments: [
        "", "42", "42 sh S 7 42 42", "42 (sh S 7 42 42", "42 )sh( S 7 42 42", "42 (sh) S x 42 42",
        "42 (sh) S 7 y 42",
    ])
    func aBrokenLineIsNoEntry(line: String) {
        #expect(parse(line) == nil)
    }

    @Test func aGrandchildOfARunThatLeftThroughAnEscapedParentHasTheRunsOrigin() {
        var table = ProcessTable()
        for process in [
            entry(10, parent: 1, group: 10),  // superwatch
            entry(100, parent: 10, group: 100),  // a run
            entry(200, parent: 100, group: 200),  // setsid
            entry(300, parent: 200, group: 300),  // setsid again, below it
            entry(400, parent: 300, group: 300),
        ] { table.entries[process.pid] = process }
        let found = table.escapees(from: [100], reaper: 10, own: [100])
        let origins = Dictionary(uniqueKeysWithValues: found.map { ($0.entry.pid, $0.origin ?? -1) })
        #expect(origins == [200: 100, 300: 100, 400: 100])
    }

    @Test func aCycleOfParentsInATornSnapshotEnds() {
        var table = ProcessTable()
        for process in [entry(20, parent: 21, group: 20), entry(21, parent: 20, group: 21)] {
            table.entries[process.pid] = process
        }
        #expect(table.escapees(from: [100], reaper: 10, own: []).isEmpty)
    }

    @Test func aProcessWhoseParentIsNotInTheSnapshotIsNotAnEscapee() {
        var table = ProcessTable()
        table.entries[50] = entry(50, parent: 49, group: 50)
        #expect(table.escapees(from: [100], reaper: 10, own: []).isEmpty)
    }

    @Test func readsEveryProcessIncludingThisOne() {
        let table = ProcessTable.read()
        #expect(table.entries[getpid()]?.group == getpgrp())
        #expect(table.entries[1] != nil, "init")
    }

    @Test func aProcessThatIsGoneHasNoStat() {
        // Pid numbers wrap below PID_MAX_LIMIT (2^22), so this one cannot exist.
        #expect(ProcessTable.readStat(5_000_000) == nil)
    }
}
