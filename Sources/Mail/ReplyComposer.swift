import CGMime
public import Core
public import Foundation

/// A file sent with a reply (the scheduling work attaches `text/calendar` invitations).
public struct ReplyAttachment: Sendable, Equatable {
    public var filename: String
    /// Full media type with parameters: `text/calendar; method=REQUEST; charset=utf-8`.
    public var contentType: String
    public var data: Data
    /// `inline` instead of `attachment` disposition (calendar invitations are usually inline).
    public var inline: Bool

    public init(filename: String, contentType: String, data: Data, inline: Bool = false) {
        self.filename = filename
        self.contentType = contentType
        self.data = data
        self.inline = inline
    }
}

/// Everything a reply message is made of; `ReplyComposer.draft(replyingTo:…)` fills the threading
/// fields from the message answered.
public struct ReplyDraft: Sendable, Equatable {
    public var from: MailAddress
    public var to: MailAddress
    public var subject: String
    public var text: String
    public var html: String?
    public var attachments: [ReplyAttachment]
    /// Without angle brackets.
    public var messageID: String
    public var date: Date
    /// The Message-ID answered (no brackets); nil when the parent had none.
    public var inReplyTo: String?
    /// The thread's Message-IDs, oldest first (no brackets).
    public var references: [String]

    public init(from: MailAddress, to: MailAddress, subject: String, text: String, html: String? = nil, attachments: [ReplyAttachment] = [], messageID: String, date: Date, inReplyTo: String? = nil, references: [String] = []) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.attachments = attachments
        self.messageID = messageID
        self.date = date
        self.inReplyTo = inReplyTo
        self.references = references
    }
}

/// Raised when a reply cannot be built (bad addresses, a GMime failure).
public struct ReplyCompositionError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builds RFC 5322 replies with GMime: threading headers (RFC 5322 §3.6.4), `Auto-Submitted:
/// auto-replied` (RFC 3834), text and optional HTML as multipart/alternative, optional
/// attachments (multipart/mixed), every part encoded to 7-bit safe transfer encodings, CRLF line
/// ends. Each call owns its GMime objects and frees them before returning, so replies are composed
/// on any number of threads.
public enum ReplyComposer {
    /// Longest References header kept: the parent's first Message-ID (the thread root) and the
    /// most recent ones (RFC 5322 suggests trimming long chains this way).
    public static let maxReferences = 20

    /// `Re: <subject>` without stacking: leading `Re:`, `RE:`, `Aw:`, `Sv:`, `Antw:`, `Fwd:`,
    /// `Fw:`, `WG:` and `[n]`-style counters (`Re[2]:`) are removed before one `Re: ` is put in front.
    public static func replySubject(_ original: String?) -> String {
        var subject = (original ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let prefixes = ["re", "aw", "sv", "antw", "fwd", "fw", "wg", "tr", "vs"]
        var changed = true
        while changed {
            changed = false
            let lower = subject.lowercased()
            for prefix in prefixes where lower.hasPrefix(prefix) {
                var rest = lower.dropFirst(prefix.count)
                // `Re[2]:` / `Re(2):`
                if let open = rest.first, open == "[" || open == "(" {
                    let close: Character = open == "[" ? "]" : ")"
                    guard let end = rest.firstIndex(of: close), rest[rest.index(after: rest.startIndex)..<end].allSatisfy(\.isNumber) else { continue }
                    rest = rest[rest.index(after: end)...]
                }
                rest = rest.drop(while: { $0 == " " })
                guard rest.first == ":" else { continue }
                let consumed = lower.count - rest.count + 1
                subject = String(subject.dropFirst(consumed)).trimmingCharacters(in: .whitespaces)
                changed = true
                break
            }
        }
        return subject.isEmpty ? "Re: your message" : "Re: \(subject)"
    }

    /// The subject a reply template produced, tidied: empty → `replySubject(parent)`; one that
    /// starts with reply / forward prefixes (`Re: {{subject}}` over `Re: Aw: x`) loses the stack
    /// (`Re: x`); anything else is kept as written.
    public static func subject(rendered: String, parent: String?) -> String {
        let trimmed = rendered.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { return replySubject(parent) }
        let tidied = replySubject(trimmed)
        return tidied == "Re: \(trimmed)" ? trimmed : tidied
    }

    /// The address a reply goes to: the first Reply-To mailbox, else the first From mailbox.
    public static func recipient(of parent: Message) -> MailAddress? {
        (parent.replyTo + parent.from).first { !$0.address.isEmpty }
    }

    /// References for a reply: the parent's References (or, without them, its In-Reply-To) and
    /// then its Message-ID, duplicates removed, trimmed to `maxReferences` keeping the root.
    public static func references(of parent: Message) -> [String] {
        var chain = parent.references.isEmpty ? Array(parent.inReplyTo.prefix(1)) : parent.references
        if let id = parent.messageID { chain.append(id) }
        var seen = Set<String>()
        chain = chain.filter { !$0.isEmpty && seen.insert($0).inserted }
        if chain.count > maxReferences {
            chain = [chain[0]] + chain.suffix(maxReferences - 1)
        }
        return chain
    }

    /// A new Message-ID (no brackets): random, unique, on our domain.
    public static func makeMessageID(domain: String) -> String {
        "\(Identifier.make(prefix: "re")).\(UUID().uuidString.prefix(8).lowercased())@\(domain)"
    }

    /// The reply to `parent` with threading fields filled in.
    public static func draft(replyingTo parent: Message, from: MailAddress, to: MailAddress, subject: String, text: String, html: String?, attachments: [ReplyAttachment] = [], messageID: String, date: Date) -> ReplyDraft {
        ReplyDraft(
            from: from, to: to, subject: subject, text: text, html: html, attachments: attachments, messageID: messageID,
            date: date, inReplyTo: parent.messageID, references: references(of: parent))
    }

    /// The message as bytes, CRLF line ends, ready for SMTP DATA.
    public static func compose(_ draft: ReplyDraft) throws -> Data {
        GMimeRuntime.ensureInitialized()
        for (field, value) in [("From", draft.from.address), ("To", draft.to.address)] where !isAddrSpec(value) {
            throw ReplyCompositionError("\(field) address \"\(value.prefix(200))\" is not a plain addr-spec")
        }
        for id in [draft.messageID] + draft.references + [draft.inReplyTo].compactMap({ $0 }) where !isMessageIDText(id) {
            throw ReplyCompositionError("Message-ID \"\(id.prefix(200))\" contains characters a header cannot carry")
        }
        let builder = MessageBuilder()
        return try builder.build(draft)
    }

    static func isAddrSpec(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return false }
        return !text.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "<" || $0 == ">" || $0 == "," || $0 == "\0" })
    }

    static func isMessageIDText(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.allSatisfy { $0.value > 32 && $0.value < 127 && $0 != "<" && $0 != ">" }
    }
}

/// A MIME body to build: leaves and multiparts, in the order they are written.
indirect enum MIMEBody {
    /// A text part (`text/<subtype>; charset=utf-8`), LF or CRLF line ends both written as CRLF.
    case text(subtype: String, text: String)
    /// A part with the attachment's bytes as they are.
    case file(ReplyAttachment)
    /// A part with these bytes as they are, no disposition or file name (`contentType` with its
    /// parameters, as `ReplyAttachment.contentType`).
    case bytes(contentType: String, data: Data)
    case multipart(subtype: String, parts: [MIMEBody])
}

/// The top-level fields of a message being built; addresses and ids checked by the caller.
struct MessageHeaders {
    var from: MailAddress
    var to: [MailAddress]
    var subject: String
    var messageID: String
    var date: Date
    var inReplyTo: String?
    var references: [String]
    /// Written in order after the standard fields (`Auto-Submitted`...).
    var extra: [(String, String)]
}

/// Owns the GMime objects of one message being built; `deinit` drops every reference taken.
final class MessageBuilder {
    private var objects: [UnsafeMutableRawPointer] = []
    private var formatOptions: OpaquePointer?

    deinit {
        for object in objects.reversed() { cgmime_unref(object) }
        if let formatOptions { g_mime_format_options_free(formatOptions) }
    }

    private func keep<T>(_ pointer: UnsafeMutablePointer<T>?) throws -> UnsafeMutablePointer<T> {
        guard let pointer else { throw ReplyCompositionError("GMime could not allocate a message part") }
        objects.append(UnsafeMutableRawPointer(pointer))
        return pointer
    }

    func build(_ draft: ReplyDraft) throws -> Data {
        var body = MIMEBody.text(subtype: "plain", text: draft.text)
        if let html = draft.html {
            body = .multipart(subtype: "alternative", parts: [body, .text(subtype: "html", text: html)])
        }
        if !draft.attachments.isEmpty {
            body = .multipart(subtype: "mixed", parts: [body] + draft.attachments.map { .file($0) })
        }
        let headers = MessageHeaders(
            from: draft.from, to: [draft.to], subject: draft.subject, messageID: draft.messageID, date: draft.date, inReplyTo: draft.inReplyTo,
            references: draft.references,
            // RFC 3834 §3.1.8 and common practice: ask other responders not to answer us.
            extra: [("Auto-Submitted", "auto-replied"), ("X-Auto-Response-Suppress", "All")])
        return try build(headers: headers, body: body)
    }

    func build(headers: MessageHeaders, body: MIMEBody) throws -> Data {
        let message = try keep(g_mime_message_new(1))
        let messageObject = cgmime_message_as_object(message)
        g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_FROM, headers.from.name, headers.from.address)
        for to in headers.to {
            g_mime_message_add_mailbox(message, GMIME_ADDRESS_TYPE_TO, to.name, to.address)
        }
        g_mime_message_set_subject(message, Self.oneLine(headers.subject), "utf-8")
        let date = g_date_time_new_from_unix_utc(gint64(headers.date.timeIntervalSince1970.rounded(.down)))
        if let date {
            g_mime_message_set_date(message, date)
            g_date_time_unref(date)
        }
        g_mime_message_set_message_id(message, headers.messageID)
        if let parent = headers.inReplyTo {
            g_mime_object_set_header(messageObject, "In-Reply-To", "<\(parent)>", nil)
        }
        if !headers.references.isEmpty {
            g_mime_object_set_header(messageObject, "References", headers.references.map { "<\($0)>" }.joined(separator: " "), nil)
        }
        for (name, value) in headers.extra {
            g_mime_object_set_header(messageObject, name, value, nil)
        }

        g_mime_message_set_mime_part(message, try object(for: body))
        g_mime_object_encode(messageObject, GMIME_ENCODING_CONSTRAINT_7BIT)

        formatOptions = g_mime_format_options_new()
        g_mime_format_options_set_newline_format(formatOptions, GMIME_NEWLINE_FORMAT_DOS)
        let stream = try keep(g_mime_stream_mem_new())
        guard g_mime_object_write_to_stream(messageObject, formatOptions, stream) >= 0, let bytes = cgmime_stream_mem_bytes(stream),
              let start = bytes.pointee.data else {
            throw ReplyCompositionError("GMime could not write the message")
        }
        return Data(bytes: start, count: Int(bytes.pointee.len))
    }

    private func object(for body: MIMEBody) throws -> UnsafeMutablePointer<GMimeObject> {
        switch body {
        case .text(let subtype, let text):
            return try textPart(subtype: subtype, text: text)
        case .file(let attachment):
            return try attachmentPart(attachment)
        case .bytes(let contentType, let data):
            return try dataPart(contentType: contentType, data: data).object
        case .multipart(let subtype, let parts):
            let multipart = try keep(g_mime_multipart_new_with_subtype(subtype))
            for part in parts { g_mime_multipart_add(multipart, try object(for: part)) }
            return cgmime_multipart_as_object(multipart)
        }
    }

    private func textPart(subtype: String, text: String) throws -> UnsafeMutablePointer<GMimeObject> {
        let part = try keep(g_mime_text_part_new_with_subtype(subtype))
        // SMTP wants CRLF; GMime writes the DOS newline format, so hand it LF-only text.
        g_mime_text_part_set_text(part, text.replacingOccurrences(of: "\r\n", with: "\n"))
        g_mime_text_part_set_charset(part, "utf-8")
        return cgmime_text_part_as_object(part)
    }

    private func attachmentPart(_ attachment: ReplyAttachment) throws -> UnsafeMutablePointer<GMimeObject> {
        let (part, object) = try dataPart(contentType: attachment.contentType, data: attachment.data)
        g_mime_object_set_disposition(object, attachment.inline ? "inline" : "attachment")
        if !attachment.filename.isEmpty { g_mime_part_set_filename(part, Filename.sanitize(attachment.filename)) }
        return object
    }

    private func dataPart(contentType: String, data: Data) throws -> (part: UnsafeMutablePointer<GMimePart>, object: UnsafeMutablePointer<GMimeObject>) {
        let fields = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        let media = (fields.first ?? "").split(separator: "/").map(String.init)
        guard media.count == 2, !media[0].isEmpty, !media[1].isEmpty, !contentType.contains(where: \.isNewline) else {
            throw ReplyCompositionError("attachment content type \"\(contentType.prefix(200))\" is not type/subtype[; name=value]")
        }
        let part = try keep(g_mime_part_new_with_type(media[0], media[1]))
        guard let object = cgmime_part_as_object(part) else { throw ReplyCompositionError("GMime could not make an attachment part") }
        for parameter in fields.dropFirst() {
            guard let equals = parameter.firstIndex(of: "=") else { continue }
            let name = parameter[..<equals].trimmingCharacters(in: .whitespaces)
            var value = parameter[parameter.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            g_mime_object_set_content_type_parameter(object, name, value)
        }
        let stream = try data.withUnsafeBytes { buffer in
            try keep(cgmime_stream_mem_new_copy(buffer.baseAddress, buffer.count))
        }
        let wrapper = try keep(g_mime_data_wrapper_new_with_stream(stream, GMIME_CONTENT_ENCODING_DEFAULT))
        g_mime_part_set_content(part, wrapper)
        if data.contains(where: { $0 >= 0x80 }) {
            // Base64 keeps 8-bit bytes and CRLF line ends exactly as given (quoted-printable of
            // CRLF text is left to each reader's newline handling).
            g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64)
        }
        return (part, object)
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }
}
