public import Foundation
import Mail

/// How a message is recognised when its UID no longer says anything (the folder's UIDVALIDITY
/// changed): its Message-ID plus the SHA-256 of its raw bytes.
public enum MailFingerprint {
    /// `"<message-id>:<sha256 hex>"` (`"<none>:..."` without a Message-ID). `messageID` is the one
    /// the Mail parser read (``MailIntake`` records it as `message_id`), without angle brackets.
    public static func make(messageID: String?, raw: Data) -> String {
        make(messageID: messageID, sha256: ContentHash.sha256(raw))
    }

    /// The same from the raw bytes' SHA-256 (a streamed message's blob address).
    public static func make(messageID: String?, sha256: String) -> String {
        let id = messageID.flatMap { $0.isEmpty ? nil : "<\($0)>" } ?? "<none>"
        return "\(id):\(sha256)"
    }
}
