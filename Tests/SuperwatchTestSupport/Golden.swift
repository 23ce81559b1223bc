import Foundation

/// Golden files: expected output kept under Tests/Golden and compared byte for byte. Run the tests with
/// `SUPERWATCH_UPDATE_GOLDEN=1` to rewrite them from the current output, then review the diff before committing.
public enum Golden {
    /// The golden file `name` (a path under Tests/Golden).
    public static func path(_ name: String) -> String {
        repositoryRoot.appendingPathComponent("Tests/Golden/\(name)").path
    }

    /// nil when `actual` is the golden file `name` byte for byte, else a unified diff from the file to `actual`
    /// (or why the file cannot be read). With SUPERWATCH_UPDATE_GOLDEN=1 the file is rewritten and nil returned.
    public static func mismatch(_ name: String, _ actual: String) -> String? {
        let file = path(name)
        if ProcessInfo.processInfo.environment["SUPERWATCH_UPDATE_GOLDEN"] == "1" {
            do {
                try FileManager.default.createDirectory(
                    atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(actual.utf8).write(to: URL(fileURLWithPath: file))
                return nil
            } catch {
                return "cannot update \(file): \(error)"
            }
        }
        guard let expected = FileManager.default.contents(atPath: file) else {
            return "no golden file \(file); run the test with SUPERWATCH_UPDATE_GOLDEN=1 to write it"
        }
        if expected == Data(actual.utf8) { return nil }
        let scratch = TemporaryDirectory("superwatch-golden")
        defer { scratch.remove() }
        scratch.write("actual", actual)
        let diff: String
        do {
            diff = try runCommand(["diff", "-u", file, "\(scratch.path)/actual"]).stdout
        } catch {
            diff = "(diff could not run: \(error))"
        }
        return "\(name) differs from the output (SUPERWATCH_UPDATE_GOLDEN=1 rewrites it):\n" + diff
    }
}
