public import Foundation

/// A JSON document held as a tree: webhook payloads, configuration before validation, and the
/// stored shapes of Facts and decisions. Object keys keep no order; equality is structural.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // The decoder cannot be asked for a value's type, so each guess that fails throws. Guess
        // in order of frequency in real payloads (strings are most leaves) to throw least.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    // Shared: both are thread-safe, and building one per call is a measurable cost on hot paths.
    private static let decoder = JSONDecoder()
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Parses JSON bytes. Fragments (a bare string or number) are accepted.
    public static func parse(_ data: Data) throws -> JSONValue {
        try decoder.decode(JSONValue.self, from: data)
    }

    /// Serialises with sorted keys so equal values give equal bytes.
    public func encoded() -> Data {
        let encoder = Self.encoder
        // Encoding a JSONValue cannot fail: every case maps to a JSON primitive. NaN and infinity
        // cannot be produced by the parser; if one is constructed in code it is written as null.
        return (try? encoder.encode(self.sanitized())) ?? Data("null".utf8)
    }

    private func sanitized() -> JSONValue {
        switch self {
        case .number(let value) where !value.isFinite: return .null
        case .array(let values): return .array(values.map { $0.sanitized() })
        case .object(let values): return .object(values.mapValues { $0.sanitized() })
        default: return self
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let dict) = self { return dict[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// A plain Foundation value (String, Double, Bool, [Any], [String: Any], or nil for null),
    /// for template engines that walk untyped trees.
    public var plainValue: Any? {
        switch self {
        case .null: return nil
        case .bool(let value): return value
        case .number(let value):
            if value.rounded() == value, abs(value) < 1e15 { return Int(value) }
            return value
        case .string(let value): return value
        case .array(let values): return values.map { $0.plainValue ?? NSNull() }
        case .object(let values): return values.mapValues { $0.plainValue ?? NSNull() }
        }
    }

    /// A short human rendering used in messages: strings unquoted, everything else as JSON.
    /// What kind of value this is, for error messages: `a string`, `an object`, `null`...
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    public var displayText: String {
        switch self {
        case .string(let value): return value
        default: return String(decoding: encoded(), as: UTF8.self)
        }
    }
}
