public import Core
public import Foundation
public import Mail

/// Raw RFC 5322 messages into intakes, the same way for every mail path (IMAP, spool folder,
/// `astralisd ingest message.eml`): content type `message/rfc822`, a dedupe key from the
/// Message-ID and the bytes, and one document per attachment.
public enum MailIntake {
    /// Media type of every mail intake.
    public static let contentType = "message/rfc822"
    /// Longest Message-ID kept in a dedupe key; longer ones are cut (the hash still tells them apart).
    static let maxMessageIDInKey = 200

    /// `<source>:message:<message-id>:<sha256 of the raw bytes>`; the Message-ID part is empty
    /// when the message has none. The same bytes delivered twice (a re-fetch after a crash, the
    /// same file ingested again) are the same intake; a different message with a reused
    /// Message-ID is not.
    public static func dedupeKey(source: String, messageID: String?, raw: Data) -> String {
        "\(source):message:\((messageID ?? "").prefix(maxMessageIDInKey)):\(ContentHash.sha256(raw))"
    }

    /// The intake for one raw message. Never fails: a message the parser refuses (over
    /// `MailLimits.maxMessageBytes`) is still taken with its raw bytes, no documents, and the
    /// reason in `metadata["parse_error"]`; its processing job then fails with that reason.
    ///
    /// - Parameters:
    ///   - raw: the message exactly as received (the intake stores these bytes).
    ///   - metadata: recorded on the intake (mailbox, UID, file...); `message_id` is added.
    ///   - dedupeKey: overrides the default `dedupeKey(source:messageID:raw:)`.
    public static func pending(
        raw: Data, organization: String, source: String, sourceKind: SourceKind,
        metadata: [String: String] = [:], dedupeKey: String? = nil, parser: MessageParser = MessageParser()
    ) -> PendingIntake {
        var metadata = metadata
        var files: [UploadedFile] = []
        var messageID: String?
        do {
            let parsed = try parser.parse(raw)
            messageID = parsed.message.messageID
            files = parsed.attachments.map { attachment in
                UploadedFile(
                    field: attachment.metadata.partPath, filename: attachment.metadata.filename,
                    declaredType: attachment.metadata.declaredType, data: attachment.data,
                    origin: "mime:\(attachment.metadata.partPath)"
                )
            }
        } catch {
            metadata["parse_error"] = error.description
        }
        if let messageID { metadata["message_id"] = messageID }
        return PendingIntake(
            organization: organization, source: source, sourceKind: sourceKind,
            dedupeKey: dedupeKey ?? Self.dedupeKey(source: source, messageID: messageID, raw: raw),
            contentType: contentType, raw: raw, metadata: metadata, files: files
        )
    }
}
