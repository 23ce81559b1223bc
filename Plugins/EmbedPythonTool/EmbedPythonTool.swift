// embed-python OUTPUT.swift FILE.py...
//
// The build tool behind the EmbedPython plugin: writes one Swift file declaring
// - `enum EmbeddedPython`: a `static let` per Python file (`superwatch-werkzeug.py` → `superwatchWerkzeug`), an
//   `EmbeddedPythonFile` with the file's name and text, and `all` of them;
// - `enum PythonProtocol`: the constants between `# superwatch-protocol: begin` and `# superwatch-protocol: end`
//   (`NAME = 75` → `static let name: Int32 = 75`, `NAME = "text"` → a String), each with the comment lines just
//   above it as its doc comment. Both sides of the protocol between superwatch and its Python then have one
//   definition: the Python file.
// A malformed protocol line is reported as FILE:LINE:COL: error: ... and fails the build.
import Foundation

struct ToolError: Error, CustomStringConvertible {
    var description: String
}

/// `superwatch-werkzeug.py` → `superwatchWerkzeug`; `EXIT_IMPORT_FAILED` → `exitImportFailed`.
func lowerCamelCase(_ name: String) -> String {
    let words = name.split(whereSeparator: { $0 == "-" || $0 == "_" || $0 == "." }).map { $0.lowercased() }
    guard let first = words.first else { return name }
    return first + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
}

/// `text` as a raw multi-line Swift string literal: enough `#`s that nothing inside ends it or interpolates.
func rawStringLiteral(_ text: String) -> String {
    var longestRun = 0
    var run: Int?
    for character in text {
        if character == "\"" || character == "\\" {
            run = 0
        } else if character == "#", let current = run {
            run = current + 1
            longestRun = max(longestRun, current + 1)
        } else {
            run = nil
        }
    }
    let hashes = String(repeating: "#", count: longestRun + 1)
    // The line break before the closing delimiter is not part of the string: one more keeps the text exact.
    return "\(hashes)\"\"\"\n\(text)\n\"\"\"\(hashes)"
}

/// The constants of a file's `superwatch-protocol` block, as Swift declarations.
func protocolConstants(path: String, text: String) throws -> [String] {
    var declarations: [String] = []
    var inside = false
    var comments: [String] = []
    for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = rawLine.trimmingCharacters(in: .whitespaces)
        if line == "# superwatch-protocol: begin" {
            inside = true
            continue
        }
        if line == "# superwatch-protocol: end" { return declarations }
        guard inside else { continue }
        if line.hasPrefix("#") {
            let comment = line.dropFirst().trimmingCharacters(in: .whitespaces)
            if comment.isEmpty { comments = [] } else { comments.append(comment) }
            continue
        }
        if line.isEmpty {
            comments = []
            continue
        }
        let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        let position = "\(path):\(offset + 1):1"
        guard parts.count == 2, let first = parts[0].first, first.isUppercase,
            parts[0].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" })
        else {
            throw ToolError(description: "\(position): error: expected NAME = VALUE in the protocol block")
        }
        let value = parts[1]
        let declaration: String
        if let number = Int32(value) {
            declaration = "static let \(lowerCamelCase(parts[0])): Int32 = \(number)"
        } else if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\""),
            !value.dropFirst().dropLast().contains(where: { $0 == "\"" || $0 == "\\" })
        {
            declaration = "static let \(lowerCamelCase(parts[0])) = \(value)"
        } else {
            throw ToolError(
                description: "\(position): error: a protocol value is an integer or a \"string\" without escapes")
        }
        declarations += comments.map { "    /// \($0)" } + ["    \(declaration)"]
        comments = []
    }
    if inside { throw ToolError(description: "\(path):1:1: error: `# superwatch-protocol: begin` has no end") }
    return declarations
}

func generate(output: String, inputs: [String]) throws {
    var files: [(name: String, identifier: String, text: String)] = []
    var constants: [String] = []
    for path in inputs {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let name = URL(fileURLWithPath: path).lastPathComponent
        files.append((name, lowerCamelCase(String(name.dropLast(".py".count))), text))
        constants += try protocolConstants(path: path, text: text)
    }
    var swift = """
        // Generated at build time by embed-python (Plugins/EmbedPythonTool) from the target's .py files: edit those.

        /// The Python files superwatch writes out and runs, embedded at build time.
        enum EmbeddedPython {

        """
    for file in files {
        swift += "    /// `\(file.name)`\n"
        swift += "    static let \(file.identifier) = EmbeddedPythonFile(name: \"\(file.name)\", text: "
        swift += rawStringLiteral(file.text) + ")\n\n"
    }
    swift += "    static let all: [EmbeddedPythonFile] = [\(files.map(\.identifier).joined(separator: ", "))]\n}\n\n"
    swift +=
        "/// The protocol between superwatch and its Python, from the `superwatch-protocol` blocks of the .py files.\n"
    swift += "enum PythonProtocol {\n" + constants.joined(separator: "\n") + "\n}\n"
    try swift.write(toFile: output, atomically: true, encoding: .utf8)
}

#if SUPERWATCH_LIBFUZZER
    /// fuzz/run.sh builds with `-sanitize=fuzzer`, and SwiftPM compiles this host tool with the same flags: the
    /// libFuzzer runtime linked into it needs this symbol. It is never called: SwiftPM's entry point below, not
    /// libFuzzer's `main`, runs.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { 0 }
#endif

@main
struct EmbedPythonTool {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let output = arguments.first, arguments.count >= 2 else {
            FileHandle.standardError.write(Data("usage: embed-python OUTPUT.swift FILE.py...\n".utf8))
            exit(2)
        }
        do {
            try generate(output: output, inputs: Array(arguments.dropFirst()))
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            exit(1)
        }
    }
}
