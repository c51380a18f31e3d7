import Core
import Foundation
import Testing

@Suite("Stored decision JSON")
struct DecisionJSONTests {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Every byte value below 0x80, quotes, slashes, non-ASCII and an emoji: the escapes must be
    /// exactly JSONEncoder's.
    static let awkward: String = {
        var text = ""
        for byte in UInt8(0)..<0x80 { text.unicodeScalars.append(Unicode.Scalar(byte)) }
        return text + "\u{2028}\u{2029} é 😀 \u{FEFF} </script> C:\\path \"quoted\""
    }()

    static let decisions: [Decision] = {
        let route = Route(pipeline: "finance", stage: "payable", priority: .high, assignee: "ap@demo.example", tags: ["invoice", "q4"], titleTemplate: "Invoice {{subject}}")
        let conditions = [
            ConditionTrace(pointer: "/rules/0/when/all/0", field: "from.domain", op: "in", expected: #"["vendor.example"]"#, actual: ["vendor.example"], result: true),
            ConditionTrace(pointer: "/rules/0/when/all/1", field: "header.x-campaign", op: "exists", expected: nil, actual: [], result: false),
            ConditionTrace(pointer: "/rules/1/when", field: "body", op: "contains", expected: awkward, actual: [awkward, "", "Grüße"], result: false),
        ]
        let rules = [
            RuleTrace(rule: "invoices", pointer: "/rules/0", matched: false, conditions: Array(conditions[0...1]), effects: []),
            RuleTrace(rule: "odd \"rule\"/id", pointer: "/rules/1", matched: true, conditions: [conditions[2]], effects: ["route to finance/payable (high)", "stop"]),
            RuleTrace(rule: "always", pointer: "/rules/2", matched: true, conditions: [], effects: []),
        ]
        let ai = AITrace(
            rule: "ask", model: "gpt-4o-mini", promptVersion: "3", inputHash: "ab12", candidates: ["sales", "support"], minimumConfidence: 0.7,
            rawOutput: #"{"destination": "sales"}"#, destination: "sales", confidence: 0.91, reasoning: "asks for a quote", outcome: "accepted", cached: false,
            attempts: 2, latencyMilliseconds: 840
        )
        return [
            Decision(outcome: .route, route: route, decidedBy: "rule:invoices", trace: ["rule odd matched", awkward], rules: rules),
            Decision(outcome: .review, route: nil, decidedBy: "ai-fallback:ask", trace: [], followUps: FollowUps(), rules: rules, ai: ai),
            Decision(outcome: .ignore, route: nil, decidedBy: "default-route", trace: ["ignored"], rules: []),
        ]
    }()

    @Test(arguments: 0..<3)
    func sameBytesAsJSONEncoder(index: Int) throws {
        let decision = Self.decisions[index]
        let direct = try decision.storedJSON(using: Self.encoder)
        let encoded = try Self.encoder.encode(decision)
        #expect(String(decoding: direct, as: UTF8.self) == String(decoding: encoded, as: UTF8.self))
        #expect(try JSONDecoder().decode(Decision.self, from: direct) == decision)
    }
}
