public import Core
import Foundation

/// A validated, compiled rules file: rules per organization in file order, regular expressions
/// compiled and values normalised, so evaluation does no parsing.
public struct RuleSet: Sendable {
    /// Where the rules came from, for messages.
    public let file: String
    /// Rules by organization id, in file order.
    let rulesByOrganization: [String: [Rule]]
    /// Reply templates by id.
    public let templates: [String: ReplyTemplate]
    /// Distinct fields the conditions read (time fields: per time zone); each leaf knows its
    /// field's slot, so a decision caches field values in an array instead of hashing field names.
    let fieldSlots: Int
    /// Every leaf condition of the file; `ConditionNode.leaf` indexes it and the compact trace
    /// of a decision records these indexes.
    let leaves: [Leaf]
    /// Every rule's condition nodes, concatenated in file order.
    let nodes: [ConditionNode]
    /// `leaves`, unretained (see `OrganizationRules.compiled`).
    let leafRefs: [Unmanaged<Leaf>]
    /// Distinct leaf tests (see `ConditionNode.memo`).
    let memoSlots: Int
    /// See `EqualityGroup`; `groupRefs` unretained as `leafRefs`.
    let equalityGroups: [EqualityGroup]
    let groupRefs: [Unmanaged<EqualityGroup>]
    /// Per organization, what evaluation looks up once per decision.
    let organizations: [String: OrganizationRules]
    /// Working memory of decisions, reused (see `DecisionLayout`).
    let blocks: DecisionBlocks

    init(file: String, rulesByOrganization: [String: [Rule]], templates: [String: ReplyTemplate], fieldSlots: Int, leaves: [Leaf], leafCounts: [String: Int]) {
        self.file = file
        self.rulesByOrganization = rulesByOrganization
        self.templates = templates
        self.fieldSlots = fieldSlots
        self.leaves = leaves
        // Memo slots: one per distinct test.
        var memoByKey: [String: Int32] = [:]
        let memoOfLeaf = leaves.map { leaf -> Int32 in
            let key = leaf.memoKey
            if let existing = memoByKey[key] { return existing }
            let next = Int32(memoByKey.count)
            memoByKey[key] = next
            return next
        }
        memoSlots = memoByKey.count
        // Equality groups: per value slot and text form, the distinct string equality tests.
        struct GroupKey: Hashable { let slot: Int; let readsText: Bool }
        var groupMembers: [GroupKey: [(leaf: Leaf, memo: Int32)]] = [:]
        var seenMemos = Set<Int32>()
        for (index, leaf) in leaves.enumerated() {
            switch leaf.test {
            case .equalsString, .inStrings:
                let memo = memoOfLeaf[index]
                if seenMemos.insert(memo).inserted { groupMembers[GroupKey(slot: leaf.slot, readsText: leaf.readsText), default: []].append((leaf, memo)) }
            default: break
            }
        }
        var groups: [EqualityGroup] = []
        var groupOfMemo: [Int32: Int32] = [:]
        for key in groupMembers.keys.sorted(by: { ($0.slot, $0.readsText ? 1 : 0) < ($1.slot, $1.readsText ? 1 : 0) }) {
            guard let members = groupMembers[key], members.count > 1 else { continue }
            var index: [String: [Int32]] = [:]
            var list: [(memo: Int32, negated: Bool)] = []
            for (leaf, memo) in members {
                switch leaf.test {
                case .equalsString(let text, let negated):
                    index[text, default: []].append(memo << 1 | (negated ? 1 : 0))
                    list.append((memo, negated))
                case .inStrings(let set):
                    for text in set { index[text, default: []].append(memo << 1) }
                    list.append((memo, false))
                default: break
                }
                groupOfMemo[memo] = Int32(groups.count)
            }
            groups.append(EqualityGroup(sample: members[0].leaf, members: list, index: index))
        }
        equalityGroups = groups
        groupRefs = groups.map { Unmanaged.passUnretained($0) }
        var nodes: [ConditionNode] = []
        var compiled: [String: [CompiledRule]] = [:]
        for (organization, rules) in rulesByOrganization {
            compiled[organization] = rules.map { rule in
                let start = nodes.count
                for var node in rule.nodes {
                    if node.kind == .leaf {
                        node.memo = memoOfLeaf[Int(node.leaf)]
                        node.group = groupOfMemo[node.memo] ?? -1
                    }
                    nodes.append(node)
                }
                return CompiledRule(rule: Unmanaged.passUnretained(rule), nodeStart: start, nodeCount: rule.nodes.count)
            }
        }
        self.nodes = nodes
        leafRefs = leaves.map { Unmanaged.passUnretained($0) }
        var organizations: [String: OrganizationRules] = [:]
        for (organization, rules) in rulesByOrganization {
            organizations[organization] = OrganizationRules(rules: rules, compiled: compiled[organization] ?? [])
        }
        self.organizations = organizations
        // Each leaf node is evaluated at most once per decision: the organization with most
        // leaves bounds the records one decision writes.
        blocks = DecisionBlocks(layout: DecisionLayout(
            slotCount: fieldSlots, memoCount: memoSlots,
            recordCapacity: leafCounts.values.max() ?? 0, ruleCapacity: rulesByOrganization.values.map(\.count).max() ?? 0
        ))
    }

    /// How many rules the file holds (across organizations).
    public var count: Int { rulesByOrganization.values.reduce(0) { $0 + $1.count } }

    /// Rule ids of one organization, in evaluation order.
    public func ruleIDs(organization: String) -> [String] { rulesByOrganization[organization]?.map(\.id) ?? [] }
}

/// One organization's rules, as evaluation reads them.
struct OrganizationRules: Sendable {
    let rules: [Rule]
    /// What the evaluation loop walks: each rule unretained with the range of its nodes in
    /// `RuleSet.nodes`. `rules` and `RuleSet.leaves` keep every rule and leaf alive for the set's
    /// lifetime, so the hot loop reads them without retain/release traffic.
    let compiled: [CompiledRule]
}

/// A rule as the evaluation loop sees it: unretained, with its nodes' place in `RuleSet.nodes`.
struct CompiledRule: @unchecked Sendable {
    // @unchecked: `Unmanaged` holds no reference count; the `RuleSet` that made this keeps the
    // rule alive, and rules are immutable (`Rule` is a Sendable final class of lets).
    let rule: Unmanaged<Rule>
    let nodeStart: Int
    let nodeCount: Int
}

/// A reply template from the rules file's `templates` object.
public struct ReplyTemplate: Sendable, Equatable {
    public var id: String
    public var subject: String
    public var body: String
    /// Optional HTML alternative of `body`.
    public var html: String? = nil
}

/// One rule: conditions and what to do when they hold. A class: evaluation passes rules around
/// by reference instead of copying (and retaining) every field.
final class Rule: Sendable {
    let id: String
    /// JSON pointer of the rule (`/rules/3`).
    let pointer: String
    let organization: String
    let condition: Condition?
    /// `condition` flattened in pre-order (empty: no `when`, always matches); see `ConditionNode`.
    let nodes: [ConditionNode]
    let actions: RuleActions
    let stop: Bool
    let override: Bool

    init(id: String, pointer: String, organization: String, condition: Condition?, nodes: [ConditionNode], actions: RuleActions, stop: Bool, override: Bool) {
        self.id = id
        self.pointer = pointer
        self.organization = organization
        self.condition = condition
        self.nodes = nodes
        self.actions = actions
        self.stop = stop
        self.override = override
    }
}

/// One node of a flattened condition tree. Children of a group follow it directly; `end` is the
/// index just past the node's subtree, so a group walks its children by jumping from end to end
/// and evaluation needs neither recursion over enums nor reference counting.
struct ConditionNode: Sendable {
    enum Kind: UInt8, Sendable { case all, any, not, leaf }
    let kind: Kind
    /// Index past this node's subtree in the rule's node array.
    let end: Int32
    /// For a leaf: its index in `RuleSet.leaves`.
    let leaf: Int32
    /// For a leaf: its result's place in a decision's memo (`RuleSet.memoSlots`). Leaves that
    /// test the same thing (same field, operator, value, case sensitivity and zone) share it, so a
    /// condition repeated across rules — `source equals contact-form`, a VIP domain list, a
    /// `List-Id` check — is computed once per decision.
    var memo: Int32 = -1
    /// For an `equals` / `not_equals` / `in` string leaf: its `RuleSet.equalityGroups` index, or -1.
    var group: Int32 = -1
}

/// String equality tests (`equals`, `not_equals`, `in`) on one field, answered together: the
/// first one a decision reaches looks each of the field's values up once in `index` and fills the
/// memo of every test in the group, so fifty `from.domain in [...]` rules cost one lookup per
/// address instead of fifty set probes. Same semantics as testing each leaf (String equality).
final class EqualityGroup: Sendable {
    /// A leaf of the group: which field values (`FactsView.stringBuffer`) to look up.
    let sample: Leaf
    /// Memo slots of the group's tests, and whether each is negated (`not_equals`).
    let members: [(memo: Int32, negated: Bool)]
    /// Field value → the tests that compare with it, as `memo << 1 | negated`.
    let index: [String: [Int32]]

    init(sample: Leaf, members: [(memo: Int32, negated: Bool)], index: [String: [Int32]]) {
        self.sample = sample
        self.members = members
        self.index = index
    }
}

/// What a matching rule asks for.
struct RuleActions: Sendable {
    /// At most one of route / askAI / ignore: the rule's destination.
    var destination: RuleDestination?
    var reply: ReplyRequest?
    var schedule: MeetingRequest?
    var forward: ForwardRequest?
    var mailbox: MailboxRequest?
}

enum RuleDestination: Sendable {
    case route(Route)
    case askAI(AskAI)
    case ignore(reason: String?)
}

/// Where the AI router may send an intake, and what happens when it cannot decide.
public struct AskAI: Sendable, Equatable {
    /// One destination the model may choose.
    public struct Candidate: Sendable, Equatable {
        public var route: Route
        /// Plain-language description of what belongs there, shown to the model.
        public var about: String
    }

    /// What happens when the model's answer is not usable.
    public enum Fallback: Sendable, Equatable {
        case route(Route)
        /// Hold the intake for human review without an item.
        case review
    }

    public var candidates: [Candidate]
    public var minimumConfidence: Double
    public var fallback: Fallback
}

/// A condition tree.
indirect enum Condition: Sendable {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    case leaf(Leaf)
}

/// What a leaf compares.
enum FieldRef: Sendable, Hashable {
    case source, sourceKind, organization
    case subject, body
    /// from / to / cc / reply_to; part: address, domain or name.
    case address(AddressList, AddressPart)
    case header(String)
    case attachmentFilename, attachmentType, attachmentCount
    case documentKind, documentFilename, documentType, documentText, documentCount
    case documentField([PathSegment])
    case payload([PathSegment])
    case receivedAt, messageDate
    case timeHour, timeOfDay, weekday
}

enum AddressList: String, Sendable, Hashable, CaseIterable {
    case from, to, cc, replyTo = "reply_to"
}

enum AddressPart: String, Sendable, Hashable {
    case address, domain, name
}

enum PathSegment: Sendable, Hashable {
    case key(String)
    case index(Int)
}

enum Operator: String, Sendable, CaseIterable {
    case equals, notEquals = "not_equals", lt, lte, gt, gte, `in`, contains, startsWith = "starts_with", endsWith = "ends_with", matches, exists
}

/// The operand of a leaf, normalised at load.
enum Operand: Sendable {
    case none
    case string(String)
    case strings(Set<String>)
    case number(Double)
    case numbers(Set<Double>)
    case date(Date)
    case regex(CompiledRegex)
    case bool(Bool)
}

/// NSRegularExpression is immutable after creation and documented as thread-safe for matching,
/// so sharing one compiled pattern between concurrent evaluations is safe.
struct CompiledRegex: @unchecked Sendable {
    let expression: NSRegularExpression
    /// A literal every match contains (UTF-8, lower-cased when the pattern is case-insensitive),
    /// or empty when the pattern has none that is safe to use. A subject without it cannot match,
    /// so the regular expression (and Foundation's UTF-16 copy of the subject) is skipped.
    let literal: [UInt8]
    let caseInsensitive: Bool

    init(expression: NSRegularExpression, pattern: String, caseInsensitive: Bool) {
        self.expression = expression
        self.caseInsensitive = caseInsensitive
        let found = Self.requiredLiteral(pattern)
        literal = caseInsensitive ? found.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 } : found
    }

    func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// The longest run of ASCII literal characters that every match of `pattern` (ICU syntax)
    /// contains, or empty. Deliberately conservative: any alternation disables it, and scanning
    /// stops at the first construct other than literal characters, escaped punctuation and
    /// zero-width assertions (`^`, `$`, `\b`, `\B`, `\A`, `\z`, `\Z`, `\G`); a character
    /// followed by `?`, `*` or `{` is optional and ends the scan without it.
    static func requiredLiteral(_ pattern: String) -> [UInt8] {
        let bytes = Array(pattern.utf8)
        if bytes.contains(UInt8(ascii: "|")) { return [] }
        var best: [UInt8] = []
        var run: [UInt8] = []
        var index = 0
        func endRun() {
            if run.count > best.count { best = run }
            run.removeAll(keepingCapacity: true)
        }
        scan: while index < bytes.count {
            let byte = bytes[index]
            var literal: UInt8?
            var width = 1
            switch byte {
            case UInt8(ascii: "^"), UInt8(ascii: "$"):
                endRun()
            case UInt8(ascii: "\\"):
                guard index + 1 < bytes.count else { break scan }
                let next = bytes[index + 1]
                width = 2
                switch next {
                case UInt8(ascii: "b"), UInt8(ascii: "B"), UInt8(ascii: "A"), UInt8(ascii: "z"), UInt8(ascii: "Z"), UInt8(ascii: "G"):
                    endRun()
                case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E:
                    // A backslash before ASCII punctuation quotes it.
                    literal = next
                default:
                    break scan
                }
            case UInt8(ascii: "."), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"),
                 UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "?"):
                break scan
            case 0x20...0x7E:
                literal = byte
            default:
                // Control characters and non-ASCII (case folding may map them to ASCII and back).
                break scan
            }
            index += width
            guard let literal else { continue }
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "?"), UInt8(ascii: "*"), UInt8(ascii: "{"):
                    break scan
                case UInt8(ascii: "+"):
                    run.append(literal)
                    break scan
                default: break
                }
            }
            run.append(literal)
        }
        endRun()
        return best
    }
}

/// A leaf's comparison, compiled: the operator paired with its operand, so evaluation switches
/// once instead of over (operator, operand) pairs.
enum LeafTest: Sendable {
    case exists(Bool)
    /// `equals` (`negated`: `not_equals`) against a normalised string.
    case equalsString(String, negated: Bool)
    case equalsNumber(Double, negated: Bool)
    case equalsBool(Bool, negated: Bool)
    case inStrings(Set<String>)
    case inNumbers(Set<Double>)
    /// Byte-wise on `Leaf.needle`.
    case contains, startsWith, endsWith
    case matches(CompiledRegex)
    case compareNumber(Double, Comparison)
    case compareDate(Date, Comparison)
    /// An operator paired with an operand it does not take (the loader prevents it).
    case constant(Bool)

    enum Comparison: Sendable { case lt, lte, gt, gte }

    init(op: Operator, operand: Operand) {
        func comparison() -> Comparison {
            switch op {
            case .lt: return .lt
            case .lte: return .lte
            case .gt: return .gt
            default: return .gte
            }
        }
        switch (op, operand) {
        case (.exists, .bool(let expected)): self = .exists(expected)
        case (.equals, .string(let text)), (.notEquals, .string(let text)): self = .equalsString(text, negated: op == .notEquals)
        case (.equals, .number(let number)), (.notEquals, .number(let number)): self = .equalsNumber(number, negated: op == .notEquals)
        case (.equals, .bool(let flag)), (.notEquals, .bool(let flag)): self = .equalsBool(flag, negated: op == .notEquals)
        case (.equals, _): self = .constant(false)
        case (.notEquals, _): self = .constant(true)
        case (.in, .strings(let set)): self = .inStrings(set)
        case (.in, .numbers(let set)): self = .inNumbers(set)
        case (.contains, .string): self = .contains
        case (.startsWith, .string): self = .startsWith
        case (.endsWith, .string): self = .endsWith
        case (.matches, .regex(let regex)): self = .matches(regex)
        case (.lt, .number(let number)), (.lte, .number(let number)), (.gt, .number(let number)), (.gte, .number(let number)):
            self = .compareNumber(number, comparison())
        case (.lt, .date(let date)), (.lte, .date(let date)), (.gt, .date(let date)), (.gte, .date(let date)):
            self = .compareDate(date, comparison())
        default: self = .constant(false)
        }
    }
}

/// What the evaluation loop switches on: `LeafTest` without payloads, so reading it costs no
/// reference counting (the payloads live in `Leaf.number`, `Leaf.flag`, `Leaf.needleBytes`...).
enum LeafKind: UInt8, Sendable {
    case exists, equalsString, equalsNumber, equalsBool, inStrings, inNumbers, contains, startsWith, endsWith, matches, compareNumber, compareDate, constant
}

/// A compiled comparison. A class for the same reason as `Rule`.
///
/// `@unchecked Sendable`: `needleBytes` is a buffer the leaf allocates in `init`, never writes
/// after, and frees in `deinit`; everything else is immutable and Sendable.
final class Leaf: @unchecked Sendable {
    // The hot loop's fields first (`FactsView.test`), so one test reads one or two cache lines
    // of the leaf instead of fields spread over its whole size; the rest is for loading,
    // slow paths and traces.
    /// `test` flattened for the hot loop: its kind, and the scalar parts of its payload.
    let kind: LeafKind
    /// `exists` expected / `equals` a boolean / a constant's result.
    let flag: Bool
    /// `not_equals`.
    let negated: Bool
    /// String comparisons read the values as they are (case-sensitive, and weekday names which
    /// are lower-case already) instead of lower-cased.
    let readsText: Bool
    /// `matches` whose literal prefilter reads the same strings as the leaf's other string
    /// tests (lower-cased for a case-insensitive expression, as written otherwise).
    let literalPrefilter: Bool
    let comparison: LeafTest.Comparison
    /// Index of `field` in the per-decision value cache (`RuleSet.fieldSlots`).
    let slot: Int
    /// A number compared with, or a date's `timeIntervalSinceReferenceDate`.
    let number: Double
    /// `needle` in a buffer the leaf owns (never empty: one byte past a zero-length needle);
    /// for `matches` with `literalPrefilter`, the expression's required literal.
    let needleBytes: UnsafeBufferPointer<UInt8>
    let pointer: String
    let fieldText: String
    let field: FieldRef
    let op: Operator
    let operand: Operand
    /// Strings compare after lower-casing both sides unless the rule says `case_sensitive: true`.
    let caseSensitive: Bool
    /// For time fields.
    let calendar: Calendar
    /// The value as written, for traces.
    let expectedText: String?
    /// UTF-8 of a string operand (already lower-cased unless case-sensitive), for byte-wise
    /// contains / starts_with / ends_with.
    let needle: [UInt8]
    /// `op` and `operand` compiled.
    let test: LeafTest
    /// `op.rawValue`, for traces.
    let opText: String
    init(pointer: String, fieldText: String, field: FieldRef, op: Operator, operand: Operand, caseSensitive: Bool, calendar: Calendar, expectedText: String?, needle: [UInt8], slot: Int) {
        self.pointer = pointer
        self.fieldText = fieldText
        self.field = field
        self.op = op
        self.operand = operand
        self.caseSensitive = caseSensitive
        self.calendar = calendar
        self.expectedText = expectedText
        self.needle = needle
        self.slot = slot
        self.test = LeafTest(op: op, operand: operand)
        self.opText = op.rawValue
        if case .weekday = field { readsText = true } else { readsText = caseSensitive }
        var flag = false, negated = false, number = 0.0, comparison = LeafTest.Comparison.lt
        let kind: LeafKind
        switch test {
        case .exists(let expected): kind = .exists; flag = expected
        case .equalsString(_, let isNegated): kind = .equalsString; negated = isNegated
        case .equalsNumber(let value, let isNegated): kind = .equalsNumber; number = value; negated = isNegated
        case .equalsBool(let value, let isNegated): kind = .equalsBool; flag = value; negated = isNegated
        case .inStrings: kind = .inStrings
        case .inNumbers: kind = .inNumbers
        case .contains: kind = .contains
        case .startsWith: kind = .startsWith
        case .endsWith: kind = .endsWith
        case .matches: kind = .matches
        case .compareNumber(let value, let order): kind = .compareNumber; number = value; comparison = order
        case .compareDate(let date, let order): kind = .compareDate; number = date.timeIntervalSinceReferenceDate; comparison = order
        case .constant(let result): kind = .constant; flag = result
        }
        self.kind = kind
        self.flag = flag
        self.negated = negated
        self.number = number
        self.comparison = comparison
        // A regular expression's needle is its required literal (see `CompiledRegex.literal`).
        var needle = needle
        var literalPrefilter = false
        if case .matches(let regex) = test, !regex.literal.isEmpty, regex.caseInsensitive == !readsText {
            needle = regex.literal
            literalPrefilter = true
        }
        self.literalPrefilter = literalPrefilter
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(needle.count, 1))
        _ = bytes.initialize(fromContentsOf: needle + (needle.isEmpty ? [0] : []))
        needleBytes = UnsafeBufferPointer(start: bytes.baseAddress, count: needle.count)
    }

    deinit {
        UnsafeMutableBufferPointer(mutating: needleBytes).baseAddress?.deallocate()
    }

    /// Equal for leaves that always give the same result for the same facts: same value slot
    /// (field, and zone for time fields), operator, value as written, case sensitivity and zone.
    var memoKey: String {
        "\(slot)\u{1F}\(opText)\u{1F}\(caseSensitive)\u{1F}\(calendar.timeZone.identifier)\u{1F}\(expectedText ?? "\u{0}" + pointer)"
    }
}
