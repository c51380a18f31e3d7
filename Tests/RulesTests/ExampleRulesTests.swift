import Core
import Foundation
import Rules
import Testing

/// `rules.example.json` with `astralisd.example.json`: it loads, and each rule does what its
/// description says on a realistic intake.
@Suite("The example rules file")
struct ExampleRulesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func load() throws -> (DaemonConfig, RuleSet) {
        let configPath = root.appendingPathComponent("astralisd.example.json").path
        let config = try ConfigParser.parse(try #require(FileManager.default.contents(atPath: configPath)), sourceName: configPath)
        #expect(config.rulesFile == "rules.example.json")
        let rules = try RuleLoader.load(path: root.appendingPathComponent("rules.example.json").path, context: RuleContext(organizations: config.organizations))
        return (config, rules)
    }

    static func mail(subject: String, from: String = "someone@customer.example", to: String = "hello@demo.example", headers: [MessageHeader] = [], documents: [DocumentFacts] = [], attachments: [MessageAttachment] = [], at instant: String = "2026-11-04T10:00:00Z") -> Facts {
        let message = Message(subject: subject, from: [MailAddress(address: from)], to: [MailAddress(address: to)], headers: headers, text: "Hello", attachments: attachments)
        return Facts(intakeID: "in_x", organization: "demo", source: "contact-form", sourceKind: .imap, receivedAt: Fixture.date(instant), subject: subject, from: from, text: "Hello", message: message, documents: documents)
    }

    static func invoice(total: Double) -> [DocumentFacts] {
        [DocumentFacts(filename: "inv.pdf", declaredType: "application/pdf", size: 1000, kind: "invoice", fields: .object(["total": .number(total), "currency": .string("EUR"), "invoice_number": .string("INV-7")]))]
    }

    func decide(_ facts: Facts) async throws -> Decision {
        let (config, rules) = try Self.load()
        return try await RulesRouter(rules: rules, config: config).decide(facts)
    }

    @Test func loadsWithAtLeastTenRules() throws {
        let (_, rules) = try Self.load()
        #expect(rules.count >= 10)
        #expect(rules.ruleIDs(organization: "demo").last == "ask-ai")
    }

    @Test func invoiceGoesToAccountsPayable() async throws {
        let decision = try await decide(Self.mail(subject: "Your invoice", documents: Self.invoice(total: 420)))
        #expect(decision.decidedBy == "rule:invoices")
        #expect(decision.route?.pipeline == "finance" && decision.route?.stage == "payable")
        #expect(decision.followUps.forwards.map(\.webhook) == ["erp"])
        #expect(decision.followUps.replies.map(\.template) == ["invoice-received"])
    }

    @Test func largeInvoiceNeedsApproval() async throws {
        let decision = try await decide(Self.mail(subject: "Your invoice", documents: Self.invoice(total: 12_500)))
        #expect(decision.decidedBy == "rule:large-invoices")
        #expect(decision.route?.stage == "approval" && decision.route?.assignee == "cfo")
    }

    @Test func invoiceBySubjectAndPDFBeforeExtraction() async throws {
        let pdf = MessageAttachment(filename: "R-1.pdf", declaredType: "application/pdf", size: 10, sha256: "0", disposition: .attachment, partPath: "2")
        let decision = try await decide(Self.mail(subject: "Rechnung R-1", attachments: [pdf]))
        #expect(decision.decidedBy == "rule:invoices")
    }

    @Test func receipt() async throws {
        let decision = try await decide(Self.mail(subject: "Your receipt from Example Air"))
        #expect(decision.route?.stage == "receipts" && decision.route?.priority == .low)
    }

    @Test(arguments: [
        ("ignore-out-of-office", [MessageHeader(name: "Auto-Submitted", value: "auto-replied")], "Re: hello"),
        ("ignore-out-of-office", [], "Automatic reply: on holiday"),
        ("ignore-mailing-lists", [MessageHeader(name: "List-Unsubscribe", value: "<mailto:x@y>")], "Weekly digest"),
        ("ignore-bounces", [], "Undeliverable: hello"),
        ("spam-like-senders", [MessageHeader(name: "X-Spam-Flag", value: "YES")], "Hello friend"),
    ])
    func ignored(_ rule: String, _ headers: [MessageHeader], _ subject: String) async throws {
        let decision = try await decide(Self.mail(subject: subject, headers: headers))
        #expect(decision.outcome == .ignore)
        #expect(decision.decidedBy == "rule:\(rule)")
        #expect(decision.followUps.replies.isEmpty)
    }

    @Test func autoSubmittedNoIsNotAnAutoReply() async throws {
        let decision = try await decide(Self.mail(subject: "Question about my order", headers: [MessageHeader(name: "Auto-Submitted", value: "no")]))
        #expect(decision.outcome != .ignore)
    }

    @Test func bookACall() async throws {
        let facts = Facts(intakeID: "in_y", organization: "demo", source: "book-a-call", sourceKind: .webhook, receivedAt: Date(), payload: .object(["name": .string("Ada"), "email": .string("ada@example.com")]))
        let decision = try await decide(facts)
        #expect(decision.decidedBy == "rule:book-a-call")
        let meeting = try #require(decision.followUps.meetings.first)
        #expect(meeting.attendeeField == "payload.email")
        #expect(meeting.calendar == "demo")
        #expect(meeting.attendeeNameField == "payload.name")
        #expect(meeting.proposedTimesField == "payload.preferred_time")
        #expect(meeting.attendeeTimeZoneField == "payload.time_zone")
        // The invitation confirms the booking: no separate reply.
        #expect(decision.followUps.replies.isEmpty)
    }

    @Test func vipSender() async throws {
        let decision = try await decide(Self.mail(subject: "Next quarter", from: "anna@bigclient.example"))
        #expect(decision.decidedBy == "rule:vip-senders" && decision.route?.priority == .urgent)
        #expect(decision.followUps.mailbox?.addFlags == ["\\Flagged"])
    }

    /// 2026-11-07 is a Saturday; 2026-11-04T10:00Z is Wednesday 11:00 in Berlin.
    @Test(arguments: [("2026-11-07T10:00:00Z", true), ("2026-11-04T10:00:00Z", false), ("2026-11-04T17:30:00Z", true)])
    func supportOutOfHoursGetsAReply(_ instant: String, _ reply: Bool) async throws {
        let decision = try await decide(Self.mail(subject: "Login not working", to: "support@demo.example", at: instant))
        #expect(decision.decidedBy == "rule:support-requests")
        #expect(decision.followUps.replies.map(\.template) == (reply ? ["after-hours"] : []))
    }

    @Test func everythingElseAsksTheAIAndFallsBackToReview() async throws {
        let decision = try await decide(Self.mail(subject: "Quick question"))
        #expect(decision.decidedBy == "ai-fallback:ask-ai")
        #expect(decision.route?.pipeline == "review" && decision.route?.stage == "triage")
    }
}
