import CGMime
import Core
import Foundation

/// Text found for the body, and where it came from.
struct BodyText {
    var text: String
    var source: TextBodySource
}

/// Reads one parsed GMime message into a `ParsedMessage`: top-level headers, addresses, dates,
/// the text body, and a walk of the MIME tree that collects attachments and defects. Part paths
/// follow IMAP's numbering (`1`, `2.1`; the parts of an embedded message at `N` are `N.1`...).
struct MessageExtractor {
    let parse: GMimeParse
    let limits: MailLimits

    private var defects: [String] = []
    private var attachments: [ParsedAttachment] = []
    private var entities = 0
    private var limitReached: String?
    private var partLimitHit = false
    /// Text of the first embedded message, used when the outer message has none of its own.
    private var nestedText: BodyText?

    /// Nil: attachments are decoded into memory (`ParsedAttachment.data`).
    let streaming: AttachmentStreaming?

    init(parse: GMimeParse, limits: MailLimits, streaming: AttachmentStreaming? = nil) {
        self.parse = parse
        self.limits = limits
        self.streaming = streaming
    }

    /// `raw` is called only for a message without a header block, whose bytes become its text.
    mutating func extract(size: Int, raw: () -> Data) -> ParsedMessage {
        var message = Message(size: size)
        guard let gmime = parse.message, let object = cgmime_message_as_object(gmime) else {
            if size == 0 {
                defects.append("message is empty")
            } else {
                defects.append("no RFC 5322 header block found; the bytes were read as a plain-text body")
                let decoded = TextDecoding.decode(raw(), charset: nil, options: parse.options)
                message.text = Self.normalized(decoded.text)
                message.textSource = .plain
            }
            message.defects = Self.unique(parse.warnings.defects + defects)
            return ParsedMessage(message: message, attachments: [])
        }

        let body = g_mime_message_get_mime_part(gmime)
        message.headers = topLevelHeaders(message: object, body: body)
        message.messageID = CString.borrowed(g_mime_message_get_message_id(gmime)).flatMap(Self.nonEmpty)
        message.subject = CString.borrowed(g_mime_message_get_subject(gmime))
        if let date = g_mime_message_get_date(gmime) {
            message.date = Date(timeIntervalSince1970: Double(g_date_time_to_unix(date)) + Double(g_date_time_get_microsecond(date)) / 1_000_000)
        } else if let value = message.header("Date") {
            defects.append("Date header cannot be read: '\(value.prefix(80))'")
        }
        message.from = addresses(g_mime_message_get_from(gmime))
        message.to = addresses(g_mime_message_get_to(gmime))
        message.cc = addresses(g_mime_message_get_cc(gmime))
        message.replyTo = addresses(g_mime_message_get_reply_to(gmime))
        message.returnPath = message.header("Return-Path").map(Self.returnPath)
        message.inReplyTo = messageIDs(message.headerValues("In-Reply-To"))
        message.references = messageIDs(message.headerValues("References"))

        var text: BodyText?
        if let body {
            text = walk(body, path: cgmime_is_multipart(body) != 0 ? "" : "1", depth: 0)
        } else {
            defects.append("message has no body")
        }
        if text == nil { text = nestedText }
        if let text {
            message.text = Self.normalized(text.text)
            message.textSource = text.source
        }
        message.attachments = attachments.map(\.metadata)
        // GMime's warnings come first: they describe the bytes; ours describe what was read from them.
        message.defects = Self.unique(parse.warnings.defects + defects)
        return ParsedMessage(message: message, attachments: attachments, limitReached: limitReached)
    }

    // MARK: Headers

    /// The message's own headers plus the Content-* headers GMime moved to the top-level part,
    /// back in the order they were written (by stream offset).
    private mutating func topLevelHeaders(message: UnsafeMutablePointer<GMimeObject>, body: UnsafeMutablePointer<GMimeObject>?) -> [MessageHeader] {
        var entries: [(offset: Int64, order: Int, header: MessageHeader)] = []
        for object in [message, body].compactMap({ $0 }) {
            guard let list = g_mime_object_get_header_list(object) else { continue }
            for index in 0..<g_mime_header_list_get_count(list) {
                guard let header = g_mime_header_list_get_header_at(list, index),
                      let name = CString.borrowed(g_mime_header_get_name(header)) else { continue }
                if let raw = g_mime_header_get_raw_value(header), Self.hasEightBit(raw) {
                    defects.append(ParserWarnings.describe(code: GMIME_WARN_UNENCODED_8BIT_HEADER.rawValue, item: name, offset: 0))
                }
                let value = CString.borrowed(g_mime_header_get_value(header)) ?? ""
                entries.append((Int64(g_mime_header_get_offset(header)), entries.count, MessageHeader(name: name, value: value)))
            }
        }
        return entries.sorted { ($0.offset, $0.order) < ($1.offset, $1.order) }.map(\.header)
    }

    private static func hasEightBit(_ pointer: UnsafePointer<CChar>) -> Bool {
        var cursor = pointer
        while cursor.pointee != 0 {
            if UInt8(bitPattern: cursor.pointee) >= 0x80 { return true }
            cursor += 1
        }
        return false
    }

    /// Mailboxes of an address list; groups contribute their members.
    private func addresses(_ list: UnsafeMutablePointer<InternetAddressList>?, depth: Int = 0) -> [MailAddress] {
        guard let list, depth < 4 else { return [] }
        var result: [MailAddress] = []
        for index in 0..<internet_address_list_length(list) {
            guard let address = internet_address_list_get_address(list, index) else { continue }
            if cgmime_address_is_mailbox(address) != 0 {
                let name = CString.borrowed(internet_address_get_name(address)).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap(Self.nonEmpty)
                result.append(MailAddress(name: name, address: CString.borrowed(cgmime_mailbox_addr(address)) ?? ""))
            } else if cgmime_address_is_group(address) != 0 {
                result.append(contentsOf: addresses(cgmime_group_members(address), depth: depth + 1))
            }
        }
        return result
    }

    /// Message-IDs (without angle brackets) of In-Reply-To / References values.
    private func messageIDs(_ values: [String]) -> [String] {
        var ids: [String] = []
        for value in values {
            guard let references = g_mime_references_parse(parse.options, value) else { continue }
            defer { g_mime_references_free(references) }
            for index in 0..<g_mime_references_length(references) {
                if let id = CString.borrowed(g_mime_references_get_message_id(references, index)), !id.isEmpty { ids.append(id) }
            }
        }
        return ids
    }

    /// `<bounce@example.com>` → `bounce@example.com`; `<>` → "".
    static func returnPath(_ value: String) -> String {
        var path = value.trimmingCharacters(in: .whitespaces)
        if let open = path.firstIndex(of: "<"), let close = path[open...].firstIndex(of: ">") {
            path = String(path[path.index(after: open)..<close])
        }
        return path.trimmingCharacters(in: .whitespaces)
    }

    // MARK: MIME tree

    private static func childPath(_ path: String, _ index: Int) -> String {
        path.isEmpty ? "\(index)" : "\(path).\(index)"
    }

    private static func display(_ path: String) -> String {
        path.isEmpty ? "the top-level multipart" : "part \(path)"
    }

    /// Walks one entity; returns the body text it contributes (nil: none) and records its
    /// attachments. Stops at the limits.
    private mutating func walk(_ object: UnsafeMutablePointer<GMimeObject>, path: String, depth: Int) -> BodyText? {
        if partLimitHit { return nil }
        entities += 1
        if entities > limits.maxParts {
            partLimitHit = true
            reachLimit("part limit reached: more than \(limits.maxParts) MIME parts (MailLimits.maxParts); \(Self.display(path)) and everything after it were not examined")
            return nil
        }
        if cgmime_is_multipart(object) != 0 {
            guard depth < limits.maxDepth else {
                reachLimit("nesting limit reached: \(Self.display(path)) is nested \(depth + 1) levels deep (MailLimits.maxDepth is \(limits.maxDepth)); its parts were not examined")
                return nil
            }
            return walkMultipart(cgmime_as_multipart(object), object: object, path: path, depth: depth)
        }
        if cgmime_is_message_part(object) != 0 {
            guard depth < limits.maxDepth else {
                reachLimit("nesting limit reached: the message in \(Self.display(path)) is nested \(depth + 1) levels deep (MailLimits.maxDepth is \(limits.maxDepth)); it was not examined")
                return nil
            }
            guard let nested = g_mime_message_part_get_message(cgmime_as_message_part(object)),
                  let body = g_mime_message_get_mime_part(nested) else {
                defects.append("\(Self.display(path)): embedded message is empty")
                return nil
            }
            let text = walk(body, path: cgmime_is_multipart(body) != 0 ? path : Self.childPath(path, 1), depth: depth + 1)
            if nestedText == nil, let text { nestedText = text }
            return nil
        }
        if cgmime_is_part(object) != 0 {
            return leaf(cgmime_as_part(object), object: object, path: path)
        }
        return nil
    }

    private mutating func reachLimit(_ reason: String) {
        defects.append(reason)
        if limitReached == nil { limitReached = reason }
    }

    private mutating func walkMultipart(_ multipart: UnsafeMutablePointer<GMimeMultipart>, object: UnsafeMutablePointer<GMimeObject>, path: String, depth: Int) -> BodyText? {
        let count = g_mime_multipart_get_count(multipart)
        if count == 0 {
            // Without a usable boundary GMime keeps the whole content as the prologue: keep it as text.
            if let prologue = g_mime_multipart_get_prologue(multipart) {
                let bytes = Data(bytes: prologue, count: strlen(prologue))
                if bytes.contains(where: { $0 > 0x20 }) {
                    defects.append("\(Self.display(path)) has no parts; its content was kept as plain text")
                    return BodyText(text: TextDecoding.decode(bytes, charset: nil, options: parse.options).text, source: .plain)
                }
            }
            defects.append("\(Self.display(path)) has no parts")
            return nil
        }
        var results: [BodyText?] = []
        var contentIDs: [String?] = []
        for index in 0..<count {
            guard let child = g_mime_multipart_get_part(multipart, index) else { continue }
            contentIDs.append(CString.borrowed(g_mime_object_get_content_id(child)))
            results.append(walk(child, path: Self.childPath(path, Int(index) + 1), depth: depth + 1))
        }
        let subtype = CString.borrowed(g_mime_content_type_get_media_subtype(g_mime_object_get_content_type(object)))?.lowercased() ?? "mixed"
        switch subtype {
        case "alternative":
            // Alternatives go from plainest to richest: take the plain text unless it is empty.
            let found = results.compactMap { $0 }
            let meaningful = found.filter { !$0.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            return meaningful.first { $0.source == .plain } ?? meaningful.first ?? found.first
        case "related":
            // The root is the part named by `start`, else the first one.
            var root = 0
            if let start = CString.borrowed(g_mime_object_get_content_type_parameter(object, "start")) {
                let id = start.trimmingCharacters(in: CharacterSet(charactersIn: "<> "))
                root = contentIDs.firstIndex { $0 == id } ?? 0
            }
            return root < results.count ? results[root] : nil
        default:
            let found = results.compactMap { $0 }.filter { !$0.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            guard !found.isEmpty else { return results.compactMap { $0 }.first }
            return BodyText(
                text: found.map { $0.text.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: "\n\n"),
                source: found.contains { $0.source == .plain } ? .plain : .html
            )
        }
    }

    /// A leaf part: body text when it is an unnamed text/plain or text/html part that is not
    /// marked as an attachment; otherwise an attachment.
    private mutating func leaf(_ part: UnsafeMutablePointer<GMimePart>, object: UnsafeMutablePointer<GMimeObject>, path: String) -> BodyText? {
        let mediaType = CString.owned(g_mime_content_type_get_mime_type(g_mime_object_get_content_type(object)))?.lowercased() ?? "application/octet-stream"
        let disposition = CString.borrowed(g_mime_object_get_disposition(object))?.lowercased()
        let rawFilename = CString.borrowed(g_mime_part_get_filename(part)) ?? ""

        if mediaType == "text/plain" || mediaType == "text/html", disposition != "attachment", rawFilename.isEmpty {
            let data = decodedContent(part, path: path)
            let charset = CString.borrowed(g_mime_object_get_content_type_parameter(object, "charset"))
            let decoded = TextDecoding.decode(data, charset: charset, options: parse.options)
            if let problem = decoded.problem { defects.append("part \(path): \(problem)") }
            if mediaType == "text/html" {
                return BodyText(text: HTMLText.plainText(decoded.text), source: .html)
            }
            return BodyText(text: decoded.text, source: .plain)
        }

        let contentID = CString.borrowed(g_mime_object_get_content_id(object)).flatMap(Self.nonEmpty)
        let kind: MessageAttachment.Disposition
        switch disposition {
        case "inline": kind = .inline
        case "attachment": kind = .attachment
        // No (or an unknown) disposition: a part the HTML refers to by Content-ID is shown inline.
        default: kind = contentID == nil ? .attachment : .inline
        }
        let data: Data
        let size: Int
        let sha256: String
        if let streaming {
            let streamed = streamedContent(part, path: path, into: streaming)
            size = streamed.size
            sha256 = streamed.sha256
            data = Data()
        } else {
            data = decodedContent(part, path: path)
            size = data.count
            sha256 = ContentHash.sha256(data)
        }
        let metadata = MessageAttachment(
            filename: Filename.sanitize(rawFilename), declaredType: mediaType, size: size,
            sha256: sha256,
            disposition: kind, contentID: contentID, partPath: path
        )
        attachments.append(ParsedAttachment(metadata: metadata, data: data))
        return nil
    }

    /// The part's decoded bytes read in pieces: hashed, and written to a new writer from
    /// `streaming` when it makes them (sealed before returning, so only one is open at a time).
    /// Returns the decoded size and SHA-256; base64 problems are defects as in `decodedContent`.
    private mutating func streamedContent(_ part: UnsafeMutablePointer<GMimePart>, path: String, into streaming: AttachmentStreaming) -> (size: Int, sha256: String) {
        var hasher = ContentHash.Hasher()
        var size = 0
        var writer: (any BlobWriter)?
        if streaming.error == nil, let makeWriter = streaming.makeWriter {
            do { writer = try makeWriter() } catch { streaming.error = error }
        }
        if let wrapper = g_mime_part_get_content(part), let encoded = g_mime_data_wrapper_get_stream(wrapper) {
            let encoding = g_mime_data_wrapper_get_encoding(wrapper)
            if encoding == GMIME_CONTENT_ENCODING_BASE64 {
                var scan = Base64Scan()
                Self.forEachChunk(of: encoded) { scan.add($0) }
                if let problem = scan.problem { defects.append("part \(path): \(problem)") }
            }
            if let decoding = cgmime_decoding_stream(encoded, encoding) {
                defer { cgmime_unref(decoding) }
                Self.forEachChunk(of: decoding) { chunk in
                    hasher.update(chunk)
                    size += chunk.count
                    guard let current = writer else { return }
                    do {
                        try current.write(chunk)
                    } catch {
                        streaming.error = error
                        current.discard()
                        writer = nil
                    }
                }
            }
        }
        if let writer {
            do {
                try writer.seal()
                streaming.writers.append(writer)
            } catch {
                streaming.error = error
                writer.discard()
            }
        }
        return (size, hasher.finalize())
    }

    /// Calls `body` with successive pieces of `stream` from its start (64 KiB at a time).
    private static func forEachChunk(of stream: UnsafeMutablePointer<GMimeStream>, _ body: (Data) -> Void) {
        g_mime_stream_reset(stream)
        var buffer = [CChar](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBufferPointer { g_mime_stream_read(stream, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            buffer.withUnsafeBytes { body(Data(UnsafeRawBufferPointer(rebasing: $0[0..<count]))) }
        }
        g_mime_stream_reset(stream)
    }

    /// The part's bytes with the transfer encoding removed. Base64 that GMime had to repair
    /// (invalid characters skipped, a cut-off last group) is reported as a defect.
    private mutating func decodedContent(_ part: UnsafeMutablePointer<GMimePart>, path: String) -> Data {
        guard let wrapper = g_mime_part_get_content(part) else { return Data() }
        if g_mime_data_wrapper_get_encoding(wrapper) == GMIME_CONTENT_ENCODING_BASE64, let encoded = g_mime_data_wrapper_get_stream(wrapper) {
            g_mime_stream_reset(encoded)
            if let problem = Self.base64Problem(Self.readAll(encoded)) { defects.append("part \(path): \(problem)") }
            g_mime_stream_reset(encoded)
        }
        guard let sink = g_mime_stream_mem_new() else { return Data() }
        defer { cgmime_unref(sink) }
        g_mime_data_wrapper_write_to_stream(wrapper, sink)
        return Self.bytes(of: sink)
    }

    private static func readAll(_ stream: UnsafeMutablePointer<GMimeStream>) -> Data {
        guard let sink = g_mime_stream_mem_new() else { return Data() }
        defer { cgmime_unref(sink) }
        g_mime_stream_write_to_stream(stream, sink)
        return bytes(of: sink)
    }

    private static func bytes(of memoryStream: UnsafeMutablePointer<GMimeStream>) -> Data {
        guard let array = cgmime_stream_mem_bytes(memoryStream), array.pointee.len > 0, let data = array.pointee.data else { return Data() }
        return Data(bytes: data, count: Int(array.pointee.len))
    }

    /// Why base64 text is not clean, or nil when it is.
    static func base64Problem(_ encoded: Data) -> String? {
        var scan = Base64Scan()
        scan.add(encoded)
        return scan.problem
    }

    /// Counts base64 characters piece by piece, for `base64Problem`.
    struct Base64Scan {
        var invalid = 0
        var significant = 0

        mutating func add(_ encoded: Data) {
            encoded.withUnsafeBytes { bytes in
                for byte in bytes {
                    switch MessageExtractor.base64Classes[Int(byte)] {
                    case 1: significant += 1
                    case 2: invalid += 1
                    default: continue
                    }
                }
            }
        }

        var problem: String? {
            if invalid > 0 { return "base64 content has \(invalid) invalid character(s), skipped while decoding" }
            if significant % 4 != 0 { return "base64 content ends in the middle of a group (truncated?)" }
            return nil
        }
    }

    /// Per byte: 0 whitespace, 1 base64 alphabet or padding, 2 invalid.
    static let base64Classes: [UInt8] = (0..<256).map { value in
        switch UInt8(value) {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
            return 1
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"):
            return 0
        default:
            return 2
        }
    }

    // MARK: Small helpers

    private static func nonEmpty(_ value: String) -> String? { value.isEmpty ? nil : value }

    /// Line ends as `\n`, no leading or trailing blank space.
    static func normalized(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Keeps the first of equal defects, in order.
    static func unique(_ defects: [String]) -> [String] {
        var seen = Set<String>()
        return defects.filter { seen.insert($0).inserted }
    }
}

/// Where a parse from a file sends attachment bytes, and what it collected. Not Sendable: used by
/// one parse on one thread.
final class AttachmentStreaming {
    let makeWriter: (() throws -> any BlobWriter)?
    /// Sealed writers, one per attachment, in attachment order (empty without `makeWriter`).
    var writers: [any BlobWriter] = []
    /// The first writer error; later attachments are only hashed.
    var error: (any Error)?

    init(makeWriter: (() throws -> any BlobWriter)?) {
        self.makeWriter = makeWriter
    }
}
