public import Foundation

/// One mailbox of an address header: `"Ada Lovelace" <ada@example.com>` → name + addr-spec.
public struct MailAddress: Sendable, Codable, Equatable, Hashable {
    /// Display name, decoded (RFC 2047) and trimmed; nil when the header gave none.
    public var name: String?
    /// The addr-spec (`local@domain`) as written; may be empty for a group or a broken header.
    public var address: String

    public init(name: String? = nil, address: String) {
        self.name = name
        self.address = address
    }

    /// The domain in lower case (`example.com`), or "" when the address has none.
    public var domain: String {
        guard let at = address.lastIndex(of: "@") else { return "" }
        return address[address.index(after: at)...].lowercased()
    }

    /// `"Name" <addr>` or just `addr`, for logs and templates.
    public var formatted: String {
        guard let name, !name.isEmpty else { return address }
        return "\(name) <\(address)>"
    }
}

/// One header as it appeared in the message, its value unfolded and decoded to UTF-8.
public struct MessageHeader: Sendable, Codable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Where the text body came from.
public enum TextBodySource: String, Sendable, Codable {
    /// A text/plain part.
    case plain
    /// Text derived from a text/html part (markup, scripts and styles removed).
    case html
    /// The message has no text part.
    case none
}

/// One attachment or inline part that is not the text body, as found in the MIME tree.
public struct MessageAttachment: Sendable, Codable, Equatable {
    public enum Disposition: String, Sendable, Codable {
        case attachment, inline
    }

    /// Sanitised filename (RFC 2231 / RFC 2047 decoded); may be empty when the sender gave none.
    public var filename: String
    /// The declared media type, lower case (`application/pdf`); never trusted for decoding.
    public var declaredType: String
    /// Size of the decoded bytes.
    public var size: Int
    /// SHA-256 (hex, lower case) of the decoded bytes.
    public var sha256: String
    public var disposition: Disposition
    /// Content-ID without angle brackets, when present.
    public var contentID: String?
    /// Position in the MIME tree, e.g. `1.2` or `2.1.3` (inside a nested message/rfc822).
    public var partPath: String

    public init(filename: String, declaredType: String, size: Int, sha256: String, disposition: Disposition, contentID: String? = nil, partPath: String) {
        self.filename = filename
        self.declaredType = declaredType
        self.size = size
        self.sha256 = sha256
        self.disposition = disposition
        self.contentID = contentID
        self.partPath = partPath
    }
}

/// An RFC 5322 message as routing sees it: decoded headers, addresses, the best text body and the
/// attachments' metadata. Built by the Mail module from raw bytes; never fails on malformed input —
/// what could not be read is listed in `defects`.
public struct Message: Sendable, Codable, Equatable {
    public var messageID: String?
    /// Decoded subject (RFC 2047), nil when absent.
    public var subject: String?
    /// The Date header as an instant; nil when absent or unparseable (that is a defect, not an error).
    public var date: Date?
    public var from: [MailAddress]
    public var to: [MailAddress]
    public var cc: [MailAddress]
    public var replyTo: [MailAddress]
    /// The Return-Path addr-spec (envelope sender) when the message carries one; "" for `<>`.
    public var returnPath: String?
    /// Message-IDs without angle brackets.
    public var inReplyTo: [String]
    public var references: [String]
    /// Every top-level header in order, decoded.
    public var headers: [MessageHeader]
    public var text: String?
    public var textSource: TextBodySource
    public var attachments: [MessageAttachment]
    /// Problems found while parsing (missing boundary, bad base64, undecodable charset...).
    public var defects: [String]
    /// Size of the raw message in bytes.
    public var size: Int

    public init(
        messageID: String? = nil, subject: String? = nil, date: Date? = nil, from: [MailAddress] = [],
        to: [MailAddress] = [], cc: [MailAddress] = [], replyTo: [MailAddress] = [], returnPath: String? = nil,
        inReplyTo: [String] = [], references: [String] = [], headers: [MessageHeader] = [], text: String? = nil,
        textSource: TextBodySource = .none, attachments: [MessageAttachment] = [], defects: [String] = [], size: Int = 0
    ) {
        self.messageID = messageID
        self.subject = subject
        self.date = date
        self.from = from
        self.to = to
        self.cc = cc
        self.replyTo = replyTo
        self.returnPath = returnPath
        self.inReplyTo = inReplyTo
        self.references = references
        self.headers = headers
        self.text = text
        self.textSource = textSource
        self.attachments = attachments
        self.defects = defects
        self.size = size
    }

    /// Values of every header called `name` (case-insensitive), in order.
    public func headerValues(_ name: String) -> [String] {
        headers.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}
