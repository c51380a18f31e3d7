import Core
import Foundation
import Rules

/// A configuration and facts shared by the rules tests.
enum Fixture {
    static let config: DaemonConfig = {
        let text = """
        {"organizations": [{
          "id": "demo",
          "pipelines": [
            {"id": "sales", "stages": [{"id": "new"}, {"id": "qualified"}]},
            {"id": "support", "stages": [{"id": "inbox"}, {"id": "urgent"}]},
            {"id": "finance", "stages": [{"id": "payable"}, {"id": "approval"}]},
            {"id": "review", "stages": [{"id": "triage"}]}
          ],
          "default_route": {"pipeline": "sales", "title": "{{subject}}"},
          "outbound_webhooks": [{"id": "erp", "url": "https://erp.example/hooks/in"}],
          "sources": [{"id": "mail", "type": "webhook", "auth": {"type": "none"}}, {"id": "form", "type": "webhook", "auth": {"type": "none"}}]
        }]}
        """
        do {
            return try ConfigParser.parse(Data(text.utf8), sourceName: "test")
        } catch {
            preconditionFailure("test config must parse: \(error)")
        }
    }()

    static let context = RuleContext(organizations: config.organizations) { template in
        template.contains("{{#") && !template.contains("{{/") ? "section is not closed" : nil
    }

    /// Loads a rules document given as JSON text.
    static func rules(_ json: String, file: String = "rules.json") throws(RuleFileError) -> RuleSet {
        try RuleLoader.parse(Data(json.utf8), file: file, context: context)
    }

    /// A file with the given rules array (JSON text) and optional top-level extras.
    static func rules(list: String, extra: String = "") throws(RuleFileError) -> RuleSet {
        try rules("{\"version\": 1, \(extra.isEmpty ? "" : extra + ",") \"rules\": \(list)}")
    }

    /// The issues a broken document produces.
    static func issues(_ json: String) -> [RuleIssue] {
        do {
            _ = try rules(json)
            return []
        } catch {
            return error.issues
        }
    }

    static let invoiceMail: Facts = {
        let message = Message(
            messageID: "abc@mail.vendor.example", subject: "Invoice INV-2041 for October", date: date("2026-10-31T16:00:00Z"),
            from: [MailAddress(name: "Vendor Billing", address: "Billing@Vendor.Example")],
            to: [MailAddress(address: "ap@demo.example")], cc: [MailAddress(address: "boss@demo.example")],
            replyTo: [MailAddress(address: "noreply@vendor.example")],
            headers: [MessageHeader(name: "From", value: "Vendor Billing <Billing@Vendor.Example>"), MessageHeader(name: "List-Id", value: "<billing.vendor.example>"), MessageHeader(name: "X-Priority", value: "1")],
            text: "Please find attached our invoice. Total due: 1.250,00 EUR.", textSource: .plain,
            attachments: [MessageAttachment(filename: "INV-2041.pdf", declaredType: "application/pdf", size: 48_000, sha256: "00", disposition: .attachment, partPath: "2")]
        )
        return Facts(
            intakeID: "in_1", organization: "demo", source: "mail", sourceKind: .imap, receivedAt: date("2026-11-02T08:30:00Z"),
            subject: message.subject, from: "Billing@Vendor.Example", text: message.text, message: message,
            documents: [DocumentFacts(filename: "INV-2041.pdf", declaredType: "application/pdf", size: 48_000, kind: "invoice", text: "INVOICE", fields: .object(["total": .number(1250), "currency": .string("EUR"), "due_date": .string("2026-11-30")]))]
        )
    }()

    static let formPost: Facts = Facts(
        intakeID: "in_2", organization: "demo", source: "form", sourceKind: .webhook, receivedAt: date("2026-11-04T14:05:00Z"),
        payload: .object([
            "name": .string("Ada"), "email": .string("ada@lovelace.example"), "topic": .string("Book a call"),
            "budget": .string("25000"), "seats": .number(12), "tags": .array([.string("vip"), .string("emea")]),
            "company": .object(["name": .string("Analytical Engines Ltd"), "size": .number(40)]),
            "slots": .array([.object(["day": .string("2026-11-10")])]),
        ]),
        subject: "Book a call", from: "Ada <ada@lovelace.example>", text: "I would like to talk about your services."
    )

    static func date(_ text: String) -> Date {
        (try? Date(text, strategy: .iso8601)) ?? Date(timeIntervalSince1970: 0)
    }
}
