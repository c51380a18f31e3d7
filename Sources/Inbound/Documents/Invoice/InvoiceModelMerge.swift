import Foundation
public import Core
public import Logging

extension InvoiceExtractor {
    /// The local extraction, then, when a model is configured, its answer merged in: agreement raises
    /// confidence, disagreement is recorded in `disagreements` (the more trustworthy value is kept), and
    /// fields only the model found are added with moderate confidence. A failing model leaves the local
    /// result as it is. `images` (scanned pages) go to a model that reads them.
    public static func extract(
        text: String, hints: InvoiceExtractionHints = InvoiceExtractionHints(), model: (any FieldExtractionModel)?, images: [PageImage] = [], logger: Logger
    ) async -> InvoiceExtraction {
        let local = extract(text: text, hints: hints)
        guard let model else { return local }
        do {
            let answer = images.isEmpty ? try await model.extractFields(text: text) : try await model.extractFields(text: text, images: images)
            var merged = merge(local: local, model: answer, text: text)
            merged.modelOutcome = "merged"
            return merged
        } catch {
            // The error says what went wrong (status, schema violation), never the document's text.
            logger.warning("Invoice model extraction failed; keeping local fields", metadata: ["document_model.error": "\(error)"])
            var kept = local
            kept.modelOutcome = "failed: \(error)"
            return kept
        }
    }

    /// Merges a model's answer (shaped like `FieldExtractionSchema.jsonSchema`) into a local extraction.
    public static func merge(local: InvoiceExtraction, model answer: JSONValue, text: String) -> InvoiceExtraction {
        guard case .object(let object) = answer else { return local }
        var merged = local
        for field in InvoiceField.allCases {
            guard let value = normalized(field, object[field.rawValue]) else { continue }
            if let current = local.fields[field] {
                if agree(field, current.value, value) {
                    merged.fields[field]?.confidence = min(0.99, 1 - (1 - current.confidence) * 0.4)
                    merged.fields[field]?.source = .agreed
                } else {
                    merged.disagreements.append(FieldDisagreement(field: field.rawValue, local: current.value, model: value))
                    // A value the document's own arithmetic or checksum confirmed stays; otherwise neither is sure.
                    if current.confidence >= 0.9 {
                        merged.fields[field]?.confidence = current.confidence * 0.8
                    } else {
                        merged.fields[field] = ExtractedField(value: value, confidence: 0.45, span: span(of: value, in: text), source: .model)
                    }
                }
            } else {
                let span = span(of: value, in: text)
                // A value the model read that is also in the text is likelier right than a guess.
                merged.fields[field] = ExtractedField(value: value, confidence: span == nil ? 0.45 : 0.6, span: span, source: .model)
            }
        }
        if case .string(let raw)? = object["kind"], let kind = DocumentKind(rawValue: raw) {
            if kind == local.classification.kind {
                merged.classification.confidence = min(0.99, 1 - (1 - local.classification.confidence) * 0.4)
            } else {
                merged.disagreements.append(FieldDisagreement(field: "kind", local: .string(local.classification.kind.rawValue), model: .string(raw)))
                if local.classification.confidence < 0.6 {
                    merged.classification = DocumentClassification(kind: kind, confidence: 0.5, evidence: [])
                }
            }
        }
        return merged
    }

    /// A model value in the local extractor's form, or nil when absent or malformed.
    static func normalized(_ field: InvoiceField, _ value: JSONValue?) -> JSONValue? {
        switch (field, value) {
        case (_, nil), (_, .null?): return nil
        case (let field, .number(let number)?) where field.isNumeric: return number.isFinite ? .number(number) : nil
        case (let field, .string(let string)?) where field.isNumeric:
            return InvoiceAmount.parse(string).map(JSONValue.number)
        case (.issueDate, .string(let string)?), (.dueDate, .string(let string)?):
            return InvoiceDate.parse(string).map(JSONValue.string)
        case (.currency, .string(let string)?):
            let code = string.trimmingCharacters(in: .whitespaces).uppercased()
            return code.count == 3 && code.allSatisfy(\.isLetter) ? .string(code) : nil
        case (.iban, .string(let string)?):
            let iban = string.replacingOccurrences(of: " ", with: "").uppercased()
            return IBAN.isValid(iban) ? .string(iban) : nil
        case (_, .string(let string)?):
            let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
            return trimmed.isEmpty ? nil : .string(trimmed)
        default: return nil
        }
    }

    static func agree(_ field: InvoiceField, _ local: JSONValue, _ model: JSONValue) -> Bool {
        switch (local, model) {
        case (.number(let a), .number(let b)): return abs(a - b) < 0.005
        case (.string(let a), .string(let b)):
            let fold = { (text: String) in
                text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).filter { !$0.isWhitespace }
            }
            return fold(a) == fold(b)
        default: return false
        }
    }

    /// Where a model's string value stands in the text, if it does literally.
    static func span(of value: JSONValue, in text: String) -> TextSpan? {
        guard case .string(let string) = value, string.count >= 2, let range = text.range(of: string) else { return nil }
        let start = text.distance(from: text.startIndex, to: range.lowerBound)
        return TextSpan(start: start, end: start + string.count, snippet: String(text[range]))
    }
}
