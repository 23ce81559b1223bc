#if canImport(Glibc)
    import Glibc
#endif

/// The TCP address of `up --api HOST:PORT`, and the checks that keep a browser page from using it: the address
/// must be loopback unless the user says otherwise, and a request must name it in its `Host` header.
public struct APIAddress: Sendable, Equatable, CustomStringConvertible {
    /// An IP literal (`127.0.0.1`, `::1`), `localhost`, or empty for every interface.
    public var host: String
    /// 0 picks a free port when `up` starts.
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses `--api` as `listen:` addresses are parsed (`127.0.0.1:8123`, `[::1]:8123`, `localhost:0`). An
    /// address other than loopback is refused unless `allowRemote`: the API can stop and start the user's
    /// processes, and its token travels in clear text.
    public static func parse(_ text: String, allowRemote: Bool) throws(SuperwatchError) -> APIAddress {
        switch ListenAddress.parse(text, directory: "/") {
        case .failure(let error):
            throw SuperwatchError(.usage, "--api \(text): \(error.message)")
        case .success(.unix):
            throw SuperwatchError(
                .usage, "--api takes a TCP address (127.0.0.1:8123); the Unix socket is always served")
        case .success(.tcp(let host, let port)):
            let address = APIAddress(host: host, port: port)
            guard allowRemote || address.isLoopback else {
                throw SuperwatchError(
                    .usage,
                    "--api \(text) is not a loopback address; anyone who can reach it could try the token. "
                        + "Use 127.0.0.1:PORT, or add --api-allow-remote if you mean it")
            }
            return address
        }
    }

    /// `localhost`, an address in 127.0.0.0/8, or `::1`.
    public var isLoopback: Bool {
        if host == "localhost" { return true }
        if let v4 = Self.ipv4(host) { return v4 >> 24 == 127 }
        return Self.isIPv6(host) && Self.ipv6(host) == Self.ipv6("::1")
    }

    /// The host as bind(2) gets it: every interface is `0.0.0.0` (NIO needs a literal or a name).
    public var bindHost: String { host.isEmpty ? "0.0.0.0" : host }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host.isEmpty ? "0.0.0.0" : host):\(port)"
    }

    /// Whether a request's `Host` header names this address, now bound at `boundPort`. A DNS rebinding attack
    /// reaches a loopback port through a name the attacker controls, so only IP literals (and `localhost`) are
    /// accepted: exactly the bound one, `localhost` for a loopback bind, any literal for a wildcard bind.
    public func acceptsHostHeader(_ value: String, boundPort: Int) -> Bool {
        let header = value.lowercased()
        let hostPart: Substring
        let portPart: Substring
        if header.hasPrefix("[") {
            guard let close = header.firstIndex(of: "]"), header[header.index(after: close)...].hasPrefix(":") else {
                return false
            }
            hostPart = header[header.index(after: header.startIndex)..<close]
            portPart = header[header.index(close, offsetBy: 2)...]
        } else {
            guard let colon = header.lastIndex(of: ":") else { return false }
            hostPart = header[..<colon]
            portPart = header[header.index(after: colon)...]
        }
        guard Int(portPart) == boundPort else { return false }
        let named = String(hostPart)
        if named == "localhost" { return isLoopback }
        guard Self.ipv4(named) != nil || Self.isIPv6(named) else { return false }
        if host.isEmpty || host == "0.0.0.0" || host == "::" { return true }
        if let mine = Self.ipv4(host) { return Self.ipv4(named) == mine }
        if host == "localhost" { return Self.ipv4(named) == 0x7F00_0001 || Self.ipv6(named) == Self.ipv6("::1") }
        return Self.isIPv6(host) && Self.ipv6(named) == Self.ipv6(host)
    }

    /// The IPv4 literal `text` as a number, or nil (inet_pton: no shorthand forms such as `127.1`).
    private static func ipv4(_ text: String) -> UInt32? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return UInt32(bigEndian: address.s_addr)
    }

    private static func isIPv6(_ text: String) -> Bool { ipv6(text) != nil }

    private static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}
