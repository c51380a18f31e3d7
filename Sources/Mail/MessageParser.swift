public import Core
public import Foundation
public import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Structural limits for one message. A message over `maxMessageBytes` is not parsed at all
/// (`MailParseError.messageTooLarge`); a tree over `maxParts` or `maxDepth` is walked up to the
/// limit, the rest is skipped, and a defect (also in `ParsedMessage.limitReached`) says where.
/// Either way the caller still holds the raw bytes and keeps them.
public struct MailLimits: Sendable, Equatable, Codable {
    /// Largest raw message parsed, in bytes.
    public var maxMessageBytes: Int
    /// Most MIME entities (multiparts, leaves, embedded messages) examined in one message.
    public var maxParts: Int
    /// Deepest nesting of multiparts and embedded messages examined (the top level is 0).
    public var maxDepth: Int

    public init(maxMessageBytes: Int = 50 * 1024 * 1024, maxParts: Int = 1000, maxDepth: Int = 32) {
        self.maxMessageBytes = maxMessageBytes
        self.maxParts = maxParts
        self.maxDepth = maxDepth
    }

    /// 50 MiB, 1000 parts, depth 32: above what real mail uses, well below what exhausts memory.
    public static let `default` = MailLimits()
}

extension MailLimits {
    /// The limits of the configuration's `mail` section (whose defaults are `MailLimits.default`).
    public init(_ config: MailConfig) {
        self.init(maxMessageBytes: config.maxMessageBytes, maxParts: config.maxParts, maxDepth: config.maxDepth)
    }
}

/// Why a message was not parsed. Malformed input is never an error (it is a defect); only a
/// configured limit that makes parsing pointless or unsafe is.
public enum MailParseError: Error, Equatable, CustomStringConvertible {
    case messageTooLarge(size: Int, limit: Int)

    public var description: String {
        switch self {
        case .messageTooLarge(let size, let limit):
            return "message is \(size) bytes, over the limit of \(limit) bytes (MailLimits.maxMessageBytes); it was not parsed"
        }
    }
}

/// One attachment (or inline part) with its decoded bytes.
public struct ParsedAttachment: Sendable, Equatable {
    public var metadata: MessageAttachment
    /// The decoded bytes (transfer encoding removed); `metadata.sha256` is their hash.
    public var data: Data

    public init(metadata: MessageAttachment, data: Data) {
        self.metadata = metadata
        self.data = data
    }
}

/// What `MessageParser` makes of raw RFC 5322 bytes: the message as routing sees it, and the
/// attachments' bytes (in the same order as `message.attachments`).
public struct ParsedMessage: Sendable, Equatable {
    public var message: Message
    public var attachments: [ParsedAttachment]
    /// Set when `maxParts` or `maxDepth` stopped the walk: what was skipped, and why. The same
    /// text is also in `message.defects`.
    public var limitReached: String?

    public init(message: Message, attachments: [ParsedAttachment], limitReached: String? = nil) {
        self.message = message
        self.attachments = attachments
        self.limitReached = limitReached
    }
}

/// Turns raw RFC 5322 bytes into a `ParsedMessage` with GMime: RFC 2047 headers, address lists,
/// dates, charsets (to UTF-8), the best text body and every attachment, also inside forwarded
/// messages. Malformed input never throws and never crashes; what could not be read is listed in
/// `Message.defects`. Safe to call from many threads at once: every GMime object lives for one
/// call only, and GMime's process-wide state is initialised once and only read afterwards.
public struct MessageParser: Sendable {
    public var limits: MailLimits
    private let logger: Logger?

    /// Charsets tried, in order, for 8-bit text that declares no (or a wrong) charset.
    public static let fallbackCharsets = ["utf-8", "windows-1252", "iso-8859-1"]

    public init(limits: MailLimits = .default, logger: Logger? = nil) {
        self.limits = limits
        self.logger = logger
    }

    /// Parses `raw`. Throws only when `raw` is over `limits.maxMessageBytes`.
    public func parse(_ raw: Data) throws(MailParseError) -> ParsedMessage {
        guard raw.count <= limits.maxMessageBytes else {
            throw .messageTooLarge(size: raw.count, limit: limits.maxMessageBytes)
        }
        GMimeRuntime.ensureInitialized()
        let parse = GMimeParse(raw: raw, fallbackCharsets: Self.fallbackCharsets)
        var extractor = MessageExtractor(parse: parse, limits: limits)
        let result = extractor.extract(size: raw.count) { raw }
        if let logger, !result.message.defects.isEmpty {
            logger.debug("Message parsed with defects", metadata: [
                "mail.message_id": "\(result.message.messageID ?? "")",
                "mail.defects": "\(result.message.defects.count)",
            ])
        }
        return result
    }

    /// Parses the message in the file at `path` without loading it: GMime reads the file in small
    /// buffers, and each attachment's decoded bytes are streamed — into a writer from
    /// `attachmentWriter` (one at a time, sealed before the next one starts), or only hashed when
    /// it is nil — so memory stays at a few buffers whatever the message's size. The attachments
    /// in the result carry no `data`; with `attachmentWriter`, `writers[i]` holds attachment i's
    /// bytes, sealed, for the caller to `finish` (or `discard`).
    ///
    /// - Throws: `MailParseError.messageTooLarge` over `limits.maxMessageBytes`; a file that
    ///   cannot be read, or the first error of a writer.
    public func parse(
        fileAt path: String, attachmentWriter: (() throws -> any BlobWriter)? = nil
    ) throws -> (parsed: ParsedMessage, writers: [any BlobWriter]) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw MessageFileError(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw MessageFileError(path: path, reason: reason)
        }
        let size = Int(info.st_size)
        guard size <= limits.maxMessageBytes else {
            close(fd)
            throw MailParseError.messageTooLarge(size: size, limit: limits.maxMessageBytes)
        }
        GMimeRuntime.ensureInitialized()
        let parse = GMimeParse(fileDescriptor: fd, fallbackCharsets: Self.fallbackCharsets)
        let streaming = AttachmentStreaming(makeWriter: attachmentWriter)
        var extractor = MessageExtractor(parse: parse, limits: limits, streaming: streaming)
        // Only a file without a header block is read whole (it becomes the text body); the size
        // limit above bounds it.
        let result = extractor.extract(size: size) { (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data() }
        if let error = streaming.error {
            streaming.writers.forEach { $0.discard() }
            throw error
        }
        return (result, streaming.writers)
    }
}

/// A message file that cannot be opened or read.
public struct MessageFileError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "cannot read message file \(path): \(reason)" }
}
