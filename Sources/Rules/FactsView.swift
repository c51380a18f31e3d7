import Core
import Foundation

/// One value a field had for an intake.
enum FieldValue {
    case string(String)
    case number(Double)
    case date(Date)
    case bool(Bool)

    var text: String {
        switch self {
        case .string(let text): return text
        case .number(let number): return number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case .date(let date): return date.formatted(.iso8601)
        case .bool(let flag): return flag ? "true" : "false"
        }
    }

    var number: Double? {
        switch self {
        case .number(let number): return number
        case .string(let text): return Double(text.trimmingCharacters(in: .whitespaces))
        default: return nil
        }
    }
}

/// Facts as conditions read them, for one evaluation. Values that several conditions use (the
/// lower-cased body, the address lists) are computed once per intake, not once per condition:
/// each slot (`Leaf.slot`) caches the field's values and the forms comparisons and traces read.
/// Not shared between threads: one view per decision.
final class FactsView {
    let facts: Facts
    private let slotCount: Int
    private let slots: UnsafeMutablePointer<Slot>

    /// What one field's slot has computed so far.
    struct Slot {
        var values: [FieldValue]?
        /// `FieldValue.text` of each value.
        var texts: [String]?
        /// The texts lower-cased.
        var lowered: [String]?
        /// The texts as traces show them.
        var display: [String]?
        var numbers: [Double?]?
        var dates: [Date?]?
        /// Whether each text is ASCII only (for regex literal prefilters).
        var ascii: [Bool]?
    }

    init(_ facts: Facts, slots count: Int) {
        self.facts = facts
        slotCount = count
        slots = .allocate(capacity: max(count, 1))
        slots.initialize(repeating: Slot(), count: count)
    }

    deinit {
        slots.deinitialize(count: slotCount)
        slots.deallocate()
    }

    func values(_ leaf: Leaf) -> [FieldValue] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.values { return cached }
        let computed = compute(leaf)
        slot.pointee.values = computed
        return computed
    }

    func texts(_ leaf: Leaf) -> [String] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.texts { return cached }
        let computed = values(leaf).map(\.text)
        slot.pointee.texts = computed
        return computed
    }

    /// String forms, lower-cased, for case-insensitive comparisons.
    func lowered(_ leaf: Leaf) -> [String] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.lowered { return cached }
        let computed = texts(leaf).map { $0.lowercased() }
        slot.pointee.lowered = computed
        return computed
    }

    /// What string comparisons of `leaf` read.
    func strings(_ leaf: Leaf) -> [String] {
        leaf.readsText ? texts(leaf) : lowered(leaf)
    }

    func numbers(_ leaf: Leaf) -> [Double?] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.numbers { return cached }
        let computed = values(leaf).map(\.number)
        slot.pointee.numbers = computed
        return computed
    }

    func dates(_ leaf: Leaf) -> [Date?] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.dates { return cached }
        let computed = values(leaf).map { value -> Date? in
            switch value {
            case .date(let date): return date
            case .string(let text): return RuleLoader.date(text)
            default: return nil
            }
        }
        slot.pointee.dates = computed
        return computed
    }

    func ascii(_ leaf: Leaf) -> [Bool] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.ascii { return cached }
        let computed = texts(leaf).map(UTF8Search.isASCII)
        slot.pointee.ascii = computed
        return computed
    }

    /// Values as the trace shows them: at most five, each at most 120 characters. Cached, so a
    /// trace of many conditions on one field shares one array. (Time fields have exactly one
    /// short value, so this is all of their values as they are.)
    func display(_ leaf: Leaf) -> [String] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.display { return cached }
        let computed = texts(leaf).prefix(5).map(Self.shorten)
        slot.pointee.display = computed
        return computed
    }

    private static func shorten(_ text: String) -> String {
        // Counting characters walks the whole string: check the byte count first (bodies are long).
        text.utf8.count <= 120 ? text : String(text.prefix(119)) + "…"
    }

    private func compute(_ leaf: Leaf) -> [FieldValue] {
        let calendar = leaf.calendar
        switch leaf.field {
        // Time fields depend on the condition's time zone: their slots are per field and zone.
        case .timeHour: return [.number(Double(calendar.component(.hour, from: facts.receivedAt)))]
        case .timeOfDay:
            let parts = calendar.dateComponents([.hour, .minute], from: facts.receivedAt)
            return [.number(Double((parts.hour ?? 0) * 60 + (parts.minute ?? 0)))]
        case .weekday:
            // Calendar weekdays are 1 = Sunday ... 7 = Saturday.
            let index = (calendar.component(.weekday, from: facts.receivedAt) + 5) % 7
            return [.string(RuleLoader.weekdays[index])]
        default: return compute(leaf.field)
        }
    }

    private func compute(_ field: FieldRef) -> [FieldValue] {
        let message = facts.message
        switch field {
        case .source: return [.string(facts.source)]
        case .sourceKind: return [.string(facts.sourceKind.rawValue)]
        case .organization: return [.string(facts.organization)]
        case .subject: return (facts.subject ?? message?.subject).map { [.string($0)] } ?? []
        case .body: return (facts.text ?? message?.text).map { [.string($0)] } ?? []
        case .address(let list, let part):
            return addresses(list).compactMap { address -> FieldValue? in
                switch part {
                case .address: return address.address.isEmpty ? nil : .string(address.address)
                case .domain: return address.domain.isEmpty ? nil : .string(address.domain)
                case .name: return address.name.map { .string($0) }
                }
            }
        case .header(let name):
            // As `Message.headerValues`, without Foundation's case-insensitive compare for ASCII names.
            guard let message else { return [] }
            return message.headers.compactMap { Self.sameHeaderName($0.name, name) ? .string($0.value) : nil }
        case .attachmentFilename: return attachments.map { .string($0.filename) }
        case .attachmentType: return attachments.map { .string($0.type) }
        case .attachmentCount: return [.number(Double(attachments.count))]
        case .documentKind: return facts.documents.compactMap { $0.kind.map { .string($0) } }
        case .documentFilename: return facts.documents.map { .string($0.filename) }
        case .documentType: return facts.documents.map { .string($0.declaredType) }
        case .documentText: return facts.documents.compactMap { $0.text.map { .string($0) } }
        case .documentCount: return [.number(Double(facts.documents.count))]
        case .documentField(let path): return facts.documents.flatMap { document in document.fields.map { Self.leaves(at: path, in: $0) } ?? [] }
        case .payload(let path): return Self.leaves(at: path, in: facts.payload)
        case .receivedAt: return [.date(facts.receivedAt)]
        case .messageDate: return message?.date.map { [.date($0)] } ?? []
        case .timeHour, .timeOfDay, .weekday: return []
        }
    }

    /// `name.caseInsensitiveCompare(other) == .orderedSame`, byte-wise when both are ASCII.
    static func sameHeaderName(_ name: String, _ other: String) -> Bool {
        guard UTF8Search.isASCII(name), UTF8Search.isASCII(other) else { return name.caseInsensitiveCompare(other) == .orderedSame }
        guard name.utf8.count == other.utf8.count else { return false }
        return zip(name.utf8, other.utf8).allSatisfy { left, right in
            left == right || (left | 0x20 == right | 0x20 && (left | 0x20) >= 0x61 && (left | 0x20) <= 0x7A)
        }
    }

    private var attachments: [(filename: String, type: String)] {
        if let message = facts.message {
            return message.attachments.map { ($0.filename, $0.declaredType) }
        }
        // Webhooks carry their uploaded files as documents.
        return facts.documents.map { ($0.filename, $0.declaredType) }
    }

    private func addresses(_ list: AddressList) -> [MailAddress] {
        if let message = facts.message {
            switch list {
            case .from: if !message.from.isEmpty { return message.from }
            case .to: return message.to
            case .cc: return message.cc
            case .replyTo: return message.replyTo
            }
        }
        // Webhooks: the form's sender field (`email`, `from`...) chosen by FactsBuilder.
        guard list == .from, let from = facts.from, !from.isEmpty else { return [] }
        if let open = from.lastIndex(of: "<"), let close = from.lastIndex(of: ">"), open < close {
            let name = from[..<open].trimmingCharacters(in: CharacterSet(charactersIn: " \""))
            return [MailAddress(name: name.isEmpty ? nil : name, address: String(from[from.index(after: open)..<close]))]
        }
        return [MailAddress(address: from.trimmingCharacters(in: .whitespaces))]
    }

    /// Leaves of `value` at `path`; an array at the end contributes each element.
    static func leaves(at path: [PathSegment], in value: JSONValue) -> [FieldValue] {
        var node = value
        for segment in path {
            switch (segment, node) {
            case (.key(let key), .object(let object)):
                guard let next = object[key] else { return [] }
                node = next
            case (.index(let index), .array(let array)):
                guard array.indices.contains(index) else { return [] }
                node = array[index]
            default:
                return []
            }
        }
        if case .array(let elements) = node { return elements.compactMap(leaf) }
        return leaf(node).map { [$0] } ?? []
    }

    private static func leaf(_ value: JSONValue) -> FieldValue? {
        switch value {
        case .null: return nil
        case .bool(let flag): return .bool(flag)
        case .number(let number): return .number(number)
        case .string(let text): return .string(text)
        case .array, .object: return .string(value.displayText)
        }
    }
}
