import Core
import Crypto
import Foundation
import Inbound
import Mail
import Testing

@Suite("Mail intakes and their facts")
struct MailIntakeTests {
    static let invoice = Data("%PDF-1.7\ninvoice 17\n%%EOF\n".utf8)

    static let raw = Data("""
        From: "Ada Lovelace" <ada@example.com>
        To: billing@astralis.example
        Subject: =?utf-8?Q?Rechnung_M=C3=A4rz?=
        Message-ID: <inv-17@example.com>
        Date: Tue, 3 Mar 2026 09:14:27 +0100
        MIME-Version: 1.0
        Content-Type: multipart/mixed; boundary="b"

        --b
        Content-Type: text/plain; charset=utf-8

        Please find the invoice attached.
        --b
        Content-Type: application/pdf
        Content-Disposition: attachment; filename="../invoice 17.pdf"
        Content-Transfer-Encoding: base64

        \(invoice.base64EncodedString())
        --b--

        """.utf8)

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    @Test("a raw message becomes a message/rfc822 intake with one document per attachment")
    func pending() {
        let pending = MailIntake.pending(raw: Self.raw, organization: "demo", source: "inbox", sourceKind: .imap, metadata: ["imap.uid": "42"])
        #expect(pending.contentType == "message/rfc822")
        #expect(pending.sourceKind == .imap)
        #expect(pending.raw == Self.raw)
        #expect(pending.dedupeKey == "inbox:message:inv-17@example.com:\(Self.sha256(Self.raw))")
        #expect(pending.metadata == ["imap.uid": "42", "message_id": "inv-17@example.com"])
        #expect(pending.files == [UploadedFile(field: "2", filename: "invoice 17.pdf", declaredType: "application/pdf", data: Self.invoice, origin: "mime:2")])
    }

    @Test("the dedupe key tells apart the same Message-ID on different bytes, and has an empty id when there is none")
    func dedupeKeys() {
        let other = Self.raw + Data("\n".utf8)
        #expect(MailIntake.dedupeKey(source: "s", messageID: "a@b", raw: Self.raw) != MailIntake.dedupeKey(source: "s", messageID: "a@b", raw: other))
        #expect(MailIntake.dedupeKey(source: "s", messageID: nil, raw: Self.raw) == "s:message::\(Self.sha256(Self.raw))")
        let explicit = MailIntake.pending(raw: Self.raw, organization: "demo", source: "cli", sourceKind: .cli, dedupeKey: "cli:idempotency-key:1")
        #expect(explicit.dedupeKey == "cli:idempotency-key:1")
    }

    @Test("a message over the parser's size limit is still taken, raw, with the reason")
    func overLimitKeepsRaw() {
        let parser = MessageParser(limits: MailLimits(maxMessageBytes: 100))
        let pending = MailIntake.pending(raw: Self.raw, organization: "demo", source: "inbox", sourceKind: .spool, parser: parser)
        #expect(pending.raw == Self.raw)
        #expect(pending.files.isEmpty)
        #expect(pending.metadata["parse_error"]?.contains("over the limit of 100 bytes") == true)
        #expect(pending.dedupeKey == "inbox:message::\(Self.sha256(Self.raw))")
    }

    @Test("facts of a message/rfc822 intake, whatever its kind", arguments: [SourceKind.imap, .spool, .cli, .webhook])
    func facts(kind: SourceKind) throws {
        let intake = Intake(id: "in_1", organization: "demo", source: "inbox", sourceKind: kind, receivedAt: Date(), dedupeKey: "k", rawBlob: "x", rawSize: Self.raw.count, contentType: "message/rfc822")
        let document = Document(id: "doc_1", intakeID: "in_1", filename: "invoice 17.pdf", declaredType: "application/pdf", size: Self.invoice.count, blob: Self.sha256(Self.invoice), origin: "mime:2", createdAt: Date())
        let facts = try FactsBuilder.facts(for: intake, raw: Self.raw, documents: [document])
        #expect(facts.subject == "Rechnung März")
        #expect(facts.from == "ada@example.com")
        #expect(facts.text == "Please find the invoice attached.")
        #expect(facts.message?.messageID == "inv-17@example.com")
        #expect(facts.message?.attachments.first?.sha256 == Self.sha256(Self.invoice))
        #expect(facts.documents == [DocumentFacts(filename: "invoice 17.pdf", declaredType: "application/pdf", size: Self.invoice.count)])
        #expect(facts.payload == .object([:]))
    }

    @Test("an imap or spool intake that is not a message fails permanently; an over-limit message too")
    func notAMessage() {
        let intake = Intake(id: "in_1", organization: "demo", source: "inbox", sourceKind: .imap, receivedAt: Date(), dedupeKey: "k", rawBlob: "x", rawSize: 2, contentType: "application/json")
        #expect(throws: PermanentJobError.self) { try FactsBuilder.facts(for: intake, raw: Data("{}".utf8), documents: []) }
        var message = intake
        message.contentType = "message/rfc822"
        #expect(throws: PermanentJobError.self) {
            try FactsBuilder.facts(for: message, raw: Self.raw, documents: [], parser: MessageParser(limits: MailLimits(maxMessageBytes: 10)))
        }
    }
}
