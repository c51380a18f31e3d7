import Core
import Foundation
import Mail
import Testing

@Suite("Reply composer")
struct ReplyComposerTests {
    @Test("Re: without stacking", arguments: [
        ("Order 42", "Re: Order 42"),
        ("Re: Order 42", "Re: Order 42"),
        ("RE: Order 42", "Re: Order 42"),
        ("re:Order 42", "Re: Order 42"),
        ("Re: Re: RE: Order 42", "Re: Order 42"),
        ("Aw: Order 42", "Re: Order 42"),
        ("AW: Re: Order 42", "Re: Order 42"),
        ("Fwd: Order 42", "Re: Order 42"),
        ("Fw: Re: Order 42", "Re: Order 42"),
        ("Re[2]: Order 42", "Re: Order 42"),
        ("Sv: Order 42", "Re: Order 42"),
        ("  Order 42  ", "Re: Order 42"),
        ("Reply needed", "Re: Reply needed"),
        ("Regarding: invoice", "Re: Regarding: invoice"),
        ("", "Re: your message"),
    ])
    func subject(original: String, expected: String) {
        #expect(ReplyComposer.replySubject(original) == expected)
    }

    @Test("References: parent's References, then its Message-ID; In-Reply-To when no References")
    func references() {
        let parent = Message(messageID: "c@x", inReplyTo: ["b@x"], references: ["a@x", "b@x"])
        #expect(ReplyComposer.references(of: parent) == ["a@x", "b@x", "c@x"])
        let noReferences = Message(messageID: "c@x", inReplyTo: ["b@x"])
        #expect(ReplyComposer.references(of: noReferences) == ["b@x", "c@x"])
        let first = Message(messageID: "a@x")
        #expect(ReplyComposer.references(of: first) == ["a@x"])
        let long = Message(messageID: "last@x", references: (0..<40).map { "r\($0)@x" })
        let trimmed = ReplyComposer.references(of: long)
        #expect(trimmed.count == ReplyComposer.maxReferences)
        #expect(trimmed.first == "r0@x")
        #expect(trimmed.last == "last@x")
    }

    @Test("To: Reply-To before From")
    func recipient() {
        let both = Message(from: [MailAddress(address: "ada@example.com")], replyTo: [MailAddress(name: "Desk", address: "desk@example.com")])
        #expect(ReplyComposer.recipient(of: both)?.address == "desk@example.com")
        let fromOnly = Message(from: [MailAddress(address: "ada@example.com")])
        #expect(ReplyComposer.recipient(of: fromOnly)?.address == "ada@example.com")
        #expect(ReplyComposer.recipient(of: Message()) == nil)
    }

    static let parent = Message(
        messageID: "parent-1@customer.example", subject: "Bestellung Nr. 42", from: [MailAddress(name: "Ada", address: "ada@customer.example")],
        references: ["root@customer.example"])

    static func draft(html: String? = "<p>Thanks &amp; bye</p>", attachments: [ReplyAttachment] = []) -> ReplyDraft {
        ReplyComposer.draft(
            replyingTo: parent, from: MailAddress(name: "Acme Support", address: "support@acme.example"),
            to: MailAddress(name: "Ada", address: "ada@customer.example"), subject: ReplyComposer.replySubject("Aw: Grüße aus Köln"),
            text: "Hello Ada,\nwe got your message. Grüße!\n", html: html, attachments: attachments,
            messageID: "re-1@acme.example", date: Date(timeIntervalSince1970: 1_764_633_600))
    }

    @Test("headers and bodies, byte for byte where it matters; parses back")
    func composeAndParse() throws {
        let bytes = try ReplyComposer.compose(Self.draft())
        let text = try #require(String(data: bytes, encoding: .utf8))
        // CRLF everywhere, never a bare LF; 7-bit clean.
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(bytes.allSatisfy { $0 < 128 })
        // Unfolded (GMime folds References one id per line, as RFC 5322 allows).
        let headerBlock = String(text[..<(text.range(of: "\r\n\r\n")?.lowerBound ?? text.endIndex)])
            .replacingOccurrences(of: "\r\n\t", with: " ").replacingOccurrences(of: "\r\n ", with: " ")
        #expect(headerBlock.contains("\r\nIn-Reply-To: <parent-1@customer.example>\r\n"))
        #expect(headerBlock.contains("\r\nReferences: <root@customer.example> <parent-1@customer.example>\r\n"))
        #expect(headerBlock.contains("\r\nAuto-Submitted: auto-replied\r\n"))
        #expect(headerBlock.contains("\r\nMessage-Id: <re-1@acme.example>\r\n") || headerBlock.contains("\r\nMessage-ID: <re-1@acme.example>\r\n"))
        #expect(headerBlock.contains("Date: Tue, 02 Dec 2025 00:00:00 +0000"))
        #expect(headerBlock.contains("\r\nTo: Ada <ada@customer.example>\r\n"))
        #expect(headerBlock.contains("From: Acme Support <support@acme.example>"))
        #expect(headerBlock.contains("multipart/alternative"))

        let parsed = try MessageParser().parse(bytes).message
        #expect(parsed.subject == "Re: Grüße aus Köln")
        #expect(parsed.messageID == "re-1@acme.example")
        #expect(parsed.inReplyTo == ["parent-1@customer.example"])
        #expect(parsed.references == ["root@customer.example", "parent-1@customer.example"])
        #expect(parsed.header("Auto-Submitted") == "auto-replied")
        #expect(parsed.to == [MailAddress(name: "Ada", address: "ada@customer.example")])
        #expect(parsed.from == [MailAddress(name: "Acme Support", address: "support@acme.example")])
        #expect(parsed.textSource == .plain)
        #expect(parsed.text?.contains("we got your message. Grüße!") == true)
    }

    @Test("text only: a single text/plain part")
    func textOnly() throws {
        let bytes = try ReplyComposer.compose(Self.draft(html: nil))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains("multipart"))
        #expect(text.contains("Content-Type: text/plain; charset=utf-8"))
    }

    @Test("attachments: multipart/mixed with the calendar part as given")
    func attachments() throws {
        let ics = Data("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n".utf8)
        let bytes = try ReplyComposer.compose(Self.draft(attachments: [ReplyAttachment(filename: "invite.ics", contentType: "text/calendar; method=REQUEST; charset=utf-8", data: ics, inline: true)]))
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("multipart/mixed"))
        #expect(text.contains("text/calendar"))
        #expect(text.contains("method=REQUEST"))
        let parsed = try MessageParser().parse(bytes)
        #expect(parsed.message.attachments.map(\.filename) == ["invite.ics"])
        #expect(parsed.message.attachments.first?.declaredType == "text/calendar")
        #expect(parsed.message.attachments.first?.size == ics.count)
    }

    @Test("header injection through addresses or ids is refused")
    func injection() {
        var draft = Self.draft()
        draft.to = MailAddress(address: "ada@customer.example\r\nBcc: all@example.com")
        #expect(throws: ReplyCompositionError.self) { try ReplyComposer.compose(draft) }
        draft = Self.draft()
        draft.inReplyTo = "x@y>\r\nBcc: all@example.com"
        #expect(throws: ReplyCompositionError.self) { try ReplyComposer.compose(draft) }
        // A subject with a line break becomes one line.
        draft = Self.draft()
        draft.subject = "Re: hi\r\nBcc: all@example.com"
        let text = (try? ReplyComposer.compose(draft)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(!text.contains("\r\nBcc:"))
    }
}

@Suite("Reply subject from a template")
struct ReplySubjectTemplateTests {
    @Test("empty → Re: parent; stacked prefixes collapse; other text is kept", arguments: [
        ("", "Aw: Order", "Re: Order"),
        ("Re: Re: Aw: Order", "x", "Re: Order"),
        ("Your invoice 17", "x", "Your invoice 17"),
        ("Re: Order", "x", "Re: Order"),
    ])
    func subject(_ testCase: (String, String, String)) {
        let (rendered, parent, expected) = testCase
        #expect(ReplyComposer.subject(rendered: rendered, parent: parent) == expected)
    }
}
