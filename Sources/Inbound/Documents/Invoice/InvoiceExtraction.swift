public import Core

/// What a document is, for routing (`document.kind`).
public enum DocumentKind: String, Sendable, Codable, CaseIterable {
    case invoice, receipt
    case creditNote = "credit_note"
    case quote
    case orderConfirmation = "order_confirmation"
    case other
}

/// A stretch of the extracted text a value came from. Offsets count Characters (grapheme clusters)
/// from the start of the text given to the extractor; `end` is exclusive.
public struct TextSpan: Sendable, Codable, Equatable {
    public var start: Int
    public var end: Int
    /// The matched text itself (label excluded), so a reviewer sees what was read without the document.
    public var snippet: String

    public init(start: Int, end: Int, snippet: String) {
        self.start = start
        self.end = end
        self.snippet = snippet
    }
}

/// Where a field's value came from.
public enum FieldSource: String, Sendable, Codable {
    /// Read from the text by the local extractor.
    case text
    /// Computed from other fields (e.g. subtotal = total − tax) when the text had no readable value.
    case derived
    /// Only the model found it.
    case model
    /// The local extractor and the model agree.
    case agreed
}

/// One extracted value with how sure the extractor is and where it was read.
public struct ExtractedField: Sendable, Codable, Equatable {
    /// `.string` (text, ISO 4217 code, ISO 8601 date `YYYY-MM-DD`) or `.number`.
    public var value: JSONValue
    /// 0...1.
    public var confidence: Double
    public var span: TextSpan?
    public var source: FieldSource

    public init(value: JSONValue, confidence: Double, span: TextSpan?, source: FieldSource = .text) {
        self.value = value
        self.confidence = min(1, max(0, confidence))
        self.span = span
        self.source = source
    }

    public var number: Double? { if case .number(let value) = value { value } else { nil } }
    public var string: String? { if case .string(let value) = value { value } else { nil } }
}

/// The scalar fields, named as in `DocumentFacts.fields` (and so as rules see them: `invoice.total`).
public enum InvoiceField: String, Sendable, Codable, CaseIterable {
    case issuer
    case vatID = "vat_id"
    case invoiceNumber = "invoice_number"
    case issueDate = "issue_date"
    case dueDate = "due_date"
    case currency, total, subtotal, tax
    case taxRate = "tax_rate"
    case iban, bic
    case poNumber = "po_number"

    /// Whether the value is a number (amounts, rate) rather than a string.
    public var isNumeric: Bool { [.total, .subtotal, .tax, .taxRate].contains(self) }
}

/// One row of the item table.
public struct LineItem: Sendable, Codable, Equatable {
    public var description: String
    public var quantity: Double?
    public var unitPrice: Double?
    public var amount: Double
    public var confidence: Double
    public var span: TextSpan?

    public init(description: String, quantity: Double?, unitPrice: Double?, amount: Double, confidence: Double, span: TextSpan?) {
        self.description = description
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.amount = amount
        self.confidence = confidence
        self.span = span
    }
}

/// The kind of a document, how sure, and the keywords that decided it.
public struct DocumentClassification: Sendable, Codable, Equatable {
    public var kind: DocumentKind
    public var confidence: Double
    /// Keywords found for the chosen kind (with spans), strongest first.
    public var evidence: [TextSpan]

    public init(kind: DocumentKind, confidence: Double, evidence: [TextSpan]) {
        self.kind = kind
        self.confidence = confidence
        self.evidence = evidence
    }
}

/// A field on which the local extractor and the model disagreed: the kept value is in `fields`.
public struct FieldDisagreement: Sendable, Codable, Equatable {
    public var field: String
    public var local: JSONValue?
    public var model: JSONValue?

    public init(field: String, local: JSONValue?, model: JSONValue?) {
        self.field = field
        self.local = local
        self.model = model
    }
}

/// Everything read from one document's text.
public struct InvoiceExtraction: Sendable, Codable, Equatable {
    public var classification: DocumentClassification
    public var fields: [InvoiceField: ExtractedField]
    public var lineItems: [LineItem]
    /// Filled by the model merge only.
    public var disagreements: [FieldDisagreement]
    /// What the configured model came to: `merged`, or why its answer was not used (the local
    /// result stands). Nil when no model is configured.
    public var modelOutcome: String?

    public init(
        classification: DocumentClassification, fields: [InvoiceField: ExtractedField], lineItems: [LineItem],
        disagreements: [FieldDisagreement] = []
    ) {
        self.classification = classification
        self.fields = fields
        self.lineItems = lineItems
        self.disagreements = disagreements
    }

    public subscript(field: InvoiceField) -> ExtractedField? { fields[field] }

    /// `DocumentFacts.fields`: plain values under the stable names (`total`, `currency`, `issue_date`,
    /// ..., `line_items`), plus `confidence` (field → 0...1) so rules can require a sure value.
    /// Fields not found are absent (not null).
    public var factsFields: JSONValue {
        var object: [String: JSONValue] = [:]
        var confidence: [String: JSONValue] = [:]
        for field in InvoiceField.allCases {
            guard let extracted = fields[field] else { continue }
            object[field.rawValue] = extracted.value
            confidence[field.rawValue] = .number((extracted.confidence * 100).rounded() / 100)
        }
        if !lineItems.isEmpty {
            object["line_items"] = .array(lineItems.map { item in
                var entry: [String: JSONValue] = ["description": .string(item.description), "amount": .number(item.amount)]
                if let quantity = item.quantity { entry["quantity"] = .number(quantity) }
                if let unitPrice = item.unitPrice { entry["unit_price"] = .number(unitPrice) }
                return .object(entry)
            })
        }
        object["confidence"] = .object(confidence)
        if !disagreements.isEmpty {
            object["disagreements"] = .array(disagreements.map { .string($0.field) })
        }
        if let modelOutcome { object["model_outcome"] = .string(modelOutcome) }
        return .object(object)
    }

    /// What routing sees of this document, for the pipeline that built the text.
    public func facts(filename: String, declaredType: String, size: Int, text: String?) -> DocumentFacts {
        DocumentFacts(
            filename: filename, declaredType: declaredType, size: size, kind: classification.kind.rawValue,
            text: text, fields: factsFields
        )
    }
}

/// What the caller knows about a document before reading it; every hint is optional.
public struct InvoiceExtractionHints: Sendable, Equatable {
    /// ISO 639-1 (`en`, `de`, `fr`, `es`, `nl`, `it`) when known from the mail or OCR; otherwise guessed.
    public var language: String?
    /// ISO 4217 code used when the text names no currency.
    public var defaultCurrency: String?
    /// Day/month order for all-numeric dates when the document itself does not settle it.
    public var dateOrder: DateOrder?

    public init(language: String? = nil, defaultCurrency: String? = nil, dateOrder: DateOrder? = nil) {
        self.language = language
        self.defaultCurrency = defaultCurrency
        self.dateOrder = dateOrder
    }
}

/// The order of day and month in an all-numeric date (year first is unambiguous: ISO).
public enum DateOrder: String, Sendable, Codable {
    case dayMonth, monthDay
}
