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
    /// The decision's block (`DecisionLayout`): slots, memos, records, rule ends, field buffers.
    private let blocks: DecisionBlocks
    private let block: UnsafeMutableRawPointer
    /// Where the next field buffer goes in `block`.
    private var bumpNext: Int
    /// Field buffers that did not fit in `block`: separate allocations, each starting with the
    /// address of the previous one.
    private var overflow: UnsafeMutableRawPointer?
    /// The compact trace's leaf records (`leaf index << 1 | result`) and rule ends, written by
    /// `RuleSet.evaluateCompact`; capacities from the layout.
    let records: UnsafeMutablePointer<UInt32>
    let ruleEnds: UnsafeMutablePointer<UInt32>

    /// What one field's slot has computed so far.
    struct Slot {
        var values: [FieldValue]?
        /// `FieldValue.text` of each value, in a buffer the view owns: string tests read them in
        /// place, without the reference counting that returning a cached array costs.
        var textBuffer: UnsafeMutableBufferPointer<String>?
        /// The texts lower-cased (Unicode rules), for equality and for texts that are not ASCII.
        var loweredBuffer: UnsafeMutableBufferPointer<String>?
        /// Whether each text is ASCII only: case-insensitive substring tests then fold ASCII
        /// letters while comparing, without a lower-cased copy.
        var asciiBuffer: UnsafeMutableBufferPointer<Bool>?
        /// The texts as an array, for the slower paths (regular expressions, traces).
        var texts: [String]?
        /// The texts as traces show them.
        var display: [String]?
        var numbers: [Double?]?
        var dates: [Date?]?
        /// `numbers` / `dates` (as reference-date intervals; NaN for values that are not one).
        var numberBuffer: UnsafeMutableBufferPointer<Double>?
        var dateBuffer: UnsafeMutableBufferPointer<Double>?
        /// `exists`: 0 not known yet, 1 absent, 2 present.
        var present: UInt8 = 0
    }

    /// Per distinct leaf test (`ConditionNode.memo`): 0 not evaluated yet, 1 false, 2 true.
    let memos: UnsafeMutablePointer<UInt8>

    init(_ facts: Facts, blocks: DecisionBlocks) {
        self.facts = facts
        self.blocks = blocks
        let layout = blocks.layout
        block = blocks.take()
        slotCount = layout.slotCount
        slots = block.bindMemory(to: Slot.self, capacity: max(slotCount, 1))
        slots.initialize(repeating: Slot(), count: slotCount)
        memos = (block + layout.memoOffset).bindMemory(to: UInt8.self, capacity: layout.memoCount)
        memos.initialize(repeating: 0, count: layout.memoCount)
        records = (block + layout.recordOffset).bindMemory(to: UInt32.self, capacity: layout.recordCapacity)
        ruleEnds = (block + layout.ruleOffset).bindMemory(to: UInt32.self, capacity: layout.ruleCapacity)
        bumpNext = layout.bumpOffset
    }

    deinit {
        for index in 0..<slotCount {
            if let buffer = slots[index].textBuffer { _ = buffer.deinitialize() }
            if let buffer = slots[index].loweredBuffer { _ = buffer.deinitialize() }
        }
        slots.deinitialize(count: slotCount)
        while let extra = overflow {
            overflow = extra.load(as: UnsafeMutableRawPointer?.self)
            extra.deallocate()
        }
        blocks.give(block)
    }

    /// Uninitialised memory for `count` values that lives as long as the view: from the block
    /// while it has room, else a separate allocation freed with the view.
    private func allocate<Element>(_: Element.Type, count: Int) -> UnsafeMutablePointer<Element> {
        let capacity = max(count, 1)
        let bytes = MemoryLayout<Element>.stride * capacity
        let alignment = max(MemoryLayout<Element>.alignment, 1)
        let start = (bumpNext + alignment - 1) & ~(alignment - 1)
        if start + bytes <= blocks.layout.blockSize {
            bumpNext = start + bytes
            return (block + start).bindMemory(to: Element.self, capacity: capacity)
        }
        // 16 bytes of header (the chain link), which keeps any element alignment up to 16.
        let extra = UnsafeMutableRawPointer.allocate(byteCount: 16 + bytes, alignment: 16)
        extra.storeBytes(of: overflow, as: UnsafeMutableRawPointer?.self)
        overflow = extra
        return (extra + 16).bindMemory(to: Element.self, capacity: capacity)
    }

    /// `count` values made by `element(index)`, in memory the view owns (`allocate`).
    private func owned<Element>(_ count: Int, _ element: (Int) -> Element) -> UnsafeMutableBufferPointer<Element> {
        let start = allocate(Element.self, count: count)
        for index in 0..<count { (start + index).initialize(to: element(index)) }
        return UnsafeMutableBufferPointer(start: start, count: count)
    }

    func values(_ leaf: Leaf) -> [FieldValue] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.values { return cached }
        let computed = compute(leaf)
        slot.pointee.values = computed
        return computed
    }

    /// The field's values as text, in a buffer the view owns until it is deinitialised.
    func textBuffer(_ leaf: Leaf) -> UnsafeBufferPointer<String> {
        let slot = slots + leaf.slot
        if let buffer = slot.pointee.textBuffer { return UnsafeBufferPointer(buffer) }
        let values = values(leaf)
        let owned = owned(values.count) { values[$0].text }
        slot.pointee.textBuffer = owned
        return UnsafeBufferPointer(owned)
    }

    /// The texts lower-cased, in a buffer the view owns.
    func loweredBuffer(_ leaf: Leaf) -> UnsafeBufferPointer<String> {
        let slot = slots + leaf.slot
        if let buffer = slot.pointee.loweredBuffer { return UnsafeBufferPointer(buffer) }
        let texts = textBuffer(leaf)
        let owned = owned(texts.count) { Self.lowercased(texts[$0]) }
        slot.pointee.loweredBuffer = owned
        return UnsafeBufferPointer(owned)
    }

    func texts(_ leaf: Leaf) -> [String] {
        let slot = slots + leaf.slot
        if let cached = slot.pointee.texts { return cached }
        let computed = Array(textBuffer(leaf))
        slot.pointee.texts = computed
        return computed
    }

    /// What string comparisons of `leaf` read: the texts as they are, or lower-cased.
    func stringBuffer(_ leaf: Leaf) -> UnsafeBufferPointer<String> {
        leaf.readsText ? textBuffer(leaf) : loweredBuffer(leaf)
    }

    /// Whether `probe` holds for the UTF-8 of one of the strings string tests of `leaf` read.
    /// `probe` gets the bytes and whether ASCII letters in them still need folding to lower case:
    /// a case-insensitive test reads an ASCII text as it is and folds while comparing, and only a
    /// text with other characters is lower-cased first (Unicode rules).
    @inline(__always)
    func anyBytes(_ leaf: Leaf, _ probe: (UnsafeBufferPointer<UInt8>, Bool) -> Bool) -> Bool {
        // In place through the buffers' pointers: a copy of each String would be retained and
        // released (`withUTF8` only makes a string contiguous, which native ones are).
        let buffer = textBuffer(leaf)
        let count = buffer.count
        guard count > 0, let texts = UnsafeMutablePointer(mutating: buffer.baseAddress) else { return false }
        if leaf.readsText {
            for index in 0..<count where (texts + index).pointee.withUTF8({ probe($0, false) }) { return true }
            return false
        }
        let ascii = asciiBuffer(leaf)
        for index in 0..<count {
            if ascii[index] {
                if (texts + index).pointee.withUTF8({ probe($0, true) }) { return true }
            } else if let lowered = UnsafeMutablePointer(mutating: loweredBuffer(leaf).baseAddress),
                      (lowered + index).pointee.withUTF8({ probe($0, false) }) {
                return true
            }
        }
        return false
    }

    /// `numbers(leaf)` with NaN for nil, in a buffer the view owns.
    func numberBuffer(_ leaf: Leaf) -> UnsafeBufferPointer<Double> {
        let slot = slots + leaf.slot
        if let buffer = slot.pointee.numberBuffer { return UnsafeBufferPointer(buffer) }
        let numbers = numbers(leaf)
        let buffer = owned(numbers.count) { numbers[$0] ?? .nan }
        slot.pointee.numberBuffer = buffer
        return UnsafeBufferPointer(buffer)
    }

    /// `dates(leaf)` as reference-date intervals, NaN for nil, in a buffer the view owns.
    func dateBuffer(_ leaf: Leaf) -> UnsafeBufferPointer<Double> {
        let slot = slots + leaf.slot
        if let buffer = slot.pointee.dateBuffer { return UnsafeBufferPointer(buffer) }
        let dates = dates(leaf)
        let buffer = owned(dates.count) { dates[$0]?.timeIntervalSinceReferenceDate ?? .nan }
        slot.pointee.dateBuffer = buffer
        return UnsafeBufferPointer(buffer)
    }

    /// Whether each text of the field is ASCII only, in a buffer the view owns.
    func asciiBuffer(_ leaf: Leaf) -> UnsafeBufferPointer<Bool> {
        let slot = slots + leaf.slot
        if let buffer = slot.pointee.asciiBuffer { return UnsafeBufferPointer(buffer) }
        let texts = textBuffer(leaf)
        let owned = owned(texts.count) { UTF8Search.isASCII(texts[$0]) }
        slot.pointee.asciiBuffer = owned
        return UnsafeBufferPointer(owned)
    }

    /// Whether the field has a value (a non-empty string, or any other value).
    func isPresent(_ leaf: Leaf) -> Bool {
        let slot = slots + leaf.slot
        if slot.pointee.present == 0 {
            let present = values(leaf).contains { value in
                if case .string(let text) = value { return !text.isEmpty }
                return true
            }
            slot.pointee.present = present ? 2 : 1
        }
        return slot.pointee.present == 2
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

    /// `text.lowercased()`, without a new string when an ASCII text has no upper-case letters
    /// (domains, most addresses, sources, header names).
    static func lowercased(_ text: String) -> String {
        // Eight bytes at a time in a UInt64 ("SWAR"): for ASCII bytes, adding 0x3F sets a byte's
        // high bit from 'A' up and adding 0x25 from '[' up, so their difference marks A-Z; shifted
        // right by two, that mark is exactly the 0x20 that lower-cases the letter. (Swift's SIMD
        // types were several times slower here: they did not compile to vector code.)
        let high: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func upperMarks(_ word: UInt64) -> UInt64 {
            ((word &+ 0x3F3F_3F3F_3F3F_3F3F) & ~(word &+ 0x2525_2525_2525_2525)) & high
        }
        // nil: not contiguous or not ASCII; else whether an upper-case letter occurs.
        let asciiUpper: Bool? = text.utf8.withContiguousStorageIfAvailable { bytes -> Bool? in
            guard let base = bytes.baseAddress else { return false }
            let raw = UnsafeRawPointer(base)
            var combined: UInt64 = 0
            var marks: UInt64 = 0
            var index = 0
            while index + 8 <= bytes.count {
                let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                combined |= word
                marks |= upperMarks(word & ~high)
                index += 8
            }
            var tailUpper = false
            while index < bytes.count {
                let byte = base[index]
                combined |= UInt64(byte)
                tailUpper = tailUpper || (byte &- 0x41) < 26
                index += 1
            }
            guard combined & high == 0 else { return nil }
            return marks != 0 || tailUpper
        } ?? nil
        switch asciiUpper {
        case false?: return text
        case true?:
            let count = text.utf8.count
            return text.utf8.withContiguousStorageIfAvailable { bytes in
                String(unsafeUninitializedCapacity: count) { target in
                    guard let source = bytes.baseAddress, let destination = target.baseAddress else { return 0 }
                    let from = UnsafeRawPointer(source)
                    let to = UnsafeMutableRawPointer(destination)
                    var index = 0
                    while index + 8 <= count {
                        let word = from.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                        to.storeBytes(of: word | (upperMarks(word) >> 2), toByteOffset: index, as: UInt64.self)
                        index += 8
                    }
                    while index < count {
                        let byte = source[index]
                        destination[index] = (byte &- 0x41) < 26 ? byte | 0x20 : byte
                        index += 1
                    }
                    return count
                }
            } ?? text.lowercased()
        case nil: return text.lowercased()
        }
    }

    private func compute(_ leaf: Leaf) -> [FieldValue] {
        switch leaf.field {
        // Time fields depend on the condition's time zone: their slots are per field and zone.
        // Local time from the zone's offset at that instant (Calendar's component machinery costs
        // several times more and gives the same answer for the Gregorian calendar).
        case .timeHour: return [.number(Double(localSecondOfDay(leaf.calendar.timeZone) / 3600))]
        case .timeOfDay: return [.number(Double(localSecondOfDay(leaf.calendar.timeZone) / 60))]
        case .weekday:
            let local = Int((facts.receivedAt.timeIntervalSince1970).rounded(.down)) + leaf.calendar.timeZone.secondsFromGMT(for: facts.receivedAt)
            let days = Int((Double(local) / 86_400).rounded(.down))
            // 1970-01-01 was a Thursday (index 3 in mon...sun).
            let index = ((days + 3) % 7 + 7) % 7
            return [.string(RuleLoader.weekdays[index])]
        default: return compute(leaf.field)
        }
    }

    /// Seconds since local midnight in `zone` when the intake arrived.
    private func localSecondOfDay(_ zone: TimeZone) -> Int {
        let local = Int((facts.receivedAt.timeIntervalSince1970).rounded(.down)) + zone.secondsFromGMT(for: facts.receivedAt)
        return ((local % 86_400) + 86_400) % 86_400
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
                case .domain:
                    let domain = Self.domain(of: address.address)
                    return domain.isEmpty ? nil : .string(domain)
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
        return Self.formSender(from)
    }

    /// A form's sender field (`Ada <ada@x>` or a bare address) as one address.
    static func formSender(_ from: String) -> [MailAddress] {
        let utf8 = from.utf8
        if let open = utf8.lastIndex(of: UInt8(ascii: "<")), let close = utf8.lastIndex(of: UInt8(ascii: ">")), open < close {
            let name = Self.trimmed(from[..<open], also: UInt8(ascii: "\""))
            return [MailAddress(name: name.isEmpty ? nil : name, address: String(from[from.utf8.index(after: open)..<close]))]
        }
        // Unicode white space around a form field's value (rare) takes Foundation's trimming.
        if let first = utf8.first, let last = utf8.last, first >= 0x80 || last >= 0x80 {
            return [MailAddress(address: from.trimmingCharacters(in: .whitespaces))]
        }
        return [MailAddress(address: Self.trimmed(from[...], also: nil))]
    }

    /// `text` without leading and trailing spaces and tabs (and `also`).
    static func trimmed(_ text: Substring, also extra: UInt8?) -> String {
        let utf8 = text.utf8
        func trim(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == extra }
        guard let first = utf8.firstIndex(where: { !trim($0) }), let last = utf8.lastIndex(where: { !trim($0) }) else { return "" }
        return String(text[first...last])
    }

    /// The lower-cased part of `address` after its last `@` ("" without one), as `MailAddress.domain`.
    static func domain(of address: String) -> String {
        let utf8 = address.utf8
        guard let at = utf8.lastIndex(of: UInt8(ascii: "@")) else { return "" }
        return lowercased(String(address[utf8.index(after: at)...]))
    }

    /// The value at `path` in `value`, nil when a step is missing.
    static func node(at path: [PathSegment], in value: JSONValue) -> JSONValue? {
        var node = value
        for segment in path {
            switch (segment, node) {
            case (.key(let key), .object(let object)):
                guard let next = object[key] else { return nil }
                node = next
            case (.index(let index), .array(let array)):
                guard array.indices.contains(index) else { return nil }
                node = array[index]
            default:
                return nil
            }
        }
        return node
    }

    /// Leaves of `value` at `path`; an array at the end contributes each element.
    static func leaves(at path: [PathSegment], in value: JSONValue) -> [FieldValue] {
        guard let node = node(at: path, in: value) else { return [] }
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
