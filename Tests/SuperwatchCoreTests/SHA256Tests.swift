import Foundation
import SuperwatchCore
import SuperwatchTestSupport
import Testing

@Suite struct SHA256Tests {
    /// The SHA-256 examples of FIPS 180-4 (NIST's "Example Algorithms" for SHA-256) and the empty message.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
        (String(repeating: "a", count: 1_000_000), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ])
    func standardVectors(message: String, digest: String) {
        #expect(SHA256.hexDigest(message) == digest)
    }

    /// Every length around the padding boundaries (55, 56, 63, 64 bytes and their multiples), against
    /// coreutils' sha256sum.
    @Test func agreesWithSha256sumAtEveryPaddingBoundary() throws {
        for length in 0...200 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let result = try runCommand(["sha256sum"], input: Data(bytes))
            #expect(result.status == 0)
            let expected = String(result.stdout.prefix(64))
            let actual = SHA256.digest(bytes).map { String(format: "%02x", $0) }.joined()
            #expect(actual == expected, "length \(length)")
        }
    }
}
