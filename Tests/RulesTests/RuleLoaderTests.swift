import Core
import Foundation
import Rules
import Testing

/// A broken rules document and the exact issues it must produce (pointer: message).
struct BrokenRules: CustomTestStringConvertible, Sendable {
    var name: String
    var document: String
    var expected: [String]

    var testDescription: String { name }
}

@Suite("Rules file loading")
struct RuleLoaderTests {
    static let route = #"{"route": {"pipeline": "support"}}"#

    static let broken: [BrokenRules] = [
        BrokenRules(name: "not JSON", document: #"{"version": 1, "rules": [}"#, expected: ["#: not valid JSON"]),
        BrokenRules(name: "not an object", document: "[]", expected: ["#: expected an object, got an array"]),
        BrokenRules(name: "version missing", document: #"{"rules": []}"#, expected: ["#/version: missing; expected 1"]),
        BrokenRules(name: "future version", document: #"{"version": 2, "rules": []}"#, expected: ["#/version: expected 1 (the only rules format this version reads), got 2"]),
        BrokenRules(name: "rules missing", document: #"{"version": 1}"#, expected: ["#/rules: missing; expected an array of rules"]),
        BrokenRules(name: "unknown top-level key", document: #"{"version": 1, "rulez": [], "rules": []}"#, expected: ["#/rulez: unknown key; expected one of $schema, rules, templates, time_zone, version"]),
        BrokenRules(name: "bad time zone", document: #"{"version": 1, "time_zone": "Mars/Olympus", "rules": []}"#, expected: [#"#/time_zone: expected an IANA time zone name such as "Europe/Berlin", got Mars/Olympus"#]),
        BrokenRules(name: "rule without then", document: #"{"version": 1, "rules": [{"id": "a"}]}"#, expected: ["#/rules/0/then: missing; expected an object of actions (route, ask_ai, ignore, reply, schedule, forward, mailbox)"]),
        BrokenRules(name: "rule without id", document: #"{"version": 1, "rules": [{"then": \#(route)}]}"#, expected: ["#/rules/0/id: missing; expected a string"]),
        BrokenRules(name: "bad id", document: #"{"version": 1, "rules": [{"id": "Big Invoices", "then": \#(route)}]}"#, expected: [#"#/rules/0/id: expected 1-64 characters of a-z, 0-9, '-' or '_' starting with a letter or digit, got "Big Invoices""#]),
        BrokenRules(name: "duplicate id", document: #"{"version": 1, "rules": [{"id": "a", "then": \#(route)}, {"id": "a", "then": \#(route)}]}"#, expected: [#"#/rules/1/id: duplicate rule id "a" (first at /rules/0)"#]),
        BrokenRules(name: "unknown pipeline", document: #"{"version": 1, "rules": [{"id": "a", "then": {"route": {"pipeline": "legal"}}}]}"#, expected: [#"#/rules/0/then/route/pipeline: unknown pipeline "legal"; expected one of organization demo's pipelines (sales, support, finance, review)"#]),
        BrokenRules(name: "unknown stage", document: #"{"version": 1, "rules": [{"id": "a", "then": {"route": {"pipeline": "finance", "stage": "paid"}}}]}"#, expected: [#"#/rules/0/then/route/stage: unknown stage "paid"; expected a stage of pipeline finance (payable, approval)"#]),
        BrokenRules(name: "bad priority", document: #"{"version": 1, "rules": [{"id": "a", "then": {"route": {"pipeline": "finance", "priority": "asap"}}}]}"#, expected: [#"#/rules/0/then/route/priority: expected one of low, normal, high, urgent, got "asap""#]),
        BrokenRules(name: "bad template", document: #"{"version": 1, "rules": [{"id": "a", "then": {"route": {"pipeline": "finance", "title": "{{#items}} open"}}}]}"#, expected: ["#/rules/0/then/route/title: expected a valid Mustache template: section is not closed"]),
        BrokenRules(name: "unknown reply template", document: #"{"version": 1, "templates": {"thanks": {"subject": "Re", "body": "Hi"}}, "rules": [{"id": "a", "then": {"reply": {"template": "thank-you"}}}]}"#, expected: [#"#/rules/0/then/reply/template: unknown template "thank-you"; expected one of this file's templates (thanks)"#]),
        BrokenRules(name: "template without body", document: #"{"version": 1, "templates": {"thanks": {"subject": "Re"}}, "rules": []}"#, expected: ["#/templates/thanks/body: missing; expected a string"]),
        BrokenRules(name: "unknown webhook", document: #"{"version": 1, "rules": [{"id": "a", "then": {"forward": {"webhook": "crm"}}}]}"#, expected: [#"#/rules/0/then/forward/webhook: unknown outbound webhook "crm"; expected one of organization demo's outbound_webhooks (erp)"#]),
        BrokenRules(name: "unknown organization", document: #"{"version": 1, "rules": [{"id": "a", "organization": "acme", "then": \#(route)}]}"#, expected: [#"#/rules/0/organization: expected one of the configured organizations (demo), got "acme""#]),
        BrokenRules(name: "two destinations", document: #"{"version": 1, "rules": [{"id": "a", "then": {"route": {"pipeline": "support"}, "ignore": true}}]}"#, expected: ["#/rules/0/then: expected at most one of route, ask_ai and ignore, got route and ignore"]),
        BrokenRules(name: "no action", document: #"{"version": 1, "rules": [{"id": "a", "then": {}}]}"#, expected: ["#/rules/0/then: expected at least one action (route, ask_ai, ignore, reply, schedule, forward, mailbox)"]),
        BrokenRules(name: "unknown field", document: #"{"version": 1, "rules": [{"id": "a", "when": {"field": "sender", "op": "equals", "value": "x"}, "then": \#(route)}]}"#, expected: [#"#/rules/0/when/field: unknown field "sender"; expected one of source, source_kind, organization, subject, body, from, from.domain, from.name, to, to.domain, to.name, cc, cc.domain, cc.name, reply_to, reply_to.domain, reply_to.name, header.<Name>, attachment.filename, attachment.type, attachment.count, document.kind, document.filename, document.type, document.text, document.count, document.fields.<path>, invoice.<path>, payload.<path>, received_at, message.date, time.hour, time.of_day, time.weekday"#]),
        BrokenRules(name: "unknown operator", document: #"{"version": 1, "rules": [{"id": "a", "when": {"all": [{"field": "subject", "op": "like", "value": "x"}]}, "then": \#(route)}]}"#, expected: [#"#/rules/0/when/all/0/op: unknown operator "like"; expected one of equals, not_equals, lt, lte, gt, gte, in, contains, starts_with, ends_with, matches, exists"#]),
        BrokenRules(name: "bad regular expression", document: #"{"version": 1, "rules": [{"id": "a", "when": {"any": [{"field": "subject", "op": "exists"}, {"not": {"field": "subject", "op": "matches", "value": "(unclosed"}}]}, "then": \#(route)}]}"#, expected: [#"#/rules/0/when/any/1/not/value: expected a valid regular expression (ICU syntax), got "(unclosed""#]),
        BrokenRules(name: "comparison without a number", document: #"{"version": 1, "rules": [{"id": "a", "when": {"field": "document.fields.total", "op": "gt", "value": "lots"}, "then": \#(route)}]}"#, expected: [#"#/rules/0/when/value: expected a number or an ISO 8601 date/time ("2026-01-31" or "2026-01-31T09:00:00Z"), got "lots""#]),
        BrokenRules(name: "bad time of day", document: #"{"version": 1, "rules": [{"id": "a", "when": {"field": "time.of_day", "op": "lt", "value": "25:00"}, "then": \#(route)}]}"#, expected: [#"#/rules/0/when/value: expected a time of day "HH:MM" (00:00-23:59), got 25:00"#]),
        BrokenRules(name: "bad weekday", document: #"{"version": 1, "rules": [{"id": "a", "when": {"field": "time.weekday", "op": "in", "value": ["sat", "sunday"]}, "then": \#(route)}]}"#, expected: [#"#/rules/0/when/value: expected weekday names mon, tue, wed, thu, fri, sat, sun, got "sunday""#]),
        BrokenRules(name: "empty group", document: #"{"version": 1, "rules": [{"id": "a", "when": {"all": []}, "then": \#(route)}]}"#, expected: ["#/rules/0/when/all: expected at least one condition"]),
        BrokenRules(name: "group and leaf mixed", document: #"{"version": 1, "rules": [{"id": "a", "when": {"all": [{"field": "subject", "op": "exists"}], "field": "x"}, "then": \#(route)}]}"#, expected: ["#/rules/0/when/field: unknown key; expected one of all"]),
        BrokenRules(name: "in without array", document: #"{"version": 1, "rules": [{"id": "a", "when": {"field": "from.domain", "op": "in", "value": "a.example"}, "then": \#(route)}]}"#, expected: ["#/rules/0/when/value: expected a non-empty array of strings or numbers for in, got a string"]),
        BrokenRules(name: "ask_ai without fallback", document: #"{"version": 1, "rules": [{"id": "a", "then": {"ask_ai": {"candidates": [{"pipeline": "sales"}]}}}]}"#, expected: [#"#/rules/0/then/ask_ai/fallback: missing; expected "review" or a route object for answers that cannot be used"#]),
        BrokenRules(name: "ask_ai duplicate candidate and bad confidence", document: #"{"version": 1, "rules": [{"id": "a", "then": {"ask_ai": {"candidates": [{"pipeline": "sales"}, {"pipeline": "sales", "stage": "qualified"}], "min_confidence": 1.5, "fallback": "review"}}}]}"#, expected: [
            #"#/rules/0/then/ask_ai/candidates/1/pipeline: duplicate candidate pipeline "sales"; the model answers with a pipeline id, so each may appear once"#,
            "#/rules/0/then/ask_ai/min_confidence: expected a number in 0...1, got 1.5",
        ]),
        BrokenRules(name: "schedule attendee from free text", document: #"{"version": 1, "rules": [{"id": "a", "then": {"schedule": {"attendee": "body", "duration_minutes": 2}}}]}"#, expected: [
            "#/rules/0/then/schedule/duration_minutes: expected an integer in 5...480, got 2",
            #"#/rules/0/then/schedule/attendee: expected from, reply_to or payload.<path> (attendees come from the intake, never from free text), got "body""#,
        ]),
        BrokenRules(name: "key with a slash is escaped in the pointer", document: #"{"version": 1, "templates": {"a/b~c": {"subject": "s", "body": "b"}}, "rules": []}"#, expected: [#"#/templates/a~1b~0c: expected 1-64 characters of a-z, 0-9, '-' or '_' starting with a letter or digit, got "a/b~c""#]),
    ]

    @Test(arguments: broken)
    func brokenFile(_ testCase: BrokenRules) {
        let issues = Fixture.issues(testCase.document)
        #expect(issues.map { $0.description } == testCase.expected.map { "rules.json" + $0 })
    }

    @Test func everyErrorIsReportedAtOnce() {
        let document = """
        {"version": 1, "rules": [
          {"id": "a", "when": {"field": "subject", "op": "matches", "value": "["}, "then": {"route": {"pipeline": "legal"}}},
          {"id": "b", "when": {"field": "nope", "op": "exists"}, "then": {"forward": {"webhook": "crm"}}},
          {"id": "c", "then": {"route": {"pipeline": "support", "stage": "closed"}}}
        ]}
        """
        let pointers = Fixture.issues(document).map(\.pointer)
        #expect(pointers == ["/rules/0/when/value", "/rules/0/then/route/pipeline", "/rules/1/when/field", "/rules/1/then/forward/webhook", "/rules/2/then/route/stage"])
    }

    @Test func errorNamesTheFile() {
        do {
            _ = try RuleLoader.parse(Data("{}".utf8), file: "/etc/astralisd/rules.json", context: Fixture.context)
            Issue.record("an empty object must not load")
        } catch {
            #expect(error.description.hasPrefix("/etc/astralisd/rules.json: 2 errors\n  - /etc/astralisd/rules.json#/version: missing"))
        }
    }

    @Test func missingFile() {
        do {
            _ = try RuleLoader.load(path: "/nonexistent/rules.json", context: Fixture.context)
            Issue.record("a missing file must not load")
        } catch {
            #expect(error.issues == [RuleIssue(file: "/nonexistent/rules.json", pointer: "", message: "rules file does not exist")])
        }
    }

    @Test func organizationIsRequiredWithSeveralOrganizations() throws {
        var organizations = Fixture.config.organizations
        var second = organizations[0]
        second.id = "acme"
        organizations.append(second)
        let context = RuleContext(organizations: organizations)
        let document = #"{"version": 1, "rules": [{"id": "a", "then": {"route": {"pipeline": "support"}}}, {"id": "b", "organization": "acme", "then": {"route": {"pipeline": "sales"}}}]}"#
        do {
            _ = try RuleLoader.parse(Data(document.utf8), file: "r.json", context: context)
            Issue.record("rule a names no organization")
        } catch {
            #expect(error.issues.map(\.description) == ["r.json#/rules/0/organization: missing; required because the configuration has 2 organizations (demo, acme)"])
        }
        let fixed = document.replacingOccurrences(of: #""id": "a","#, with: #""id": "a", "organization": "demo","#)
        let rules = try RuleLoader.parse(Data(fixed.utf8), file: "r.json", context: context)
        #expect(rules.ruleIDs(organization: "demo") == ["a"])
        #expect(rules.ruleIDs(organization: "acme") == ["b"])
    }

    @Test func scheduleCalendarMustBeConfigured() throws {
        let document = #"{"version": 1, "rules": [{"id": "a", "then": {"schedule": {"calendar": "sales-team"}}}]}"#
        let known = RuleContext(organizations: Fixture.config.organizations, calendars: ["sales-team"])
        let rules = try RuleLoader.parse(Data(document.utf8), file: "r.json", context: known)
        #expect(rules.count == 1)
        do {
            _ = try RuleLoader.parse(Data(document.utf8), file: "r.json", context: RuleContext(organizations: Fixture.config.organizations, calendars: ["demo"]))
            Issue.record("sales-team is not configured")
        } catch {
            #expect(error.issues.map(\.description) == [#"r.json#/rules/0/then/schedule/calendar: unknown calendar "sales-team"; expected one of scheduling.calendars (demo)"#])
        }
        // Without calendars in the context (a tool that has no config) the name is not checked.
        _ = try RuleLoader.parse(Data(document.utf8), file: "r.json", context: RuleContext(organizations: Fixture.config.organizations))
    }

    @Test func scheduleDurationMustBeOffered() throws {
        let context = RuleContext(organizations: Fixture.config.organizations, calendars: ["demo"], calendarDurations: ["demo": [1_800, 3_600]])
        let ok = #"{"version": 1, "rules": [{"id": "a", "then": {"schedule": {"calendar": "demo", "duration_minutes": 60}}}]}"#
        #expect(try RuleLoader.parse(Data(ok.utf8), file: "r.json", context: context).count == 1)
        let wrong = #"{"version": 1, "rules": [{"id": "a", "then": {"schedule": {"calendar": "demo", "duration_minutes": 45, "proposed_times": "body", "window_start": "payload."}}}]}"#
        do {
            _ = try RuleLoader.parse(Data(wrong.utf8), file: "r.json", context: context)
            Issue.record("45 minutes is not offered")
        } catch {
            #expect(error.issues.map(\.description).sorted() == [
                #"r.json#/rules/0/then/schedule/duration_minutes: calendar "demo" does not offer 45 minutes; its durations are 30, 60 minutes"#,
                #"r.json#/rules/0/then/schedule/proposed_times: expected payload.<path> or text, got "body""#,
                #"r.json#/rules/0/then/schedule/window_start: expected payload.<path>, got "payload.""#,
            ])
        }
    }

    @Test func replyTemplatesTakeAnOptionalHTMLBody() throws {
        let rules = try Fixture.rules(list: "[]", extra: #""templates": {"ack": {"subject": "Re: {{subject}}", "body": "Thanks", "html": "<p>Thanks for <b>{{subject}}</b></p>"}, "plain": {"subject": "s", "body": "b"}}"#)
        #expect(rules.templates["ack"]?.html == "<p>Thanks for <b>{{subject}}</b></p>")
        #expect(rules.templates["plain"]?.html == nil)
        let issues = Fixture.issues(#"{"version": 1, "templates": {"ack": {"subject": "s", "body": "b", "html": "{{#open"}}, "rules": []}"#)
        #expect(issues.map(\.description).contains { $0.hasPrefix("rules.json#/templates/ack/html:") }, "\(issues)")
    }
}
