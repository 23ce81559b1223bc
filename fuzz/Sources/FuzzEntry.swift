import Foundation
import SuperwatchTestSupport

// The fuzz target for superwatch's config readers. `fuzz/run.sh` builds it with libFuzzer
// (`-sanitize=fuzzer -DSUPERWATCH_LIBFUZZER`) and runs it per target; a plain build, as `swift build` makes
// it, replays inputs instead: `superwatch-fuzz TARGET FILE...`, for reproducing what libFuzzer found.

#if SUPERWATCH_LIBFUZZER

    /// The reader under test, from `SUPERWATCH_FUZZ_TARGET` (config, procfile or env), chosen once.
    let fuzzer = ConfigFuzzer(
        target: ProcessInfo.processInfo.environment["SUPERWATCH_FUZZ_TARGET"].flatMap(ConfigFuzzTarget.init) ?? .config)

    /// One input: libFuzzer saves any input that stops the process, and prints the message.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        if let violation = fuzzer.violation(for: input) {
            fatalError("superwatch-fuzz (\(fuzzer.target.rawValue)): \(violation)")
        }
        return 0
    }

    /// libFuzzer's driver, in the runtime `-sanitize=fuzzer` links: it reads libFuzzer's flags and calls the
    /// function with each input.
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable with its own entry point (`main` is made an alias of it), which shadows
    /// libFuzzer's `main`; this one hands over to libFuzzer's driver.
    @main
    struct FuzzMain {
        static func main() {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) })
        }
    }

#else

    @main
    struct FuzzReplay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = ConfigFuzzTarget(rawValue: name) else {
                print("usage: superwatch-fuzz config|procfile|env FILE...  (fuzz/run.sh runs the fuzzer itself)")
                exit(2)
            }
            let fuzzer = ConfigFuzzer(target: target)
            var failed = false
            for path in arguments.dropFirst() {
                guard let input = FileManager.default.contents(atPath: path) else {
                    print("\(path): cannot read it")
                    failed = true
                    continue
                }
                if let violation = fuzzer.violation(for: Array(input)) {
                    print("\(path): \(violation)")
                    failed = true
                }
            }
            exit(failed ? 1 : 0)
        }
    }

#endif
