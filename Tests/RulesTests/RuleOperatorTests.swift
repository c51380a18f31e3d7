import Core
import Foundation
import Rules
import Testing

/// One leaf condition over a fixture, and whether it must hold.
struct OperatorCase: CustomTestStringConvertible, Sendable {
    var condition: String
    var mail: Bool
    var expected: Bool

    init(_ condition: String, mail: Bool = true, _ expected: Bool) {
        self.condition = condition
        self.mail = mail
        self.expected = expected
    }

    var testDescription: String { "\(condition) on \(mail ? "mail" : "form") → \(expected)" }
}

@Suite("Rule operators and fields")
struct RuleOperatorTests {
    static let cases: [OperatorCase] = [
        // equals / not_equals, case-insensitive by default, opt-out.
        OperatorCase(#"{"field": "from", "op": "equals", "value": "billing@vendor.example"}"#, true),
        OperatorCase(#"{"field": "from", "op": "equals", "value": "billing@vendor.example", "case_sensitive": true}"#, false),
        OperatorCase(#"{"field": "from.domain", "op": "equals", "value": "VENDOR.example"}"#, true),
        OperatorCase(#"{"field": "from.name", "op": "equals", "value": "vendor billing"}"#, true),
        OperatorCase(#"{"field": "source", "op": "not_equals", "value": "mail"}"#, false),
        OperatorCase(#"{"field": "source", "op": "not_equals", "value": "form"}"#, true),
        OperatorCase(#"{"field": "source_kind", "op": "equals", "value": "imap"}"#, true),
        OperatorCase(#"{"field": "organization", "op": "equals", "value": "demo"}"#, true),
        OperatorCase(#"{"field": "to", "op": "equals", "value": "ap@demo.example"}"#, true),
        OperatorCase(#"{"field": "cc.domain", "op": "equals", "value": "demo.example"}"#, true),
        OperatorCase(#"{"field": "reply_to", "op": "starts_with", "value": "noreply@"}"#, true),
        OperatorCase(#"{"field": "to", "op": "equals", "value": "sales@demo.example"}"#, false),
        // Webhook sender parsed from "Name <address>".
        OperatorCase(#"{"field": "from.domain", "op": "equals", "value": "lovelace.example"}"#, mail: false, true),
        OperatorCase(#"{"field": "from.name", "op": "equals", "value": "ada"}"#, mail: false, true),
        // Headers: name case-insensitive, value compared case-insensitively.
        OperatorCase(#"{"field": "header.list-id", "op": "exists"}"#, true),
        OperatorCase(#"{"field": "header.LIST-ID", "op": "contains", "value": "BILLING.vendor"}"#, true),
        OperatorCase(#"{"field": "header.Auto-Submitted", "op": "exists"}"#, false),
        OperatorCase(#"{"field": "header.Auto-Submitted", "op": "exists", "value": false}"#, true),
        OperatorCase(#"{"field": "header.x-priority", "op": "lte", "value": 2}"#, true),
        // Subject and body: contains / starts_with / ends_with, case-insensitive unless asked.
        OperatorCase(#"{"field": "subject", "op": "contains", "value": "INVOICE"}"#, true),
        OperatorCase(#"{"field": "subject", "op": "contains", "value": "INVOICE", "case_sensitive": true}"#, false),
        OperatorCase(#"{"field": "subject", "op": "starts_with", "value": "invoice inv-"}"#, true),
        OperatorCase(#"{"field": "subject", "op": "ends_with", "value": "october"}"#, true),
        OperatorCase(#"{"field": "subject", "op": "ends_with", "value": "november"}"#, false),
        OperatorCase(#"{"field": "body", "op": "contains", "value": "total due"}"#, true),
        OperatorCase(#"{"field": "body", "op": "contains", "value": "unsubscribe"}"#, false),
        // matches: compiled once, case-insensitive by default.
        OperatorCase(#"{"field": "subject", "op": "matches", "value": "^invoice\\s+inv-\\d{4}\\b"}"#, true),
        OperatorCase(#"{"field": "subject", "op": "matches", "value": "^invoice", "case_sensitive": true}"#, false),
        OperatorCase(#"{"field": "body", "op": "matches", "value": "\\b\\d{1,3}(\\.\\d{3})*,\\d{2} EUR"}"#, true),
        // in
        OperatorCase(#"{"field": "from.domain", "op": "in", "value": ["acme.example", "vendor.example"]}"#, true),
        OperatorCase(#"{"field": "from.domain", "op": "in", "value": ["acme.example"]}"#, false),
        OperatorCase(#"{"field": "payload.seats", "op": "in", "value": [10, 12]}"#, mail: false, true),
        OperatorCase(#"{"field": "payload.tags", "op": "in", "value": ["VIP"]}"#, mail: false, true),
        // Attachments and documents.
        OperatorCase(#"{"field": "attachment.count", "op": "gte", "value": 1}"#, true),
        OperatorCase(#"{"field": "attachment.count", "op": "equals", "value": 0}"#, mail: false, true),
        OperatorCase(#"{"field": "attachment.filename", "op": "ends_with", "value": ".PDF"}"#, true),
        OperatorCase(#"{"field": "attachment.type", "op": "equals", "value": "application/pdf"}"#, true),
        OperatorCase(#"{"field": "document.kind", "op": "equals", "value": "invoice"}"#, true),
        OperatorCase(#"{"field": "document.kind", "op": "exists"}"#, mail: false, false),
        OperatorCase(#"{"field": "document.count", "op": "equals", "value": 1}"#, true),
        OperatorCase(#"{"field": "document.filename", "op": "contains", "value": "inv-"}"#, true),
        OperatorCase(#"{"field": "document.type", "op": "equals", "value": "application/pdf"}"#, true),
        OperatorCase(#"{"field": "document.text", "op": "contains", "value": "invoice"}"#, true),
        OperatorCase(#"{"field": "document.fields.total", "op": "gt", "value": 1000}"#, true),
        OperatorCase(#"{"field": "document.fields.total", "op": "gt", "value": 5000}"#, false),
        OperatorCase(#"{"field": "document.fields.total", "op": "lt", "value": 1250}"#, false),
        OperatorCase(#"{"field": "invoice.total", "op": "gt", "value": 1000}"#, true),
        OperatorCase(#"{"field": "invoice.total", "op": "gt", "value": 5000}"#, false),
        OperatorCase(#"{"field": "document.fields.total", "op": "lte", "value": 1250}"#, true),
        OperatorCase(#"{"field": "document.fields.currency", "op": "equals", "value": "eur"}"#, true),
        OperatorCase(#"{"field": "document.fields.due_date", "op": "lt", "value": "2026-12-01"}"#, true),
        OperatorCase(#"{"field": "document.fields.due_date", "op": "gte", "value": "2026-12-01"}"#, false),
        // Webhook payload paths: nested keys, array indexes, numeric strings.
        OperatorCase(#"{"field": "payload.company.name", "op": "contains", "value": "engines"}"#, mail: false, true),
        OperatorCase(#"{"field": "payload.company.size", "op": "gt", "value": 39}"#, mail: false, true),
        OperatorCase(#"{"field": "payload.budget", "op": "gte", "value": 25000}"#, mail: false, true),
        OperatorCase(#"{"field": "payload.budget", "op": "gt", "value": 25000}"#, mail: false, false),
        OperatorCase(#"{"field": "payload.slots[0].day", "op": "equals", "value": "2026-11-10"}"#, mail: false, true),
        OperatorCase(#"{"field": "payload.slots.0.day", "op": "exists"}"#, mail: false, true),
        OperatorCase(#"{"field": "payload.slots[1].day", "op": "exists"}"#, mail: false, false),
        OperatorCase(#"{"field": "payload.missing", "op": "equals", "value": "x"}"#, mail: false, false),
        OperatorCase(#"{"field": "payload.missing", "op": "not_equals", "value": "x"}"#, mail: false, true),
        OperatorCase(#"{"field": "payload.seats", "op": "equals", "value": 12}"#, mail: false, true),
        // Dates.
        OperatorCase(#"{"field": "received_at", "op": "gte", "value": "2026-11-02T08:30:00Z"}"#, true),
        OperatorCase(#"{"field": "received_at", "op": "lt", "value": "2026-11-02"}"#, false),
        OperatorCase(#"{"field": "message.date", "op": "lt", "value": "2026-11-01T00:00:00+01:00"}"#, true),
        // Time of day and weekday: 2026-11-02T08:30Z is a Monday, 09:30 in Berlin, 03:30 in New York.
        OperatorCase(#"{"field": "time.hour", "op": "equals", "value": 8}"#, true),
        OperatorCase(#"{"field": "time.hour", "op": "equals", "value": 9, "time_zone": "Europe/Berlin"}"#, true),
        OperatorCase(#"{"field": "time.of_day", "op": "gte", "value": "09:00", "time_zone": "Europe/Berlin"}"#, true),
        OperatorCase(#"{"field": "time.of_day", "op": "gte", "value": "09:00", "time_zone": "America/New_York"}"#, false),
        OperatorCase(#"{"field": "time.weekday", "op": "equals", "value": "Mon"}"#, true),
        OperatorCase(#"{"field": "time.weekday", "op": "in", "value": ["sat", "sun"]}"#, false),
        // 2026-11-04T14:05Z is a Wednesday; in Tokyo it is already 23:05 the same day, in Auckland Thursday.
        OperatorCase(#"{"field": "time.weekday", "op": "equals", "value": "thu", "time_zone": "Pacific/Auckland"}"#, mail: false, true),
        OperatorCase(#"{"field": "time.of_day", "op": "gt", "value": "23:00", "time_zone": "Asia/Tokyo"}"#, mail: false, true),
        // exists on strings: empty counts as absent.
        OperatorCase(#"{"field": "subject", "op": "exists"}"#, mail: false, true),
    ]

    @Test(arguments: cases)
    func leaf(_ testCase: OperatorCase) throws {
        let rules = try Fixture.rules(list: #"[{"id": "r", "when": \#(testCase.condition), "then": {"route": {"pipeline": "support"}}}]"#)
        let evaluation = rules.evaluate(testCase.mail ? Fixture.invoiceMail : Fixture.formPost)
        #expect(evaluation.rules.first?.matched == testCase.expected)
        #expect(evaluation.rules.first?.conditions.count == 1)
        #expect(evaluation.rules.first?.conditions.first?.result == testCase.expected)
    }

    @Test func traceShowsValuesAndExpectation() throws {
        let rules = try Fixture.rules(list: #"[{"id": "big", "when": {"field": "document.fields.total", "op": "gt", "value": 1000}, "then": {"route": {"pipeline": "finance"}}}]"#)
        let condition = try #require(rules.evaluate(Fixture.invoiceMail).rules.first?.conditions.first)
        #expect(condition == ConditionTrace(pointer: "/rules/0/when", field: "document.fields.total", op: "gt", expected: "1000", actual: ["1250"], result: true))
    }

    @Test func webhookFilesAreAttachments() throws {
        var facts = Fixture.formPost
        facts.documents = [DocumentFacts(filename: "brief.docx", declaredType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", size: 10)]
        let rules = try Fixture.rules(list: #"[{"id": "r", "when": {"field": "attachment.filename", "op": "ends_with", "value": ".docx"}, "then": {"route": {"pipeline": "support"}}}]"#)
        #expect(rules.evaluate(facts).rules.first?.matched == true)
    }

    /// Europe/Berlin leaves summer time on 2026-10-25 at 03:00 local (01:00 UTC): the same UTC hour
    /// is 08:00 local the day before and 07:00 local that day.
    @Test(arguments: [
        ("2026-10-24T06:30:00Z", true),
        ("2026-10-25T06:30:00Z", false),
        ("2026-10-25T00:30:00Z", false),
        ("2026-10-25T07:30:00Z", true),
    ])
    func daylightSavingTime(_ instant: String, _ expected: Bool) throws {
        let rules = try Fixture.rules(list: #"[{"id": "office-hours", "when": {"all": [{"field": "time.of_day", "op": "gte", "value": "08:00"}, {"field": "time.of_day", "op": "lt", "value": "18:00"}]}, "then": {"route": {"pipeline": "support"}}}]"#, extra: #""time_zone": "Europe/Berlin""#)
        var facts = Fixture.formPost
        facts.receivedAt = Fixture.date(instant)
        #expect(rules.evaluate(facts).rules.first?.matched == expected)
    }

    @Test func dstDayHourAndWeekday() throws {
        // 2026-03-29: Berlin springs forward at 02:00 → 03:00. 01:30Z is 03:30 local on a Sunday.
        let rules = try Fixture.rules(list: #"[{"id": "r", "when": {"all": [{"field": "time.hour", "op": "equals", "value": 3}, {"field": "time.weekday", "op": "equals", "value": "sun"}]}, "then": {"ignore": true}}]"#, extra: #""time_zone": "Europe/Berlin""#)
        var facts = Fixture.formPost
        facts.receivedAt = Fixture.date("2026-03-29T01:30:00Z")
        #expect(rules.evaluate(facts).rules.first?.matched == true)
        facts.receivedAt = Fixture.date("2026-03-28T01:30:00Z")
        #expect(rules.evaluate(facts).rules.first?.matched == false)
    }
}
