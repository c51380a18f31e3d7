import Core
import Crypto
import Foundation
import Synchronization

/// Admin token strings: `aops_<30 base62 characters of randomness>_<CRC32 of the part before it,
/// 6 base62 characters>`. The fixed prefix and the checksum let secret scanners recognise a leaked
/// token without asking us; the checksum also lets the daemon refuse typos without a lookup.
/// Only the SHA-256 (hex) of the whole string is stored.
enum AdminTokenFormat {
    static let prefix = "aops_"
    static let secretLength = 30
    static let checksumLength = 6
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

    /// A new token string (about 178 bits of randomness from the system CSPRNG).
    static func generate() -> String {
        var rng = SystemRandomNumberGenerator()
        let secret = String((0..<secretLength).map { _ in alphabet[Int(rng.next(upperBound: UInt64(alphabet.count)))] })
        let body = prefix + secret
        return body + "_" + checksum(body)
    }

    /// True when `token` has the shape and a matching checksum.
    static func isWellFormed(_ token: String) -> Bool {
        let utf8 = Array(token.utf8)
        guard utf8.count == prefix.count + secretLength + 1 + checksumLength, token.hasPrefix(prefix) else { return false }
        let bodyEnd = prefix.count + secretLength
        guard utf8[bodyEnd] == UInt8(ascii: "_") else { return false }
        let allowed = Set(alphabet.compactMap(\.asciiValue))
        guard utf8[prefix.count..<bodyEnd].allSatisfy(allowed.contains), utf8[(bodyEnd + 1)...].allSatisfy(allowed.contains) else { return false }
        let body = String(decoding: utf8[..<bodyEnd], as: UTF8.self)
        let sum = String(decoding: utf8[(bodyEnd + 1)...], as: UTF8.self)
        return checksum(body) == sum
    }

    static func sha256(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// CRC-32 (IEEE, as zlib) of `text` in base62, left-padded to 6 characters.
    static func checksum(_ text: String) -> String {
        var value = UInt64(crc32(Array(text.utf8)))
        var digits: [Character] = []
        for _ in 0..<checksumLength {
            digits.append(alphabet[Int(value % 62)])
            value /= 62
        }
        return String(digits.reversed())
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1
            }
        }
        return ~crc
    }

    /// Compares two byte strings in time that depends only on their lengths.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

/// Resolves `Authorization: Bearer <token>` to an active token, or nil. Unknown, malformed,
/// revoked and expired tokens all give nil: callers answer them with the same 401.
struct AdminAuthenticator: Sendable {
    let store: any AdminStore
    let now: @Sendable () -> Date

    func authenticate(authorization: String?) async throws -> AdminToken? {
        guard let authorization else { return nil }
        let parts = authorization.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let presented = String(parts[1]).trimmingCharacters(in: .whitespaces)
        guard AdminTokenFormat.isWellFormed(presented) else { return nil }
        let digest = AdminTokenFormat.sha256(presented)
        // The lookup is by digest (an index); the comparison below is constant-time anyway so that
        // no code path compares secrets byte by byte with an early exit.
        guard let token = try await store.token(sha256: digest),
              AdminTokenFormat.constantTimeEquals(token.sha256, digest),
              token.isActive(at: now()) else { return nil }
        return token
    }
}

/// Counts authentication failures per client address in a fixed window; an address over the
/// limit is refused (429) until its window ends. Other addresses are unaffected.
final class AuthFailureLimiter: Sendable {
    struct Window {
        var started: Date
        var failures: Int
    }

    let maxFailures: Int
    let window: TimeInterval
    /// Most addresses remembered; the oldest windows are dropped first beyond it.
    let maxAddresses: Int
    private let windows = Mutex<[String: Window]>([:])

    init(maxFailures: Int = 10, window: TimeInterval = 60, maxAddresses: Int = 10_000) {
        self.maxFailures = maxFailures
        self.window = window
        self.maxAddresses = maxAddresses
    }

    /// Seconds the address must wait, or nil when it may try.
    func retryAfter(_ address: String, now: Date) -> Int? {
        windows.withLock { windows in
            guard let entry = windows[address] else { return nil }
            let elapsed = now.timeIntervalSince(entry.started)
            if elapsed >= window {
                windows[address] = nil
                return nil
            }
            guard entry.failures >= maxFailures else { return nil }
            return max(1, Int((window - elapsed).rounded(.up)))
        }
    }

    func recordFailure(_ address: String, now: Date) {
        windows.withLock { windows in
            if var entry = windows[address], now.timeIntervalSince(entry.started) < window {
                entry.failures += 1
                windows[address] = entry
            } else {
                if windows.count >= maxAddresses {
                    // Drop expired windows first; if all are live, the oldest.
                    windows = windows.filter { now.timeIntervalSince($0.value.started) < window }
                    if windows.count >= maxAddresses, let oldest = windows.min(by: { $0.value.started < $1.value.started })?.key {
                        windows[oldest] = nil
                    }
                }
                windows[address] = Window(started: now, failures: 1)
            }
        }
    }
}
