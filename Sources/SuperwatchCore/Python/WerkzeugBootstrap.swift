/// Placeholder until the real bootstrap lands (branch `python`).
enum WerkzeugBootstrap {
    static let source: String = "import sys; sys.exit(76)"
    static let importFailedExitCode: Int32 = 75
    static let werkzeugMissingExitCode: Int32 = 76
}
