public import Foundation

/// A document's type as its bytes say, never as the sender declared it.
public enum DocumentType: String, Sendable, Codable, CaseIterable {
    // The allow-list: these are decoded.
    case pdf, png, jpeg, tiff, webp, text, html, eml
    // Recognised but not decoded (stored, marked unsupported).
    case gif, bmp, zip, gzip, elf, exe = "pe-executable", ole = "ms-office-legacy", unknown

    /// True for the types text is extracted from.
    public var isSupported: Bool {
        switch self {
        case .pdf, .png, .jpeg, .tiff, .webp, .text, .html, .eml: return true
        default: return false
        }
    }

    /// True for raster images (Leptonica + Tesseract).
    public var isImage: Bool { [.png, .jpeg, .tiff, .webp].contains(self) }

    /// The media type this content really is.
    public var mediaType: String {
        switch self {
        case .pdf: return "application/pdf"
        case .png: return "image/png"
        case .jpeg: return "image/jpeg"
        case .tiff: return "image/tiff"
        case .webp: return "image/webp"
        case .text: return "text/plain"
        case .html: return "text/html"
        case .eml: return "message/rfc822"
        case .gif: return "image/gif"
        case .bmp: return "image/bmp"
        case .zip: return "application/zip"
        case .gzip: return "application/gzip"
        case .elf: return "application/x-executable"
        case .exe: return "application/vnd.microsoft.portable-executable"
        case .ole: return "application/x-ole-storage"
        case .unknown: return "application/octet-stream"
        }
    }

    /// Filename extensions that name this type.
    var extensions: Set<String> {
        switch self {
        case .pdf: return ["pdf"]
        case .png: return ["png"]
        case .jpeg: return ["jpg", "jpeg", "jpe", "jfif"]
        case .tiff: return ["tif", "tiff"]
        case .webp: return ["webp"]
        case .text: return ["txt", "text", "csv", "log", "md", "json", "xml"]
        case .html: return ["html", "htm", "xhtml"]
        case .eml: return ["eml", "msg", "mht"]
        case .gif: return ["gif"]
        case .bmp: return ["bmp"]
        case .zip: return ["zip", "docx", "xlsx", "pptx", "odt", "ods", "jar"]
        case .gzip: return ["gz", "tgz"]
        case .elf: return ["", "so", "o", "bin"]
        case .exe: return ["exe", "dll"]
        case .ole: return ["doc", "xls", "ppt", "msg"]
        case .unknown: return []
        }
    }

    /// Sniffs the type from the first bytes (and, for text, from the whole content's encoding).
    public static func sniff(_ data: Data) -> DocumentType {
        let head = [UInt8](data.prefix(1024))
        func starts(_ bytes: [UInt8]) -> Bool { head.count >= bytes.count && Array(head[0..<bytes.count]) == bytes }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if head.count >= 12, starts(Array("RIFF".utf8)), Array(head[8..<12]) == Array("WEBP".utf8) { return .webp }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
        if starts([0x42, 0x4D]) && head.count > 14 && head[6] == 0 && head[7] == 0 && head[8] == 0 && head[9] == 0 { return .bmp }
        if starts([0x7F, 0x45, 0x4C, 0x46]) { return .elf }
        if starts([0x4D, 0x5A]) { return .exe }
        if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) { return .zip }
        if starts([0x1F, 0x8B]) { return .gzip }
        if starts([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) { return .ole }
        // PDF readers accept the header anywhere in the first KiB.
        if firstIndex(of: Array("%PDF-".utf8), in: head) != nil { return .pdf }
        guard TextSniffing.isText(data) else { return .unknown }
        if TextSniffing.looksLikeHTML(head) { return .html }
        if TextSniffing.looksLikeMessage(data) { return .eml }
        return .text
    }

    /// The declared media type and filename extension compared with the content: nil when they
    /// agree (or say nothing), else what disagrees.
    public func mismatch(declaredType: String, filename: String) -> String? {
        var problems: [String] = []
        let declared = declaredType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if !declared.isEmpty, declared != "application/octet-stream", !Self.compatible(declared: declared, with: self) {
            problems.append("declared \(declared)")
        }
        let ext = filename.split(separator: ".", omittingEmptySubsequences: false).count > 1
            ? (filename.split(separator: ".").last.map { $0.lowercased() } ?? "") : ""
        if !ext.isEmpty, let named = DocumentType.allCases.first(where: { $0 != .elf && $0.extensions.contains(ext) }), named != self,
           !(named.isTextual && isTextual) {
            problems.append("named .\(ext)")
        }
        guard !problems.isEmpty else { return nil }
        return problems.joined(separator: ", ") + " but the content is \(rawValue)"
    }

    private var isTextual: Bool { self == .text || self == .html }

    private static func compatible(declared: String, with type: DocumentType) -> Bool {
        if declared == type.mediaType { return true }
        switch type {
        case .jpeg: return declared == "image/jpg" || declared == "image/pjpeg"
        case .text, .html: return declared.hasPrefix("text/") || declared == "application/json" || declared == "application/xml" || declared == "application/xhtml+xml"
        case .eml: return declared == "message/rfc822" || declared == "application/vnd.ms-outlook"
        case .pdf: return declared == "application/x-pdf"
        case .zip: return declared.hasPrefix("application/vnd.openxmlformats") || declared.hasPrefix("application/vnd.oasis") || declared == "application/x-zip-compressed"
        default: return false
        }
    }
}

/// First position of `needle` in `haystack`.
func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard needle.count <= haystack.count, let first = needle.first else { return nil }
    var index = 0
    while index + needle.count <= haystack.count {
        if haystack[index] == first, Array(haystack[index..<index + needle.count]) == needle { return index }
        index += 1
    }
    return nil
}

/// Heuristics for text content.
enum TextSniffing {
    /// Valid UTF-8 (or UTF-16 with a BOM) without NULs and with few control characters; or 8-bit
    /// text in a single-byte charset with no control characters at all.
    static func isText(_ data: Data) -> Bool {
        if data.isEmpty { return false }
        let sample = data.prefix(64 * 1024)
        if sample.starts(with: [0xFF, 0xFE]) || sample.starts(with: [0xFE, 0xFF]) { return true }
        var controls = 0
        var high = false
        for byte in sample {
            if byte == 0 { return false }
            if byte < 0x20 && byte != 0x09 && byte != 0x0A && byte != 0x0D && byte != 0x0C && byte != 0x1B { controls += 1 }
            if byte >= 0x80 { high = true }
        }
        if controls * 100 > sample.count { return false }
        if !high { return true }
        // A cut-off multi-byte sequence at the end of the sample is not a reason to say no.
        if String(validating: Array(sample.dropLast(sample.count == 64 * 1024 ? 3 : 0)), as: UTF8.self) != nil { return true }
        return controls == 0
    }

    static func looksLikeHTML(_ head: [UInt8]) -> Bool {
        let text = String(decoding: head, as: UTF8.self).lowercased()
        let trimmed = text.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        return trimmed.hasPrefix("<!doctype html") || trimmed.hasPrefix("<html") || text.contains("<html") || text.contains("<body")
            || (trimmed.hasPrefix("<!--") && text.contains("<head"))
    }

    /// An RFC 5322 message: the first lines are header fields, one of them a typical message header.
    static func looksLikeMessage(_ data: Data) -> Bool {
        let head = String(decoding: data.prefix(8192), as: UTF8.self)
        // "\r\n" is one Character in Swift: split on any newline character.
        var lines = head.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        if lines.first?.hasPrefix("From ") == true { lines.removeFirst() }  // mbox separator
        var fields = 0
        var known = 0
        let typical: Set<String> = ["from", "to", "subject", "date", "message-id", "received", "mime-version", "return-path", "delivered-to", "content-type"]
        for line in lines {
            if line.isEmpty { break }
            if line.first == " " || line.first == "\t" { continue }  // folded
            guard let colon = line.firstIndex(of: ":") else { return false }
            let name = line[..<colon]
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return false }
            fields += 1
            if typical.contains(name.lowercased()) { known += 1 }
        }
        return fields >= 2 && known >= 2
    }
}
