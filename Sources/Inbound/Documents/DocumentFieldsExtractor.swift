public import Core
public import Logging

/// The one place where a document's text becomes a classification and structured fields
/// (`DocumentFacts.kind` / `.fields`): `InvoiceExtractor` over the extracted text.
public enum DocumentFieldsExtractor {
    /// Classification and fields of one extracted text. Every document with text gets a kind
    /// (`other` when it is none of the commercial kinds); fields only come with the commercial kinds,
    /// so an ordinary letter never carries a stray `total`.
    public static func fields(for extraction: DocumentExtraction) -> (kind: String?, fields: JSONValue?) {
        guard !extraction.text.isEmpty else { return (nil, nil) }
        let result = InvoiceExtractor.extract(text: extraction.text)
        let kind = result.classification.kind
        return (kind.rawValue, kind == .other ? nil : result.factsFields)
    }

    /// The same, with the configured field model's answer merged in (`InvoiceExtractor.extract(text:model:logger:)`).
    /// The model is asked for every document with text, since it may classify one the local
    /// extractor calls `other`; a failing model leaves the local result, with `model_outcome` saying why.
    /// `images` are the scanned pages the child rendered for the model (`documents.model.send_images`).
    public static func fields(for extraction: DocumentExtraction, model: (any FieldExtractionModel)?, images: [PageImage] = [], logger: Logger) async -> (kind: String?, fields: JSONValue?) {
        guard let model else { return fields(for: extraction) }
        guard !extraction.text.isEmpty else { return (nil, nil) }
        let result = await InvoiceExtractor.extract(text: extraction.text, model: model, images: images, logger: logger)
        let kind = result.classification.kind
        return (kind.rawValue, kind == .other ? nil : result.factsFields)
    }
}
