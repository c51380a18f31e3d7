import CGMime
import Foundation

/// GMime's process-wide set-up (type registration, charset tables, default options).
/// `g_mime_init` must run once per process and is not safe to call concurrently; a global
/// `let` is initialised exactly once, on first use, by the Swift runtime (`swift_once`).
enum GMimeRuntime {
    private static let initialized: Bool = {
        g_mime_init()
        return true
    }()

    static func ensureInitialized() {
        _ = initialized
    }
}

/// Problems GMime's parser reports while reading one message, in the order reported.
final class ParserWarnings {
    private(set) var defects: [String] = []

    func record(offset: Int64, code: UInt32, item: String?) {
        defects.append(Self.describe(code: code, item: item, offset: offset))
    }

    /// The human sentence for one of GMime's `GMimeParserWarning` codes.
    static func describe(code: UInt32, item: String?, offset: Int64) -> String {
        let subject = item.map { " '\(String($0.prefix(80)))'" } ?? ""
        switch code {
        case GMIME_WARN_DUPLICATED_HEADER.rawValue: return "header\(subject) appears more than once"
        case GMIME_WARN_DUPLICATED_PARAMETER.rawValue: return "parameter\(subject) appears more than once"
        case GMIME_WARN_UNENCODED_8BIT_HEADER.rawValue: return "header\(subject) contains unencoded 8-bit characters (decoded with fallback charsets)"
        case GMIME_WARN_INVALID_CONTENT_TYPE.rawValue: return "invalid Content-Type\(subject) (read as application/octet-stream)"
        case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE.rawValue: return "header\(subject) has an invalid RFC 2047 encoded word"
        case GMIME_WARN_MALFORMED_MULTIPART.rawValue: return "a multipart has no parts"
        case GMIME_WARN_TRUNCATED_MESSAGE.rawValue: return "message ends before the closing boundary of a multipart (missing boundary or truncated message)"
        case GMIME_WARN_MALFORMED_MESSAGE.rawValue: return "message is malformed"
        case GMIME_CRIT_INVALID_HEADER_NAME.rawValue: return "invalid header line\(subject) (the header block ends there)"
        case GMIME_CRIT_CONFLICTING_HEADER.rawValue: return "conflicting header\(subject) (the first one is used)"
        case GMIME_CRIT_CONFLICTING_PARAMETER.rawValue: return "conflicting parameter\(subject) (the first one is used)"
        case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY.rawValue: return "a multipart has no boundary parameter (its body is read as one part)"
        case GMIME_WARN_INVALID_PARAMETER.rawValue: return "invalid header parameter\(subject)"
        case GMIME_WARN_INVALID_ADDRESS_LIST.rawValue: return "invalid address list\(subject)"
        case GMIME_CRIT_NESTING_OVERFLOW.rawValue: return "MIME nesting is deeper than GMime reads; the deepest parts were not parsed"
        case GMIME_WARN_PART_WITHOUT_CONTENT.rawValue: return "a MIME part has headers but no content"
        case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT.rawValue: return "a MIME part has neither headers nor content"
        default: return "parser warning \(code)\(subject) at byte \(offset)"
        }
    }
}

/// The GMime objects of one parse: parser options, the message, and the warnings sink the
/// options point at. Frees them in `deinit`, message first (its headers decode lazily through
/// the options and may still report warnings), then the options; the warnings object outlives
/// both because it is released only after `deinit` returns.
///
/// Not Sendable: it is created, read and freed by one `MessageParser.parse` call on one thread.
final class GMimeParse {
    let options: OpaquePointer
    /// Nil when GMime found no message in the bytes (empty input, no header block).
    let message: UnsafeMutablePointer<GMimeMessage>?
    let warnings: ParserWarnings

    /// Parses bytes in memory (GMime takes its own copy).
    convenience init(raw: Data, fallbackCharsets: [String]) {
        let stream = raw.withUnsafeBytes { bytes in
            cgmime_stream_mem_new_copy(bytes.baseAddress, bytes.count)
        }
        self.init(stream: stream, fallbackCharsets: fallbackCharsets)
    }

    /// Parses the file open at `fd` (the stream owns and closes it). GMime reads a seekable
    /// stream in small buffers and keeps parts as ranges of it, so the message is never in memory.
    convenience init(fileDescriptor fd: Int32, fallbackCharsets: [String]) {
        self.init(stream: g_mime_stream_fs_new(fd), fallbackCharsets: fallbackCharsets)
    }

    /// Takes over the caller's reference to `stream`.
    private init(stream: UnsafeMutablePointer<GMimeStream>?, fallbackCharsets: [String]) {
        let options: OpaquePointer = g_mime_parser_options_new()
        self.options = options
        // GMime copies the list; the C strings only need to live for the call.
        let cStrings = fallbackCharsets.map { strdup($0) }
        var list: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
        list.append(nil)
        list.withUnsafeMutableBufferPointer { buffer in
            g_mime_parser_options_set_fallback_charsets(options, buffer.baseAddress)
        }
        cStrings.forEach { free($0) }

        let warnings = ParserWarnings()
        self.warnings = warnings
        let sink = Unmanaged.passUnretained(warnings).toOpaque()
        g_mime_parser_options_set_warning_callback(options, { offset, code, item, userData in
            guard let userData else { return }
            let warnings = Unmanaged<ParserWarnings>.fromOpaque(userData).takeUnretainedValue()
            warnings.record(offset: Int64(offset), code: code.rawValue, item: item.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) })
        }, sink)

        var message: UnsafeMutablePointer<GMimeMessage>?
        if let stream {
            let parser = g_mime_parser_new_with_stream(stream)
            cgmime_unref(stream)
            if let parser {
                g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE)
                message = g_mime_parser_construct_message(parser, options)
                cgmime_unref(parser)
            }
        }
        self.message = message
    }

    deinit {
        if let message { cgmime_unref(message) }
        g_mime_parser_options_free(options)
    }
}

/// Helpers for the C strings GMime hands out.
enum CString {
    /// A borrowed C string as Swift text; invalid UTF-8 becomes U+FFFD (GMime's decoded values
    /// are UTF-8 already).
    static func borrowed(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
    }

    /// An owned C string (freed with `g_free` here) as Swift text.
    static func owned(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        defer { g_free(pointer) }
        return borrowed(pointer)
    }
}
