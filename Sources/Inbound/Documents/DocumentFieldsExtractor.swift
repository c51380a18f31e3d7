public import Core

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
}
