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
    /// The structured trace, built when first read (see `RuleTraces`).
    public var traces: RuleTraces
    public var trace: [String]

    /// The structured trace: a `RuleTrace` per rule evaluated.
    public var rules: [RuleTrace] { traces.value }
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
    ///
    /// Evaluation records the trace compactly (leaf indexes and result bits); the structured
    /// `RuleTrace`s are built from it when the decision's trace is first read — in the daemon,
    /// when the decision is encoded for the store — with the same content.
    public func evaluate(_ facts: Facts) -> RuleEvaluation {
        let compact = evaluateCompact(facts)
        let record = DeferredTrace(compact, leaves: leaves)
        return RuleEvaluation(
            destination: compact.destination, followUps: compact.followUps,
            traces: RuleTraces(deferred: { record.build() }), trace: compact.trace
        )
    }

    func evaluateCompact(_ facts: Facts) -> CompactEvaluation {
        let view = FactsView(facts, blocks: blocks)
        guard let organization = organizations[facts.organization], !organization.rules.isEmpty else {
            var result = CompactEvaluation(view: view, rules: [])
            result.trace.append("no rules for organization \(facts.organization)")
            return result
        }
        let rules = organization.rules
        var result = CompactEvaluation(view: view, rules: rules)
        // Each leaf node is evaluated at most once per decision, so the view's record space
        // (sized for the organization with most leaves) holds them all.
        let records = view.records
        let ruleEnds = view.ruleEnds
        var recordCount = 0
        var ruleCount = 0
        var mailboxRule: String?
        let compiledRules = organization.compiled
        leafRefs.withUnsafeBufferPointer { leaves in
            groupRefs.withUnsafeBufferPointer { groups in
                nodes.withUnsafeBufferPointer { allNodes in
                    for index in compiledRules.indices {
                        let compiledRule = compiledRules[index]
                        let matched: Bool
                        if compiledRule.nodeCount == 0 {
                            matched = true
                        } else {
                            let ruleNodes = UnsafeBufferPointer(rebasing: allNodes[compiledRule.nodeStart..<(compiledRule.nodeStart + compiledRule.nodeCount)])
                            matched = view.evaluate(ruleNodes, at: 0, leaves: leaves, groups: groups, records: records, count: &recordCount)
                        }
                        ruleEnds[ruleCount] = UInt32(recordCount) << 1 | (matched ? 1 : 0)
                        ruleCount += 1
                        guard matched else { continue }
                        let stop = result.apply(rules[index], mailboxRule: &mailboxRule)
                        result.effectRules.append(index)
                        if stop { break }
                    }
                }
            }
        }
        result.recordCount = recordCount
        result.ruleCount = ruleCount
        if case .ignore? = result.destination {
            // Nobody answers a bounce or an auto-reply: ignoring drops every follow-up but the mailbox action.
            result.followUps = FollowUps(mailbox: result.followUps.mailbox)
        }
        return result
    }
}

/// What `RuleTraces` keeps until the structured trace is read: the compact record and the facts
/// view it refers to.
///
/// `@unchecked Sendable`: the view caches per-field values in place and is not thread-safe, but
/// after evaluation nothing else holds it — `build` is its only user, and `RuleTraces` runs
/// `build` at most once, under its lock.
private final class DeferredTrace: @unchecked Sendable {
    private let compact: CompactEvaluation
    private let leaves: [Leaf]

    init(_ compact: CompactEvaluation, leaves: [Leaf]) {
        self.compact = compact
        self.leaves = leaves
    }

    func build() -> [RuleTrace] { compact.materialize(leaves: leaves) }
}

/// A decision's evaluation with its trace in compact form: per rule evaluated, where its leaf
/// results end in `records` and whether it matched; effects for matched rules.
struct CompactEvaluation {
    let view: FactsView
    let rules: [Rule]
    var destination: RuleEvaluation.Destination?
    var followUps = FollowUps()
    var trace: [String] = []
    /// How many leaf results `view.records` holds, in evaluation order: `leaf index << 1 | result`.
    var recordCount = 0
    /// How many rules were evaluated: `view.ruleEnds` holds, per rule in order,
    /// `end of its leaf records << 1 | matched`.
    var ruleCount = 0
    /// Rules (indexes into `rules`) that matched, and their effects, in order.
    var effectRules: [Int] = []
    var effects: [[String]] = []

    init(view: FactsView, rules: [Rule]) {
        self.view = view
        self.rules = rules
    }

    /// Applies a matching rule's actions; returns whether it stops evaluation.
    mutating func apply(_ rule: Rule, mailboxRule: inout String?) -> Bool {
        var effects: [String] = []
        defer { self.effects.append(effects) }
        let actions = rule.actions
        if let destination = actions.destination {
            let described = Self.describe(destination)
            if let existing = self.destination, !rule.override {
                effects.append("\(described) not applied: rule \(Self.rule(of: existing)) already chose the destination (no override)")
            } else {
                if let existing = self.destination {
                    effects.append("\(described) overrides rule \(Self.rule(of: existing))")
                } else {
                    effects.append(described)
                }
                switch destination {
                case .route(let route): self.destination = .route(route, rule: rule.id)
                case .askAI(let ask): self.destination = .askAI(ask, rule: rule.id)
                case .ignore(let reason): self.destination = .ignore(reason: reason, rule: rule.id)
                }
            }
        }
        if let reply = actions.reply, !followUps.replies.contains(where: { $0.template == reply.template }) {
            followUps.replies.append(reply)
            effects.append("reply with template \(reply.template)")
        }
        if let meeting = actions.schedule {
            followUps.meetings.append(meeting)
            effects.append("schedule a \(meeting.durationMinutes)-minute meeting with \(meeting.attendeeField)")
        }
        if let forward = actions.forward, !followUps.forwards.contains(where: { $0.webhook == forward.webhook }) {
            followUps.forwards.append(forward)
            effects.append("forward to webhook \(forward.webhook)")
        }
        if let mailbox = actions.mailbox {
            if let earlier = mailboxRule, !rule.override {
                effects.append("mailbox action not applied: rule \(earlier) already set one (no override)")
            } else {
                followUps.mailbox = mailbox
                mailboxRule = rule.id
                effects.append("mailbox: " + [mailbox.moveTo.map { "move to \($0)" }, mailbox.addFlags.isEmpty ? nil : "flag \(mailbox.addFlags.joined(separator: " "))"].compactMap { $0 }.joined(separator: ", "))
            }
        }
        trace.append("rule \(rule.id) matched: \(effects.joined(separator: "; "))")
        if rule.stop {
            effects.append("stop")
            trace.append("rule \(rule.id) stops evaluation")
            return true
        }
        return false
    }

    /// The structured trace: a `RuleTrace` per rule evaluated, a `ConditionTrace` per leaf evaluated.
    func materialize(leaves: [Leaf]) -> [RuleTrace] {
        let view = self.view
        var traces: [RuleTrace] = []
        traces.reserveCapacity(ruleCount)
        var leafStart = 0
        var effectIndex = 0
        let records = view.records
        let ruleEnds = UnsafeBufferPointer(start: view.ruleEnds, count: ruleCount)
        do {
            leaves.withUnsafeBufferPointer { leaves in
                for (index, end) in ruleEnds.enumerated() {
                    let rule = rules[index]
                    let leafEnd = Int(end >> 1)
                    func condition(_ position: Int) -> ConditionTrace {
                        let record = records[position]
                        let leaf = leaves[Int(record >> 1)]
                        return ConditionTrace(
                            pointer: leaf.pointer, field: leaf.fieldText, op: leaf.opText, expected: leaf.expectedText,
                            actual: view.display(leaf), result: record & 1 != 0
                        )
                    }
                    // Array literals for the usual sizes: they allocate with the storage type's
                    // cached metadata, where the generic initialisers look it up every time.
                    let conditions: [ConditionTrace]
                    switch leafEnd - leafStart {
                    case 0: conditions = []
                    case 1: conditions = [condition(leafStart)]
                    case 2: conditions = [condition(leafStart), condition(leafStart + 1)]
                    case 3: conditions = [condition(leafStart), condition(leafStart + 1), condition(leafStart + 2)]
                    case 4: conditions = [condition(leafStart), condition(leafStart + 1), condition(leafStart + 2), condition(leafStart + 3)]
                    default:
                        var list: [ConditionTrace] = []
                        list.reserveCapacity(leafEnd - leafStart)
                        for position in leafStart..<leafEnd { list.append(condition(position)) }
                        conditions = list
                    }
                    var effects: [String] = []
                    if effectIndex < effectRules.count, effectRules[effectIndex] == index {
                        effects = self.effects[effectIndex]
                        effectIndex += 1
                    }
                    traces.append(RuleTrace(rule: rule.id, pointer: rule.pointer, matched: end & 1 != 0, conditions: conditions, effects: effects))
                    leafStart = leafEnd
                }
            }
        }
        return traces
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
}

extension FactsView {
    /// Evaluates the condition subtree at `index`, recording each leaf evaluated.
    func evaluate(_ nodes: UnsafeBufferPointer<ConditionNode>, at index: Int, leaves: UnsafeBufferPointer<Unmanaged<Leaf>>, groups: UnsafeBufferPointer<Unmanaged<EqualityGroup>>, records: UnsafeMutablePointer<UInt32>, count: inout Int) -> Bool {
        let node = nodes[index]
        switch node.kind {
        case .leaf:
            return evaluateLeaf(node, leaves: leaves, groups: groups, records: records, count: &count)
        case .not:
            let child = nodes[index + 1]
            if child.kind == .leaf { return !evaluateLeaf(child, leaves: leaves, groups: groups, records: records, count: &count) }
            return !evaluate(nodes, at: index + 1, leaves: leaves, groups: groups, records: records, count: &count)
        case .all, .any:
            // `all` stops at the first false child, `any` at the first true one. Leaf children
            // (most of them) are evaluated here, without a recursive call.
            let stopAt = node.kind == .any
            var child = index + 1
            let end = Int(node.end)
            while child < end {
                let childNode = nodes[child]
                let result = childNode.kind == .leaf
                    ? evaluateLeaf(childNode, leaves: leaves, groups: groups, records: records, count: &count)
                    : evaluate(nodes, at: child, leaves: leaves, groups: groups, records: records, count: &count)
                if result == stopAt { return stopAt }
                child = Int(childNode.end)
            }
            return !stopAt
        }
    }

    /// A leaf's result: from the memo when this decision has it, else tested (or its equality
    /// group filled) and memoised; recorded for the trace either way.
    @inline(__always)
    private func evaluateLeaf(_ node: ConditionNode, leaves: UnsafeBufferPointer<Unmanaged<Leaf>>, groups: UnsafeBufferPointer<Unmanaged<EqualityGroup>>, records: UnsafeMutablePointer<UInt32>, count: inout Int) -> Bool {
        let result: Bool
        let memo = memos + Int(node.memo)
        if memo.pointee != 0 {
            result = memo.pointee == 2
        } else if node.group >= 0 {
            groups[Int(node.group)]._withUnsafeGuaranteedRef { fill($0) }
            result = memo.pointee == 2
        } else {
            result = leaves[Int(node.leaf)]._withUnsafeGuaranteedRef { test($0) }
            memo.pointee = result ? 2 : 1
        }
        records[count] = UInt32(node.leaf) << 1 | (result ? 1 : 0)
        count += 1
        return result
    }

    /// Fills the memo of every test in `group` from one lookup per field value.
    func fill(_ group: EqualityGroup) {
        // No value found: equals / in are false, not_equals true.
        for member in group.members { memos[Int(member.memo)] = member.negated ? 2 : 1 }
        for value in stringBuffer(group.sample) {
            guard let hits = group.index[value] else { continue }
            // `memo << 1 | negated`: a value found makes equals / in true and not_equals false.
            for hit in hits { memos[Int(hit >> 1)] = hit & 1 == 1 ? 1 : 2 }
        }
    }

    func test(_ leaf: Leaf) -> Bool {
        // Hot cases read the leaf's scalar fields and the view's buffers (no reference counting);
        // the rest go through `test(slow:)`.
        switch leaf.kind {
        case .exists:
            return isPresent(leaf) == leaf.flag
        // Byte-wise on UTF-8: the needle is lower-cased already (unless case-sensitive), and a
        // byte search is several times faster than Character-wise matching on long bodies.
        case .contains:
            let needle = leaf.needleBytes
            if needle.isEmpty { return textBuffer(leaf).count > 0 }
            return anyBytes(leaf) { bytes, folding in UTF8Search.find(needle, in: bytes, foldingASCII: folding) }
        case .startsWith:
            let needle = leaf.needleBytes
            return anyBytes(leaf) { bytes, folding in
                bytes.count >= needle.count && UTF8Search.equal(UnsafeBufferPointer(rebasing: bytes[0..<needle.count]), needle, foldingASCII: folding)
            }
        case .endsWith:
            let needle = leaf.needleBytes
            return anyBytes(leaf) { bytes, folding in
                bytes.count >= needle.count && UTF8Search.equal(UnsafeBufferPointer(rebasing: bytes[(bytes.count - needle.count)...]), needle, foldingASCII: folding)
            }
        case .equalsNumber:
            let expected = leaf.number
            return numberBuffer(leaf).contains { $0 == expected } != leaf.negated
        case .compareNumber:
            let expected = leaf.number
            let comparison = leaf.comparison
            // NaN (not a number) compares neither way: no match, as a missing value.
            return numberBuffer(leaf).contains { actual in
                !actual.isNaN && Self.holds(actual < expected ? -1 : (actual > expected ? 1 : 0), comparison)
            }
        case .compareDate:
            let expected = leaf.number
            let comparison = leaf.comparison
            return dateBuffer(leaf).contains { actual in
                !actual.isNaN && Self.holds(actual < expected ? -1 : (actual > expected ? 1 : 0), comparison)
            }
        case .constant:
            return leaf.flag
        case .matches where leaf.literalPrefilter:
            // Only values containing the expression's required literal can match; the rest are
            // skipped without running the expression (see `CompiledRegex.literal`). For a
            // case-insensitive expression the literal is lower-cased and only ASCII texts are
            // skipped on a miss (case folding maps some non-ASCII characters to ASCII ones).
            let literal = leaf.needleBytes
            let texts = textBuffer(leaf)
            let foldsCase = !leaf.readsText
            let ascii = foldsCase ? asciiBuffer(leaf) : UnsafeBufferPointer(start: nil, count: 0)
            guard let base = UnsafeMutablePointer(mutating: texts.baseAddress) else { return false }
            for index in 0..<texts.count {
                // Through the pointer, in place: no copy of the string to retain and release.
                if foldsCase && !ascii[index] || (base + index).pointee.withUTF8({ UTF8Search.find(literal, in: $0, foldingASCII: foldsCase) }) {
                    if Self.regexMatches(leaf, texts[index]) { return true }
                }
            }
            return false
        case .equalsString, .equalsBool, .inStrings, .inNumbers, .matches:
            return test(slow: leaf)
        }
    }

    private func test(slow leaf: Leaf) -> Bool {
        switch leaf.test {
        case .equalsString(let expected, let negated):
            return stringBuffer(leaf).contains(expected) != negated
        case .equalsBool(let expected, let negated):
            let found = values(leaf).contains { value in
                if case .bool(let flag) = value { return flag == expected }
                if case .string(let text) = value { return text.lowercased() == (expected ? "true" : "false") }
                return false
            }
            return found != negated
        case .inStrings(let set):
            return stringBuffer(leaf).contains { set.contains($0) }
        case .inNumbers(let set):
            return numbers(leaf).contains { $0.map { set.contains($0) } ?? false }
        case .matches(let regex):
            let texts = texts(leaf)
            if regex.literal.isEmpty { return texts.contains { regex.matches($0) } }
            if regex.caseInsensitive {
                // Case-insensitive matching folds some non-ASCII characters to ASCII ones (K, ſ,
                // ligatures), so the lower-cased literal proves a miss only on ASCII text.
                let lowered = loweredBuffer(leaf)
                let ascii = asciiBuffer(leaf)
                for index in texts.indices {
                    if ascii[index] && !UTF8Search.contains(regex.literal, in: lowered[index]) { continue }
                    if regex.matches(texts[index]) { return true }
                }
                return false
            }
            for text in texts where UTF8Search.contains(regex.literal, in: text) {
                if regex.matches(text) { return true }
            }
            return false
        case .exists, .equalsNumber, .contains, .startsWith, .endsWith, .compareNumber, .compareDate, .constant:
            // Handled by `test(_:)` without reaching here.
            return false
        }
    }

    /// The leaf's regular expression run on `text` (out of the hot path: reading the enum
    /// payload retains the expression).
    @inline(never)
    private static func regexMatches(_ leaf: Leaf, _ text: String) -> Bool {
        guard case .matches(let regex) = leaf.test else { return false }
        return regex.matches(text)
    }

    private static func holds(_ order: Int, _ comparison: LeafTest.Comparison) -> Bool {
        switch comparison {
        case .lt: return order < 0
        case .lte: return order <= 0
        case .gt: return order > 0
        case .gte: return order >= 0
        }
    }
}

/// Substring tests on UTF-8 bytes.
enum UTF8Search {
    static func contains(_ needle: [UInt8], in haystack: String) -> Bool {
        if needle.isEmpty { return true }
        // Native strings are contiguous UTF-8: read in place, without copying the string.
        if let found = haystack.utf8.withContiguousStorageIfAvailable({ bytes in
            needle.withUnsafeBufferPointer { pattern in find(pattern, in: bytes) }
        }) {
            return found
        }
        var text = haystack
        return text.withUTF8 { bytes in
            needle.withUnsafeBufferPointer { pattern in find(pattern, in: bytes) }
        }
    }

    /// The lanes of `mask` that are set, as bits 0...15. (`any(mask)` and `mask[lane]` went
    /// through unspecialised generic code here, slower than the search itself.)
    @inline(__always)
    static func laneBits(_ mask: SIMDMask<SIMD16<Int8>>) -> UInt32 {
        // A set lane is all ones: keep one bit per lane, then gather the sixteen bits.
        let bytes = unsafeBitCast(mask, to: SIMD16<UInt8>.self) & SIMD16<UInt8>(repeating: 1)
        let words = unsafeBitCast(bytes, to: SIMD2<UInt64>.self)
        // Multiplying by 0x0102040810204080 moves byte i's low bit to bit 56 + i of the product.
        let low = (words[0] &* 0x0102_0408_1020_4080) >> 56
        let high = (words[1] &* 0x0102_0408_1020_4080) >> 56
        return UInt32(truncatingIfNeeded: low | high << 8)
    }

    /// `byte` lower-cased if it is an ASCII capital letter.
    @inline(__always)
    static func folded(_ byte: UInt8) -> UInt8 {
        (byte &- 0x41) < 26 ? byte | 0x20 : byte
    }

    /// Whether two byte strings of the same length are equal; with `foldingASCII`, after
    /// lower-casing ASCII letters of `text` (`pattern` is lower-case already).
    @inline(__always)
    static func equal(_ text: UnsafeBufferPointer<UInt8>, _ pattern: UnsafeBufferPointer<UInt8>, foldingASCII: Bool) -> Bool {
        let count = pattern.count
        guard count > 0, let textBase = text.baseAddress, let patternBase = pattern.baseAddress else { return true }
        if !foldingASCII { return memcmp(textBase, patternBase, count) == 0 }
        for index in 0..<count where folded(textBase[index]) != patternBase[index] { return false }
        return true
    }

    /// Whether `needle` (not empty) occurs in `haystack`; with `foldingASCII`, as if the
    /// haystack's ASCII letters were lower-case (the needle is already). Compares the needle's
    /// first and last bytes 16 positions at a time (SIMD) and checks the rest only where both
    /// agree, so long texts are scanned at several bytes per cycle whatever the needle.
    static func find(_ needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>, foldingASCII: Bool) -> Bool {
        foldingASCII ? findFolded(needle, in: haystack) : find(needle, in: haystack)
    }

    /// `find(needle, in: haystack)` with ASCII letters of the haystack lower-cased. Setting bit
    /// 0x20 on both sides makes every case variant of a letter (and a few other bytes) a
    /// candidate; candidates are then compared folded, byte by byte.
    static func findFolded(_ needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = needle.count
        guard count > 0, haystack.count >= count, let base = haystack.baseAddress, let pattern = needle.baseAddress else { return count == 0 }
        let firstByte = pattern[0]
        let lastByte = pattern[count - 1]
        @inline(__always) func verify(_ start: Int) -> Bool {
            for index in 0..<count where folded(base[start + index]) != pattern[index] { return false }
            return true
        }
        let lastStart = haystack.count - count
        var start = 0
        if lastStart >= 15 {
            let bit = SIMD16<UInt8>(repeating: 0x20)
            let first = SIMD16<UInt8>(repeating: firstByte | 0x20)
            let last = SIMD16<UInt8>(repeating: lastByte | 0x20)
            let raw = UnsafeRawPointer(base)
            while start + 15 <= lastStart {
                let heads = raw.loadUnaligned(fromByteOffset: start, as: SIMD16<UInt8>.self) | bit
                let tails = raw.loadUnaligned(fromByteOffset: start + count - 1, as: SIMD16<UInt8>.self) | bit
                let hits = (heads .== first) .& (tails .== last)
                var lanes = laneBits(hits)
                while lanes != 0 {
                    if verify(start + lanes.trailingZeroBitCount) { return true }
                    lanes &= lanes &- 1
                }
                start += 16
            }
        }
        while start <= lastStart {
            if folded(base[start]) == firstByte, verify(start) { return true }
            start += 1
        }
        return false
    }

    /// Whether `needle` (not empty) occurs in `haystack`. Compares the needle's first and last
    /// bytes 16 positions at a time (SIMD) and checks the rest only where both agree, so long
    /// texts are scanned at several bytes per cycle whatever the needle.
    static func find(_ needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = needle.count
        guard count > 0, haystack.count >= count, let base = haystack.baseAddress, let pattern = needle.baseAddress else { return count == 0 }
        let firstByte = pattern[0]
        if count == 1 { return memchr(base, Int32(firstByte), haystack.count) != nil }
        let lastByte = pattern[count - 1]
        // Candidate starts: 0...lastStart.
        let lastStart = haystack.count - count
        var start = 0
        if lastStart >= 15 {
            let first = SIMD16<UInt8>(repeating: firstByte)
            let last = SIMD16<UInt8>(repeating: lastByte)
            let raw = UnsafeRawPointer(base)
            while start + 15 <= lastStart {
                let heads = raw.loadUnaligned(fromByteOffset: start, as: SIMD16<UInt8>.self)
                let tails = raw.loadUnaligned(fromByteOffset: start + count - 1, as: SIMD16<UInt8>.self)
                let hits = (heads .== first) .& (tails .== last)
                var lanes = laneBits(hits)
                while lanes != 0 {
                    let lane = lanes.trailingZeroBitCount
                    if count <= 2 || memcmp(base + start + lane + 1, pattern + 1, count - 2) == 0 { return true }
                    lanes &= lanes &- 1
                }
                start += 16
            }
        }
        while start <= lastStart {
            if base[start] == firstByte, base[start + count - 1] == lastByte,
               count <= 2 || memcmp(base + start + 1, pattern + 1, count - 2) == 0 {
                return true
            }
            start += 1
        }
        return false
    }

    static func hasSuffix(_ needle: [UInt8], in haystack: String) -> Bool {
        let bytes = haystack.utf8
        guard bytes.count >= needle.count else { return false }
        return bytes.suffix(needle.count).elementsEqual(needle)
    }

    static func isASCII(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in
            var combined: UInt8 = 0
            for byte in bytes { combined |= byte }
            return combined < 0x80
        }
    }
}
