public import Core
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Limits checked on the raw bytes before anything is decoded: file size, image dimensions from
/// the header (PNG IHDR, JPEG SOF, TIFF IFDs, WebP VP8/VP8L/VP8X), PDF page count and MediaBox as
/// written in the file. Decoders (in the child) check again what the header could not tell.
public enum DocumentPreflight {
    /// Why a document is refused before decoding.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Dimensions read from an image header.
    public struct ImageHeader: Sendable, Equatable {
        public var width: Int
        public var height: Int
        /// Frames (TIFF directories); 1 for the others.
        public var pages: Int
    }

    /// Checks `data` of type `type` against `limits`; throws the first limit exceeded.
    public static func check(_ data: Data, type: DocumentType, limits: DocumentsConfig) throws(Refusal) {
        if data.count > limits.maxFileBytes {
            throw Refusal("file is \(data.count) bytes, over documents.max_file_bytes (\(limits.maxFileBytes))")
        }
        if type.isImage {
            guard let header = imageHeader(data, type: type) else {
                throw Refusal("\(type.rawValue) header is truncated or malformed: no image dimensions")
            }
            if header.width <= 0 || header.height <= 0 {
                throw Refusal("\(type.rawValue) header claims \(header.width)×\(header.height) pixels")
            }
            let pixels = header.width.multipliedReportingOverflow(by: header.height)
            if pixels.overflow || pixels.partialValue > limits.maxImagePixels {
                throw Refusal("image header claims \(header.width)×\(header.height) pixels, over documents.max_image_pixels (\(limits.maxImagePixels))")
            }
            if header.pages > limits.maxPages {
                throw Refusal("TIFF has more than \(limits.maxPages) pages (documents.max_pages)")
            }
        }
        if type == .pdf {
            let scan = PDFScan(data)
            if scan.declaredPages > limits.maxPages {
                throw Refusal("PDF declares \(scan.declaredPages) pages, over documents.max_pages (\(limits.maxPages))")
            }
            if scan.pageObjects > limits.maxPages {
                throw Refusal("PDF has \(scan.pageObjects) page objects, over documents.max_pages (\(limits.maxPages))")
            }
            if scan.largestMediaBoxSide > limits.maxPagePoints {
                throw Refusal("PDF page MediaBox side is \(Int(scan.largestMediaBoxSide)) points, over documents.max_page_points (\(Int(limits.maxPagePoints)))")
            }
        }
    }

    // MARK: - Image headers

    public static func imageHeader(_ data: Data, type: DocumentType) -> ImageHeader? {
        let bytes = [UInt8](data.prefix(type == .tiff ? data.count : 512 * 1024))
        switch type {
        case .png: return png(bytes)
        case .jpeg: return jpeg(bytes)
        case .tiff: return tiff(bytes)
        case .webp: return webp(bytes)
        default: return nil
        }
    }

    static func png(_ b: [UInt8]) -> ImageHeader? {
        guard b.count >= 24, Array(b[12..<16]) == Array("IHDR".utf8) else { return nil }
        return ImageHeader(width: be32(b, 16), height: be32(b, 20), pages: 1)
    }

    static func jpeg(_ b: [UInt8]) -> ImageHeader? {
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { i += 1; continue }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            let length = be16(b, i + 2)
            let isSOF = (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
            if isSOF {
                guard i + 9 <= b.count else { return nil }
                return ImageHeader(width: be16(b, i + 7), height: be16(b, i + 5), pages: 1)
            }
            if marker == 0xD9 || marker == 0xDA || length < 2 { return nil }
            i += 2 + length
        }
        return nil
    }

    static func tiff(_ b: [UInt8]) -> ImageHeader? {
        guard b.count >= 8 else { return nil }
        let little = b[0] == 0x49
        func u16(_ at: Int) -> Int? { at + 2 <= b.count ? (little ? Int(b[at]) | Int(b[at + 1]) << 8 : be16(b, at)) : nil }
        func u32(_ at: Int) -> Int? {
            guard at + 4 <= b.count else { return nil }
            return little ? Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24 : be32(b, at)
        }
        guard var offset = u32(4) else { return nil }
        var largest: (Int, Int)?
        var largestPixels = -1
        var pages = 0
        var seen: Set<Int> = []
        while offset != 0 {
            // A directory loop or an absurd chain is reported as "more pages than any limit".
            guard seen.insert(offset).inserted, pages <= 100_000 else { return ImageHeader(width: largest?.0 ?? 0, height: largest?.1 ?? 0, pages: Int.max) }
            guard let count = u16(offset) else { return pages > 0 ? ImageHeader(width: largest?.0 ?? 0, height: largest?.1 ?? 0, pages: pages) : nil }
            var width = 0
            var height = 0
            for entry in 0..<count {
                let at = offset + 2 + entry * 12
                guard let tag = u16(at), let kind = u16(at + 2) else { break }
                let value = kind == 3 ? (u16(at + 8) ?? 0) : (u32(at + 8) ?? 0)
                if tag == 256 { width = value }
                if tag == 257 { height = value }
            }
            pages += 1
            if width * height > largestPixels { largestPixels = width * height; largest = (width, height) }
            guard let next = u32(offset + 2 + count * 12) else { break }
            offset = next
        }
        guard let largest else { return nil }
        return ImageHeader(width: largest.0, height: largest.1, pages: pages)
    }

    static func webp(_ b: [UInt8]) -> ImageHeader? {
        guard b.count >= 30 else { return nil }
        let chunk = String(decoding: b[12..<16], as: UTF8.self)
        switch chunk {
        case "VP8 ":
            return ImageHeader(width: (Int(b[26]) | Int(b[27]) << 8) & 0x3FFF, height: (Int(b[28]) | Int(b[29]) << 8) & 0x3FFF, pages: 1)
        case "VP8L":
            guard b[20] == 0x2F else { return nil }
            let width = 1 + (Int(b[21]) | (Int(b[22]) & 0x3F) << 8)
            let height = 1 + (Int(b[22]) >> 6 | Int(b[23]) << 2 | (Int(b[24]) & 0x0F) << 10)
            return ImageHeader(width: width, height: height, pages: 1)
        case "VP8X":
            let width = 1 + (Int(b[24]) | Int(b[25]) << 8 | Int(b[26]) << 16)
            let height = 1 + (Int(b[27]) | Int(b[28]) << 8 | Int(b[29]) << 16)
            return ImageHeader(width: width, height: height, pages: 1)
        default:
            return nil
        }
    }

    static func be16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) << 8 | Int(b[at + 1]) }
    static func be32(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3]) }
}

/// What a PDF's bytes say about its size without parsing it: the largest `/Count` (the page
/// tree root holds the total), the number of `/Type /Page` objects written in the clear, and the
/// largest MediaBox side. Objects inside compressed object streams are not seen here; the child
/// checks the page count and sizes poppler reports before reading any page.
struct PDFScan {
    var declaredPages = 0
    var pageObjects = 0
    var largestMediaBoxSide: Double = 0

    init(_ data: Data) {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
            let buffer = UnsafeBufferPointer(start: base, count: raw.count)
            Self.forEach("/Count", in: buffer) { at in
                if let (value, _) = Self.number(in: buffer, from: at), value.isFinite, value >= 0 {
                    declaredPages = max(declaredPages, value > 1e9 ? Int.max : Int(value))
                }
            }
            Self.forEach("/Type", in: buffer) { at in
                var i = at
                while i < buffer.count, buffer[i] == 0x20 || buffer[i] == 0x0A || buffer[i] == 0x0D || buffer[i] == 0x09 { i += 1 }
                let page = Array("/Page".utf8)
                guard i + page.count < buffer.count, Array(buffer[i..<i + page.count]) == page else { return }
                let next = buffer[i + page.count]
                if !(next == 0x73 || (next >= 0x41 && next <= 0x5A) || (next >= 0x61 && next <= 0x7A)) { pageObjects += 1 }
            }
            Self.forEach("/MediaBox", in: buffer) { at in
                var i = at
                while i < buffer.count, buffer[i] == 0x20 || buffer[i] == 0x0A || buffer[i] == 0x0D || buffer[i] == 0x09 { i += 1 }
                guard i < buffer.count, buffer[i] == 0x5B else { return }  // "[" (an indirect box is checked in the child)
                var values: [Double] = []
                var position = i + 1
                while values.count < 4, let (value, end) = Self.number(in: buffer, from: position) {
                    values.append(value)
                    position = end
                }
                guard values.count == 4 else { return }
                largestMediaBoxSide = max(largestMediaBoxSide, abs(values[2] - values[0]), abs(values[3] - values[1]))
            }
        }
    }

    /// Calls `body` with the index just past each occurrence of `token`.
    static func forEach(_ token: String, in buffer: UnsafeBufferPointer<UInt8>, _ body: (Int) -> Void) {
        let needle = Array(token.utf8)
        guard let base = buffer.baseAddress, buffer.count >= needle.count else { return }
        var offset = 0
        needle.withUnsafeBufferPointer { n in
            guard let needleBase = n.baseAddress else { return }
            while offset + needle.count <= buffer.count {
                guard let found = firstIndex(of: UnsafeBufferPointer(start: needleBase, count: needle.count), in: UnsafeBufferPointer(start: base + offset, count: buffer.count - offset)) else { return }
                let at = offset + found
                body(at + needle.count)
                offset = at + needle.count
            }
        }
    }

    /// Offset of the first `needle` in `haystack` (memchr for its first byte, then memcmp).
    static func firstIndex(of needle: UnsafeBufferPointer<UInt8>, in haystack: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let first = needle.first, let needleBase = needle.baseAddress, let start = haystack.baseAddress, haystack.count >= needle.count else { return nil }
        let last = haystack.count - needle.count
        var offset = 0
        while offset <= last {
            guard let hit = memchr(start + offset, Int32(first), last - offset + 1) else { return nil }
            let at = start.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(start + at, needleBase, needle.count) == 0 { return at }
            offset = at + 1
        }
        return nil
    }

    /// A PDF number after optional white space: (value, index past it).
    static func number(in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> (Double, Int)? {
        var i = start
        while i < buffer.count, buffer[i] == 0x20 || buffer[i] == 0x0A || buffer[i] == 0x0D || buffer[i] == 0x09 { i += 1 }
        let begin = i
        while i < buffer.count, i - begin < 32, (buffer[i] >= 0x30 && buffer[i] <= 0x39) || buffer[i] == 0x2E || buffer[i] == 0x2D || buffer[i] == 0x2B { i += 1 }
        guard i > begin, let value = Double(String(decoding: buffer[begin..<i], as: UTF8.self)) else { return nil }
        return (value, i)
    }
}
