import Actions
import ArgumentParser
import Core
import Foundation
import Inbound
import Rules

/// `astralisd rules …`: operator tools for rules files.
struct RulesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rules", abstract: "Rules files.", subcommands: [Test.self])

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
