@testable import Daemon
import Core
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@Suite("Admin access: token format, rate limit, listener policy, OpenAPI")
struct AdminAccessTests {
    @Test func tokensHaveAPrefixAndAChecksum() {
        let token = AdminTokenFormat.generate()
        #expect(token.hasPrefix("aops_"))
        #expect(token.count == 5 + 30 + 1 + 6)
        #expect(AdminTokenFormat.isWellFormed(token))
        #expect(AdminTokenFormat.generate() != token)
        // One changed character breaks the checksum.
        var characters = Array(token)
        characters[10] = characters[10] == "a" ? "b" : "a"
        #expect(!AdminTokenFormat.isWellFormed(String(characters)))
        #expect(!AdminTokenFormat.isWellFormed("aops_short_abc"))
        #expect(!AdminTokenFormat.isWellFormed(token.replacingOccurrences(of: "aops_", with: "apos_")))
        // CRC-32 (IEEE) check value.
        #expect(AdminTokenFormat.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(AdminTokenFormat.sha256(token).count == 64)
        #expect(AdminTokenFormat.constantTimeEquals("abc", "abc"))
        #expect(!AdminTokenFormat.constantTimeEquals("abc", "abd"))
        #expect(!AdminTokenFormat.constantTimeEquals("abc", "abcd"))
    }

    @Test func authFailuresAreLimitedPerAddressOnly() {
        let limiter = AuthFailureLimiter(maxFailures: 3, window: 60)
        let start = Date(timeIntervalSince1970: 1_000_000)
        for second in 0..<3 {
            #expect(limiter.retryAfter("10.0.0.1", now: start.addingTimeInterval(Double(second))) == nil)
            limiter.recordFailure("10.0.0.1", now: start.addingTimeInterval(Double(second)))
        }
        #expect(limiter.retryAfter("10.0.0.1", now: start.addingTimeInterval(3)) == 57)
        // Another client is not affected.
        #expect(limiter.retryAfter("10.0.0.2", now: start.addingTimeInterval(3)) == nil)
        // The window ends.
        #expect(limiter.retryAfter("10.0.0.1", now: start.addingTimeInterval(60)) == nil)
        // Memory stays bounded.
        let small = AuthFailureLimiter(maxFailures: 1, window: 60, maxAddresses: 2)
        for index in 0..<5 { small.recordFailure("10.1.0.\(index)", now: start.addingTimeInterval(Double(index))) }
        #expect(small.retryAfter("10.1.0.4", now: start.addingTimeInterval(5)) != nil)
        #expect(small.retryAfter("10.1.0.0", now: start.addingTimeInterval(5)) == nil)
    }

    @Test func theRouterAnswers429WithRetryAfterOnceTheLimitIsReached() async throws {
        let env = try await AdminTestEnvironment.make()
        defer { env.fixture.cleanUp() }
        let router = env.app.makeAdminRouter(limiter: AuthFailureLimiter(maxFailures: 3, window: 60))
        try await Application(router: router).test(.router) { client in
            for _ in 0..<3 {
                #expect(try await client.execute(uri: "/v1/items", method: .get, headers: env.headers(.unknown)).status == .unauthorized)
            }
            let limited = try await client.execute(uri: "/v1/items", method: .get, headers: env.headers(.viewer))
            #expect(limited.status == .tooManyRequests)
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            // The open endpoints stay open.
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
        }
        #expect(String(decoding: env.app.metrics.emit(), as: UTF8.self).contains(#"astralisd_admin_auth_failures_total{reason="rate_limited"} 1"#))
    }

    @Test func nonLoopbackAdminBindNeedsTokensAndTLSOrOptOut() throws {
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        var config = try ConfigLoader.load(path: fixture.configPath, environment: [:]).config
        #expect(AdminListenerPolicy.problem(config, activeTokens: 0) == nil)
        config.adminListen = ListenAddress(host: "0.0.0.0", port: 9090)
        #expect(AdminListenerPolicy.problem(config, activeTokens: 0)?.contains("no admin token exists") == true)
        #expect(AdminListenerPolicy.problem(config, activeTokens: 1)?.contains("admin.allow_plaintext") == true)
        config.adminAllowPlaintext = true
        #expect(AdminListenerPolicy.problem(config, activeTokens: 1) == nil)
    }

    @Test func redactionPointersAndRestore() {
        let document = try? JSONValue.parse(Data(#"{"a": {"tokens": [{"value": "s3"}, {"env": "X"}]}, "b": 1}"#.utf8))
        let redacted = ConfigRedaction.redact(document ?? .null)
        #expect(!String(decoding: redacted.encoded(), as: UTF8.self).contains("s3"))
        #expect(redacted["a"]?["tokens"]?.arrayValue?.last == .object(["env": .string("X")]))
        #expect(ConfigRedaction.restore(redacted, from: document) == document)
        #expect(ConfigRedaction.pointer(fromKeyPath: "organizations[0].sources[12].auth.type") == "/organizations/0/sources/12/auth/type")
        #expect(ConfigRedaction.pointer(fromKeyPath: "") == "")
    }

    /// openapi.yaml (top level) lists exactly the admin router's routes.
    @Test func openAPIDescribesEveryRoute() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        var documented = Set<String>()
        var inPaths = false
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths, let first = line.first, first != " " { inPaths = false }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let method = line.trimmingCharacters(in: .whitespaces).dropLast().uppercased()
                if ["GET", "PUT", "POST", "DELETE", "PATCH"].contains(method) { documented.insert("\(method) \(path)") }
            }
        }
        let fixture = try DaemonFixture()
        defer { fixture.cleanUp() }
        let loaded = try ConfigLoader.load(path: fixture.configPath, environment: [:])
        let app = try await DaemonApp.open(loaded: loaded, environment: [:], notifier: SystemdNotifier(environment: [:]), logLevel: SharedValue(.warning), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let routed = Set(app.makeAdminRouter().routes.map { route -> String in
            let path = "\(route.path)"
            return "\(route.method) \(path.hasPrefix("/") ? path : "/" + path)"
        })
        #expect(routed.count >= 23)
        #expect(documented == routed, "only in openapi.yaml: \(documented.subtracting(routed).sorted()); only in the router: \(routed.subtracting(documented).sorted())")
    }
}
