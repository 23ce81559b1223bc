import Foundation
import SuperwatchTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The fixture itself: whatever the body does, nothing of the stack is left behind.
@Suite struct StackFixtureTests {
    struct Thrown: Error {}

    @Test func whenTheBodyThrowsSuperwatchAndItsProcessesAreStoppedAndTheDirectoryRemoved() throws {
        var seen: (superwatch: pid_t, child: pid_t, path: String)?
        #expect(throws: Thrown.self) {
            try withStack("processes:\n  p: {command: 'echo $$ > p.pid; exec sleep 1000'}\n") { run in
                #expect(eventually { readPID(run.dir, "p.pid") != nil })
                seen = (run.pid, try #require(readPID(run.dir, "p.pid")), run.path)
                throw Thrown()
            }
        }
        let stack = try #require(seen)
        #expect(!isAlive(stack.superwatch) && !isAlive(stack.child))
        #expect(!FileManager.default.fileExists(atPath: stack.path))
    }

    @Test func filesAreWrittenAndPreparedBeforeSuperwatchStarts() throws {
        let result = try runStack(
            "processes:\n  p: {command: 'cat a.txt b/c.txt made.txt', restart: never}\n",
            files: ["a.txt": "one\n", "b/c.txt": "two\n"], prepare: { $0.write("made.txt", "three\n") })
        #expect(result.status == 0)
        #expect(lines(of: "p", in: result.stdout) == ["one", "two", "three"])
    }
}
