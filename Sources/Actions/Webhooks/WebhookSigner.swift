import Crypto
public import Foundation

/// Signs outbound webhooks as the Standard Webhooks specification says
/// (https://www.standardwebhooks.com): `webhook-signature: v1,<base64 HMAC-SHA256(key,
/// "<webhook-id>.<webhook-timestamp>.<body>")>`, the key being the base64 bytes after `whsec_`.
public struct WebhookSigner: Sendable {
    /// The secret is not in the expected form; says why without repeating it.
    public struct InvalidSecret: Error, CustomStringConvertible {
        public var description: String { "expected whsec_ followed by base64 key bytes" }
    }

    /// The key bytes (SymmetricKey is not Sendable in this swift-crypto; making one per
    /// signature costs a copy of 24-64 bytes).
    private let key: Data

    /// `secret` is `whsec_<base64>` (the prefix may be left out, as the specification allows).
    public init(secret: String) throws {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else { throw InvalidSecret() }
        key = bytes
    }

    /// The `webhook-signature` header value for one attempt.
    public func signature(messageID: String, timestamp: Int, body: Data) -> String {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: key))
        hmac.update(data: Data("\(messageID).\(timestamp).".utf8))
        hmac.update(data: body)
        return "v1," + Data(hmac.finalize()).base64EncodedString()
    }
}
