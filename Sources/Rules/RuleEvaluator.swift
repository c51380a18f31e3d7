public import Core
import Foundation

/// The result of running an organization's rules over one intake, before any AI call.
public struct RuleEvaluation: Sendable {
    /// What the rules chose for the intake's destination.
    public enum Destination: Sendable {
        case route(Route, rule: String)
        case askAI(AskAI, rule: String)
        case ignore(reason: String?, rule: String)
    }

    public var destination: Destination?
    public var followUps: FollowUps
    public var rules: [RuleTrace]
    public var trace: [String]
}

extension RuleSet {
    /// Runs the organization's rules in file order.
    ///
    /// - A rule matches when its `when` holds (no `when`: always).
    /// - The destination (route, ask_ai or ignore) of the first matching rule that has one wins; a
    ///   later matching rule replaces it only with `override: true`. The same holds for `mailbox`.
    /// - `reply`, `schedule` and `forward` of every matching rule accumulate in order (one per
    ///   template / webhook), unless the final destination is `ignore`, which drops them.
    /// - A matching rule with `stop: true` ends evaluation after its actions.
    public func evaluate(_ facts: Facts) -> RuleEvaluation {
        let view = FactsView(facts, slots: fieldSlots)
        var result = RuleEvaluation(destination: nil, followUps: FollowUps(), rules: [], trace: [])
        let rules = rulesByOrganization[facts.organization] ?? []
        result.rules.reserveCapacity(rules.count)
        if rules.isEmpty { result.trace.append("no rules for organization \(facts.organization)") }
        var mailboxRule: String?
        for rule in rules {
            var conditions: [ConditionTrace] = []
            let matched = rule.condition.map { evaluate($0, view: view, into: &conditions) } ?? true
            var effects: [String] = []
            defer {
                result.rules.append(RuleTrace(rule: rule.id, pointer: rule.pointer, matched: matched, conditions: conditions, effects: effects))
            }
            guard matched else { continue }
            let actions = rule.actions
            if let destination = actions.destination {
                let described = Self.describe(destination)
                if let existing = result.destination, !rule.override {
                    effects.append("\(described) not applied: rule \(Self.rule(of: existing)) already chose the destination (no override)")
                } else {
                    if let existing = result.destination {
                        effects.append("\(described) overrides rule \(Self.rule(of: existing))")
                    } else {
                        effects.append(described)
                    }
                    switch destination {
                    case .route(let route): result.destination = .route(route, rule: rule.id)
                    case .askAI(let ask): result.destination = .askAI(ask, rule: rule.id)
                    case .ignore(let reason): result.destination = .ignore(reason: reason, rule: rule.id)
                    }
                }
            }
            if let reply = actions.reply, !result.followUps.replies.contains(where: { $0.template == reply.template }) {
                result.followUps.replies.append(reply)
                effects.append("reply with template \(reply.template)")
            }
            if let meeting = actions.schedule {
                result.followUps.meetings.append(meeting)
                effects.append("schedule a \(meeting.durationMinutes)-minute meeting with \(meeting.attendeeField)")
            }
            if let forward = actions.forward, !result.followUps.forwards.contains(where: { $0.webhook == forward.webhook }) {
                result.followUps.forwards.append(forward)
                effects.append("forward to webhook \(forward.webhook)")
            }
            if let mailbox = actions.mailbox {
                if let earlier = mailboxRule, !rule.override {
                    effects.append("mailbox action not applied: rule \(earlier) already set one (no override)")
                } else {
                    result.followUps.mailbox = mailbox
                    mailboxRule = rule.id
                    effects.append("mailbox: " + [mailbox.moveTo.map { "move to \($0)" }, mailbox.addFlags.isEmpty ? nil : "flag \(mailbox.addFlags.joined(separator: " "))"].compactMap { $0 }.joined(separator: ", "))
                }
            }
            result.trace.append("rule \(rule.id) matched: \(effects.joined(separator: "; "))")
            if rule.stop {
                effects.append("stop")
                result.trace.append("rule \(rule.id) stops evaluation")
                break
            }
        }
        if case .ignore? = result.destination {
            // Nobody answers a bounce or an auto-reply: ignoring drops every follow-up but the mailbox action.
            result.followUps = FollowUps(mailbox: result.followUps.mailbox)
        }
        return result
    }

    private static func describe(_ destination: RuleDestination) -> String {
        switch destination {
        case .route(let route): return "route to \(route.pipeline)/\(route.stage) (\(route.priority.rawValue))"
        case .askAI(let ask): return "ask the AI router among \(ask.candidates.map(\.route.pipeline).joined(separator: ", "))"
        case .ignore(let reason): return "ignore" + (reason.map { " (\($0))" } ?? "")
        }
    }

    private static func rule(of destination: RuleEvaluation.Destination) -> String {
        switch destination {
        case .route(_, let rule), .askAI(_, let rule), .ignore(_, let rule): return rule
        }
    }

    private func evaluate(_ condition: Condition, view: FactsView, into trace: inout [ConditionTrace]) -> Bool {
        switch condition {
        case .all(let children):
            for child in children where !evaluate(child, view: view, into: &trace) { return false }
            return true
        case .any(let children):
            for child in children where evaluate(child, view: view, into: &trace) { return true }
            return false
        case .not(let child):
            return !evaluate(child, view: view, into: &trace)
        case .leaf(let leaf):
            let values = view.values(leaf)
            let result = Self.test(leaf, values: values, view: view)
            trace.append(ConditionTrace(
                pointer: leaf.pointer, field: leaf.fieldText, op: leaf.op.rawValue, expected: leaf.expectedText,
                actual: view.display(leaf, values: values), result: result
            ))
            return result
        }
    }


    static func test(_ leaf: Leaf, values: [FieldValue], view: FactsView) -> Bool {
        func strings() -> [String] {
            if leaf.caseSensitive { return values.map(\.text) }
            if case .weekday = leaf.field { return values.map(\.text) }
            return view.loweredStrings(leaf)
        }
        switch (leaf.op, leaf.operand) {
        case (.exists, .bool(let expected)):
            let present = values.contains { value in
                if case .string(let text) = value { return !text.isEmpty }
                return true
            }
            return present == expected
        case (.equals, _):
            return equals(leaf, values: values, strings: strings)
        case (.notEquals, _):
            return !equals(leaf, values: values, strings: strings)
        case (.in, .strings(let set)):
            return strings().contains { set.contains($0) }
        case (.in, .numbers(let set)):
            return values.contains { $0.number.map { set.contains($0) } ?? false }
        // Byte-wise on UTF-8: both sides are lower-cased already (unless case-sensitive), and a
        // byte search is several times faster than Character-wise matching on long bodies.
        case (.contains, .string):
            return strings().contains { UTF8Search.contains(leaf.needle, in: $0) }
        case (.startsWith, .string):
            return strings().contains { $0.utf8.starts(with: leaf.needle) }
        case (.endsWith, .string):
            return strings().contains { UTF8Search.hasSuffix(leaf.needle, in: $0) }
        case (.matches, .regex(let regex)):
            return values.contains { regex.matches($0.text) }
        case (.lt, _), (.lte, _), (.gt, _), (.gte, _):
            return values.contains { value in
                guard let order = compare(value, leaf.operand) else { return false }
                switch leaf.op {
                case .lt: return order < 0
                case .lte: return order <= 0
                case .gt: return order > 0
                default: return order >= 0
                }
            }
        default:
            // The loader pairs every operator with its operand kind; nothing else reaches here.
            return false
        }
    }

    private static func equals(_ leaf: Leaf, values: [FieldValue], strings: () -> [String]) -> Bool {
        switch leaf.operand {
        case .string(let expected): return strings().contains(expected)
        case .number(let expected): return values.contains { $0.number == expected }
        case .bool(let expected):
            return values.contains { value in
                if case .bool(let flag) = value { return flag == expected }
                if case .string(let text) = value { return text.lowercased() == (expected ? "true" : "false") }
                return false
            }
        default: return false
        }
    }

    /// -1, 0, 1, or nil when the value cannot be compared with the operand.
    private static func compare(_ value: FieldValue, _ operand: Operand) -> Int? {
        switch operand {
        case .number(let expected):
            guard let actual = value.number else { return nil }
            return actual < expected ? -1 : (actual > expected ? 1 : 0)
        case .date(let expected):
            let actual: Date
            switch value {
            case .date(let date): actual = date
            case .string(let text):
                guard let date = RuleLoader.date(text) else { return nil }
                actual = date
            default: return nil
            }
            return actual < expected ? -1 : (actual > expected ? 1 : 0)
        default:
            return nil
        }
    }
}

/// Substring tests on UTF-8 bytes.
enum UTF8Search {
    static func contains(_ needle: [UInt8], in haystack: String) -> Bool {
        guard let first = needle.first else { return true }
        var text = haystack
        return text.withUTF8 { bytes in
            let count = needle.count
            guard bytes.count >= count, let base = bytes.baseAddress else { return false }
            return needle.withUnsafeBufferPointer { pattern in
                guard let patternBase = pattern.baseAddress else { return false }
                var start = base
                let end = base + (bytes.count - count + 1)
                // memchr finds candidate first bytes with vector instructions; memcmp checks the rest.
                while start < end, let found = memchr(start, Int32(first), end - start) {
                    let candidate = UnsafePointer(found.assumingMemoryBound(to: UInt8.self))
                    if memcmp(candidate, patternBase, count) == 0 { return true }
                    start = candidate + 1
                }
                return false
            }
        }
    }

    static func hasSuffix(_ needle: [UInt8], in haystack: String) -> Bool {
        let bytes = haystack.utf8
        guard bytes.count >= needle.count else { return false }
        return bytes.suffix(needle.count).elementsEqual(needle)
    }
}
