public import Core
import CPoppler
import CTesseract
import Dispatch
public import Foundation
public import Inbound
import Mail
import Synchronization

extension ExtractionSettings {
    var ocr: OCRSettings {
        OCRSettings(languages: limits.ocrLanguages, pageSegmentationMode: limits.pageSegmentationMode, autoRotate: autoRotate)
    }
}

/// Bytes in, text out. This is the code that decodes hostile input, so the daemon runs it only
/// inside the `astralisd-extract` child (`ExtractionSandbox`); it is in-process only there. The
/// daemon executable does not link it (nor poppler, cairo, Leptonica, Tesseract) at all.
public enum DocumentTextExtractor {
    /// The whole extraction of one document: sniff, pre-decode limits, decode, text, OCR,
    /// thumbnail. Never throws: every problem is a `failed`/`unsupported` outcome with a reason.
    public static func extract(_ data: Data, declaredType: String, filename: String, settings: ExtractionSettings) -> DocumentOutcome {
        let type = DocumentType.sniff(data)
        guard type.isSupported else { return type.unsupportedOutcome(declaredType: declaredType, filename: filename) }
        var outcome = DocumentOutcome(status: .failed, detectedType: type.rawValue, typeMismatch: type.mismatch(declaredType: declaredType, filename: filename))
        do throws(DocumentPreflight.Refusal) {
            try DocumentPreflight.check(data, type: type, limits: settings.limits)
            var extraction: DocumentExtraction
            switch type {
            case .pdf: extraction = try pdf(data, settings: settings)
            case .png, .jpeg, .tiff, .webp: extraction = try image(data, type: type, settings: settings)
            case .text, .html, .eml: extraction = try textual(data, type: type)
            default: throw DocumentPreflight.Refusal("\(type.rawValue) is not extracted")
            }
            if extraction.text.count > settings.limits.maxTextCharacters {
                extraction.text = String(extraction.text.prefix(settings.limits.maxTextCharacters))
                extraction.truncated = true
            }
            outcome.status = .completed
            outcome.extraction = extraction
        } catch {
            outcome.reason = error.description
        }
        return outcome
    }

    // MARK: - PDF

    static func pdf(_ data: Data, settings: ExtractionSettings) throws(DocumentPreflight.Refusal) -> DocumentExtraction {
        let limits = settings.limits
        let inflated = PopplerPDF.inflatedSize(data, limit: limits.maxInflatedBytes)
        if inflated > limits.maxInflatedBytes {
            throw .init("PDF streams inflate to more than documents.max_inflated_bytes (\(limits.maxInflatedBytes)): compression bomb")
        }
        let document: PopplerPDF
        do {
            document = try PopplerPDF(data)
        } catch {
            throw .init("\(error)")
        }
        let count = document.pageCount
        if count > limits.maxPages { throw .init("PDF has \(count) pages, over documents.max_pages (\(limits.maxPages))") }
        if count == 0 { throw .init("PDF has no pages") }
        var texts: [String] = []
        for page in 0..<count {
            guard let size = document.size(page: page) else { throw .init("PDF page \(page + 1) cannot be read") }
            if max(size.width, size.height) > limits.maxPagePoints {
                throw .init("PDF page \(page + 1) is \(Int(size.width))×\(Int(size.height)) points, over documents.max_page_points (\(Int(limits.maxPagePoints)))")
            }
            texts.append(document.text(page: page))
        }
        var pages = texts.enumerated().map { PageExtraction(number: $0.offset + 1, source: .layer, characters: Self.meaningfulCharacters($0.element)) }
        let thin = pages.indices.filter { pages[$0].characters < limits.minPageTextCharacters }
        let toOCR = limits.ocrEnabled ? thin : []
        let notes = limits.ocrEnabled || thin.isEmpty ? nil
            : ["ocr disabled (documents.ocr is false): page\(thin.count == 1 ? "" : "s") \(thin.map { String($0 + 1) }.joined(separator: ", ")) kept only \(thin.count == 1 ? "its" : "their") text layer"]
        var ocrFailure: String?
        var images = PageImageCollector(settings.pageImages)
        if !toOCR.isEmpty {
            let imageSettings = settings.pageImages
            let results = ocr(items: toOCR.count, settings: settings) { index, handle in
                guard let image = document.render(page: toOCR[index], dpi: limits.dpi) else { return nil }
                // Only the first scanned pages are rendered for the model.
                return handle.recognize(image, dpi: limits.dpi, pageImage: index < (imageSettings?.maxImages ?? 0) ? imageSettings : nil, page: toOCR[index] + 1)
            }
            switch results {
            case .failure(let error): ocrFailure = "\(error)"
            case .success(let list):
                for (index, result) in zip(toOCR, list) {
                    guard let result else { continue }
                    // The layer's few characters (a page number, a stamp) are kept only if OCR found less.
                    if result.text.trimmingCharacters(in: .whitespacesAndNewlines).count >= texts[index].trimmingCharacters(in: .whitespacesAndNewlines).count {
                        texts[index] = result.text
                        pages[index] = PageExtraction(number: index + 1, source: .ocr, characters: Self.meaningfulCharacters(result.text), confidence: result.confidence, rotation: result.rotation, skewDegrees: result.skewDegrees)
                        images.add(result)
                    }
                }
            }
        }
        if let ocrFailure { throw .init(ocrFailure) }
        let thumbnail = settings.thumbnails && limits.thumbnailWidth > 0 ? document.thumbnail(page: 0, width: limits.thumbnailWidth) : nil
        return DocumentExtraction(
            detectedType: DocumentType.pdf.rawValue, pageCount: count, pages: pages, text: texts.joined(separator: "\u{0C}"),
            ocrConfidence: Self.meanConfidence(pages), languages: pages.contains { $0.source == .ocr } ? limits.ocrLanguages : [],
            thumbnailPNG: thumbnail, notes: images.notes(after: notes), pageImages: images.images
        )
    }

    // MARK: - Images

    static func image(_ data: Data, type: DocumentType, settings: ExtractionSettings) throws(DocumentPreflight.Refusal) -> DocumentExtraction {
        let limits = settings.limits
        let frames = type == .tiff ? max(1, DocumentPreflight.imageHeader(data, type: .tiff)?.pages ?? 1) : 1
        if !limits.ocrEnabled { return try imageWithoutOCR(data, type: type, frames: frames, settings: settings) }
        let imageSettings = settings.pageImages
        let results = ocr(items: frames, settings: settings) { index, handle -> OCRResult? in
            guard let image = LeptonicaImage.decode(data, page: type == .tiff ? index : 0) else { return nil }
            // Scans rarely say their resolution; Tesseract guesses from text size when it is 0.
            let resolution = Int(pixGetXRes(image.pix))
            return handle.recognize(image, dpi: resolution > 0 ? resolution : 300, pageImage: index < (imageSettings?.maxImages ?? 0) ? imageSettings : nil, page: index + 1)
        }
        let list: [OCRResult?]
        switch results {
        case .failure(let error): throw .init("\(error)")
        case .success(let value): list = value
        }
        if list.allSatisfy({ $0 == nil }) { throw .init("\(type.rawValue) image cannot be decoded (corrupt or truncated)") }
        var pages: [PageExtraction] = []
        var texts: [String] = []
        var images = PageImageCollector(settings.pageImages)
        for (index, result) in list.enumerated() {
            if let result { images.add(result) }
            texts.append(result?.text ?? "")
            pages.append(PageExtraction(number: index + 1, source: .ocr, characters: Self.meaningfulCharacters(result?.text ?? ""), confidence: result?.confidence, rotation: result?.rotation, skewDegrees: result?.skewDegrees))
        }
        let thumbnail = settings.thumbnails && limits.thumbnailWidth > 0 ? LeptonicaImage.decode(data)?.thumbnailPNG(width: limits.thumbnailWidth) : nil
        return DocumentExtraction(
            detectedType: type.rawValue, pageCount: frames, pages: pages, text: texts.joined(separator: "\u{0C}"),
            ocrConfidence: Self.meanConfidence(pages), languages: limits.ocrLanguages, thumbnailPNG: thumbnail,
            notes: images.notes(after: nil), pageImages: images.images
        )
    }

    /// `documents.ocr: false`: an image is completed with no text and a note saying why. It is
    /// decoded only for the thumbnail (and a corrupt one fails there, as it would under OCR).
    static func imageWithoutOCR(_ data: Data, type: DocumentType, frames: Int, settings: ExtractionSettings) throws(DocumentPreflight.Refusal) -> DocumentExtraction {
        let limits = settings.limits
        var thumbnail: Data?
        if settings.thumbnails && limits.thumbnailWidth > 0 {
            guard let image = LeptonicaImage.decode(data) else { throw .init("\(type.rawValue) image cannot be decoded (corrupt or truncated)") }
            thumbnail = image.thumbnailPNG(width: limits.thumbnailWidth)
        }
        return DocumentExtraction(
            detectedType: type.rawValue, pageCount: frames, pages: [], text: "", thumbnailPNG: thumbnail,
            notes: ["ocr disabled (documents.ocr is false): image not OCRed, no text"]
        )
    }

    /// Runs `body` for items `0..<items` on up to `ocrThreads` threads, each with its own
    /// Tesseract handle; results in item order (nil where the item could not be decoded).
    static func ocr(items: Int, settings: ExtractionSettings, _ body: @escaping @Sendable (Int, TesseractHandle) -> OCRResult?) -> Result<[OCRResult?], TesseractHandle.InitError> {
        let pool = OCRPool(settings: settings.ocr, size: min(items, settings.limits.ocrThreads))
        let work = OCRWork()
        DispatchQueue.concurrentPerform(iterations: pool.concurrency) { _ in
            do {
                try pool.withHandle { handle in
                    while let index = work.take(below: items) {
                        if let result = body(index, handle) { work.store(result, at: index) }
                    }
                }
            } catch let error as TesseractHandle.InitError {
                work.fail(error)
            } catch {
                work.fail(TesseractHandle.InitError(description: "\(error)"))
            }
        }
        return work.result(items: items)
    }

    // MARK: - Text, HTML, messages

    static func textual(_ data: Data, type: DocumentType) throws(DocumentPreflight.Refusal) -> DocumentExtraction {
        let text: String
        switch type {
        case .eml:
            do {
                let message = try MessageParser().parse(data).message
                var lines: [String] = []
                if let from = message.from.first { lines.append("From: \(from.formatted)") }
                if let subject = message.subject { lines.append("Subject: \(subject)") }
                text = (lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n\n") + (message.text ?? "")
            } catch {
                throw .init("message cannot be parsed: \(error)")
            }
        case .html:
            text = HTMLText.plainText(decodeText(data))
        default:
            text = decodeText(data)
        }
        return DocumentExtraction(detectedType: type.rawValue, pageCount: 1, pages: [PageExtraction(number: 1, source: .text, characters: meaningfulCharacters(text))], text: text)
    }

    /// UTF-8 (BOM or not), UTF-16 with a BOM, else Windows-1252.
    static func decodeText(_ data: Data) -> String {
        if data.starts(with: [0xFF, 0xFE]) { return String(data: data.dropFirst(2), encoding: .utf16LittleEndian) ?? "" }
        if data.starts(with: [0xFE, 0xFF]) { return String(data: data.dropFirst(2), encoding: .utf16BigEndian) ?? "" }
        let body = data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data[...]
        if let text = String(validating: Array(body), as: UTF8.self) { return text }
        return String(data: body, encoding: .windowsCP1252) ?? String(decoding: body, as: UTF8.self)
    }

    static func meaningfulCharacters(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + (CharacterSet.alphanumerics.contains($1) ? 1 : 0) }
    }

    static func meanConfidence(_ pages: [PageExtraction]) -> Double? {
        let values = pages.compactMap(\.confidence)
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}

/// The shared state of one parallel OCR run: the next item to take, results, the first failure.
private final class OCRWork: Sendable {
    private let next = Mutex(0)
    private let results = Mutex<[Int: OCRResult]>([:])
    private let failure = Mutex<TesseractHandle.InitError?>(nil)

    func take(below limit: Int) -> Int? {
        next.withLock { value in
            guard value < limit else { return nil }
            value += 1
            return value - 1
        }
    }

    func store(_ result: OCRResult, at index: Int) { results.withLock { $0[index] = result } }

    func fail(_ error: TesseractHandle.InitError) { failure.withLock { $0 = $0 ?? error } }

    func result(items: Int) -> Result<[OCRResult?], TesseractHandle.InitError> {
        if let error = failure.withLock({ $0 }) { return .failure(error) }
        let all = results.withLock { $0 }
        return .success((0..<items).map { all[$0] })
    }
}
