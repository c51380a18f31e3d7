import Core
import Foundation
import Mail
import Testing

@Suite("Invitation composer")
struct InvitationComposerTests {
    /// A fixed calendar as the libical builder makes them: CRLF, folded, non-ASCII in a value.
    static func calendar(method: String = "REQUEST", status: String = "CONFIRMED", sequence: Int = 0) -> String {
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//astralisd//scheduling//EN",
            "METHOD:\(method)",
            "BEGIN:VEVENT",
            "UID:bk_1@astralisd.test",
            "DTSTAMP:20261201T120000Z",
            "DTSTART:20261202T090000Z",
            "DTEND:20261202T093000Z",
            "SEQUENCE:\(sequence)",
            "STATUS:\(status)",
            "SUMMARY:Intro call with Ada from Acme – Köln office",
            "DESCRIPTION:Booked from the website form. We will talk about the offer and",
            "  the next steps.",
            "LOCATION:https://meet.google.com/abc-defg-hij",
            "ORGANIZER;CN=Ada:mailto:ada@acme.example",
            "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@customer.example",
            "END:VEVENT",
            "END:VCALENDAR",
        ].joined(separator: "\r\n") + "\r\n"
    }

    static func draft(method: InvitationMethod = .request, calendar: String = calendar(), html: String? = "<p>You are invited to <b>Intro call</b>.</p>") -> InvitationDraft {
        InvitationDraft(
            from: MailAddress(name: "Ada at Acme", address: "ada@acme.example"), to: [MailAddress(name: "Bob", address: "bob@customer.example")],
            subject: "Invitation: Intro call – Wed 2 Dec 09:00 UTC", text: "Hello Bob,\nyou are invited to an intro call.\n", html: html,
            calendar: calendar, method: method, messageID: "inv-1@acme.example", date: Date(timeIntervalSince1970: 1_796_126_400))
    }

    @Test("layout: mixed → [alternative (plain, html, calendar; method=REQUEST), invite.ics attachment]; headers; parses back")
    func requestLayout() throws {
        let bytes = try InvitationComposer.compose(Self.draft())
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(bytes.allSatisfy { $0 < 128 })

        let parts = MessageParser().outline(bytes)
        #expect(parts.map(\.path) == ["", "1", "1.1", "1.2", "1.3", "2"])
        #expect(parts.map(\.mediaType) == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/calendar", "application/ics"])
        let calendarPart = parts[4]
        #expect(calendarPart.parameters["method"] == "REQUEST")
        #expect(calendarPart.parameters["charset"]?.lowercased() == "utf-8")
        #expect(calendarPart.disposition == nil && calendarPart.filename == nil)
        let attachment = parts[5]
        #expect(attachment.disposition == "attachment")
        #expect(attachment.filename == "invite.ics")
        #expect(attachment.parameters["name"] == "invite.ics")
        // The calendar, byte for byte (CRLF kept), in both places.
        let expected = Data(Self.calendar().utf8)
        #expect(calendarPart.content == expected)
        #expect(attachment.content == expected)
        // Not ASCII (Köln, an en dash): base64, which keeps the bytes and CRLF exactly.
        #expect(calendarPart.transferEncoding == "base64" && attachment.transferEncoding == "base64")
        #expect(parts[2].content.map { String(decoding: $0, as: UTF8.self) }?.contains("you are invited") == true)

        let parsed = try MessageParser().parse(bytes)
        let message = parsed.message
        #expect(message.subject == "Invitation: Intro call – Wed 2 Dec 09:00 UTC")
        #expect(message.messageID == "inv-1@acme.example")
        #expect(message.header("Auto-Submitted") == "auto-generated")
        #expect(message.from == [MailAddress(name: "Ada at Acme", address: "ada@acme.example")])
        #expect(message.to == [MailAddress(name: "Bob", address: "bob@customer.example")])
        #expect(message.date == Date(timeIntervalSince1970: 1_796_126_400))
        #expect(message.textSource == .plain)
        #expect(message.text?.contains("you are invited to an intro call") == true)
        #expect(message.attachments.map(\.declaredType) == ["text/calendar", "application/ics"])
        #expect(parsed.attachments.allSatisfy { $0.data == expected })
    }

    @Test("CANCEL: the method parameter follows the calendar; text-only body")
    func cancelVariant() throws {
        let calendar = Self.calendar(method: "CANCEL", status: "CANCELLED", sequence: 1)
        let bytes = try InvitationComposer.compose(Self.draft(method: .cancel, calendar: calendar, html: nil))
        let parts = MessageParser().outline(bytes)
        #expect(parts.map(\.mediaType) == ["multipart/mixed", "multipart/alternative", "text/plain", "text/calendar", "application/ics"])
        #expect(parts[3].parameters["method"] == "CANCEL")
        #expect(parts[3].content.map { String(decoding: $0, as: UTF8.self) }?.contains("\r\nSEQUENCE:1\r\nSTATUS:CANCELLED\r\n") == true)
        #expect(parts[3].content == Data(calendar.utf8))
        #expect(parts[4].content == Data(calendar.utf8))
        #expect(parts[4].filename == "invite.ics")
    }

    @Test("an ASCII calendar goes unencoded (7bit) with its CRLF line ends")
    func asciiCalendar() throws {
        let calendar = Self.calendar().replacingOccurrences(of: " – Köln office", with: "")
        let bytes = try InvitationComposer.compose(Self.draft(calendar: calendar))
        let parts = MessageParser().outline(bytes)
        let calendarParts = parts.filter { $0.mediaType == "text/calendar" || $0.mediaType == "application/ics" }
        #expect(calendarParts.count == 2)
        // No Content-Transfer-Encoding header: 7bit, the bytes as they are.
        #expect(calendarParts.map(\.transferEncoding) == [nil, nil])
        #expect(calendarParts.map { $0.content.map { String(decoding: $0, as: UTF8.self) } } == [calendar, calendar])
        #expect(String(decoding: bytes, as: UTF8.self).contains("\r\nSUMMARY:Intro call with Ada from Acme\r\n"))
    }

    @Test("LF-only calendar text is sent with CRLF")
    func normalisesLineEnds() throws {
        let lf = Self.calendar().replacingOccurrences(of: "\r\n", with: "\n")
        let bytes = try InvitationComposer.compose(Self.draft(calendar: lf))
        let parts = MessageParser().outline(bytes)
        #expect(parts.first { $0.mediaType == "text/calendar" }?.content == Data(Self.calendar().utf8))
        #expect(parts.first { $0.mediaType == "application/ics" }?.content == Data(Self.calendar().utf8))
    }

    @Test("METHOD must match; a non-calendar and header injection are refused")
    func refusals() {
        #expect(throws: ReplyCompositionError.self) { try InvitationComposer.compose(Self.draft(method: .cancel)) }
        #expect(throws: ReplyCompositionError.self) { try InvitationComposer.compose(Self.draft(calendar: "hello")) }
        #expect(throws: ReplyCompositionError.self) {
            try InvitationComposer.compose(Self.draft(calendar: Self.calendar().replacingOccurrences(of: "METHOD:REQUEST\r\n", with: "")))
        }
        var draft = Self.draft()
        draft.to = [MailAddress(address: "bob@customer.example\r\nBcc: all@example.com")]
        #expect(throws: ReplyCompositionError.self) { try InvitationComposer.compose(draft) }
        draft = Self.draft()
        draft.to = []
        #expect(throws: ReplyCompositionError.self) { try InvitationComposer.compose(draft) }
    }

    @Test("calendarMethod reads the VCALENDAR's own METHOD", arguments: [
        ("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n", "REQUEST"),
        ("BEGIN:VCALENDAR\nmethod:cancel\nEND:VCALENDAR\n", "CANCEL"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nMETHOD:REPLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", ""),
    ])
    func calendarMethod(_ text: String, _ expected: String) throws {
        #expect(try InvitationComposer.calendarMethod(text) == expected)
    }

    @Test("the reply composer still lays out attachments as before (shared builder)")
    func replyComposerUnchanged() throws {
        let draft = ReplyDraft(
            from: MailAddress(address: "desk@acme.example"), to: MailAddress(address: "bob@customer.example"), subject: "Re: hi", text: "ok\n",
            html: "<p>ok</p>", attachments: [ReplyAttachment(filename: "a.txt", contentType: "text/plain", data: Data("x\r\n".utf8))],
            messageID: "re-9@acme.example", date: Date(timeIntervalSince1970: 1_796_126_400))
        let parts = MessageParser().outline(try ReplyComposer.compose(draft))
        #expect(parts.map(\.mediaType) == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "text/plain"])
        #expect(parts.last?.filename == "a.txt" && parts.last?.disposition == "attachment")
    }
}
