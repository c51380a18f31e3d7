import Core
import Foundation
import Rules
import Testing

@Suite("Rule evaluation order, stop, override, actions")
struct RuleSemanticsTests {
    static let always = #"{"field": "source", "op": "exists"}"#
    static let never = #"{"field": "source", "op": "equals", "value": "nowhere"}"#

    func decide(_ list: String, extra: String = "", facts: Facts = Fixture.invoiceMail, classifier: (any RouteClassifier)? = nil) async throws -> Decision {
        let rules = try Fixture.rules(list: list, extra: extra)
        return try await RulesRouter(rules: rules, config: Fixture.config, classifier: classifier).decide(facts)
    }

    @Test func firstRouteWins() async throws {
        let decision = try await decide("""
        [{"id": "a", "when": \(Self.always), "then": {"route": {"pipeline": "support", "stage": "urgent"}}},
         {"id": "b", "when": \(Self.always), "then": {"route": {"pipeline": "finance"}}}]
        """)
        #expect(decision.outcome == .route)
        #expect(decision.route?.pipeline == "support" && decision.route?.stage == "urgent")
        #expect(decision.decidedBy == "rule:a")
        #expect(decision.rules.map(\.matched) == [true, true])
        #expect(decision.rules[1].effects.first?.contains("not applied") == true)
    }

    /// The structured trace is built on first read; what is read, compared and encoded is the
    /// same as an eagerly built trace with the same content.
    @Test func structuredTraceIsBuiltOnFirstReadAndEncodesLikeAnEagerOne() async throws {
        let decision = try await decide("""
        [{"id": "a", "when": {"all": [\(Self.always), {"field": "subject", "op": "contains", "value": "invoice"}]}, "then": {"route": {"pipeline": "finance"}}},
         {"id": "b", "when": \(Self.never), "then": {"route": {"pipeline": "support"}}}]
        """)
        #expect(!decision.traces.isMaterialized)
        let traces = decision.rules
        #expect(decision.traces.isMaterialized)
        #expect(traces.map(\.rule) == ["a", "b"])
        #expect(traces[0].conditions.map(\.result) == [true, true])
        #expect(traces[1].conditions.map(\.result) == [false])

        let eager = Decision(outcome: decision.outcome, route: decision.route, decidedBy: decision.decidedBy, trace: decision.trace, followUps: decision.followUps, rules: traces, ai: decision.ai)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let fresh = try await decide("""
        [{"id": "a", "when": {"all": [\(Self.always), {"field": "subject", "op": "contains", "value": "invoice"}]}, "then": {"route": {"pipeline": "finance"}}},
         {"id": "b", "when": \(Self.never), "then": {"route": {"pipeline": "support"}}}]
        """)
        let deferredJSON = try encoder.encode(fresh)
        let eagerJSON = try encoder.encode(eager)
        #expect(deferredJSON == eagerJSON)
        #expect(fresh == eager)
        let decoded = try JSONDecoder().decode(Decision.self, from: deferredJSON)
        #expect(decoded.rules == traces)
    }

    @Test func overrideReplacesEarlierRoute() async throws {
        let decision = try await decide("""
        [{"id": "a", "when": \(Self.always), "then": {"route": {"pipeline": "support"}}},
         {"id": "b", "when": \(Self.always), "override": true, "then": {"route": {"pipeline": "finance", "stage": "approval", "priority": "urgent"}}},
         {"id": "c", "when": \(Self.always), "then": {"route": {"pipeline": "sales"}}}]
        """)
        #expect(decision.route?.pipeline == "finance" && decision.route?.stage == "approval" && decision.route?.priority == .urgent)
        #expect(decision.decidedBy == "rule:b")
        #expect(decision.rules[1].effects.first?.contains("overrides rule a") == true)
    }

    @Test func stopEndsEvaluation() async throws {
        let decision = try await decide("""
        [{"id": "a", "when": \(Self.never), "stop": true, "then": {"ignore": true}},
         {"id": "b", "when": \(Self.always), "stop": true, "then": {"reply": {"template": "thanks"}}},
         {"id": "c", "when": \(Self.always), "override": true, "then": {"route": {"pipeline": "finance"}}}]
        """, extra: #""templates": {"thanks": {"subject": "Re: {{subject}}", "body": "Thanks"}}"#)
        // a did not match, so its stop did not apply; b matched and stopped; c never ran.
        #expect(decision.rules.map(\.rule) == ["a", "b"])
        #expect(decision.rules[1].effects.last == "stop")
        #expect(decision.decidedBy == "default-route")
        #expect(decision.route?.pipeline == "sales")
        #expect(decision.followUps.replies.map(\.template) == ["thanks"])
        #expect(decision.followUps.replies.first?.subjectTemplate == "Re: {{subject}}")
    }

    @Test func noMatchTakesDefaultRoute() async throws {
        let decision = try await decide(#"[{"id": "a", "when": \#(Self.never), "then": {"route": {"pipeline": "finance"}}}]"#)
        #expect(decision.decidedBy == "default-route")
        #expect(decision.route?.pipeline == "sales")
        #expect(decision.trace.contains("no rule chose a destination"))
        #expect(decision.rules.first?.matched == false)
    }

    @Test func ruleWithoutConditionAlwaysMatches() async throws {
        let decision = try await decide(#"[{"id": "catch-all", "then": {"route": {"pipeline": "review"}}}]"#)
        #expect(decision.route?.pipeline == "review" && decision.route?.stage == "triage")
        #expect(decision.rules.first?.conditions.isEmpty == true)
    }

    @Test func disabledRuleIsSkipped() async throws {
        let decision = try await decide(#"[{"id": "off", "enabled": false, "then": {"route": {"pipeline": "review"}}}]"#)
        #expect(decision.rules.isEmpty)
        #expect(decision.decidedBy == "default-route")
    }

    @Test func nesting() async throws {
        // (subject contains invoice AND NOT (from.domain in [spam]) AND (total > 5000 OR has a PDF))
        let condition = """
        {"all": [
          {"field": "subject", "op": "contains", "value": "invoice"},
          {"not": {"field": "from.domain", "op": "in", "value": ["spam.example"]}},
          {"any": [{"field": "document.fields.total", "op": "gt", "value": 5000}, {"field": "attachment.type", "op": "equals", "value": "application/pdf"}]}
        ]}
        """
        let matched = try await decide(#"[{"id": "n", "when": \#(condition), "then": {"route": {"pipeline": "finance"}}}]"#)
        #expect(matched.decidedBy == "rule:n")
        // Every leaf evaluated, in order, with pointers into the tree.
        #expect(matched.rules[0].conditions.map(\.pointer) == ["/rules/0/when/all/0", "/rules/0/when/all/1/not", "/rules/0/when/all/2/any/0", "/rules/0/when/all/2/any/1"])
        #expect(matched.rules[0].conditions.map(\.result) == [true, false, false, true])

        var spam = Fixture.invoiceMail
        spam.message?.from = [MailAddress(address: "x@SPAM.example")]
        let rejected = try await decide(#"[{"id": "n", "when": \#(condition), "then": {"route": {"pipeline": "finance"}}}]"#, facts: spam)
        #expect(rejected.decidedBy == "default-route")
        // all stops at the first false child: the any-group was not evaluated.
        #expect(rejected.rules[0].conditions.count == 2)
    }

    @Test func ignoreDropsRepliesButKeepsMailbox() async throws {
        let decision = try await decide("""
        [{"id": "ack", "when": \(Self.always), "then": {"reply": {"template": "thanks"}, "forward": {"webhook": "erp"}, "mailbox": {"move_to": "Archive", "add_flags": ["\\\\Seen"]}}},
         {"id": "bounce", "when": {"field": "header.list-id", "op": "exists"}, "then": {"ignore": {"reason": "mailing list"}}}]
        """, extra: #""templates": {"thanks": {"subject": "Re", "body": "Thanks"}}"#)
        #expect(decision.outcome == .ignore && decision.route == nil)
        #expect(decision.decidedBy == "rule:bounce")
        #expect(decision.followUps.replies.isEmpty && decision.followUps.forwards.isEmpty)
        #expect(decision.followUps.mailbox == MailboxRequest(moveTo: "Archive", addFlags: ["\\Seen"], rule: "ack"))
        #expect(decision.trace.last == "ignored: mailing list")
    }

    @Test func followUpsAccumulateOncePerTarget() async throws {
        let decision = try await decide("""
        [{"id": "a", "when": \(Self.always), "then": {"route": {"pipeline": "finance"}, "forward": {"webhook": "erp"}, "schedule": {"duration_minutes": 45, "attendee": "reply_to"}}},
         {"id": "b", "when": \(Self.always), "then": {"forward": {"webhook": "erp"}, "mailbox": {"add_flags": ["$Invoice"]}}},
         {"id": "c", "when": \(Self.always), "then": {"mailbox": {"move_to": "Ignored"}}},
         {"id": "d", "when": \(Self.always), "override": true, "then": {"mailbox": {"move_to": "Finance"}}}]
        """)
        #expect(decision.followUps.forwards == [ForwardRequest(webhook: "erp", rule: "a")])
        #expect(decision.followUps.meetings.first?.durationMinutes == 45 && decision.followUps.meetings.first?.attendeeField == "reply_to")
        #expect(decision.followUps.mailbox?.moveTo == "Finance" && decision.followUps.mailbox?.rule == "d")
        #expect(decision.rules[2].effects.first?.contains("not applied") == true)
    }

    @Test func rulesOfAnotherOrganizationDoNotRun() async throws {
        var facts = Fixture.formPost
        facts.organization = "other"
        let decision = try await decide(#"[{"id": "a", "then": {"route": {"pipeline": "finance"}}}]"#, facts: facts)
        #expect(decision.rules.isEmpty)
        #expect(decision.trace.first == "no rules for organization other")
        #expect(decision.decidedBy == "default-route")
    }

    @Test func routeTemplatesAreCarried() async throws {
        let decision = try await decide(#"[{"id": "a", "then": {"route": {"pipeline": "finance", "assignee": "ap-team", "tags": ["invoice", "q4"], "title": "Invoice from {{from}}", "description": "{{text}}"}}}]"#)
        #expect(decision.route == Route(pipeline: "finance", stage: "payable", priority: .normal, assignee: "ap-team", tags: ["invoice", "q4"], titleTemplate: "Invoice from {{from}}", descriptionTemplate: "{{text}}"))
    }

    @Test func routeTitleDefaultsToTheOrganizationDefault() async throws {
        let decision = try await decide(#"[{"id": "a", "then": {"route": {"pipeline": "support"}}}]"#)
        #expect(decision.route?.titleTemplate == "{{subject}}")
    }

    @Test func decisionRoundTripsThroughJSON() async throws {
        let decision = try await decide(#"[{"id": "a", "when": \#(Self.always), "then": {"route": {"pipeline": "support"}, "forward": {"webhook": "erp"}}}]"#)
        let data = try JSONEncoder().encode(decision)
        let decoded = try JSONDecoder().decode(Decision.self, from: data)
        #expect(decoded == decision)
    }
}

@Suite("AI step without a model")
struct AskAIFallbackTests {
    struct Scripted: RouteClassifier {
        var destination: String?
        var confidence: Double?

        func classify(_ facts: Facts, ask: AskAI, rule: String) async -> Classification {
            Classification(destination: destination, trace: AITrace(
                rule: rule, model: "stand-in", promptVersion: "test", inputHash: "0", candidates: ask.candidates.map(\.route.pipeline),
                minimumConfidence: ask.minimumConfidence, rawOutput: nil, destination: destination, confidence: confidence,
                reasoning: nil, outcome: "accepted", cached: false, attempts: 1, latencyMilliseconds: 0
            ))
        }
    }

    static let rule = #"[{"id": "ai", "then": {"ask_ai": {"candidates": [{"pipeline": "sales", "about": "new business"}, {"pipeline": "support", "stage": "urgent", "about": "customers with problems"}], "min_confidence": 0.8, "fallback": {"pipeline": "review", "title": "Please look"}}}}]"#

    func decide(_ classifier: (any RouteClassifier)?, rule: String = rule) async throws -> Decision {
        try await RulesRouter(rules: Fixture.rules(list: rule), config: Fixture.config, classifier: classifier).decide(Fixture.formPost)
    }

    @Test func withoutAClassifierTheFallbackApplies() async throws {
        let decision = try await decide(nil)
        #expect(decision.route?.pipeline == "review" && decision.route?.titleTemplate == "Please look")
        #expect(decision.decidedBy == "ai-fallback:ai")
        #expect(decision.ai == nil)
    }

    @Test func aCandidateWithEnoughConfidenceIsRouted() async throws {
        let decision = try await decide(Scripted(destination: "support", confidence: 0.9))
        #expect(decision.route?.pipeline == "support" && decision.route?.stage == "urgent")
        #expect(decision.decidedBy == "ai")
        #expect(decision.ai?.model == "stand-in")
    }

    @Test(arguments: [("support", 0.79), ("finance", 0.99), ("none", 1.0), ("SUPPORT", 0.99)])
    func anythingElseFallsBack(_ destination: String, _ confidence: Double) async throws {
        let decision = try await decide(Scripted(destination: destination, confidence: confidence))
        #expect(decision.route?.pipeline == "review")
        #expect(decision.decidedBy == "ai-fallback:ai")
    }

    @Test func reviewFallbackHoldsTheIntake() async throws {
        let rule = #"[{"id": "ai", "then": {"ask_ai": {"candidates": [{"pipeline": "sales"}], "fallback": "review"}}}]"#
        let decision = try await decide(Scripted(destination: nil, confidence: nil), rule: rule)
        #expect(decision.outcome == .review && decision.route == nil)
    }
}
