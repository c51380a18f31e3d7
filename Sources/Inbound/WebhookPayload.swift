public import Core
public import Foundation
import MultipartKit
import NIOCore

/// Why a body could not be taken. `unsupportedMediaType` answers 415, `malformed` 400.
public enum PayloadError: Error, Equatable, CustomStringConvertible {
    case unsupportedMediaType(String)
    case malformed(String)

    public var description: String {
        switch self {
        case .unsupportedMediaType(let type): return "unsupported content type \(type.isEmpty ? "(none)" : type); send application/json, application/x-www-form-urlencoded or multipart/form-data"
        case .malformed(let reason): return reason
        }
    }
}

/// A file that arrived with an intake: a multipart form upload or a mail attachment. Each one
/// becomes a `Document`.
public struct UploadedFile: Sendable, Equatable {
    /// Form field name; for mail attachments the MIME part path.
    public var field: String
    public var filename: String
    public var declaredType: String
    public var data: Data
    /// Where in the intake it came from, kept as `Document.origin`: `form:<field>` or `mime:<part path>`.
    public var origin: String
    /// Set when the bytes are already durable in the blob store (an attachment streamed there
    /// from a large message); `data` is then empty and the committer stores nothing for it.
    public var stored: BlobRef?

    public init(field: String, filename: String, declaredType: String, data: Data, origin: String? = nil, stored: BlobRef? = nil) {
        self.field = field
        self.filename = filename
        self.declaredType = declaredType
        self.data = data
        self.stored = stored
        self.origin = origin ?? "form:\(field)"
    }
}

/// A webhook body decoded into what routing sees (`payload`) and the files that become documents.
public struct DecodedPayload: Sendable, Equatable {
    public var payload: JSONValue
    public var files: [UploadedFile]
}

/// Decodes webhook bodies by media type. The same code runs at intake (to refuse malformed bodies
/// with a clear 400 before anything is stored) and in the processing job (to rebuild Facts from
/// the stored raw bytes).
public enum WebhookPayload {
    /// Most parts accepted in one multipart body.
    public static let maxParts = 256
    /// Longest multipart header section accepted per part.
    public static let maxPartHeaderBytes = 16 * 1024

    /// The media type without parameters, lower-cased.
    public static func mediaType(_ contentType: String?) -> String {
        guard let contentType else { return "" }
        // Only the part before the first `;` matters here; parameters are parsed where needed.
        // Media types are ASCII tokens, so trimming and lower-casing work on bytes.
        var bytes = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while let first = bytes.first, first == 0x20 || first == 0x09 { bytes = bytes.dropFirst() }
        while let last = bytes.last, last == 0x20 || last == 0x09 { bytes = bytes.dropLast() }
        return String(decoding: bytes.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    public static func isSupported(_ contentType: String?) -> Bool {
        switch mediaType(contentType) {
        case "application/json", "application/x-www-form-urlencoded", "multipart/form-data": return true
        case let type: return type.hasPrefix("application/") && type.hasSuffix("+json")
        }
    }

    public static func decode(contentType: String?, body: Data) throws(PayloadError) -> DecodedPayload {
        let type = mediaType(contentType)
        switch type {
        case "application/json":
            return DecodedPayload(payload: try decodeJSON(body), files: [])
        case "application/x-www-form-urlencoded":
            return DecodedPayload(payload: try decodeForm(body), files: [])
        case "multipart/form-data":
            return try decodeMultipart(body, contentType: contentType ?? "")
        default:
            if type.hasPrefix("application/"), type.hasSuffix("+json") {
                return DecodedPayload(payload: try decodeJSON(body), files: [])
            }
            throw .unsupportedMediaType(type)
        }
    }

    /// What intake needs of a body: that it decodes, and its files. A JSON body is only checked,
    /// with Foundation's `JSONSerialization`, which accepts exactly the documents `decode` does
    /// (the payload tests hold the two to that) at a fraction of the cost for nested bodies: the
    /// tree routing sees is built by the processing job from the stored bytes.
    public static func accept(contentType: String?, body: Data) throws(PayloadError) -> [UploadedFile] {
        let type = mediaType(contentType)
        if type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json")) {
            do {
                _ = try JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
            } catch {
                throw .malformed("body is not valid JSON")
            }
            return []
        }
        return try decode(contentType: contentType, body: body).files
    }

    static func decodeJSON(_ body: Data) throws(PayloadError) -> JSONValue {
        do {
            return try JSONValue.parse(body)
        } catch {
            throw .malformed("body is not valid JSON")
        }
    }

    /// `a=1&b=2&b=3` → `{"a": "1", "b": ["2", "3"]}`; `+` is a space as HTML forms send it.
    static func decodeForm(_ body: Data) throws(PayloadError) -> JSONValue {
        guard let text = String(data: body, encoding: .utf8) else { throw .malformed("form body is not UTF-8") }
        var components = URLComponents()
        components.percentEncodedQuery = text.replacingOccurrences(of: "+", with: "%20")
        guard components.percentEncodedQuery != nil, let items = components.queryItems else {
            if text.isEmpty { return .object([:]) }
            throw .malformed("form body is not valid application/x-www-form-urlencoded")
        }
        var fields: [String: JSONValue] = [:]
        for item in items where !item.name.isEmpty {
            add(.string(item.value ?? ""), named: item.name, to: &fields)
        }
        return .object(fields)
    }

    private static func add(_ value: JSONValue, named name: String, to fields: inout [String: JSONValue]) {
        switch fields[name] {
        case nil: fields[name] = value
        case .array(var values)?:
            values.append(value)
            fields[name] = .array(values)
        case let existing?: fields[name] = .array([existing, value])
        }
    }

    static func decodeMultipart(_ body: Data, contentType: String) throws(PayloadError) -> DecodedPayload {
        guard let boundary = HeaderParameters.parse(contentType).parameters["boundary"], !boundary.isEmpty, boundary.utf8.count <= 70 else {
            throw .malformed("multipart/form-data without a valid boundary parameter")
        }
        struct Part {
            var headers: [(String, String)] = []
            var headerBytes = 0
            var body = Data()
        }
        var parts: [Part] = []
        var current = Part()
        var open = false
        var overflow: String?
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in
            open = true
            current.headerBytes += name.utf8.count + value.utf8.count
            if current.headerBytes > maxPartHeaderBytes { overflow = "a part's headers exceed \(maxPartHeaderBytes) bytes" }
            current.headers.append((name.lowercased(), value))
        }
        parser.onBody = { buffer in
            open = true
            current.body.append(contentsOf: buffer.readableBytesView)
        }
        parser.onPartComplete = {
            parts.append(current)
            current = Part()
            open = false
            if parts.count > maxParts { overflow = "more than \(maxParts) parts" }
        }
        do {
            try parser.execute(ByteBuffer(bytes: body))
        } catch {
            throw .malformed("multipart body is malformed")
        }
        if let overflow { throw .malformed("multipart body rejected: \(overflow)") }
        if open || parts.isEmpty { throw .malformed("multipart body is truncated (no closing boundary)") }

        var fields: [String: JSONValue] = [:]
        var files: [UploadedFile] = []
        for (index, part) in parts.enumerated() {
            let disposition = part.headers.first { $0.0 == "content-disposition" }.map { HeaderParameters.parse($0.1) }
            guard let disposition, disposition.value.lowercased() == "form-data", let name = disposition.parameters["name"] else {
                throw .malformed("multipart part \(index + 1) has no Content-Disposition: form-data; name=...")
            }
            let declared = part.headers.first { $0.0 == "content-type" }?.1 ?? ""
            if let filename = disposition.filename {
                files.append(UploadedFile(field: name, filename: Filename.sanitize(filename), declaredType: declared.isEmpty ? "application/octet-stream" : declared, data: part.body))
            } else {
                add(.string(String(decoding: part.body, as: UTF8.self)), named: name, to: &fields)
            }
        }
        return DecodedPayload(payload: .object(fields), files: files)
    }
}

/// An HTTP header value with `;`-separated parameters (`Content-Type`, `Content-Disposition`),
/// with quoted strings and RFC 8187 `name*=charset''value` forms.
public struct HeaderParameters: Equatable {
    public var value: String
    /// Parameter names lower-cased.
    public var parameters: [String: String]

    /// `filename*` (RFC 8187, UTF-8 percent-encoded) wins over `filename`.
    public var filename: String? { parameters["filename*"] ?? parameters["filename"] }

    public static func parse(_ header: String) -> HeaderParameters {
        var scalars = Substring(header)
        func skipSpaces() { while let c = scalars.first, c == " " || c == "\t" { scalars.removeFirst() } }
        func token() -> String {
            var out = ""
            while let c = scalars.first, c != ";", c != "=" { out.append(c); scalars.removeFirst() }
            return out.trimmingCharacters(in: .whitespaces)
        }
        skipSpaces()
        var value = ""
        while let c = scalars.first, c != ";" { value.append(c); scalars.removeFirst() }
        var parameters: [String: String] = [:]
        while scalars.first == ";" {
            scalars.removeFirst()
            skipSpaces()
            let name = token().lowercased()
            guard scalars.first == "=" else {
                while let c = scalars.first, c != ";" { _ = c; scalars.removeFirst() }
                continue
            }
            scalars.removeFirst()
            skipSpaces()
            var raw = ""
            if scalars.first == "\"" {
                scalars.removeFirst()
                while let c = scalars.first, c != "\"" {
                    scalars.removeFirst()
                    if c == "\\", let escaped = scalars.first { raw.append(escaped); scalars.removeFirst() } else { raw.append(c) }
                }
                if scalars.first == "\"" { scalars.removeFirst() }
                while let c = scalars.first, c != ";" { _ = c; scalars.removeFirst() }
            } else {
                while let c = scalars.first, c != ";" { raw.append(c); scalars.removeFirst() }
                raw = raw.trimmingCharacters(in: .whitespaces)
            }
            guard !name.isEmpty else { continue }
            if name.hasSuffix("*") {
                // charset'language'percent-encoded
                let pieces = raw.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                if pieces.count == 3, let decoded = String(pieces[2]).removingPercentEncoding {
                    parameters[name] = decoded
                }
            } else if parameters[name] == nil {
                parameters[name] = raw
            }
        }
        return HeaderParameters(value: value.trimmingCharacters(in: .whitespaces), parameters: parameters)
    }
}
