import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

/// A reload that changes a `werkzeug:` process finds its interpreter off the supervisor's actor, before the reload
/// is applied: a wrapper script that takes long to answer (a pyenv shim) never stalls the stack.
extension ControlEndToEndTests {
    /// A wrapper of python3: asked which interpreter it runs (superwatch's question names sys.executable), it
    /// says it has been asked and, while the file `block` exists, waits for the file `release` before answering;
    /// run as the interpreter itself, it marks the environment (VIA_WRAPPER), which a process started through
    /// the answer never has.
    static let slowWrapper = """
        #!/bin/sh
        case "$2" in
        *sys.executable*)
            touch asked
            if [ -e block ]; then
                while [ ! -e release ]; do sleep 0.05; done
            fi
            exec python3 "$@";;
        esac
        VIA_WRAPPER=1 exec python3 "$@"

        """

    static let wrapperApp = """
        import os
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            via = "wrapper" if os.environ.get("VIA_WRAPPER") else "direct"
            return [f"{via} {os.environ['GREETING']}".encode()]

        """

    static func wrapperStack(greeting: String) -> String {
        "processes:\n  web:\n    werkzeug: app:app\n    python: ./python-wrapper\n    listen: 127.0.0.1:0\n"
            + "    env: {GREETING: \"\(greeting)\"}\n"
    }

    @Test(.enabled(if: flaskAvailable, "needs Werkzeug (.ci/run installs Flask)"))
    func aReloadFindsAChangedProcesssInterpreterWithoutStallingTheStack() throws {
        let runtime = TemporaryDirectory("superwatch-runtime")
        defer { runtime.remove() }
        try withStack(
            Self.wrapperStack(greeting: "one"),
            prepare: { dir in
                dir.write("app.py", Self.wrapperApp)
                let wrapper = dir.write("python-wrapper", Self.slowWrapper)
                chmod(wrapper, 0o755)
            }, environment: ["XDG_RUNTIME_DIR": runtime.path]
        ) { run in
            let port = try #require(listeningPort(run))
            #expect(eventually { httpGet(port) == "direct one" }, "\(run.stdout)\n\(run.stderr)")
            unlink("\(run.path)/asked")
            run.write("block", "")
            run.write("superwatch.yaml", Self.wrapperStack(greeting: "two"))
            // The reload asks the wrapper again, which now waits: the stack answers meanwhile.
            #expect(eventually { FileManager.default.fileExists(atPath: "\(run.path)/asked") }, "\(run.stdout)")
            let status = try client(["status"], run, runtime)
            #expect(status.status == 0, "\(status.stderr)")
            #expect(httpGet(port) == "direct one", "the running process serves on while the wrapper is asked")
            run.write("release", "")
            // Had the question run on the actor, status would have waited for its 10 s timeout, and the process
            // would then run through the wrapper, unresolved.
            #expect(eventually { httpGet(port) == "direct two" }, "\(run.stdout)\n\(run.stderr)")
            #expect(run.stdout.contains("config reloaded"), "\(run.stdout)")
        }
    }
}
