import Core
import Foundation
import Testing

@Suite("Domain helpers")
struct DomainTests {
    @Test func backoffDoublesUntilTheCap() {
        let policy = RetryPolicy(baseDelay: 2, maxDelay: 60, maxAttempts: 10, jitter: 0.5)
        let full = (1...7).map { policy.delay(afterAttempt: $0, unit: 1) }
        #expect(full == [2, 4, 8, 16, 32, 60, 60])
        let shortest = (1...3).map { policy.delay(afterAttempt: $0, unit: 0) }
        #expect(shortest == [1, 2, 4], "jitter 0.5 may halve the delay, no more")
        for _ in 0..<100 {
            let delay = policy.delay(afterAttempt: 3)
            #expect(delay >= 4 && delay <= 8)
        }
    }

    @Test func hugeAttemptCountsDoNotOverflow() {
        let policy = RetryPolicy(baseDelay: 1, maxDelay: 3600, maxAttempts: 10, jitter: 0)
        #expect(policy.delay(afterAttempt: 10_000, unit: 0.3) == 3600)
    }

    @Test func identifiersSortByTimeAndAreUnique() {
        let early = Identifier.make(prefix: "in", at: Date(timeIntervalSince1970: 1_700_000_000))
        let late = Identifier.make(prefix: "in", at: Date(timeIntervalSince1970: 1_700_000_001))
        #expect(early < late)
        #expect(early.hasPrefix("in_") && early.count == 29)
        let many = Set((0..<1000).map { _ in Identifier.make(prefix: "x") })
        #expect(many.count == 1000)
    }

    @Test func jsonValueRoundTripsAndSortsKeys() throws {
        let value = try JSONValue.parse(Data(#"{"b": [1, 2.5, true, null], "a": {"c": "d"}}"#.utf8))
        #expect(String(decoding: value.encoded(), as: UTF8.self) == #"{"a":{"c":"d"},"b":[1,2.5,true,null]}"#)
        #expect(value["a"]?["c"]?.stringValue == "d")
        #expect(try JSONValue.parse(value.encoded()) == value)
    }

    @Test func templateContextExposesPayloadAndDocuments() {
        let facts = Facts(
            intakeID: "in_1", organization: "demo", source: "form", sourceKind: .webhook, receivedAt: Date(timeIntervalSince1970: 0),
            payload: .object(["name": .string("Ada"), "count": .number(3)]), subject: "Hello",
            documents: [DocumentFacts(filename: "a.pdf", declaredType: "application/pdf", size: 10)]
        )
        let context = facts.templateContext
        #expect((context["payload"] as? [String: Any])?["name"] as? String == "Ada")
        #expect((context["payload"] as? [String: Any])?["count"] as? Int == 3)
        #expect(context["subject"] as? String == "Hello")
        #expect(context["received_at"] as? String == "1970-01-01T00:00:00Z")
        #expect((context["documents"] as? [[String: Any]])?.first?["filename"] as? String == "a.pdf")
    }

    @Test func manualClockMovesOnlyWhenTold() {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 100))
        #expect(clock.now() == Date(timeIntervalSince1970: 100))
        clock.advance(by: 5)
        #expect(clock.now() == Date(timeIntervalSince1970: 105))
    }

    @Test func priorityOrder() {
        #expect(Priority.low < Priority.normal && Priority.high < Priority.urgent)
    }

    /// Decisions are stored as JSON on the intake; rows written before follow-ups and structured
    /// traces existed must still load.
    @Test func decisionsStoredByEarlierVersionsDecode() throws {
        let old = #"{"outcome":"route","route":{"pipeline":"sales","stage":"new","priority":"normal","tags":[],"titleTemplate":"{{source}}"},"decidedBy":"default-route","trace":["source contact-form has no route of its own"]}"#
        let decision = try JSONDecoder().decode(Decision.self, from: Data(old.utf8))
        #expect(decision.route?.pipeline == "sales")
        #expect(decision.trace == ["source contact-form has no route of its own"])
        #expect(decision.followUps.isEmpty && decision.rules.isEmpty && decision.ai == nil)
    }

    @Test func decisionWithFollowUpsRoundTrips() throws {
        let decision = Decision(
            outcome: .route, route: Route(pipeline: "finance", stage: "payable", titleTemplate: "t"), decidedBy: "rule:invoices", trace: ["x"],
            followUps: FollowUps(replies: [ReplyRequest(template: "ack", subjectTemplate: "Re", bodyTemplate: "Thanks", rule: "invoices")], forwards: [ForwardRequest(webhook: "erp", rule: "invoices")], mailbox: MailboxRequest(moveTo: "Done", addFlags: [], rule: "invoices")),
            rules: [RuleTrace(rule: "invoices", pointer: "/rules/0", matched: true, conditions: [ConditionTrace(pointer: "/rules/0/when", field: "subject", op: "contains", expected: "invoice", actual: ["Invoice 1"], result: true)], effects: ["route"])]
        )
        let decoded = try JSONDecoder().decode(Decision.self, from: JSONEncoder().encode(decision))
        #expect(decoded == decision)
    }
}
