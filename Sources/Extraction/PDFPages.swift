import CPoppler
import CTesseract
import Foundation

/// A PDF opened with poppler-glib. Poppler documents are not thread-safe: every call goes through
/// `withLock`, so pages can be rendered one at a time while OCR of earlier pages runs in parallel.
// @unchecked Sendable: the document pointer is only used under `lock`; OCR threads render pages through it.
final class PopplerPDF: @unchecked Sendable {
    private let document: OpaquePointer
    private let lock = NSLock()

    struct OpenError: Error, CustomStringConvertible {
        var description: String
    }

    init(_ data: Data) throws(OpenError) {
        var error: UnsafeMutablePointer<GError>?
        let bytes = data.withUnsafeBytes { g_bytes_new($0.baseAddress, gsize($0.count)) }
        defer { g_bytes_unref(bytes) }
        guard let document = poppler_document_new_from_bytes(bytes, nil, &error) else {
            let message = error.map { String(cString: $0.pointee.message) } ?? "unknown error"
            if let error { g_error_free(error) }
            throw OpenError(description: "poppler cannot open the PDF: \(message)")
        }
        self.document = document
    }

    deinit { g_object_unref(UnsafeMutableRawPointer(document)) }

    private var raw: OpaquePointer { document }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    var pageCount: Int { withLock { Int(poppler_document_get_n_pages(raw)) } }

    /// Page size in points.
    func size(page: Int) -> (width: Double, height: Double)? {
        withLock {
            guard let p = poppler_document_get_page(raw, Int32(page)) else { return nil }
            defer { g_object_unref(UnsafeMutableRawPointer(p)) }
            var width = 0.0
            var height = 0.0
            poppler_page_get_size(p, &width, &height)
            return (width, height)
        }
    }

    /// The page's text layer.
    func text(page: Int) -> String {
        withLock {
            guard let p = poppler_document_get_page(raw, Int32(page)) else { return "" }
            defer { g_object_unref(UnsafeMutableRawPointer(p)) }
            guard let text = poppler_page_get_text(p) else { return "" }
            defer { g_free(text) }
            return String(cString: text)
        }
    }

    /// The page rendered on white at `dpi`, as a Leptonica image (for OCR).
    func render(page: Int, dpi: Int) -> LeptonicaImage? {
        withRendered(page: page, scale: Double(dpi) / 72) { surface in
            guard let data = cairo_image_surface_get_data(surface) else { return nil }
            let pix = ctess_pix_from_xrgb(data, cairo_image_surface_get_width(surface), cairo_image_surface_get_height(surface), cairo_image_surface_get_stride(surface))
            return pix.map(LeptonicaImage.init)
        }
    }

    /// PNG of the page `width` pixels wide.
    func thumbnail(page: Int, width: Int) -> Data? {
        guard let size = size(page: page), size.width > 0 else { return nil }
        return withRendered(page: page, scale: Double(width) / size.width) { surface in
            var length = 0
            guard let png = cpoppler_surface_to_png(surface, &length) else { return nil }
            defer { g_free(png) }
            return Data(bytes: png, count: length)
        }
    }

    private func withRendered<T>(page: Int, scale: Double, _ body: (OpaquePointer) -> T?) -> T? {
        withLock {
            guard let p = poppler_document_get_page(raw, Int32(page)) else { return nil }
            defer { g_object_unref(UnsafeMutableRawPointer(p)) }
            var width = 0.0
            var height = 0.0
            poppler_page_get_size(p, &width, &height)
            let pixelsWide = Int32(max(1, (width * scale).rounded()))
            let pixelsHigh = Int32(max(1, (height * scale).rounded()))
            guard let surface = cpoppler_render_page(p, scale, pixelsWide, pixelsHigh) else { return nil }
            defer { cairo_surface_destroy(surface) }
            return body(surface)
        }
    }

    /// Total bytes the PDF's Flate streams inflate to, stopping once past `limit`.
    static func inflatedSize(_ data: Data, limit: Int) -> Int {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
            let buffer = UnsafeBufferPointer(start: base, count: raw.count)
            var total = 0
            var searchFrom = 0
            let flate = Array("/FlateDecode".utf8)
            let stream = Array("stream".utf8)
            let endstream = Array("endstream".utf8)
            while total <= limit, let filter = Self.find(flate, in: buffer, from: searchFrom) {
                searchFrom = filter + flate.count
                // The stream keyword that follows the dictionary (not "endstream").
                var candidate = searchFrom
                var bodyStart: Int?
                while let at = Self.find(stream, in: buffer, from: candidate) {
                    candidate = at + stream.count
                    if at > 0, buffer[at - 1] == UInt8(ascii: "d") { continue }
                    var i = at + stream.count
                    if i < buffer.count, buffer[i] == 0x0D { i += 1 }
                    if i < buffer.count, buffer[i] == 0x0A { i += 1 }
                    bodyStart = i
                    break
                }
                guard let start = bodyStart else { break }
                let end = Self.find(endstream, in: buffer, from: start) ?? buffer.count
                let produced = cpoppler_inflated_size(base + start, end - start, Int64(limit - total))
                total += Int(produced)
                searchFrom = end
            }
            return total
        }
    }

    private static func find(_ needle: [UInt8], in buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard let base = buffer.baseAddress, start + needle.count <= buffer.count else { return nil }
        return needle.withUnsafeBufferPointer { n -> Int? in
            guard let needleBase = n.baseAddress else { return nil }
            let found = cpoppler_find(base + start, buffer.count - start, needleBase, needle.count)
            return found >= 0 ? start + found : nil
        }
    }
}
