public import Core

/// What one extraction is told: the `documents` config plus OCR switches. Passed to the child as
/// JSON in an argument.
public struct ExtractionSettings: Sendable, Codable, Equatable {
    public var limits: DocumentsConfig
    public var autoRotate: Bool
    public var thumbnails: Bool
    /// Images of the first scanned pages for the field model (`documents.model.send_images`);
    /// nil: none. Absent from the JSON of older daemons, which decodes as nil.
    public var pageImages: PageImageSettings?

    public init(limits: DocumentsConfig, autoRotate: Bool = true, thumbnails: Bool = true, pageImages: PageImageSettings? = nil) {
        self.limits = limits
        self.autoRotate = autoRotate
        self.thumbnails = thumbnails
        self.pageImages = pageImages
    }
}

extension DocumentType {
    /// The outcome of a document whose type is not extracted: nothing is decoded, so the daemon
    /// answers it itself, and the extraction child gives the same answer.
    public func unsupportedOutcome(declaredType: String, filename: String) -> DocumentOutcome {
        var outcome = DocumentOutcome(status: .unsupported, detectedType: rawValue, typeMismatch: mismatch(declaredType: declaredType, filename: filename))
        outcome.reason = self == .unknown ? "content type not recognised (not one of pdf, png, jpeg, tiff, webp, text, html, eml)"
            : "\(rawValue) files are not extracted (\(mediaType))"
        return outcome
    }
}
