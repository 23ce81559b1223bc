import Foundation
import SuperwatchTestSupport
import Testing

@testable import SuperwatchCore

#if canImport(Glibc)
    import Glibc
#endif

/// The interpreter python3 on PATH runs (through pyenv's shim on some machines).
private let realPython =
    (try? runCommand(["python3", "-c", "import sys; print(sys.executable)"]))?
    .stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""

@Suite struct PythonInterpreterTests {
    /// A directory with an executable script `bin/NAME` holding `body`.
    func wrapper(_ body: String, named name: String = "python3") -> (directory: TemporaryDirectory, bin: String) {
        let directory = TemporaryDirectory()
        let path = directory.write("bin/\(name)", "#!/bin/sh\n\(body)\n")
        chmod(path, 0o755)
        return (directory, directory.path + "/bin")
    }

    /// As pyenv's shim does with its rehash hook: Python as a child of the shell, with variables of its own.
    @Test func aWrapperScriptIsReplacedByTheInterpreterItRunsWithItsEnvironment() throws {
        let (directory, bin) = wrapper(
            "export SHIM_ADDED=yes; unset SHIM_REMOVED; PATH=/shim/bin:$PATH \(realPython) \"$@\"")
        defer { directory.remove() }
        let environment = ["PATH": "\(bin):/usr/bin:/bin", "SHIM_REMOVED": "1", "KEPT": "same"]
        let found = try #require(PythonInterpreter.resolve("python3", cwd: directory.path, environment: environment))
        #expect(found.program == realPython)
        #expect(found.setting["SHIM_ADDED"] == "yes")
        #expect(found.setting["PATH"] == "/shim/bin:\(bin):/usr/bin:/bin")
        #expect(found.setting["KEPT"] == nil, "only what the wrapper changed")
        #expect(found.unsetting == ["SHIM_REMOVED"])
        var applied = ["PATH": "/elsewhere", "SHIM_REMOVED": "1", "PER_START": "x"]
        found.apply(to: &applied)
        // (The shell and Python add a few of their own, such as PWD, which they would pass on as well.)
        #expect(applied["PATH"] == "/shim/bin:\(bin):/usr/bin:/bin" && applied["SHIM_ADDED"] == "yes")
        #expect(applied["SHIM_REMOVED"] == nil && applied["PER_START"] == "x")
    }

    @Test func anExecutableIsRunAsItIsAndAMissingOneIsNotFound() throws {
        let found = PythonInterpreter.resolve(
            "python3", cwd: "/", environment: ["PATH": (realPython as NSString).deletingLastPathComponent])
        #expect(found == PythonInterpreter(program: "python3"), "an ELF interpreter needs no question")
        #expect(PythonInterpreter.resolve("python9", cwd: "/", environment: ["PATH": "/usr/bin:/bin"]) == nil)
    }

    /// A wrapper that fails, or answers something that is not an interpreter, is run as it is: its own error
    /// then shows in the process's output.
    @Test(arguments: ["echo 'pyenv: version 3.99 is not installed' >&2; exit 1", "echo '[\"/no/such/python\", {}]'"])
    func aWrapperThatDoesNotNameAnInterpreterIsRunAsItIs(body: String) throws {
        let (directory, bin) = wrapper(body)
        defer { directory.remove() }
        let found = PythonInterpreter.resolve("python3", cwd: directory.path, environment: ["PATH": bin])
        #expect(found == PythonInterpreter(program: "python3"))
    }
}
