public import Core
public import Foundation
public import Mail
import Dispatch

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
        dedupeKey(source: source, messageID: messageID, sha256: ContentHash.sha256(raw))
    }

    /// The same key from the raw bytes' SHA-256 (a blob's address).
    public static func dedupeKey(source: String, messageID: String?, sha256: String) -> String {
        "\(source):message:\((messageID ?? "").prefix(maxMessageIDInKey)):\(sha256)"
    }

    /// The intake for a raw message already durable in `blobs` as `raw` (streamed there as it
    /// was fetched): the same intake `pending(raw:...)` makes, but the message is parsed from its
    /// file and each attachment is streamed into its own blob, one at a time, so memory stays at
    /// a few buffers whatever the message's size. A store without files (no `fileURL`) falls
    /// back to reading the bytes.
    ///
    /// - Throws: when the blob cannot be read or an attachment cannot be stored (the caller
    ///   retries; nothing was acknowledged). A message the parser refuses is taken as in
    ///   `pending(raw:...)`.
    public static func pending(
        stored raw: BlobRef, in blobs: any BlobStore, organization: String, source: String, sourceKind: SourceKind,
        metadata: [String: String] = [:], dedupeKey: String? = nil, parser: MessageParser = MessageParser()
    ) async throws -> PendingIntake {
        guard let url = try await blobs.fileURL(for: raw.sha256) else {
            let bytes = try await blobs.get(raw.sha256)
            var intake = pending(
                raw: bytes, organization: organization, source: source, sourceKind: sourceKind,
                metadata: metadata, dedupeKey: dedupeKey, parser: parser
            )
            intake.raw = Data()
            intake.storedRaw = raw
            return intake
        }
        var metadata = metadata
        var files: [UploadedFile] = []
        var messageID: String?
        let path = url.path
        let outcome: Result<(parsed: ParsedMessage, writers: [any BlobWriter]), any Error> = await blocking {
            Result { try parser.parse(fileAt: path, attachmentWriter: { try blobs.makeWriter() }) }
        }
        switch outcome {
        case .success(let result):
            messageID = result.parsed.message.messageID
            var writers = result.writers.makeIterator()
            defer { while let writer = writers.next() { writer.discard() } }
            for attachment in result.parsed.attachments {
                guard let writer = writers.next() else {
                    throw StoreError.unavailable("attachment \(attachment.metadata.partPath) was not written")
                }
                let ref = try await writer.finish()
                files.append(UploadedFile(
                    field: attachment.metadata.partPath, filename: attachment.metadata.filename,
                    declaredType: attachment.metadata.declaredType, data: Data(),
                    origin: "mime:\(attachment.metadata.partPath)", stored: ref
                ))
            }
        case .failure(let error as MailParseError):
            metadata["parse_error"] = error.description
        case .failure(let error):
            throw error
        }
        if let messageID { metadata["message_id"] = messageID }
        return PendingIntake(
            organization: organization, source: source, sourceKind: sourceKind,
            dedupeKey: dedupeKey ?? Self.dedupeKey(source: source, messageID: messageID, sha256: raw.sha256),
            contentType: contentType, storedRaw: raw, metadata: metadata, files: files
        )
    }

    /// Files above this size (spool folders, `astralisd ingest`) are copied into the blob store
    /// in pieces and made an intake with `pending(stored:)` instead of being read into memory.
    public static let streamThresholdBytes = 4 << 20

    /// Copies the file at `path` into `blobs` 1 MiB at a time and returns its durable reference.
    ///
    /// - Throws: when the file cannot be read, grows past `limit` bytes while being read
    ///   (`StoreError.invalid`), or the store fails.
    public static func storeFile(_ path: String, in blobs: any BlobStore, limit: Int) async throws -> BlobRef {
        let writer = try blobs.makeWriter()
        let copied: Result<Void, any Error> = await blocking {
            Result {
                guard let handle = FileHandle(forReadingAtPath: path) else {
                    throw MessageFileError(path: path, reason: "it cannot be opened")
                }
                defer { try? handle.close() }
                while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                    try writer.write(chunk)
                    if writer.bytesWritten > limit {
                        throw StoreError.invalid("\(path) grew past \(limit) bytes while it was read")
                    }
                }
                try writer.seal()
            }
        }
        do {
            try copied.get()
            return try await writer.finish()
        } catch {
            writer.discard()
            throw error
        }
    }

    /// Runs blocking work (file reads, fsyncs) on Dispatch's pool, not the cooperative one.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
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
