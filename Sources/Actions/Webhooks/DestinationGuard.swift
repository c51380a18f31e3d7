#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Foundation
import NIOPosix

/// An IPv4 or IPv6 address as its network-order bytes (4 or 16).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a literal (`10.0.0.1`, `::1`, `[::1]`); nil for anything else, host names included.
    public init?(_ text: String) {
        var literal = text
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = String(literal.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var isIPv6: Bool { bytes.count == 16 }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = isIPv6 ? AF_INET6 : AF_INET
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(family, raw.baseAddress, &buffer, socklen_t(buffer.count)) != nil
        }
        guard ok else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The literal as it goes in a URL: IPv6 in brackets.
    public var urlHost: String { isIPv6 ? "[\(description)]" : description }
}

/// Which addresses an outbound webhook may not reach (the SSRF guard). An address is refused
/// when it is loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
/// shared CGNAT space (100.64/10), unspecified, multicast, broadcast or reserved, also when such
/// an IPv4 address hides inside an IPv6 one (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible
/// `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
public enum DestinationGuard {
    /// The name of the restricted range `address` is in, or nil for a public address.
    public static func restrictedRange(_ address: IPAddress) -> String? {
        let b = address.bytes
        if b.count == 4 { return restrictedIPv4(b[0], b[1], b[2], b[3]) }
        // IPv6.
        if b.allSatisfy({ $0 == 0 }) { return "unspecified" }
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return "loopback" }
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff {
            return restrictedIPv4(b[12], b[13], b[14], b[15]).map { "IPv4-mapped \($0)" }
        }
        if b[0..<12].allSatisfy({ $0 == 0 }) {
            // IPv4-compatible (deprecated); `::` and `::1` were handled above.
            return restrictedIPv4(b[12], b[13], b[14], b[15]).map { "IPv4-compatible \($0)" } ?? "reserved (IPv4-compatible)"
        }
        if b[0] == 0x00, b[1] == 0x64, b[2] == 0xff, b[3] == 0x9b, b[4..<12].allSatisfy({ $0 == 0 }) {
            return restrictedIPv4(b[12], b[13], b[14], b[15]).map { "NAT64 \($0)" }
        }
        if b[0] == 0x20, b[1] == 0x02 {
            return restrictedIPv4(b[2], b[3], b[4], b[5]).map { "6to4 \($0)" }
        }
        if b[0] & 0xfe == 0xfc { return "private (unique local fc00::/7)" }
        if b[0] == 0xfe, b[1] & 0xc0 == 0x80 { return "link-local" }
        if b[0] == 0xfe, b[1] & 0xc0 == 0xc0 { return "private (site-local fec0::/10)" }
        if b[0] == 0xff { return "multicast" }
        if b[0] == 0x01, b[1..<8].allSatisfy({ $0 == 0 }) { return "reserved (discard 100::/64)" }
        if b[0] == 0x20, b[1] == 0x01, b[2] == 0x0d, b[3] == 0xb8 { return "reserved (documentation)" }
        return nil
    }

    static func restrictedIPv4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> String? {
        switch (a, b) {
        case (0, _): return a == 0 && b == 0 && c == 0 && d == 0 ? "unspecified" : "reserved (this network 0/8)"
        case (10, _): return "private"
        case (127, _): return "loopback"
        case (169, 254): return "link-local"
        case (172, 16...31): return "private"
        case (192, 168): return "private"
        case (100, 64...127): return "shared address space (CGNAT 100.64/10)"
        case (192, 0) where c == 0: return "reserved (IETF protocol assignments 192.0.0/24)"
        case (192, 0) where c == 2, (198, 51) where c == 100, (203, 0) where c == 113: return "reserved (documentation)"
        case (198, 18...19): return "reserved (benchmarking 198.18/15)"
        case (224...239, _): return "multicast"
        case (240...255, _): return a == 255 && b == 255 && c == 255 && d == 255 ? "broadcast" : "reserved (240/4)"
        default: return nil
        }
    }

    /// Resolves `host` (a name or a literal) to every address the system resolver gives, on
    /// NIO's blocking-I/O thread pool (getaddrinfo blocks).
    public static func resolve(_ host: String) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        return try await NIOThreadPool.singleton.runIfActive {
            try resolveBlocking(host)
        }
    }

    /// A host name that does not resolve.
    public struct ResolutionError: Error, CustomStringConvertible {
        public var host: String
        public var reason: String
        public var description: String { "cannot resolve \(host): \(reason)" }
    }

    static func resolveBlocking(_ host: String) throws -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0, let first = list else {
            throw ResolutionError(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var result: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ai_addr {
                switch entry.pointee.ai_family {
                case AF_INET:
                    let address = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    if let ip = withUnsafeBytes(of: address, { IPAddress(bytes: Array($0)) }) { result.append(ip) }
                case AF_INET6:
                    let address = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    if let ip = withUnsafeBytes(of: address, { IPAddress(bytes: Array($0)) }) { result.append(ip) }
                default:
                    break
                }
            }
            cursor = entry.pointee.ai_next
        }
        var seen = Set<IPAddress>()
        let unique = result.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { throw ResolutionError(host: host, reason: "no addresses") }
        return unique
    }
}
