import Testing

@testable import SuperwatchCore

/// The debounce state of one process, driven with made-up instants: no files, no clock, no waiting.
@Suite struct BurstTests {
    let start = ContinuousClock.now
    let debounce = Duration.milliseconds(20)

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func theFirstChangeOpensTheBurstAndTheOthersDoNot() {
        var burst = Burst()
        #expect(burst.deadline == nil)
        let opened1 = burst.record("a.py", at: at(0), debounce: debounce)
        #expect(opened1)
        let opened2 = burst.record("b.py", at: at(5), debounce: debounce)
        #expect(!opened2)
        let opened3 = burst.record("a.py", at: at(10), debounce: debounce)
        #expect(!opened3)
    }

    @Test func eachChangePushesTheDeadline() {
        var burst = Burst()
        _ = burst.record("a.py", at: at(0), debounce: debounce)
        #expect(burst.deadline == at(20))
        _ = burst.record("a.py", at: at(15), debounce: debounce)
        #expect(burst.deadline == at(35))
        let settled1 = burst.settle(at: at(20))
        #expect(settled1 == nil, "not quiet for the debounce since the last change")
        let settled2 = burst.settle(at: at(34))
        #expect(settled2 == nil)
        let settled3 = burst.settle(at: at(35))
        #expect(settled3 == ["a.py"], "settles exactly at the deadline")
    }

    @Test func settledPathsComeInFirstChangeOrderWithoutRepeats() {
        var burst = Burst()
        for (index, path) in ["b.py", "a.py", "b.py", "c.py", "a.py"].enumerated() {
            _ = burst.record(path, at: at(index), debounce: debounce)
        }
        #expect(burst.paths == ["b.py", "a.py", "c.py"])
        let settled1 = burst.settle(at: at(100))
        #expect(settled1 == ["b.py", "a.py", "c.py"])
    }

    @Test func settlingClosesTheBurstAndTheNextChangeOpensANewOne() {
        var burst = Burst()
        _ = burst.record("a.py", at: at(0), debounce: debounce)
        let settled1 = burst.settle(at: at(20))
        #expect(settled1 == ["a.py"])
        #expect(burst.deadline == nil && burst.paths.isEmpty)
        let settled2 = burst.settle(at: at(1_000))
        #expect(settled2 == nil, "nothing to settle between bursts")
        let opened1 = burst.record("b.py", at: at(1_000), debounce: debounce)
        #expect(opened1, "a new burst")
        let settled3 = burst.settle(at: at(1_020))
        #expect(settled3 == ["b.py"], "without the last burst's paths")
    }

    /// An editor's save: a temporary file created, written and renamed over the real one.
    @Test func aTemporaryFileRenamedAwayIsLeftOut() {
        var burst = Burst()
        burst.noteCreated("app.py.tmp")
        _ = burst.record("app.py.tmp", at: at(0), debounce: debounce)
        _ = burst.record("app.py.tmp", removed: true, at: at(1), debounce: debounce)
        _ = burst.record("app.py", at: at(1), debounce: debounce)
        let settled1 = burst.settle(at: at(21))
        #expect(settled1 == ["app.py"])
    }

    @Test func aFileThatWasNotSeenCreatedCountsEvenWhenRemoved() {
        var burst = Burst()
        _ = burst.record("old.py", removed: true, at: at(0), debounce: debounce)
        _ = burst.record("app.py", at: at(1), debounce: debounce)
        let settled1 = burst.settle(at: at(21))
        #expect(settled1 == ["old.py", "app.py"], "deleting a watched file is a change")
    }

    @Test func aCreatedFileThatComesBackCounts() {
        var burst = Burst()
        burst.noteCreated("app.py")
        _ = burst.record("app.py", removed: true, at: at(0), debounce: debounce)
        _ = burst.record("app.py", at: at(1), debounce: debounce)
        _ = burst.record("other.py", at: at(2), debounce: debounce)
        let settled1 = burst.settle(at: at(22))
        #expect(settled1 == ["app.py", "other.py"])
    }

    @Test func whenOnlyTransientFilesChangedTheyAreTheChange() {
        var burst = Burst()
        burst.noteCreated("scratch.py")
        _ = burst.record("scratch.py", at: at(0), debounce: debounce)
        _ = burst.record("scratch.py", removed: true, at: at(1), debounce: debounce)
        let settled1 = burst.settle(at: at(21))
        #expect(settled1 == ["scratch.py"], "something did change: the burst is not empty")
    }

    @Test func aCreationNotedBeforeTheBurstStillMakesTheFileTransient() {
        var burst = Burst()
        burst.noteCreated("x.tmp")
        #expect(burst.deadline == nil, "a creation alone is not a change")
        _ = burst.record("x.tmp", removed: true, at: at(0), debounce: debounce)
        _ = burst.record("x", at: at(0), debounce: debounce)
        let settled1 = burst.settle(at: at(20))
        #expect(settled1 == ["x"])
    }
}
