import CGMime
import Foundation

/// Body text to UTF-8 with GMime's charset handling: the declared charset through GMime's iconv
/// (which knows the aliases mail uses: `ks_c_5601-1987`, `x-sjis`, `windows-1252`...), and for
/// undeclared, unknown or wrongly declared charsets GMime's best guess over the parser's
/// fallback charsets. Never fails; what had to be guessed is returned as a problem.
enum TextDecoding {
    private static let utf8Names: Set<String> = ["utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968"]

    static func decode(_ data: Data, charset: String?, options: OpaquePointer) -> (text: String, problem: String?) {
        if data.isEmpty { return ("", nil) }
        let name = (charset ?? "").trimmingCharacters(in: .whitespaces).lowercased()
        let problem: String
        if name.isEmpty || utf8Names.contains(name) {
            if let text = String(validating: data, as: UTF8.self) { return (text, nil) }
            problem = name.isEmpty ? "8-bit text without a declared charset" : "text declared \(name) is not valid \(name)"
        } else {
            switch convert(data, from: name) {
            case .converted(let text): return (text, nil)
            case .unknownCharset: problem = "unknown charset '\(name.prefix(40))'"
            case .invalid: problem = "text declared \(name) is not valid \(name)"
            }
        }
        return (guess(data, options: options), problem + "; decoded with fallback charsets")
    }

    private enum Conversion {
        case converted(String)
        case unknownCharset
        case invalid
    }

    private static func convert(_ data: Data, from charset: String) -> Conversion {
        guard let cd = g_mime_iconv_open("UTF-8", charset), cgmime_iconv_is_valid(cd) != 0 else { return .unknownCharset }
        defer { g_mime_iconv_close(cd) }
        let converted = data.withUnsafeBytes { bytes in
            g_mime_iconv_strndup(cd, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard let text = CString.owned(converted) else { return .invalid }
        return .converted(text)
    }

    /// GMime tries each fallback charset of the parser options and keeps the one that fits best.
    private static func guess(_ data: Data, options: OpaquePointer) -> String {
        let decoded = data.withUnsafeBytes { bytes in
            g_mime_utils_decode_8bit(options, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        return CString.owned(decoded) ?? String(decoding: data, as: UTF8.self)
    }
}
