import Core
@testable import Extraction
import Foundation
@testable import Inbound
import Testing

/// Image documents from files made by other encoders (Pillow, `DocumentImages/generate.py`):
/// multi-page TIFF, WebP, pages turned 90° and 180°, and the limits on them; and the page images the
/// child renders for the field model (`documents.model.send_images`).
@Suite("Documents: image formats, orientation, page images for the model")
struct DocumentImageTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DocumentImages")
    static let settings = ExtractionSettings(limits: DocumentsConfig(ocrThreads: 2))

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// Width and height from a PNG's IHDR.
    static func pngSize(_ data: Data) -> (width: Int, height: Int)? {
        guard let header = DocumentPreflight.imageHeader(data, type: .png), DocumentType.sniff(data) == .png else { return nil }
        return (header.width, header.height)
    }

    @Test("a multi-page TIFF: every frame is OCRed, in order")
    func multiPageTIFF() throws {
        let tiff = try Self.fixture("two-pages.tif")
        let outcome = DocumentTextExtractor.extract(tiff, declaredType: "image/tiff", filename: "scan.tif", settings: Self.settings)
        #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
        #expect(outcome.detectedType == "tiff")
        let extraction = try #require(outcome.extraction)
        #expect(extraction.pageCount == 2)
        #expect(extraction.pages.map(\.number) == [1, 2])
        #expect(extraction.pages.map(\.source) == [.ocr, .ocr])
        let pages = extraction.text.components(separatedBy: "\u{0C}")
        #expect(pages.count == 2)
        #expect(pages.first?.contains("INVOICE 1001") == true, "\(extraction.text)")
        #expect(pages.last?.contains("2002.50") == true, "\(extraction.text)")
        #expect(pages.first?.contains("2002.50") == false)
        #expect(extraction.thumbnailPNG.flatMap(Self.pngSize)?.width == 256)
    }

    @Test("a WebP image is decoded by Leptonica and OCRed")
    func webp() throws {
        let webp = try Self.fixture("receipt.webp")
        #expect(DocumentType.sniff(webp) == .webp)
        #expect(DocumentPreflight.imageHeader(webp, type: .webp).map { [$0.width, $0.height] } == [900, 1100])
        let outcome = DocumentTextExtractor.extract(webp, declaredType: "image/webp", filename: "receipt.webp", settings: Self.settings)
        #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
        #expect(outcome.detectedType == "webp")
        #expect(outcome.extraction?.text.contains("TOTAL 7.40 EUR") == true, "\(outcome.extraction?.text ?? "")")
        #expect((outcome.extraction?.ocrConfidence ?? 0) > 70)
    }

    @Test("limits hit by real images: TIFF frames over max_pages, pixels over max_image_pixels")
    func limits() throws {
        var limits = DocumentsConfig()
        limits.maxPages = 1
        let tiff = DocumentTextExtractor.extract(try Self.fixture("two-pages.tif"), declaredType: "image/tiff", filename: "scan.tif", settings: ExtractionSettings(limits: limits))
        #expect(tiff.status == .failed)
        #expect(tiff.reason == "TIFF has more than 1 pages (documents.max_pages)")
        #expect(tiff.extraction == nil)

        limits = DocumentsConfig()
        limits.maxImagePixels = 900 * 1100 - 1
        let webp = DocumentTextExtractor.extract(try Self.fixture("receipt.webp"), declaredType: "image/webp", filename: "receipt.webp", settings: ExtractionSettings(limits: limits))
        #expect(webp.status == .failed)
        #expect(webp.reason == "image header claims 900×1100 pixels, over documents.max_image_pixels (989999)")
        limits.maxImagePixels = 900 * 1100
        let fits = DocumentTextExtractor.extract(try Self.fixture("receipt.webp"), declaredType: "image/webp", filename: "receipt.webp", settings: ExtractionSettings(limits: limits))
        #expect(fits.status == .completed, "exactly at the limit passes: \(fits.reason ?? "")")
    }

    @Test("pages turned 90° and 180°: orientation detection turns them upright and OCR reads them", .enabled(if: TesseractHandle.osdAvailable || ProcessInfo.processInfo.environment["CI"] == "true", "needs tesseract-ocr-osd (installed by scripts/lib.sh)"))
    func orientation() throws {
        // Turned 90° clockwise: the correction is 270° clockwise (the other way round reads upside down).
        let turned = DocumentTextExtractor.extract(try Self.fixture("rotated.png"), declaredType: "image/png", filename: "rotated.png", settings: Self.settings)
        #expect(turned.status == .completed, "\(turned.reason ?? "")")
        let extraction = try #require(turned.extraction)
        #expect(extraction.pages.first?.rotation == 270, "\(extraction.pages)")
        #expect(extraction.text.contains("Q-3141"), "\(extraction.text)")
        #expect(extraction.text.contains("6,480.00"), "\(extraction.text)")
        #expect(extraction.text.contains("sales@fabrikam.example"), "\(extraction.text)")

        let upsideDown = try Self.fixture("upside-down.png")
        let righted = DocumentTextExtractor.extract(upsideDown, declaredType: "image/png", filename: "upside-down.png", settings: Self.settings)
        #expect(righted.extraction?.pages.first?.rotation == 180, "\(righted.extraction?.pages ?? [])")
        #expect(righted.extraction?.text.contains("Q-3141") == true, "\(righted.extraction?.text ?? "")")
        // Without orientation detection the upside-down page does not read: the correction made the difference.
        var plain = Self.settings
        plain.autoRotate = false
        let raw = DocumentTextExtractor.extract(upsideDown, declaredType: "image/png", filename: "upside-down.png", settings: plain)
        #expect(raw.extraction?.pages.first?.rotation == nil)
        #expect(raw.extraction?.text.contains("Q-3141") == false, "\(raw.extraction?.text ?? "")")
    }

    // MARK: - Page images for the field model

    @Test("page images: only OCRed pages, the first max_images, downscaled PNG, upright")
    func pageImages() throws {
        // Page 1 has a text layer; pages 2 and 3 are thin and get OCRed.
        let pdf = DocumentFixtures.textPDF(pages: [
            ["Invoice INV-2041 from Northwind Traders", "Total EUR 1,250.00 due in 30 days"], ["TOTAL 250 EUR"], ["PAGE THREE"],
        ])
        var settings = Self.settings
        settings.limits.dpi = 150
        settings.pageImages = PageImageSettings(maxImages: 1, maxSidePixels: 800, maxBytes: 2 << 20)
        let outcome = DocumentTextExtractor.extract(pdf, declaredType: "application/pdf", filename: "mixed.pdf", settings: settings)
        #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
        let extraction = try #require(outcome.extraction)
        #expect(extraction.pages.map(\.source) == [.layer, .ocr, .ocr])
        let images = try #require(extraction.pageImages)
        #expect(images.map(\.page) == [2], "the first scanned page only (max_images 1), never the text page")
        let image = try #require(images.first)
        let size = try #require(Self.pngSize(image.png))
        // Letter at 150 dpi is 1275×1650: the long side comes down to 800.
        #expect(size.height == 800 && image.height == 800, "\(size)")
        #expect(size.width == image.width && abs(size.width - 618) <= 1, "\(size)")
        #expect(image.png.count < 2 << 20)
        #expect(extraction.notes == nil)

        // The same PDF without the setting, and a text PDF with it: no images.
        var without = settings
        without.pageImages = nil
        #expect(DocumentTextExtractor.extract(pdf, declaredType: "", filename: "", settings: without).extraction?.pageImages == nil)
        let text = DocumentTextExtractor.extract(DocumentFixtures.textPDF(pages: [["Invoice INV-2041 from Northwind Traders", "Total EUR 1,250.00"]]), declaredType: "", filename: "", settings: settings)
        #expect(text.status == .completed)
        #expect(text.extraction?.pageImages == nil)
        #expect(text.extraction?.thumbnailPNG != nil)

        // Two frames of a TIFF with max_images 2: both, in order. A small page is never scaled up.
        settings.pageImages = PageImageSettings(maxImages: 2, maxSidePixels: 4000, maxBytes: 2 << 20)
        let tiff = DocumentTextExtractor.extract(try Self.fixture("two-pages.tif"), declaredType: "image/tiff", filename: "scan.tif", settings: settings)
        #expect(tiff.extraction?.pageImages?.map(\.page) == [1, 2])
        #expect(tiff.extraction?.pageImages?.map { [$0.width, $0.height] } == [[1100, 1400], [1100, 1400]])
    }

    @Test("page images: the turned page is sent upright", .enabled(if: TesseractHandle.osdAvailable || ProcessInfo.processInfo.environment["CI"] == "true", "needs tesseract-ocr-osd (installed by scripts/lib.sh)"))
    func pageImageUpright() throws {
        var settings = Self.settings
        settings.pageImages = PageImageSettings(maxImages: 2, maxSidePixels: 1600, maxBytes: 2 << 20)
        let outcome = DocumentTextExtractor.extract(try Self.fixture("rotated.png"), declaredType: "image/png", filename: "rotated.png", settings: settings)
        let image = try #require(outcome.extraction?.pageImages?.first)
        // The file is 1500×1300 (landscape, turned); the page itself is 1300×1500 (portrait).
        #expect(DocumentPreflight.imageHeader(try Self.fixture("rotated.png"), type: .png).map { [$0.width, $0.height] } == [1500, 1300])
        #expect(image.height > image.width, "\(image.width)×\(image.height)")
        #expect(abs(image.width - 1300) <= 4 && abs(image.height - 1500) <= 4, "deskew may add a few pixels: \(image.width)×\(image.height)")
    }

    @Test("page images: a PNG over image_max_bytes is reduced, or left out with a note")
    func pageImageByteCap() throws {
        let png = try Self.fixture("receipt.webp")
        var settings = Self.settings
        settings.pageImages = PageImageSettings(maxImages: 1, maxSidePixels: 1600, maxBytes: 2 << 20)
        let full = try #require(DocumentTextExtractor.extract(png, declaredType: "", filename: "", settings: settings).extraction?.pageImages?.first)
        #expect(full.width == 900 && full.height == 1100)

        // A cap under the full-size PNG: scaled down until it fits, and the note says so.
        let cap = full.png.count * 2 / 5
        settings.pageImages?.maxBytes = cap
        let reduced = try #require(DocumentTextExtractor.extract(png, declaredType: "", filename: "", settings: settings).extraction)
        let small = try #require(reduced.pageImages?.first)
        #expect(small.png.count <= cap)
        #expect(small.width < 900 && small.height < 1100)
        #expect(Self.pngSize(small.png).map { [$0.width, $0.height] } == [small.width, small.height])
        #expect(reduced.notes == ["page 1: image for the model reduced to \(small.width)×\(small.height) px to stay under documents.model.image_max_bytes (\(cap) bytes)"])
        #expect(reduced.text.contains("TOTAL 7.40 EUR"), "OCR still ran on the full page")

        // A cap no readable size meets: no image, and the reason.
        settings.pageImages?.maxBytes = 200
        let none = try #require(DocumentTextExtractor.extract(png, declaredType: "", filename: "", settings: settings).extraction)
        #expect(none.pageImages == nil)
        let note = try #require(none.notes?.first)
        #expect(note.hasPrefix("page 1: no image for the model: its PNG is "), "\(note)")
        #expect(note.hasSuffix("px, over documents.model.image_max_bytes (200 bytes)"), "\(note)")
    }
}
