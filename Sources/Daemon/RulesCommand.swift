import Actions
import ArgumentParser
import Core
import Foundation
import Inbound
import Rules

/// `astralisd rules …`: operator tools for rules files.
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rules", abstract: "Rules files.", subcommands: [Test.self, RulesBench.self])

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Explain the decision for a sample input: every rule, every condition's value and result. Writes nothing."
        )

        @OptionGroup var options: ConfigOptions
        @Option(help: "Sample input: a .json webhook payload, an .eml message, or with --facts a Facts document.") var input: String
        @Option(help: "Source the sample arrives on (default: the first configured source).") var source: String?
        @Flag(help: "The input is a Facts document (JSON, ISO 8601 dates), e.g. to try document and invoice rules.") var facts = false
        @Flag(help: "Print the decision as JSON.") var json = false

        func run() async throws {
            let loaded = try options.load()
            guard let data = FileManager.default.contents(atPath: input) else {
                FileHandle.standardError.write(Data("cannot read \(input)\n".utf8))
                throw ExitCode(1)
            }
            let sample: Facts
            do {
                sample = try facts ? Self.decodeFacts(data) : Self.facts(from: data, file: input, source: try sourceConfig(loaded.config))
            } catch let error as ExitCode {
                throw error
            } catch {
                FileHandle.standardError.write(Data("\(input): cannot be read as an intake: \(error)\n".utf8))
                throw ExitCode(1)
            }
            let decision = try await loaded.makeRouter().decide(sample)
            if json {
                print(String(decoding: try DecisionReport.encoder.encode(decision), as: UTF8.self))
            } else {
                var title: String?
                if let route = decision.route { title = try? ItemComposer().compose(route: route, facts: sample).title }
                print(DecisionReport.text(decision, rulesFile: loaded.config.rulesFile, itemTitle: title))
            }
        }

        private func sourceConfig(_ config: DaemonConfig) throws -> SourceConfig {
            if let source {
                guard let found = config.source(source) else {
                    FileHandle.standardError.write(Data("no source \(source) (configured: \(config.sources.map(\.id).joined(separator: ", ")))\n".utf8))
                    throw ExitCode(1)
                }
                return found
            }
            guard let first = config.sources.first else {
                FileHandle.standardError.write(Data("the configuration has no sources; pass --source\n".utf8))
                throw ExitCode(1)
            }
            return first
        }

        /// The Facts processing would build: `.eml` as an email (`message/rfc822`, parsed by the
        /// Mail module through FactsBuilder), anything else as the source's JSON webhook payload.
        static func facts(from data: Data, file: String, source: SourceConfig) throws -> Facts {
            let email = file.lowercased().hasSuffix(".eml")
            let now = Date()
            let intake = Intake(
                id: "in_rules_test", organization: source.organization, source: source.id, sourceKind: .cli, receivedAt: now,
                dedupeKey: "rules-test", rawBlob: "", rawSize: data.count, contentType: email ? "message/rfc822" : "application/json"
            )
            return try FactsBuilder.facts(for: intake, raw: data, documents: [])
        }

        static func decodeFacts(_ data: Data) throws -> Facts {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(Facts.self, from: data)
        }
    }
}

/// Prints a decision for people: outcome, follow-ups, then each rule and condition.
enum DecisionReport {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static func text(_ decision: Decision, rulesFile: String?, itemTitle: String?) -> String {
        var lines: [String] = []
        switch decision.outcome {
        case .route:
            let route = decision.route
            lines.append("decision: route to \(route?.pipeline ?? "?")/\(route?.stage ?? "?") (priority \(route?.priority.rawValue ?? "?")) by \(decision.decidedBy)")
            if let assignee = route?.assignee { lines.append("assignee: \(assignee)") }
            if let tags = route?.tags, !tags.isEmpty { lines.append("tags: \(tags.joined(separator: ", "))") }
            if let itemTitle { lines.append("item title: \(itemTitle)") }
        case .review: lines.append("decision: hold for human review by \(decision.decidedBy)")
        case .ignore: lines.append("decision: ignore by \(decision.decidedBy)")
        }
        let followUps = decision.followUps
        for reply in followUps.replies { lines.append("reply: template \(reply.template) (rule \(reply.rule))") }
        for meeting in followUps.meetings { lines.append("schedule: \(meeting.durationMinutes)-minute meeting with \(meeting.attendeeField) within \(meeting.withinDays) days (rule \(meeting.rule))") }
        for forward in followUps.forwards { lines.append("forward: webhook \(forward.webhook) (rule \(forward.rule))") }
        if let mailbox = followUps.mailbox {
            lines.append("mailbox: move to \(mailbox.moveTo ?? "-"), add flags \(mailbox.addFlags.isEmpty ? "-" : mailbox.addFlags.joined(separator: " ")) (rule \(mailbox.rule))")
        }
        if !decision.rules.isEmpty {
            lines.append("")
            lines.append("rules\(rulesFile.map { " (\($0))" } ?? ""):")
        }
        for rule in decision.rules {
            lines.append("  \(rule.matched ? "MATCH" : "no   ") \(rule.rule) \(rule.pointer)")
            for condition in rule.conditions {
                let actual = condition.actual.isEmpty ? "(absent)" : condition.actual.map { "\"\($0)\"" }.joined(separator: ", ")
                let expected = condition.expected.map { " \($0)" } ?? ""
                lines.append("      \(condition.result ? "true " : "false") \(condition.field) \(condition.op)\(expected) ← \(actual)   \(condition.pointer)")
            }
            for effect in rule.effects { lines.append("      → \(effect)") }
        }
        if let ai = decision.ai {
            lines.append("")
            lines.append("ai: model \(ai.model), prompt \(ai.promptVersion), input \(ai.inputHash.prefix(16)), \(ai.attempts) attempt(s)\(ai.cached ? ", cached" : ""), \(ai.latencyMilliseconds) ms")
            lines.append("    answer: \(ai.destination ?? "-") confidence \(ai.confidence.map { String($0) } ?? "-") → \(ai.outcome)")
            if let reasoning = ai.reasoning { lines.append("    reasoning: \(reasoning)") }
            if let raw = ai.rawOutput { lines.append("    raw output: \(raw)") }
        }
        lines.append("")
        lines.append("trace:")
        lines.append(contentsOf: decision.trace.map { "  \($0)" })
        return lines.joined(separator: "\n")
    }
}

/// `astralisd rules bench` (hidden; `bench/rules.sh` runs it): decisions per second on one task
/// for a generated rules file of N rules over realistic intakes. Not a test: numbers depend on the machine.
struct RulesBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "Measure rule evaluation speed.", shouldDisplay: false)

    @OptionGroup var options: ConfigOptions
    @Option(help: "Rules in the generated file (the example file's kinds of rules, repeated with other values).") var count: Int = 100
    @Option(help: "How long to measure, in seconds.") var seconds: Double = 3
    @Option(help: "Only this measure (decide, decide+structured_trace, decide+structured_trace+json); all by default.") var measure: String?

    func run() async throws {
        let loaded = try options.load()
        guard let organization = loaded.config.organizations.first, let pipeline = organization.pipelines.first else {
            FileHandle.standardError.write(Data("the configuration has no organization with a pipeline\n".utf8))
            throw ExitCode(1)
        }
        let text = Self.rulesDocument(count: max(1, count), pipeline: pipeline.id)
        let rules: RuleSet
        do {
            rules = try RuleLoader.parse(Data(text.utf8), file: "generated", context: RuleContext(organizations: [organization], checkTemplate: ConfigLoader.checkTemplate))
        } catch {
            FileHandle.standardError.write(Data("\(error.description)\n".utf8))
            throw ExitCode(1)
        }
        let router = RulesRouter(rules: rules, config: loaded.config)
        let samples = Self.samples(organization: organization.id, source: organization.sources.first?.id ?? "bench")
        // Warm up (regex caches, allocations), then measure.
        for sample in samples { _ = try await router.decide(sample).rules }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // 1. What routing costs: the decision with its destination, follow-ups and step trace; the
        //    structured rule trace is recorded compactly and built when first read.
        // 2. The same, then the structured trace read (every RuleTrace and ConditionTrace built).
        // 3. The same, then the decision encoded as the store writes it (sorted-key JSON).
        let measures = ["decide", "decide+structured_trace", "decide+structured_trace+json"]
        if let only = self.measure, !measures.contains(only) {
            FileHandle.standardError.write(Data("unknown measure \(only); expected one of \(measures.joined(separator: ", "))\n".utf8))
            throw ExitCode(1)
        }
        for measure in measures where self.measure == nil || self.measure == measure {
            let clock = ContinuousClock()
            let start = clock.now
            let cpuStart = Self.processCPUSeconds()
            var decisions = 0
            var routed = 0
            var traced = 0
            var bytes = 0
            while clock.now - start < .milliseconds(Int(seconds * 1000)) {
                for _ in 0..<50 {
                    for sample in samples {
                        let decision = try await router.decide(sample)
                        if decision.outcome == .route { routed += 1 }
                        switch measure {
                        case "decide": break
                        case "decide+structured_trace": traced += decision.rules.count
                        default: bytes += try decision.storedJSON(using: encoder).count
                        }
                        decisions += 1
                    }
                }
            }
            let elapsed = clock.now - start
            let cpuSeconds = Self.processCPUSeconds() - cpuStart
            let secondsElapsed = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let perSecond = Double(decisions) / secondsElapsed
            var line = "rules=\(rules.count) measure=\(measure) " + String(format: "decisions=%d seconds=%.2f decisions_per_second=%.0f microseconds_per_decision=%.2f routed=%d", decisions, secondsElapsed, perSecond, 1e6 / perSecond, routed)
            // CPU time is what the process got: on a busy machine wall-clock rates understate it.
            line += String(format: " cpu_seconds=%.2f decisions_per_cpu_second=%.0f", cpuSeconds, Double(decisions) / max(cpuSeconds, 1e-9))
            if traced > 0 { line += " rule_traces_per_decision=\(traced / max(decisions, 1))" }
            if bytes > 0 { line += " json_bytes_per_decision=\(bytes / max(decisions, 1))" }
            print(line)
        }
    }

    /// CPU time used by the whole process so far (every thread), in seconds.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// N rules shaped like real ones (domains, subjects, regexes, payload fields, invoice totals,
    /// headers, weekdays, body text) that mostly do not match, so every rule is evaluated.
    static func rulesDocument(count: Int, pipeline: String) -> String {
        var rules: [String] = []
        for index in 0..<count {
            let condition: String
            switch index % 6 {
            case 0: condition = #"{"any": [{"field": "from.domain", "op": "in", "value": ["client\#(index).example", "mail.client\#(index).example"]}, {"field": "subject", "op": "contains", "value": "project \#(index)"}]}"#
            case 1: condition = #"{"all": [{"field": "source", "op": "equals", "value": "form-\#(index)"}, {"field": "payload.plan", "op": "equals", "value": "enterprise"}]}"#
            case 2: condition = #"{"field": "subject", "op": "matches", "value": "\\bticket #\#(index)\\d+\\b"}"#
            case 3: condition = #"{"all": [{"field": "document.kind", "op": "equals", "value": "invoice"}, {"field": "document.fields.total", "op": "gt", "value": \#(100_000 + index)}]}"#
            case 4: condition = #"{"all": [{"field": "header.x-campaign", "op": "exists"}, {"field": "time.weekday", "op": "in", "value": ["sat", "sun"]}]}"#
            default: condition = #"{"not": {"any": [{"field": "body", "op": "contains", "value": "order number"}, {"field": "to", "op": "ends_with", "value": "@demo.example"}, {"field": "source", "op": "exists"}]}}"#
            }
            rules.append(#"{"id": "rule-\#(index)", "when": \#(condition), "then": {"route": {"pipeline": "\#(pipeline)", "title": "{{subject}}"}}}"#)
        }
        return #"{"version": 1, "time_zone": "Europe/Berlin", "rules": [\#(rules.joined(separator: ",\n"))]}"#
    }

    static func samples(organization: String, source: String) -> [Facts] {
        let body = String(repeating: "Dear team, please find attached our invoice for the services rendered in October. Payment terms are 30 days net. ", count: 18)
        let headers = [
            ("Received", "from mail.vendor.example by mx.demo.example"), ("DKIM-Signature", "v=1; a=rsa-sha256; d=vendor.example"), ("Message-ID", "<a1@vendor.example>"),
            ("Date", "Mon, 2 Nov 2026 09:30:00 +0100"), ("From", "Vendor Billing <billing@vendor.example>"), ("To", "ap@demo.example"), ("Subject", "Invoice INV-2041"),
            ("MIME-Version", "1.0"), ("Content-Type", "multipart/mixed; boundary=x"), ("X-Mailer", "Billing 4.2"),
        ].map { MessageHeader(name: $0.0, value: $0.1) }
        let invoice = Message(
            messageID: "a1@vendor.example", subject: "Invoice INV-2041 for October", from: [MailAddress(name: "Vendor Billing", address: "billing@vendor.example")],
            to: [MailAddress(address: "ap@demo.example")], headers: headers, text: body, textSource: .plain,
            attachments: [MessageAttachment(filename: "INV-2041.pdf", declaredType: "application/pdf", size: 48_000, sha256: "0", disposition: .attachment, partPath: "2")]
        )
        let received = Date(timeIntervalSince1970: 1_793_611_800)
        let newsletter = Message(subject: "Our November news", from: [MailAddress(address: "news@shop.example")], to: [MailAddress(address: "info@demo.example")],
                                 headers: headers.prefix(4) + [MessageHeader(name: "List-Id", value: "<news.shop.example>"), MessageHeader(name: "X-Campaign", value: "nov")], text: body, textSource: .html)
        let support = Message(subject: "Login not working since the update", from: [MailAddress(address: "lin@customer.example")], to: [MailAddress(address: "support@demo.example")],
                              headers: Array(headers.prefix(6)), text: "Hi, since this morning I cannot log in. Error 500. Order number 12-445.", textSource: .plain)
        return [
            Facts(intakeID: "in_1", organization: organization, source: source, sourceKind: .imap, receivedAt: received, subject: invoice.subject, from: "billing@vendor.example", text: body, message: invoice,
                  documents: [DocumentFacts(filename: "INV-2041.pdf", declaredType: "application/pdf", size: 48_000, kind: "invoice", text: "INVOICE INV-2041", fields: .object(["total": .number(1250), "currency": .string("EUR")]))]),
            Facts(intakeID: "in_2", organization: organization, source: source, sourceKind: .webhook, receivedAt: received,
                  payload: .object(["name": .string("Ada"), "email": .string("ada@lovelace.example"), "plan": .string("team"), "message": .string("Please call me about a quote.")]),
                  subject: "Quote request", from: "ada@lovelace.example", text: "Please call me about a quote."),
            Facts(intakeID: "in_3", organization: organization, source: source, sourceKind: .imap, receivedAt: received, subject: newsletter.subject, from: "news@shop.example", text: body, message: newsletter),
            Facts(intakeID: "in_4", organization: organization, source: source, sourceKind: .imap, receivedAt: received, subject: support.subject, from: "lin@customer.example", text: support.text, message: support),
        ]
    }
}
