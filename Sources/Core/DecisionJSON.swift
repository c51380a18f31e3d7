public import Foundation

extension Decision {
    /// The decision as stored: JSON with sorted keys and unescaped slashes — the bytes
    /// `JSONEncoder` with `[.sortedKeys, .withoutEscapingSlashes]` writes for it (a CoreTests
    /// case compares the two) — but with the rule trace written directly.
    ///
    /// Why: a decision over 100 rules carries a few hundred `RuleTrace` / `ConditionTrace`
    /// values (~30 KB of JSON), and Foundation's generic `Encodable` machinery took ~1.5 ms for
    /// them, far more than deciding (~10 µs). The small nested values (route, follow-ups, AI
    /// call) still go through `encoder`, which must have those two formatting options.
    public func storedJSON(using encoder: JSONEncoder) throws -> Data {
        var writer = SortedJSONWriter()
        let rules = self.rules
        writer.bytes.reserveCapacity(512 + rules.count * 256)
        writer.beginObject()
        if let ai { writer.key("ai"); writer.raw(try encoder.encode(ai)) }
        writer.key("decidedBy"); writer.string(decidedBy)
        writer.key("followUps"); writer.raw(try encoder.encode(followUps))
        writer.key("outcome"); writer.string(outcome.rawValue)
        if let route { writer.key("route"); writer.raw(try encoder.encode(route)) }
        writer.key("rules")
        writer.beginArray()
        for rule in rules {
            writer.element()
            writer.beginObject()
            writer.key("conditions")
            writer.beginArray()
            for condition in rule.conditions {
                writer.element()
                writer.beginObject()
                writer.key("actual"); writer.strings(condition.actual)
                if let expected = condition.expected { writer.key("expected"); writer.string(expected) }
                writer.key("field"); writer.string(condition.field)
                writer.key("op"); writer.string(condition.op)
                writer.key("pointer"); writer.string(condition.pointer)
                writer.key("result"); writer.bool(condition.result)
                writer.endObject()
            }
            writer.endArray()
            writer.key("effects"); writer.strings(rule.effects)
            writer.key("matched"); writer.bool(rule.matched)
            writer.key("pointer"); writer.string(rule.pointer)
            writer.key("rule"); writer.string(rule.rule)
            writer.endObject()
        }
        writer.endArray()
        writer.key("trace"); writer.strings(trace)
        writer.endObject()
        return Data(writer.bytes)
    }
}

/// Writes JSON the way `JSONEncoder` formats it without pretty-printing: no white space, strings
/// escaped as it escapes them (`\"`, `\\`, `\b` `\t` `\n` `\f` `\r`, other control characters as
/// `\u00xx`, everything else as UTF-8, slashes unescaped). The caller writes keys in sorted order.
struct SortedJSONWriter {
    var bytes: [UInt8] = []
    /// Whether the innermost open object or array has no member yet.
    private var empty = true

    mutating func beginObject() { bytes.append(UInt8(ascii: "{")); empty = true }
    mutating func endObject() { bytes.append(UInt8(ascii: "}")); empty = false }
    mutating func beginArray() { bytes.append(UInt8(ascii: "[")); empty = true }
    mutating func endArray() { bytes.append(UInt8(ascii: "]")); empty = false }

    /// Before an array element.
    mutating func element() {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        empty = true
    }

    mutating func key(_ name: String) {
        if !empty { bytes.append(UInt8(ascii: ",")) }
        string(name)
        bytes.append(UInt8(ascii: ":"))
        empty = true
    }

    mutating func raw(_ json: Data) { bytes.append(contentsOf: json); empty = false }
    mutating func bool(_ value: Bool) { bytes.append(contentsOf: value ? Self.trueBytes : Self.falseBytes); empty = false }

    mutating func strings(_ values: [String]) {
        beginArray()
        for value in values {
            element()
            string(value)
        }
        endArray()
    }

    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var copy = value
        copy.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index]))
                runStart = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                default:
                    bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0xF)]])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
        empty = false
    }

    private static let hex = Array("0123456789abcdef".utf8)
    private static let trueBytes = Array("true".utf8)
    private static let falseBytes = Array("false".utf8)
}
