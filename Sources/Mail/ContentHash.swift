import Crypto
public import Foundation

/// The SHA-256 the Mail module reports for attachments and raw messages: lower-case hex, the same
/// form as `BlobRef.sha256`, so an attachment's hash names its blob.
public enum ContentHash {
    public static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256 over bytes that arrive in pieces.
    public struct Hasher {
        private var state = SHA256()

        public init() {}

        public mutating func update(_ data: Data) {
            state.update(data: data)
        }

        public func finalize() -> String {
            state.finalize().map { String(format: "%02x", $0) }.joined()
        }
    }
}
