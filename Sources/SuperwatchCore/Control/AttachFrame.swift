/// What an `attach` client sends up its request body (`POST /v1/processes/NAME/attach`): frames of one type
/// byte, a two-byte big-endian length and that many bytes. Typed input and window sizes share the one stream, in
/// the order they happened; the answer's body is the terminal's raw output, which needs no framing. The end of
/// the request body is the detach.
enum AttachFrame: Sendable, Equatable {
    /// Bytes typed, for the process's terminal.
    case input([UInt8])
    /// The client's terminal now has this size.
    case resize(WindowSize)

    static let inputType: UInt8 = 0
    static let resizeType: UInt8 = 1
    /// The longest payload a frame carries; longer input goes in several frames.
    static let maximumPayload = 0xFFFF

    /// The bytes of this frame (input longer than `maximumPayload`: several frames).
    var encoded: [UInt8] {
        switch self {
        case .input(let bytes):
            var out: [UInt8] = []
            var start = 0
            repeat {
                let end = min(bytes.count, start + Self.maximumPayload)
                Self.appendHeader(Self.inputType, length: end - start, to: &out)
                out.append(contentsOf: bytes[start..<end])
                start = end
            } while start < bytes.count
            return out
        case .resize(let size):
            var out: [UInt8] = []
            Self.appendHeader(Self.resizeType, length: 4, to: &out)
            out += [
                UInt8(size.rows >> 8), UInt8(size.rows & 0xFF), UInt8(size.columns >> 8), UInt8(size.columns & 0xFF),
            ]
            return out
        }
    }

    private static func appendHeader(_ type: UInt8, length: Int, to out: inout [UInt8]) {
        out += [type, UInt8(length >> 8), UInt8(length & 0xFF)]
    }

    /// Reads frames from a byte stream cut anywhere. A frame of a type it does not know is skipped (a newer
    /// client's), as is a resize without its four bytes or to a size of 0.
    struct Parser {
        private var buffer: [UInt8] = []

        mutating func consume<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [AttachFrame] {
            buffer.append(contentsOf: bytes)
            var frames: [AttachFrame] = []
            var start = 0
            while buffer.count - start >= 3 {
                let length = Int(buffer[start + 1]) << 8 | Int(buffer[start + 2])
                guard buffer.count - start - 3 >= length else { break }
                let payload = Array(buffer[(start + 3)..<(start + 3 + length)])
                switch buffer[start] {
                case AttachFrame.inputType:
                    if !payload.isEmpty { frames.append(.input(payload)) }
                case AttachFrame.resizeType where length == 4:
                    let size = WindowSize(
                        rows: UInt16(payload[0]) << 8 | UInt16(payload[1]),
                        columns: UInt16(payload[2]) << 8 | UInt16(payload[3]))
                    if size.rows > 0 && size.columns > 0 { frames.append(.resize(size)) }
                default:
                    break
                }
                start += 3 + length
            }
            buffer.removeFirst(start)
            return frames
        }
    }
}
