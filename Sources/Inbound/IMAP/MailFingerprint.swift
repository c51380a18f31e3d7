public import Foundation
import Mail

/// How a message is recognised when its UID no longer says anything (the folder's UIDVALIDITY
/// changed): its Message-ID plus the SHA-256 of its raw bytes.
public enum MailFingerprint {
    /// `"<message-id>:<sha256 hex>"` (`"<none>:..."` without a Message-ID). `messageID` is the one
    /// the Mail parser read (``MailIntake`` records it as `message_id`), without angle brackets.
    public static func make(messageID: String?, raw: Data) -> String {
        let id = messageID.flatMap { $0.isEmpty ? nil : "<\($0)>" } ?? "<none>"
        return "\(id):\(ContentHash.sha256(raw))"
    }
}
