import Core
import Foundation
@testable import Rules
import Testing

/// Conditions repeated across rules share one result per decision, and string equality tests on
/// one field are answered together from one lookup. Both are optimisations only: every rule must
/// match exactly as it does when evaluated alone.
@Suite("Shared condition results")
struct SharedEvaluationTests {
    static let conditions = [
        #"{"field": "from.domain", "op": "equals", "value": "vendor.example"}"#,
        #"{"field": "from.domain", "op": "not_equals", "value": "vendor.example"}"#,
        #"{"field": "from.domain", "op": "in", "value": ["x.example", "VENDOR.example"]}"#,
        #"{"field": "from.domain", "op": "not_equals", "value": "other.example"}"#,
        #"{"field": "from.domain", "op": "equals", "value": "Vendor.Example", "case_sensitive": true}"#,
        #"{"field": "from.domain", "op": "equals", "value": "vendor.example"}"#,
        #"{"field": "cc", "op": "equals", "value": "boss@demo.example"}"#,
        #"{"field": "cc", "op": "not_equals", "value": "boss@demo.example"}"#,
        #"{"field": "cc", "op": "in", "value": ["nobody@demo.example", "BOSS@demo.example"]}"#,
        #"{"field": "source", "op": "equals", "value": "form"}"#,
        #"{"field": "source", "op": "equals", "value": "mail"}"#,
        #"{"field": "source", "op": "not_equals", "value": "form"}"#,
        #"{"field": "subject", "op": "contains", "value": "invoice"}"#,
        #"{"field": "subject", "op": "contains", "value": "Invoice", "case_sensitive": true}"#,
        #"{"field": "subject", "op": "contains", "value": "invoice", "case_sensitive": true}"#,
        #"{"field": "subject", "op": "starts_with", "value": "INVOICE"}"#,
        #"{"field": "subject", "op": "ends_with", "value": "october"}"#,
        #"{"field": "subject", "op": "ends_with", "value": "R"}"#,
        #"{"field": "subject", "op": "matches", "value": "inv-\\d+"}"#,
        #"{"field": "subject", "op": "matches", "value": "INV-\\d+", "case_sensitive": true}"#,
        #"{"field": "subject", "op": "matches", "value": "inv-\\d+", "case_sensitive": true}"#,
        #"{"field": "body", "op": "contains", "value": "total due"}"#,
        #"{"field": "header.list-id", "op": "exists"}"#,
        #"{"field": "header.list-id", "op": "exists", "value": false}"#,
        #"{"field": "document.fields.total", "op": "gt", "value": 1000}"#,
        #"{"field": "document.fields.total", "op": "lte", "value": 1000}"#,
        #"{"field": "payload.seats", "op": "gte", "value": 12}"#,
        #"{"field": "payload.budget", "op": "gt", "value": 20000}"#,
        #"{"field": "payload.tags", "op": "in", "value": ["vip", "gold"]}"#,
        #"{"field": "payload.tags", "op": "equals", "value": "emea"}"#,
        #"{"field": "document.fields.due_date", "op": "lt", "value": "2026-12-01"}"#,
        #"{"any": [{"field": "source", "op": "equals", "value": "mail"}, {"field": "from.domain", "op": "equals", "value": "vendor.example"}]}"#,
        #"{"not": {"field": "source", "op": "equals", "value": "form"}}"#,
    ]

    static func document(_ conditions: [String]) -> String {
        let rules = conditions.enumerated().map { index, condition in
            #"{"id": "r\#(index)", "when": \#(condition), "then": {"route": {"pipeline": "support"}}}"#
        }
        return "[" + rules.joined(separator: ",") + "]"
    }

    @Test(arguments: [true, false])
    func everyRuleMatchesAsItDoesAlone(mail: Bool) throws {
        let facts = mail ? Fixture.invoiceMail : Fixture.formPost
        let combined = try Fixture.rules(list: Self.document(Self.conditions)).evaluate(facts).rules
        #expect(combined.count == Self.conditions.count)
        for (index, condition) in Self.conditions.enumerated() {
            let alone = try Fixture.rules(list: Self.document([condition])).evaluate(facts).rules
            #expect(combined[index].matched == alone.first?.matched, "rule r\(index): \(condition)")
            #expect(combined[index].conditions.map(\.result) == alone.first?.conditions.map(\.result), "rule r\(index): \(condition)")
        }
    }

    @Test func expectedResultsOnTheInvoiceMail() throws {
        let traces = try Fixture.rules(list: Self.document(Self.conditions)).evaluate(Fixture.invoiceMail).rules
        let matched = traces.map(\.matched)
        // from.domain (lower-cased from Billing@Vendor.Example): equals, not_equals, in, not_equals other, case-sensitive equals, duplicate.
        #expect(Array(matched[0...5]) == [true, false, true, true, false, true])
        // cc holds boss@demo.example.
        #expect(Array(matched[6...8]) == [true, false, true])
        #expect(Array(matched[9...11]) == [false, true, true])
        // contains / starts_with / ends_with, case-insensitive unless told.
        #expect(Array(matched[12...17]) == [true, true, false, true, true, true])
        // matches with the literal prefilter, both cases.
        #expect(Array(matched[18...20]) == [true, true, false])
        #expect(matched[21] == true)
        #expect(Array(matched[22...23]) == [true, false])
        #expect(Array(matched[24...25]) == [true, false])
        #expect(matched[30] == true)
        // The repeated condition is recorded for both rules, with the value it saw.
        #expect(traces[5].conditions.first?.actual == ["vendor.example"])
        #expect(traces[0].conditions.first?.actual == traces[5].conditions.first?.actual)
    }

    @Test func expectedResultsOnTheFormPost() throws {
        let matched = try Fixture.rules(list: Self.document(Self.conditions)).evaluate(Fixture.formPost).rules.map(\.matched)
        #expect(Array(matched[9...11]) == [true, false, false])
        #expect(Array(matched[26...29]) == [true, true, true, true])
        #expect(matched[32] == false)
    }
}

@Suite("Case folding of field values")
struct CaseFoldingTests {
    @Test(arguments: [
        "", "a", "ABC", "already lower case text that is longer than sixteen bytes",
        "Dear Team, PLEASE find the INVOICE attached. Payment Terms: 30 days NET. [@`{] ZZ",
        String(repeating: "AbCdEfGhIjKlMnOp", count: 9) + "QR",
        "Grüße aus KÖLN", "Straße", "ΑΒΓ", "K\u{212A}", "tab\tNEW\nline",
    ])
    func matchesFoundation(_ text: String) {
        // The ASCII fast path must give exactly String.lowercased().
        #expect(FactsView.lowercased(text) == text.lowercased())
        #expect(Array(FactsView.lowercased(text).utf8) == Array(text.lowercased().utf8))
    }
}

@Suite("Substring search with ASCII case folding")
struct FoldedSearchTests {
    /// `UTF8Search.find(_:in:foldingASCII: true)` on an ASCII text must agree with a plain search
    /// in the text lower-cased, and `equal` with comparing a lower-cased prefix.
    @Test func agreesWithSearchingTheLowerCasedText() {
        var generator = SystemRandomNumberGenerator()
        // Letters of both cases, the bytes next to them that bit 0x20 confuses ('@' '`' '[' '{'),
        // digits and spaces: many candidates that must be rejected by the byte check.
        let alphabet = Array("aAbBzZ@`[{ 09-oOrRdDeE".utf8)
        for _ in 0..<3000 {
            let length = Int.random(in: 0...70, using: &generator)
            let text = String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            let lower = text.lowercased()
            // Needles cut from the lower-cased text (hits), and random ones (mostly misses).
            var needles: [String] = []
            if !lower.isEmpty {
                let start = Int.random(in: 0..<lower.utf8.count, using: &generator)
                let end = Int.random(in: start..<min(lower.utf8.count, start + 12), using: &generator)
                needles.append(String(decoding: Array(lower.utf8)[start...end], as: UTF8.self))
            }
            needles.append(String(decoding: (0..<Int.random(in: 1...4, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self).lowercased())
            for needle in needles {
                let found = Self.folded(needle, in: text)
                #expect(found == lower.contains(needle), "\(needle) in \(text)")
                let prefix = Self.bytes(needle) { pattern in Self.bytes(text) { haystack in
                    haystack.count >= pattern.count && UTF8Search.equal(UnsafeBufferPointer(rebasing: haystack[0..<pattern.count]), pattern, foldingASCII: true)
                } }
                #expect(prefix == lower.hasPrefix(needle), "\(needle) prefix of \(text)")
            }
        }
    }

    @Test func foldsOnlyASCIILetters() {
        #expect(Self.folded("invoice", in: "Your INVOICE is attached"))
        #expect(Self.folded("ticket #12", in: String(repeating: "x", count: 40) + "TICKET #12"))
        // '@' and '`' differ only in bit 0x20, as do '[' and '{': they are not case variants.
        #expect(!Self.folded("a@b", in: String(repeating: "-", count: 20) + "A`B" + String(repeating: "-", count: 20)))
        #expect(!Self.folded("[x]", in: "{X}"))
        #expect(!Self.folded("x", in: ""))
    }

    static func folded(_ needle: String, in text: String) -> Bool {
        bytes(needle) { pattern in bytes(text) { UTF8Search.find(pattern, in: $0, foldingASCII: true) } }
    }

    static func bytes<Result>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        Array(text.utf8).withUnsafeBufferPointer(body)
    }
}

@Suite("Case-insensitive substring tests on mixed texts")
struct MixedTextSubstringTests {
    /// A field with an ASCII value (compared folded in place) and a non-ASCII one (compared
    /// lower-cased): each condition's result must be what the lower-cased strings give.
    @Test(arguments: [
        (#"{"field": "payload.lines", "op": "contains", "value": "KÖLN"}"#, true),
        (#"{"field": "payload.lines", "op": "contains", "value": "köln rechnung"}"#, true),
        (#"{"field": "payload.lines", "op": "contains", "value": "ORDER 42"}"#, true),
        (#"{"field": "payload.lines", "op": "contains", "value": "order 43"}"#, false),
        (#"{"field": "payload.lines", "op": "starts_with", "value": "grüsse"}"#, false),
        (#"{"field": "payload.lines", "op": "starts_with", "value": "GRÜSSE"}"#, false),
        (#"{"field": "payload.lines", "op": "starts_with", "value": "grüße"}"#, true),
        (#"{"field": "payload.lines", "op": "starts_with", "value": "your order"}"#, true),
        (#"{"field": "payload.lines", "op": "ends_with", "value": "RECHNUNG"}"#, true),
        (#"{"field": "payload.lines", "op": "ends_with", "value": "shipped."}"#, true),
        (#"{"field": "payload.lines", "op": "ends_with", "value": "shipped"}"#, false),
        (#"{"field": "payload.lines", "op": "contains", "value": "köln", "case_sensitive": true}"#, false),
        (#"{"field": "payload.lines", "op": "contains", "value": "KÖLN", "case_sensitive": true}"#, true),
        (#"{"field": "payload.lines", "op": "matches", "value": "(?i)order \\d+ has"}"#, true),
        (#"{"field": "payload.lines", "op": "matches", "value": "(?i)köln\\s+rechnung"}"#, true),
    ])
    func resultMatchesLowerCasedStrings(condition: String, expected: Bool) throws {
        let rules = try Fixture.rules(list: #"[{"id": "r", "when": \#(condition), "then": {"route": {"pipeline": "support"}}}]"#)
        var facts = Fixture.formPost
        facts.payload = .object(["lines": .array([.string("Your ORDER 42 has shipped."), .string("Grüße aus KÖLN Rechnung")])])
        let evaluation = rules.evaluate(facts)
        #expect(evaluation.rules.first?.matched == expected)
    }
}
