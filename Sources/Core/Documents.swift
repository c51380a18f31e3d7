public import Foundation

/// The `documents` section: limits checked before any decoding, the extraction child's resource
/// limits, and OCR settings (docs/documents.md).
public struct DocumentsConfig: Sendable, Equatable, Codable {
    /// Larger documents are not decoded at all (FAILED).
    public var maxFileBytes: Int
    /// PDFs (and multi-page TIFFs) with more pages fail before any page is read.
    public var maxPages: Int
    /// Largest page side in PDF points (1/72 inch), from the MediaBox.
    public var maxPagePoints: Double
    /// Largest image (width × height) read from the file header, before decoding.
    public var maxImagePixels: Int
    /// Most bytes all Flate streams of one PDF may inflate to (a zip bomb fails before poppler sees it).
    public var maxInflatedBytes: Int
    /// Extraction child: address-space limit (RLIMIT_AS).
    public var memoryLimitBytes: Int
    /// Extraction child: CPU seconds (RLIMIT_CPU).
    public var cpuSeconds: Int
    /// Extraction child: wall-clock limit; the child is killed after it.
    public var timeoutSeconds: Double
    /// Extraction children running at once (daemon side).
    public var concurrency: Int
    /// Tesseract handles (threads) inside one child, for pages OCRed in parallel.
    public var ocrThreads: Int
    /// Tesseract languages, joined with `+` (each needs its tesseract-ocr-LANG package).
    public var ocrLanguages: [String]
    /// Tesseract page segmentation mode (0...13; 3 = fully automatic).
    public var pageSegmentationMode: Int
    /// Resolution PDF pages are rasterised at for OCR.
    public var dpi: Int
    /// A PDF page whose text layer has fewer characters (letters and digits) is OCRed.
    public var minPageTextCharacters: Int
    /// Width of the first-page PNG thumbnail (0: none).
    public var thumbnailWidth: Int
    /// Text kept per document (characters); longer text is cut.
    public var maxTextCharacters: Int
    /// `documents.ocr`: false turns OCR off entirely — images complete with empty text and a
    /// note, PDF pages keep only their text layer.
    public var ocrEnabled: Bool = true
    /// `documents.worker_max_documents`: a long-lived extraction worker is replaced after this
    /// many documents, bounding leaks and heap fragmentation in the child.
    public var workerMaxDocuments: Int = 200

    public static var defaultConcurrency: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    public init(
        maxFileBytes: Int = 50 * 1024 * 1024, maxPages: Int = 500, maxPagePoints: Double = 14_400,
        maxImagePixels: Int = 100_000_000, maxInflatedBytes: Int = 256 * 1024 * 1024,
        memoryLimitBytes: Int = 2048 * 1024 * 1024, cpuSeconds: Int = 120, timeoutSeconds: Double = 180,
        concurrency: Int = DocumentsConfig.defaultConcurrency, ocrThreads: Int = DocumentsConfig.defaultConcurrency,
        ocrLanguages: [String] = ["eng"], pageSegmentationMode: Int = 3, dpi: Int = 300,
        minPageTextCharacters: Int = 16, thumbnailWidth: Int = 256, maxTextCharacters: Int = 1_000_000
    ) {
        self.maxFileBytes = maxFileBytes
        self.maxPages = maxPages
        self.maxPagePoints = maxPagePoints
        self.maxImagePixels = maxImagePixels
        self.maxInflatedBytes = maxInflatedBytes
        self.memoryLimitBytes = memoryLimitBytes
        self.cpuSeconds = cpuSeconds
        self.timeoutSeconds = timeoutSeconds
        self.concurrency = concurrency
        self.ocrThreads = ocrThreads
        self.ocrLanguages = ocrLanguages
        self.pageSegmentationMode = pageSegmentationMode
        self.dpi = dpi
        self.minPageTextCharacters = minPageTextCharacters
        self.thumbnailWidth = thumbnailWidth
        self.maxTextCharacters = maxTextCharacters
    }
}

/// Where the text of one page came from.
public enum PageTextSource: String, Sendable, Codable {
    /// The PDF's own text layer (poppler).
    case layer
    /// Tesseract, from the rendered page or the image.
    case ocr
    /// The file is text (plain, HTML, a message).
    case text
}

/// What extraction found on one page.
public struct PageExtraction: Sendable, Codable, Equatable {
    public var number: Int
    public var source: PageTextSource
    public var characters: Int
    /// Tesseract's mean word confidence (0...100) for OCRed pages.
    public var confidence: Double?
    /// Orientation correction applied before OCR, in degrees clockwise, and deskew angle.
    public var rotation: Int?
    public var skewDegrees: Double?

    public init(number: Int, source: PageTextSource, characters: Int, confidence: Double? = nil, rotation: Int? = nil, skewDegrees: Double? = nil) {
        self.number = number
        self.source = source
        self.characters = characters
        self.confidence = confidence
        self.rotation = rotation
        self.skewDegrees = skewDegrees
    }
}

/// The text of one document and how it was obtained: what `astralisd extract` prints.
public struct DocumentExtraction: Sendable, Codable, Equatable {
    /// Type found from the content (`pdf`, `png`, `jpeg`, `tiff`, `webp`, `text`, `html`, `eml`).
    public var detectedType: String
    public var pageCount: Int
    public var pages: [PageExtraction]
    public var text: String
    /// Mean OCR confidence over the OCRed pages; nil when nothing was OCRed.
    public var ocrConfidence: Double?
    /// OCR languages used (or the text's declared language where known).
    public var languages: [String]
    /// First page as PNG, `DocumentsConfig.thumbnailWidth` wide; base64 in JSON.
    public var thumbnailPNG: Data?
    /// True when `text` was cut at `maxTextCharacters`.
    public var truncated: Bool
    /// What the extraction deliberately did not do, for people reading the result (for example
    /// `ocr disabled (documents.ocr is false): ...`). Nil when there is nothing to say.
    public var notes: [String]?
    /// Images of the first scanned (OCRed) pages for the field model, when the extraction was
    /// asked for them (`ExtractionSettings.pageImages`). Transient: the daemon takes them out
    /// before the extraction is stored.
    public var pageImages: [PageImage]?

    public init(detectedType: String, pageCount: Int, pages: [PageExtraction], text: String, ocrConfidence: Double? = nil, languages: [String] = [], thumbnailPNG: Data? = nil, truncated: Bool = false, notes: [String]? = nil, pageImages: [PageImage]? = nil) {
        self.notes = notes
        self.pageImages = pageImages
        self.detectedType = detectedType
        self.pageCount = pageCount
        self.pages = pages
        self.text = text
        self.ocrConfidence = ocrConfidence
        self.languages = languages
        self.thumbnailPNG = thumbnailPNG
        self.truncated = truncated
    }
}

/// The end of one document's extraction as stored: status, reason, and what was found.
public struct DocumentOutcome: Sendable, Codable, Equatable {
    /// `completed`, `failed` or `unsupported`.
    public var status: DocumentStatus
    public var reason: String?
    /// Type from the magic bytes (also for unsupported files: `elf`, `zip`, `unknown`, ...).
    public var detectedType: String?
    /// Set when the declared type or filename extension disagrees with the content.
    public var typeMismatch: String?
    /// Text and pages; the thumbnail bytes are not kept here but in the blob store.
    public var extraction: DocumentExtraction?
    /// SHA-256 of the first-page PNG in the blob store.
    public var thumbnailBlob: String?
    /// Classification and fields from `DocumentFieldsExtractor` (invoice, receipt, ...).
    public var kind: String?
    public var fields: JSONValue?

    public init(status: DocumentStatus, reason: String? = nil, detectedType: String? = nil, typeMismatch: String? = nil, extraction: DocumentExtraction? = nil, thumbnailBlob: String? = nil, kind: String? = nil, fields: JSONValue? = nil) {
        self.status = status
        self.reason = reason
        self.detectedType = detectedType
        self.typeMismatch = typeMismatch
        self.extraction = extraction
        self.thumbnailBlob = thumbnailBlob
        self.kind = kind
        self.fields = fields
    }
}

/// Document status and extraction results, kept by the store next to the documents.
public protocol DocumentStore: Sendable {
    /// `pending → processing` (also `processing → processing` on a retried job). False when the
    /// document is already finished (`completed`, `failed`, `unsupported`) or does not exist.
    func markDocumentProcessing(id: String) async throws -> Bool
    /// Stores the final status, reason and results of one document.
    func recordDocumentOutcome(id: String, _ outcome: DocumentOutcome) async throws
    /// Outcomes of an intake's finished documents, by document id.
    func documentOutcomes(intakeID: String) async throws -> [String: DocumentOutcome]
}
