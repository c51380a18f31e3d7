public import Core

/// The one place where a document's text becomes a classification and structured fields
/// (`DocumentFacts.kind` / `.fields`). The invoice/receipt extractor (`InvoiceExtractor`, its own
/// branch) plugs in here when merged; until then no kind or fields are produced.
public enum DocumentFieldsExtractor {
    /// Classification and fields of one extracted text; (nil, nil) when nothing is known.
    public static func fields(for extraction: DocumentExtraction) -> (kind: String?, fields: JSONValue?) {
        // TODO(merge invoice branch): return InvoiceExtractor's classification and fields here.
        (nil, nil)
    }
}
