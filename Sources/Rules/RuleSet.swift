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
    /// Distinct fields the conditions read; each leaf knows its field's slot, so a decision
    /// caches field values in an array instead of hashing field names.
    let fieldSlots: Int

    /// How many rules the file holds (across organizations).
    public var count: Int { rulesByOrganization.values.reduce(0) { $0 + $1.count } }

    /// Rule ids of one organization, in evaluation order.
    public func ruleIDs(organization: String) -> [String] { rulesByOrganization[organization]?.map(\.id) ?? [] }
}

/// A reply template from the rules file's `templates` object.
public struct ReplyTemplate: Sendable, Equatable {
    public var id: String
    public var subject: String
    public var body: String
}

/// One rule: conditions and what to do when they hold. A class: evaluation passes rules around
/// by reference instead of copying (and retaining) every field.
final class Rule: Sendable {
    let id: String
    /// JSON pointer of the rule (`/rules/3`).
    let pointer: String
    let organization: String
    let condition: Condition?
    let actions: RuleActions
    let stop: Bool
    let override: Bool

    init(id: String, pointer: String, organization: String, condition: Condition?, actions: RuleActions, stop: Bool, override: Bool) {
        self.id = id
        self.pointer = pointer
        self.organization = organization
        self.condition = condition
        self.actions = actions
        self.stop = stop
        self.override = override
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

    func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

/// A compiled comparison. A class for the same reason as `Rule`.
final class Leaf: Sendable {
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
    /// Index of `field` in the per-decision value cache (`RuleSet.fieldSlots`).
    let slot: Int

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
    }
}
