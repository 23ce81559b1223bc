/// An address superwatch listens on for a process (`listen:`), parsed but not yet bound.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// `host` is an IP literal or a name; empty means every interface.
    case tcp(host: String, port: UInt16)
    /// Absolute path of a Unix domain socket.
    case unix(path: String)

    /// Parses `127.0.0.1:5000`, `[::1]:5000`, `:5000`, `localhost:0` or `unix:PATH` (PATH relative to
    /// `directory`). Returns nil with a reason for anything else.
    public static func parse(_ text: String, directory: String) -> Result<ListenAddress, ListenAddressError> {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { return .failure(.init("`unix:` needs a path, e.g. unix:run/web.sock")) }
            guard !path.contains("\n") else { return .failure(.init("a socket path cannot contain a line break")) }
            let full = path.hasPrefix("/") ? path : "\(directory)/\(path)"
            guard full.utf8.count < 108 else {
                return .failure(.init("the socket path \(full) is longer than the 107 bytes Unix sockets allow"))
            }
            return .success(.unix(path: full))
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(.init("write an IPv6 address as [::1]:5000"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            let parts = host.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)
            guard !parts[0].isEmpty,
                parts[0].unicodeScalars.allSatisfy({ $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." }),
                parts.count == 1 || (!parts[1].isEmpty && parts[1].unicodeScalars.allSatisfy(isHostNameScalar))
            else {
                return .failure(.init("`[\(shown(host))]` is not an IPv6 address; write it as [::1]:5000"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .failure(
                    .init(
                        "`\(shown(text))` has no port; write HOST:PORT (127.0.0.1:5000), :PORT for every interface, or unix:PATH"
                    ))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return .failure(.init("write an IPv6 address in brackets: [\(shown(host))]:\(shown(portText))"))
            }
            guard host.unicodeScalars.allSatisfy(isHostNameScalar) else {
                return .failure(
                    .init("`\(shown(host))` is not a host name or IP address (ASCII letters, digits, `.`, `-` and `_`)")
                )
            }
        }
        guard let port = port(portText) else {
            return .failure(.init("`\(shown(portText))` is not a port number (0 to 65535; 0 picks a free one)"))
        }
        return .success(.tcp(host: String(host), port: port))
    }

    /// `text` as a TCP port, `0` to `65535` in digits only (UInt16("+80") would take a sign that no address
    /// syntax has), or nil: for a `listen` address and for a `PORT` a `werkzeug:` process serves on.
    static func port(_ text: some StringProtocol) -> UInt16? {
        guard (1...5).contains(text.utf8.count),
            text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return UInt16(text)
    }

    /// What a host name (or an IPv6 zone) may contain.
    static func isHostNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII
            && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "." || scalar == "-"
                || scalar == "_")
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// Why a `listen:` value could not be parsed.
public struct ListenAddressError: Error, Sendable, Equatable {
    public var message: String
    init(_ message: String) { self.message = message }
}
