public import Core
public import Foundation

/// The iTIP method (RFC 5546) of a calendar sent by email; it is both the calendar's `METHOD`
/// property and the `method` parameter of the `text/calendar` part.
public enum InvitationMethod: String, Sendable, Equatable, CaseIterable {
    /// An invitation, or its update (same UID, higher SEQUENCE).
    case request = "REQUEST"
    /// The meeting is cancelled.
    case cancel = "CANCEL"
    /// An attendee's answer (accept / decline).
    case reply = "REPLY"
}

/// Everything an invitation email is made of. The calendar text comes from the iCalendar builder
/// (libical) already validated; this type only lays it out as MIME.
public struct InvitationDraft: Sendable, Equatable {
    public var from: MailAddress
    /// Usually the one attendee the invitation is for.
    public var to: [MailAddress]
    public var subject: String
    public var text: String
    public var html: String?
    /// The VCALENDAR text, CRLF line ends (as RFC 5545 requires), with `METHOD:<method>`.
    public var calendar: String
    public var method: InvitationMethod
    /// The attached copy's file name.
    public var filename: String
    /// Without angle brackets.
    public var messageID: String
    public var date: Date
    /// Threading an update or cancellation under the first invitation (no brackets); optional.
    public var inReplyTo: String?
    public var references: [String]

    public init(
        from: MailAddress, to: [MailAddress], subject: String, text: String, html: String? = nil, calendar: String, method: InvitationMethod,
        filename: String = "invite.ics", messageID: String, date: Date, inReplyTo: String? = nil, references: [String] = []
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.calendar = calendar
        self.method = method
        self.filename = filename
        self.messageID = messageID
        self.date = date
        self.inReplyTo = inReplyTo
        self.references = references
    }
}

/// Builds invitation (and update / cancellation / reply) emails with GMime, on the same builder
/// as `ReplyComposer`:
///
/// ```
/// multipart/mixed
/// ├── multipart/alternative
/// │   ├── text/plain; charset=utf-8
/// │   ├── text/html; charset=utf-8                        (when there is HTML)
/// │   └── text/calendar; charset=utf-8; method=REQUEST    (what mail clients render as an invitation)
/// └── application/ics; name=invite.ics                    (attachment, for clients that only import files)
/// ```
///
/// Gmail, Outlook and Apple Mail show accept / decline from the `text/calendar` alternative when
/// its `method` parameter and the calendar's `METHOD` agree; the attached copy is for everything
/// else (and for saving). The attachment is `application/ics`, not a second `text/calendar`, so
/// no client shows the invitation twice. The headers mark the message as automatically
/// generated (`Auto-Submitted: auto-generated`, RFC 3834) and ask Outlook not to send
/// out-of-office answers to it; replies to it (iTIP REPLY) are still sent by clients.
public enum InvitationComposer {
    /// A new Message-ID (no brackets): random, unique, on our domain.
    public static func makeMessageID(domain: String) -> String {
        "\(Identifier.make(prefix: "inv")).\(UUID().uuidString.prefix(8).lowercased())@\(domain)"
    }

    /// The message as bytes, CRLF line ends, ready for SMTP DATA.
    ///
    /// - Throws: `ReplyCompositionError` when an address or id cannot be a header, the calendar is
    ///   not a VCALENDAR, or its `METHOD` is not `draft.method`.
    public static func compose(_ draft: InvitationDraft) throws -> Data {
        GMimeRuntime.ensureInitialized()
        guard !draft.to.isEmpty else { throw ReplyCompositionError("an invitation needs at least one recipient") }
        for (field, value) in [("From", draft.from.address)] + draft.to.map({ ("To", $0.address) }) where !ReplyComposer.isAddrSpec(value) {
            throw ReplyCompositionError("\(field) address \"\(value.prefix(200))\" is not a plain addr-spec")
        }
        for id in [draft.messageID] + draft.references + [draft.inReplyTo].compactMap({ $0 }) where !ReplyComposer.isMessageIDText(id) {
            throw ReplyCompositionError("Message-ID \"\(id.prefix(200))\" contains characters a header cannot carry")
        }
        let declared = try calendarMethod(draft.calendar)
        guard declared == draft.method.rawValue else {
            throw ReplyCompositionError("the calendar's METHOD is \(declared.isEmpty ? "missing" : declared), the email says \(draft.method.rawValue)")
        }
        // RFC 5545 §3.1: content lines end with CRLF, whatever the builder handed us.
        let calendar = draft.calendar.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\n", with: "\r\n")
        var alternatives: [MIMEBody] = [.text(subtype: "plain", text: draft.text)]
        if let html = draft.html { alternatives.append(.text(subtype: "html", text: html)) }
        // The calendar's bytes as given (CRLF), not re-encoded as text: base64 when not ASCII.
        alternatives.append(.bytes(contentType: "text/calendar; charset=utf-8; method=\(draft.method.rawValue)", data: Data(calendar.utf8)))
        let attachment = ReplyAttachment(
            filename: draft.filename, contentType: "application/ics; name=\"\(Filename.sanitize(draft.filename))\"", data: Data(calendar.utf8))
        let body = MIMEBody.multipart(subtype: "mixed", parts: [.multipart(subtype: "alternative", parts: alternatives), .file(attachment)])
        let headers = MessageHeaders(
            from: draft.from, to: draft.to, subject: draft.subject, messageID: draft.messageID, date: draft.date, inReplyTo: draft.inReplyTo,
            references: draft.references,
            extra: [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "OOF, AutoReply")])
        return try MessageBuilder().build(headers: headers, body: body)
    }

    /// The value of the VCALENDAR's `METHOD` property ("" when it has none).
    /// - Throws: when the text is not a VCALENDAR.
    public static func calendarMethod(_ calendar: String) throws -> String {
        let lines = calendar.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        guard lines.first?.trimmingCharacters(in: .whitespaces).uppercased() == "BEGIN:VCALENDAR" else {
            throw ReplyCompositionError("the calendar text does not start with BEGIN:VCALENDAR")
        }
        var depth = 0
        for line in lines {
            let upper = line.uppercased()
            if upper.hasPrefix("BEGIN:") { depth += 1 } else if upper.hasPrefix("END:") { depth -= 1 }
            // METHOD belongs to the VCALENDAR itself (depth 1), not to a component inside it.
            if depth == 1, upper.hasPrefix("METHOD:") {
                return String(line.dropFirst("METHOD:".count)).trimmingCharacters(in: .whitespaces).uppercased()
            }
        }
        return ""
    }
}
