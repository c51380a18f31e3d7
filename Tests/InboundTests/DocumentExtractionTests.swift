import Core
@testable import Extraction
import Foundation
@testable import Inbound
import Testing

/// Type sniffing, pre-decode limits and in-process extraction (the code the child runs).
@Suite("Documents: sniffing, limits, extraction")
struct DocumentExtractionTests {
    static let settings = ExtractionSettings(limits: DocumentsConfig(ocrThreads: 2))

    @Test("magic bytes decide the type, not the name or declared type")
    func sniffing() {
        #expect(DocumentType.sniff(DocumentFixtures.textPDF(pages: [["Hello"]])) == .pdf)
        #expect(DocumentType.sniff(DocumentFixtures.pngHeader(width: 10, height: 10)) == .png)
        #expect(DocumentType.sniff(Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16])) == .jpeg)
        #expect(DocumentType.sniff(Data("II*\u{0}".utf8) + Data(count: 8)) == .tiff)
        #expect(DocumentType.sniff(Data("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8) + Data(count: 20)) == .webp)
        #expect(DocumentType.sniff(DocumentFixtures.elf) == .elf)
        #expect(DocumentType.sniff(Data("PK\u{3}\u{4}rest".utf8)) == .zip)
        #expect(DocumentType.sniff(Data("Plain words, ümlauts too.\n".utf8)) == .text)
        #expect(DocumentType.sniff(Data("<!DOCTYPE html><html><body>Hi</body></html>".utf8)) == .html)
        #expect(DocumentType.sniff(Data("From: a@example.com\r\nTo: b@example.com\r\nSubject: Fwd\r\n\r\nBody".utf8)) == .eml)
        #expect(DocumentType.sniff(Data([0x00, 0x01, 0x02, 0x03, 0xFE])) == .unknown)
    }

    @Test("a declared type or extension that disagrees with the content is recorded")
    func mismatch() {
        #expect(DocumentType.elf.mismatch(declaredType: "application/pdf", filename: "invoice.pdf") == "declared application/pdf, named .pdf but the content is elf")
        #expect(DocumentType.pdf.mismatch(declaredType: "application/pdf", filename: "invoice.pdf") == nil)
        #expect(DocumentType.png.mismatch(declaredType: "application/octet-stream", filename: "scan.jpg") == "named .jpg but the content is png")
        #expect(DocumentType.text.mismatch(declaredType: "text/csv", filename: "data.csv") == nil)
    }

    @Test("image dimensions come from the header, before decoding")
    func imageHeaders() throws {
        let huge = DocumentFixtures.pngHeader(width: 100_000, height: 100_000)
        #expect(DocumentPreflight.imageHeader(huge, type: .png) == DocumentPreflight.ImageHeader(width: 100_000, height: 100_000, pages: 1))
        #expect(throws: DocumentPreflight.Refusal("image header claims 100000×100000 pixels, over documents.max_image_pixels (100000000)")) {
            try DocumentPreflight.check(huge, type: .png, limits: DocumentsConfig())
        }
        // JPEG: SOF0 after an APP0 segment.
        let jpeg = Data([0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x03, 0x20, 0x02, 0x58, 0x03])
        #expect(DocumentPreflight.imageHeader(jpeg, type: .jpeg) == DocumentPreflight.ImageHeader(width: 600, height: 800, pages: 1))
        // TIFF, little-endian, two directories.
        var tiff = Data("II*\u{0}".utf8) + Data([8, 0, 0, 0])
        func directory(width: UInt16, height: UInt16, next: UInt32) -> Data {
            var d = Data([2, 0])
            d += Data([0, 1, 3, 0, 1, 0, 0, 0]) + Data([UInt8(width & 0xFF), UInt8(width >> 8), 0, 0])
            d += Data([1, 1, 3, 0, 1, 0, 0, 0]) + Data([UInt8(height & 0xFF), UInt8(height >> 8), 0, 0])
            d += Data([UInt8(next & 0xFF), UInt8((next >> 8) & 0xFF), 0, 0])
            return d
        }
        tiff += directory(width: 100, height: 200, next: 8 + 30)
        tiff += directory(width: 300, height: 400, next: 0)
        #expect(DocumentPreflight.imageHeader(tiff, type: .tiff) == DocumentPreflight.ImageHeader(width: 300, height: 400, pages: 2))
        // WebP lossy.
        var webp = Data("RIFF".utf8) + Data(count: 4) + Data("WEBPVP8 ".utf8) + Data(count: 10)
        webp += Data([0x80, 0x02, 0xE0, 0x01])
        #expect(DocumentPreflight.imageHeader(webp, type: .webp) == DocumentPreflight.ImageHeader(width: 640, height: 480, pages: 1))
    }

    @Test("a text PDF gives its text layer per page, with a thumbnail")
    func pdfTextLayer() throws {
        let pdf = DocumentFixtures.textPDF(pages: [["Invoice INV-2041", "Total EUR 1,250.00"], ["Page two of the terms and conditions"]])
        let outcome = DocumentTextExtractor.extract(pdf, declaredType: "application/pdf", filename: "inv.pdf", settings: Self.settings)
        #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
        let extraction = try #require(outcome.extraction)
        #expect(extraction.pageCount == 2)
        #expect(extraction.pages.map(\.source) == [.layer, .layer])
        #expect(extraction.text.contains("INV-2041"))
        #expect(extraction.text.contains("terms and conditions"))
        #expect(extraction.ocrConfidence == nil)
        let thumbnail = try #require(extraction.thumbnailPNG)
        #expect(DocumentType.sniff(thumbnail) == .png)
        #expect(DocumentPreflight.imageHeader(thumbnail, type: .png)?.width == 256)
        #expect(outcome.typeMismatch == nil)
    }

    @Test("pages with too little text are rendered and OCRed; images are OCRed")
    func ocr() throws {
        let pdf = DocumentFixtures.textPDF(pages: [["INVOICE NUMBER 4711", "TOTAL AMOUNT 250 EUR"]])
        var settings = Self.settings
        settings.limits.minPageTextCharacters = 10_000  // force OCR of this page
        let outcome = DocumentTextExtractor.extract(pdf, declaredType: "", filename: "", settings: settings)
        #expect(outcome.status == .completed, "\(outcome.reason ?? "")")
        let extraction = try #require(outcome.extraction)
        #expect(extraction.pages.first?.source == .ocr)
        #expect(extraction.text.contains("4711"), "\(extraction.text)")
        #expect((extraction.ocrConfidence ?? 0) > 60)
        #expect(extraction.languages == ["eng"])

        // The same page as a PNG file.
        let page = try #require(PopplerPDF(pdf).render(page: 0, dpi: 200))
        let png = try #require(page.thumbnailPNG(width: page.width))
        let image = DocumentTextExtractor.extract(png, declaredType: "image/png", filename: "scan.png", settings: Self.settings)
        #expect(image.status == .completed, "\(image.reason ?? "")")
        #expect(image.detectedType == "png")
        #expect(image.extraction?.text.contains("4711") == true, "\(image.extraction?.text ?? "")")
        #expect(image.extraction?.pages.first?.source == .ocr)
        #expect(image.extraction?.thumbnailPNG != nil)
    }

    @Test("documents.ocr false: no page or image is OCRed; text layers are still read")
    func ocrDisabled() throws {
        let pdf = DocumentFixtures.textPDF(pages: [["INVOICE NUMBER 4711", "TOTAL AMOUNT 250 EUR"], ["Terms"]])
        var settings = Self.settings
        settings.limits.ocrEnabled = false
        let layered = DocumentTextExtractor.extract(pdf, declaredType: "", filename: "", settings: settings)
        #expect(layered.status == .completed, "\(layered.reason ?? "")")
        let extraction = try #require(layered.extraction)
        // Page 2 has 5 letters, under min_page_text_characters (16): OCR would have taken it.
        #expect(extraction.pages.map(\.source) == [.layer, .layer])
        #expect(extraction.text.contains("4711"))
        #expect(extraction.ocrConfidence == nil)
        #expect(extraction.languages.isEmpty)
        #expect(extraction.notes == ["ocr disabled (documents.ocr is false): page 2 kept only its text layer"])

        let page = try #require(PopplerPDF(pdf).render(page: 0, dpi: 200))
        let png = try #require(page.thumbnailPNG(width: page.width))
        let image = DocumentTextExtractor.extract(png, declaredType: "image/png", filename: "scan.png", settings: settings)
        #expect(image.status == .completed, "\(image.reason ?? "")")
        #expect(image.extraction?.text == "")
        #expect(image.extraction?.pages.isEmpty == true)
        #expect(image.extraction?.ocrConfidence == nil)
        #expect(image.extraction?.notes == ["ocr disabled (documents.ocr is false): image not OCRed, no text"])
        #expect(image.extraction?.thumbnailPNG != nil)

        // A corrupt image still fails (it is decoded for the thumbnail).
        let cut = DocumentTextExtractor.extract(png.prefix(200), declaredType: "image/png", filename: "cut.png", settings: settings)
        #expect(cut.status == .failed)
        #expect(cut.reason == "png image cannot be decoded (corrupt or truncated)")

        // With OCR on, the same thin page is OCRed (the switch is what made the difference).
        let on = DocumentTextExtractor.extract(pdf, declaredType: "", filename: "", settings: Self.settings)
        #expect(on.extraction?.pages.map(\.source) == [.layer, .ocr])
        #expect(on.extraction?.notes == nil)
    }

    @Test("text, HTML and forwarded messages are documents too")
    func textual() {
        let text = DocumentTextExtractor.extract(Data("Order 17 shipped".utf8), declaredType: "text/plain", filename: "a.txt", settings: Self.settings)
        #expect(text.extraction?.text == "Order 17 shipped")
        let html = DocumentTextExtractor.extract(Data("<html><body><p>Quote <b>Q-9</b></p></body></html>".utf8), declaredType: "text/html", filename: "q.html", settings: Self.settings)
        #expect(html.extraction?.text.contains("Quote Q-9") == true, "\(html.extraction?.text ?? "")")
        let eml = DocumentTextExtractor.extract(Data("From: Ann <ann@example.com>\r\nSubject: Fwd: invoice\r\nContent-Type: text/plain\r\n\r\nSee attached invoice 88.\r\n".utf8), declaredType: "message/rfc822", filename: "fwd.eml", settings: Self.settings)
        #expect(eml.status == .completed)
        #expect(eml.detectedType == "eml")
        #expect(eml.extraction?.text.contains("Subject: Fwd: invoice") == true)
        #expect(eml.extraction?.text.contains("invoice 88") == true)
    }

    @Test("hostile files fail or are unsupported with a reason")
    func hostile() {
        func run(_ data: Data, _ name: String, _ declared: String = "application/pdf", limits: DocumentsConfig = DocumentsConfig()) -> DocumentOutcome {
            DocumentTextExtractor.extract(data, declaredType: declared, filename: name, settings: ExtractionSettings(limits: limits))
        }
        let many = run(DocumentFixtures.manyPagesPDF(count: 20_000), "many.pdf")
        #expect(many.status == .failed)
        #expect(many.reason == "PDF declares 20000 pages, over documents.max_pages (500)")

        let huge = run(DocumentFixtures.pngHeader(width: 100_000, height: 100_000), "huge.png", "image/png")
        #expect(huge.status == .failed)
        #expect(huge.reason?.contains("100000×100000") == true)

        var small = DocumentsConfig()
        small.maxInflatedBytes = 8 << 20
        let bomb = run(DocumentFixtures.flatePDF(compressed: DocumentFixtures.flateBomb(inflating: 32 << 20)), "bomb.pdf", limits: small)
        #expect(bomb.status == .failed)
        #expect(bomb.reason?.contains("compression bomb") == true, "\(bomb.reason ?? "")")

        let pdf = DocumentFixtures.textPDF(pages: [["Hello"]])
        let truncated = run(pdf.prefix(60), "cut.pdf")
        #expect(truncated.status == .failed)
        #expect(truncated.reason?.isEmpty == false)

        let elf = run(DocumentFixtures.elf, "invoice.pdf")
        #expect(elf.status == .unsupported)
        #expect(elf.detectedType == "elf")
        #expect(elf.typeMismatch == "declared application/pdf, named .pdf but the content is elf")

        let disguised = run(pdf, "photo.jpg", "image/jpeg")
        #expect(disguised.status == .completed)
        #expect(disguised.typeMismatch == "declared image/jpeg, named .jpg but the content is pdf")

        let wide = run(DocumentFixtures.textPDF(pages: [["x"]], mediaBox: "0 0 90000 600"), "wide.pdf")
        #expect(wide.status == .failed)
        #expect(wide.reason?.contains("MediaBox") == true)
    }
}
