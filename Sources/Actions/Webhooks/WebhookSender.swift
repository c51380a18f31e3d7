public import AsyncHTTPClient
public import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// One delivery attempt to make: everything but the connection comes from the job and the config.
public struct WebhookAttempt: Sendable {
    public var url: String
    /// `webhook-id`: the same on every attempt of one delivery.
    public var messageID: String
    public var body: Data
    public var signer: WebhookSigner?
    /// Extra headers (config `headers`, secrets already read).
    public var headers: [(String, String)]
    public var timeout: TimeInterval
    /// SSRF opt-out for this endpoint.
    public var allowPrivate: Bool

    public init(url: String, messageID: String, body: Data, signer: WebhookSigner?, headers: [(String, String)] = [], timeout: TimeInterval = 10, allowPrivate: Bool = false) {
        self.url = url
        self.messageID = messageID
        self.body = body
        self.signer = signer
        self.headers = headers
        self.timeout = timeout
        self.allowPrivate = allowPrivate
    }
}

/// What one attempt came to.
public enum WebhookAttemptOutcome: Sendable, Equatable {
    /// 2xx.
    case delivered(status: Int)
    /// 5xx, 408, 429, a timeout or a connection error: try again later; `retryAfter` when the
    /// receiver said when (seconds, from `Retry-After`).
    case retry(status: Int?, reason: String, retryAfter: TimeInterval?)
    /// Any other answer (4xx, a redirect) or a refused destination: retrying cannot help.
    case permanent(status: Int?, reason: String)
    /// 410 Gone: the receiver asks us to stop sending; the endpoint gets disabled.
    case gone(reason: String)

    public var status: Int? {
        switch self {
        case .delivered(let status): return status
        case .retry(let status, _, _), .permanent(let status, _): return status
        case .gone: return 410
        }
    }

    /// The short outcome name used in metrics and logs.
    public var name: String {
        switch self {
        case .delivered: return "delivered"
        case .retry: return "retry"
        case .permanent: return "failed"
        case .gone: return "gone"
        }
    }
}

/// POSTs signed outbound webhooks over the process's one `HTTPClient` (which must not follow
/// redirects: a redirect could lead past the destination check).
///
/// Destination check (SSRF guard), unless the endpoint has `allow_private`: the host is resolved
/// and the attempt is refused when any address is in a restricted range (``DestinationGuard``).
/// For `http://` URLs the request then goes to the checked address itself (the URL's host is
/// replaced by the address literal, `Host` keeps the name), so a second DNS answer cannot send it
/// elsewhere. For `https://` the client connects by name; a DNS answer that changed to an inside
/// address in between leads to a server that cannot present a certificate for the name, so the
/// TLS handshake fails before any request byte is sent.
public struct WebhookSender: Sendable {
    /// The largest response body excerpt kept for a failure reason.
    public static let excerptBytes = 300
    /// Retry-After values beyond this are capped.
    public static let maxRetryAfter: TimeInterval = 3600

    let client: HTTPClient
    let resolve: @Sendable (String) async throws -> [IPAddress]
    let restrictedRange: @Sendable (IPAddress) -> String?
    let clock: @Sendable () -> Date

    /// `resolve` and `restrictedRange` are replaceable so tests can prove the pinning with a
    /// name that resolves to a loopback receiver.
    public init(
        client: HTTPClient, resolve: @escaping @Sendable (String) async throws -> [IPAddress] = DestinationGuard.resolve,
        restrictedRange: @escaping @Sendable (IPAddress) -> String? = DestinationGuard.restrictedRange, clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.client = client
        self.resolve = resolve
        self.restrictedRange = restrictedRange
        self.clock = clock
    }

    /// Makes one attempt. Never throws: every failure is an outcome with a reason.
    public func send(_ attempt: WebhookAttempt) async -> WebhookAttemptOutcome {
        guard let components = URLComponents(string: attempt.url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", var host = components.host, !host.isEmpty
        else {
            return .permanent(status: nil, reason: "invalid URL")
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }

        var requestURL = attempt.url
        var hostHeader: String?
        if !attempt.allowPrivate {
            let addresses: [IPAddress]
            do {
                addresses = try await resolve(host)
            } catch {
                return .retry(status: nil, reason: "\(error)", retryAfter: nil)
            }
            if let refused = addresses.lazy.compactMap({ address in restrictedRange(address).map { (address, $0) } }).first {
                return .permanent(status: nil, reason: "destination refused: \(host) resolves to \(refused.0) (\(refused.1)); set allow_private to allow it")
            }
            if scheme == "http", IPAddress(host) == nil, let pinned = addresses.first {
                var pinnedComponents = components
                pinnedComponents.percentEncodedHost = pinned.urlHost
                if let pinnedURL = pinnedComponents.string {
                    requestURL = pinnedURL
                    hostHeader = components.port.map { "\(host):\($0)" } ?? host
                }
            }
        }

        var request = HTTPClientRequest(url: requestURL)
        request.method = .POST
        let timestamp = Int(clock().timeIntervalSince1970)
        for (name, value) in attempt.headers { request.headers.add(name: name, value: value) }
        if let hostHeader { request.headers.replaceOrAdd(name: "Host", value: hostHeader) }
        request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        request.headers.replaceOrAdd(name: "User-Agent", value: "astralisd")
        request.headers.replaceOrAdd(name: "webhook-id", value: attempt.messageID)
        request.headers.replaceOrAdd(name: "webhook-timestamp", value: "\(timestamp)")
        if let signer = attempt.signer {
            request.headers.replaceOrAdd(name: "webhook-signature", value: signer.signature(messageID: attempt.messageID, timestamp: timestamp, body: attempt.body))
        }
        request.body = .bytes(ByteBuffer(bytes: attempt.body))

        let response: HTTPClientResponse
        let deadline = NIODeadline.now() + .milliseconds(Int64(attempt.timeout * 1000))
        do {
            response = try await client.execute(request, deadline: deadline)
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            return .retry(status: nil, reason: "timed out after \(attempt.timeout) s", retryAfter: nil)
        } catch {
            return .retry(status: nil, reason: "request failed: \(error)", retryAfter: nil)
        }
        let status = Int(response.status.code)
        // Read (a bounded part of) the answer: it is the failure reason, and reading it to the end
        // lets the connection be reused.
        var excerpt: [UInt8] = []
        do {
            var total = 0
            for try await chunk in response.body {
                total += chunk.readableBytes
                if excerpt.count < Self.excerptBytes {
                    excerpt += chunk.readableBytesView.prefix(Self.excerptBytes - excerpt.count)
                }
                if total > 1 << 20 { break }
            }
        } catch {
            // The status line is what decides; a broken body only shortens the excerpt.
        }
        let statusLine = "HTTP \(status)"
        let text = Self.excerptText(excerpt)
        let reason = text.isEmpty ? statusLine : "\(statusLine): \(text)"
        switch status {
        case 200..<300:
            return .delivered(status: status)
        case 410:
            return .gone(reason: reason)
        case 408, 429, 500..<600:
            let retryAfter = response.headers.first(name: "Retry-After").flatMap { Self.retryAfterSeconds($0, now: clock()) }
            return .retry(status: status, reason: reason, retryAfter: retryAfter)
        case 300..<400:
            let location = response.headers.first(name: "Location").map { " (Location: \(Self.excerptText(Array($0.utf8.prefix(200)))))" } ?? ""
            return .permanent(status: status, reason: "\(statusLine): redirects are not followed\(location)")
        default:
            return .permanent(status: status, reason: reason)
        }
    }

    /// One printable line from the start of a response body.
    static func excerptText(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        let cleaned = text.unicodeScalars.map { scalar -> Character in
            scalar.properties.generalCategory == .control ? " " : Character(scalar)
        }
        return String(cleaned).trimmingCharacters(in: .whitespaces)
    }

    /// `Retry-After` as delta-seconds or an HTTP date, capped at ``maxRetryAfter``; nil when unreadable.
    public static func retryAfterSeconds(_ value: String, now: Date) -> TimeInterval? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed), seconds >= 0 {
            return min(TimeInterval(seconds), maxRetryAfter)
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), maxRetryAfter)
    }
}
