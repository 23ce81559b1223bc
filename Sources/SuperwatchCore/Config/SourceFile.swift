#if canImport(Glibc)
    import Glibc
#endif

/// Reads the files a user names as configuration — `superwatch.yaml`, a Procfile, an env file — and turns their
/// bytes into text, so that every way of getting that wrong has its own message: a directory, a device or a
/// FIFO (refused without reading it, so `/dev/zero` cannot fill memory and a FIFO cannot hang `check`), a
/// file too large to be configuration, a read error, and invalid UTF-8 at its line and column.
enum SourceFile {
    /// More than any configuration needs; a larger file is almost certainly the wrong file.
    static let maximumSize = 16 << 20

    /// Why a file could not be read; the caller words it and decides where it points.
    enum ReadFailure: Error, Equatable {
        case notFound
        case isDirectory
        /// A device, FIFO or socket: `kind` says which.
        case notRegular(kind: String)
        case tooLarge
        case failed(syscall: String, errno: Int32)

        /// What is wrong, to follow the file's name: `is a directory`, `is not a regular file but a FIFO`.
        var reason: String {
            switch self {
            case .notFound: return "does not exist"
            case .isDirectory: return "is a directory, not a file"
            case .notRegular(let kind): return "is not a regular file but \(kind)"
            case .tooLarge:
                return "is larger than \(SourceFile.maximumSize >> 20) MiB, too large for a configuration file"
            case .failed(let syscall, let code): return "cannot be read (\(syscall): \(errnoDescription(code)))"
            }
        }
    }

    /// The bytes of the regular file at `path` (symbolic links followed).
    ///
    /// The file is opened without blocking and checked with `fstat` on that descriptor, so a FIFO is refused
    /// instead of waiting for a writer, and nothing can swap the file between the check and the read.
    static func bytes(atPath path: String) throws(ReadFailure) -> [UInt8] {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY) } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            let code = errno
            throw code == ENOENT || code == ENOTDIR ? .notFound : .failed(syscall: "open", errno: code)
        }
        let file = OwnedDescriptor(takingOwnershipOf: fd)
        var info = stat()
        guard fstat(file.rawValue, &info) == 0 else { throw .failed(syscall: "fstat", errno: errno) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .isDirectory
        case S_IFCHR: throw .notRegular(kind: "a character device")
        case S_IFBLK: throw .notRegular(kind: "a block device")
        case S_IFIFO: throw .notRegular(kind: "a FIFO")
        case S_IFSOCK: throw .notRegular(kind: "a socket")
        default: throw .notRegular(kind: "a special file")
        }
        // st_size is 0 for /proc files, so read until the end rather than trusting it.
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(file.rawValue, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .failed(syscall: "read", errno: errno)
            }
            if count == 0 { return result }
            result += chunk[..<count]
            if result.count > maximumSize { throw .tooLarge }
        }
    }

    /// `bytes` as text. Invalid UTF-8 is an error at the line and column (in Unicode scalars) of its first
    /// byte, so that the user can find it.
    static func text(_ bytes: [UInt8], file: String) throws(SuperwatchError) -> String {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var line = 1
        var column = 1
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                offset += UTF8.width(scalar)
                if scalar == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            case .emptyInput:
                return String(decoding: bytes, as: UTF8.self)
            case .error:
                let byte = bytes[offset]
                throw SuperwatchError(
                    .invalidConfig,
                    "invalid UTF-8 (byte 0x\(String(byte, radix: 16, uppercase: true))); save the file as UTF-8",
                    at: SourceLocation(file: file, line: line, column: column))
            }
        }
    }

    /// The text of the file at `path`, shown in messages as `shown`. A file that cannot be read is an error
    /// from `failure` (so that it points where the file was named); invalid UTF-8 points into the file.
    static func read(
        path: String, shownAs shown: String, failure: (ReadFailure) -> SuperwatchError
    ) throws(SuperwatchError) -> String {
        let bytes: [UInt8]
        do {
            bytes = try Self.bytes(atPath: path)
        } catch {
            throw failure(error)
        }
        return try text(bytes, file: shown)
    }
}

/// The lines of a config-like text file, numbered from 1, as Unicode scalars (columns count scalars).
/// A leading byte-order mark and `\r` before each `\n` are dropped.
struct SourceLines: Sequence {
    let lines: [(number: Int, scalars: [Unicode.Scalar])]

    init(_ text: String) {
        var scalars = Array(text.unicodeScalars)
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        var lines: [(number: Int, scalars: [Unicode.Scalar])] = []
        for (offset, line) in scalars.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Array(line)
            if line.last == "\r" { line.removeLast() }
            lines.append((offset + 1, line))
        }
        self.lines = lines
    }

    func makeIterator() -> IndexingIterator<[(number: Int, scalars: [Unicode.Scalar])]> { lines.makeIterator() }

    /// Space or tab: what separates words on a line of these files.
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool { scalar == " " || scalar == "\t" }

    /// A NUL anywhere in the lines is an error at its position: no process can be given a string with one
    /// (the kernel would cut it there), so it can only be a mistake.
    func rejectNUL(file: String) throws(SuperwatchError) {
        for line in lines {
            if let column = line.scalars.firstIndex(of: "\0") {
                throw SuperwatchError(
                    .invalidConfig, "a NUL character cannot be passed to a process; remove it",
                    at: SourceLocation(file: file, line: line.number, column: column + 1))
            }
        }
    }

    /// The text of the file at `path`; a missing, unreadable or non-UTF-8 file is an error naming `what`.
    static func read(path: String, what: String) throws(SuperwatchError) -> String {
        try SourceFile.read(path: path, shownAs: path) { failure in
            let advice = failure == .notFound ? "; create it or remove it from the config" : ""
            return SuperwatchError(
                .invalidConfig, "\(what) \(path) \(failure.reason)\(advice)", at: SourceLocation(file: path))
        }
    }
}

/// `text` as an error message quotes it: control characters escaped, and cut after 80 characters.
func shown<S: StringProtocol>(_ text: S) -> String {
    let cut = text.unicodeScalars.count > 80
    return escapingControlCharacters(
        cut ? String(String.UnicodeScalarView(text.unicodeScalars.prefix(80))) + "…" : String(text))
}

/// `text` with control characters and line separators escaped (`\n`, `\0`, `\u{1B}`), so that a message
/// quoting the user's text stays on one line.
func escapingControlCharacters(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        case "\0": out += "\\0"
        case _
        where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}"
            || scalar == "\u{2029}":
            out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
