public import Core
import Crypto
public import Foundation
public import HTTPTypes

/// Why a webhook was not authenticated. Every case answers 401; the reason is logged, never sent.
public enum WebhookAuthFailure: Error, Equatable, CustomStringConvertible {
    case missingHeader(String)
    case malformedHeader(String)
    case timestampOutOfTolerance
    case noMatchingSignature
    case badToken

    public var description: String {
        switch self {
        case .missingHeader(let name): return "missing \(name) header"
        case .malformedHeader(let name): return "malformed \(name) header"
        case .timestampOutOfTolerance: return "webhook-timestamp outside the tolerance window"
        case .noMatchingSignature: return "no signature matches any configured secret"
        case .badToken: return "bearer token does not match"
        }
    }
}

/// A secret that could not be turned into key material.
public struct SecretFormatError: Error, CustomStringConvertible {
    public var reference: String
    public var reason: String
    public init(reference: String, reason: String) {
        self.reference = reference
        self.reason = reason
    }
    public var description: String { "secret \(reference): \(reason)" }
}

/// What verification established about a request.
public struct VerifiedWebhook: Sendable, Equatable {
    /// `webhook-id` for Standard Webhooks senders: the idempotency key.
    public var webhookID: String?
    public var scheme: String

    public init(webhookID: String?, scheme: String) {
        self.webhookID = webhookID
        self.scheme = scheme
    }
}

/// Checks a webhook's authentication over the raw body bytes, before anything parses them.
/// Secrets are resolved once (at load and on reload) into key material held here.
public struct WebhookVerifier: Sendable {
    /// Longest header value looked at; anything longer is malformed (protects the HMAC loop).
    public static let maxSignatureHeaderBytes = 4096
    /// Most signatures looked at in one `webhook-signature` header.
    public static let maxSignatures = 16
    public static let maxWebhookIDBytes = 256

    /// An HMAC-SHA256 already keyed (the padded key hashed in), copied for each request.
    /// swift-crypto does not mark it Sendable; it is a value whose hash states are copied on
    /// write, and the stored one is never updated, so sharing it between requests is safe.
    struct KeyedMAC: @unchecked Sendable {
        private let keyed: HMAC<SHA256>
        init(key: Data) { keyed = HMAC<SHA256>(key: SymmetricKey(data: key)) }

        /// The MAC of `prefix` followed by `body`, fed in pieces rather than joined in one buffer.
        func code(prefix: Data = Data(), body: some DataProtocol) -> Data {
            var mac = keyed
            mac.update(data: prefix)
            mac.update(data: body)
            return Data(mac.finalize())
        }
    }

    enum Scheme: Sendable {
        case none
        case standard(keys: [KeyedMAC], tolerance: TimeInterval)
        case github(keys: [KeyedMAC])
        case bearer(digests: [Data])
    }

    let scheme: Scheme

    /// Builds a verifier; `resolve` turns a secret reference into its bytes (env, file, credential).
    public init(auth: WebhookAuth, resolve: (SecretRef) throws -> String) throws {
        switch auth {
        case .none:
            scheme = .none
        case .standardWebhooks(let secrets, let tolerance):
            scheme = .standard(keys: try secrets.map { ref in KeyedMAC(key: try Self.standardKey(try resolve(ref), reference: ref)) }, tolerance: TimeInterval(tolerance))
        case .github(let secrets):
            scheme = .github(keys: try secrets.map { KeyedMAC(key: Data(try resolve($0).utf8)) })
        case .bearer(let tokens):
            scheme = .bearer(digests: try tokens.map { Data(SHA256.hash(data: Data(try resolve($0).utf8))) })
        }
    }

    /// A Standard Webhooks secret is `whsec_` followed by base64 key bytes.
    static func standardKey(_ secret: String, reference: SecretRef) throws -> Data {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else {
            throw SecretFormatError(reference: reference.description, reason: "expected whsec_ followed by base64 key bytes")
        }
        return bytes
    }

    /// Verifies `body` as received. Header lookup is case-insensitive (HTTPFields).
    public func verify(headers: HTTPFields, body: some DataProtocol, now: Date) -> Result<VerifiedWebhook, WebhookAuthFailure> {
        switch scheme {
        case .none:
            return .success(VerifiedWebhook(webhookID: nil, scheme: "none"))
        case .standard(let keys, let tolerance):
            return verifyStandard(headers: headers, body: body, now: now, keys: keys, tolerance: tolerance)
        case .github(let keys):
            return verifyGitHub(headers: headers, body: body, keys: keys)
        case .bearer(let digests):
            return verifyBearer(headers: headers, digests: digests)
        }
    }

    // Valid tokens by construction (lower-case letters, digits and dashes).
    static let webhookIDHeader = HTTPField.Name("webhook-id")!
    static let webhookTimestampHeader = HTTPField.Name("webhook-timestamp")!
    static let webhookSignatureHeader = HTTPField.Name("webhook-signature")!
    static let hubSignatureHeader = HTTPField.Name("x-hub-signature-256")!

    private func header(_ headers: HTTPFields, _ field: HTTPField.Name) -> Result<String, WebhookAuthFailure> {
        guard let value = headers[field] else { return .failure(.missingHeader(field.canonicalName)) }
        guard value.utf8.count <= Self.maxSignatureHeaderBytes else { return .failure(.malformedHeader(field.canonicalName)) }
        return .success(value)
    }

    private func verifyStandard(headers: HTTPFields, body: some DataProtocol, now: Date, keys: [KeyedMAC], tolerance: TimeInterval) -> Result<VerifiedWebhook, WebhookAuthFailure> {
        let id: String, timestampText: String, signatureText: String
        switch (header(headers, Self.webhookIDHeader), header(headers, Self.webhookTimestampHeader), header(headers, Self.webhookSignatureHeader)) {
        case (.success(let a), .success(let b), .success(let c)): (id, timestampText, signatureText) = (a, b, c)
        case (.failure(let error), _, _), (_, .failure(let error), _), (_, _, .failure(let error)): return .failure(error)
        }
        guard !id.isEmpty, id.utf8.count <= Self.maxWebhookIDBytes else { return .failure(.malformedHeader("webhook-id")) }
        guard timestampText.count <= 12, timestampText.allSatisfy(\.isASCII), let timestamp = Int64(timestampText) else {
            return .failure(.malformedHeader("webhook-timestamp"))
        }
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance else { return .failure(.timestampOutOfTolerance) }

        var signatures: [Data] = []
        for entry in signatureText.split(separator: " ", omittingEmptySubsequences: true) {
            guard signatures.count < Self.maxSignatures else { return .failure(.malformedHeader("webhook-signature")) }
            let parts = entry.split(separator: ",", maxSplits: 1)
            guard parts.count == 2 else { return .failure(.malformedHeader("webhook-signature")) }
            // Other versions (v1a: asymmetric) are skipped, as the spec asks of verifiers that don't know them.
            guard parts[0] == "v1" else { continue }
            guard let bytes = Data(base64Encoded: String(parts[1])), bytes.count == SHA256.byteCount else {
                return .failure(.malformedHeader("webhook-signature"))
            }
            signatures.append(bytes)
        }
        guard !signatures.isEmpty else { return .failure(.noMatchingSignature) }

        // The signed content is `{id}.{timestamp}.{body}`.
        let prefix = Data("\(id).\(timestampText).".utf8)
        for key in keys {
            let expected = key.code(prefix: prefix, body: body)
            for signature in signatures where Self.constantTimeEquals(signature, expected) {
                return .success(VerifiedWebhook(webhookID: id, scheme: "standard-webhooks"))
            }
        }
        return .failure(.noMatchingSignature)
    }

    private func verifyGitHub(headers: HTTPFields, body: some DataProtocol, keys: [KeyedMAC]) -> Result<VerifiedWebhook, WebhookAuthFailure> {
        let value: String
        switch header(headers, Self.hubSignatureHeader) {
        case .success(let text): value = text
        case .failure(let error): return .failure(error)
        }
        guard value.hasPrefix("sha256="), let signature = Self.hexDecode(value.dropFirst(7)), signature.count == SHA256.byteCount else {
            return .failure(.malformedHeader("x-hub-signature-256"))
        }
        for key in keys where Self.constantTimeEquals(signature, key.code(body: body)) {
            return .success(VerifiedWebhook(webhookID: nil, scheme: "github"))
        }
        return .failure(.noMatchingSignature)
    }

    private func verifyBearer(headers: HTTPFields, digests: [Data]) -> Result<VerifiedWebhook, WebhookAuthFailure> {
        guard let value = headers[.authorization] else { return .failure(.missingHeader("authorization")) }
        guard value.utf8.count <= Self.maxSignatureHeaderBytes, value.lowercased().hasPrefix("bearer ") else {
            return .failure(.malformedHeader("authorization"))
        }
        let token = value.dropFirst(7).trimmingCharacters(in: .whitespaces)
        // Comparing fixed-length digests in constant time keeps the token's length and content
        // from leaking through timing; every configured token is compared.
        let presented = Data(SHA256.hash(data: Data(token.utf8)))
        var matched = false
        for digest in digests where Self.constantTimeEquals(digest, presented) { matched = true }
        return matched ? .success(VerifiedWebhook(webhookID: nil, scheme: "bearer")) : .failure(.badToken)
    }

    static func constantTimeEquals(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    static func hexDecode(_ text: Substring) -> Data? {
        guard text.utf8.count % 2 == 0 else { return nil }
        var bytes = Data(capacity: text.utf8.count / 2)
        var high: UInt8?
        for char in text.utf8 {
            let nibble: UInt8
            switch char {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = char - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = char - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = char - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high {
                bytes.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return bytes
    }
}
