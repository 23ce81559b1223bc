import Foundation
import SuperwatchTestSupport
import Testing

/// The pure parts of the Python superwatch runs (app spec parsing, the module filter, where a missing module
/// would be found...) are tested with Python's own unittest, in Tests/Python; a failure there fails here.
@Suite struct PythonUnitTests {
    @Test func pythonsOwnUnitTestsPass() throws {
        // -B: no __pycache__ in the source tree, whatever the environment says.
        let result = try runCommand(
            ["python3", "-B", "-m", "unittest", "discover", "-s", "Tests/Python"],
            in: repositoryRoot.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("\nOK"), "\(result.stderr)")
        // unittest says OK when it found nothing to run too.
        #expect(result.stderr.contains(/Ran [1-9][0-9]* tests?/), "\(result.stderr)")
    }
}
