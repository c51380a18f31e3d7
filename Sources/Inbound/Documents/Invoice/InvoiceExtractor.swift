import Foundation
import Core

/// Reads invoices, receipts, credit notes, quotes and order confirmations from extracted text
/// (a PDF's text layer or OCR output): the kind, and each field with a confidence and the span it
/// came from. Pure and synchronous; labels and formats in English, German, French, Spanish, Dutch
/// and Italian. See docs/invoice-extraction.md.
public enum InvoiceExtractor {
    public static func extract(text: String, hints: InvoiceExtractionHints = InvoiceExtractionHints()) -> InvoiceExtraction {
        var reader = Reader(text: InvoiceText(text), hints: hints)
        return reader.run()
    }
}

private struct Reader {
    let document: InvoiceText
    let hints: InvoiceExtractionHints
    var fields: [InvoiceField: ExtractedField] = [:]
    var language = "en"
    var decimalSeparator: Character?
    var dateOrder: DateOrder = .dayMonth
    /// Per line: the role its amount plays, from its dominant label.
    var roles: [Int: (role: AmountRole, hit: InvoiceText.Hit)] = [:]

    enum AmountRole { case total, subtotal, tax, masked }

    init(text: InvoiceText, hints: InvoiceExtractionHints) {
        self.document = text
        self.hints = hints
    }

    mutating func run() -> InvoiceExtraction {
        language = hints.language ?? detectLanguage()
        decimalSeparator = detectDecimalSeparator()
        let classification = classify()
        readCurrency()
        readDates()
        readIdentifiers()
        readIssuer()
        readAmounts()
        let items = readLineItems()
        checkConsistency(items: items)
        return InvoiceExtraction(classification: classification, fields: fields, lineItems: items)
    }

    // MARK: Spans

    func span(line index: Int, _ lower: Int, _ upper: Int) -> TextSpan {
        let line = document.lines[index]
        return TextSpan(start: line.start + lower, end: line.start + upper, snippet: InvoiceText.slice(line, lower, upper))
    }

    mutating func set(_ field: InvoiceField, _ value: JSONValue, confidence: Double, span: TextSpan?, source: FieldSource = .text) {
        fields[field] = ExtractedField(value: value, confidence: confidence, span: span, source: source)
    }

    // MARK: Language, number style

    func detectLanguage() -> String {
        var best = ("en", 0)
        for (language, words) in InvoiceVocabulary.languages {
            let count = document.lines.reduce(0) { $0 + InvoiceText.hits(of: words, in: $1).count }
            if count > best.1 { best = (language, count) }
        }
        return best.0
    }

    func detectDecimalSeparator() -> Character? {
        var commas = 0
        var dots = 0
        for line in document.lines where !line.isBlank {
            for token in AmountScanner.scan(line.text, decimalSeparator: nil) {
                switch InvoiceAmount.decimalSeparator(of: token.text) {
                case ",": commas += 1
                case ".": dots += 1
                default: break
                }
            }
        }
        if commas == dots { return nil }
        return commas > dots ? "," : "."
    }

    // MARK: Classification

    func classify() -> DocumentClassification {
        var scores: [DocumentKind: Double] = [:]
        var evidence: [DocumentKind: [(Double, TextSpan)]] = [:]
        let all = InvoiceVocabulary.kinds.flatMap { kind, words in words.map { (kind, $0) } }
        let labels = all.map(\.1) + InvoiceVocabulary.kindNeutral + InvoiceVocabulary.purchaseOrder
        let lineCount = max(1, document.lines.count)
        for (index, line) in document.lines.enumerated() where !line.isBlank {
            let cells = line.text.components(separatedBy: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for hit in InvoiceText.dominant(InvoiceText.hits(of: labels, in: line)) {
                guard let kind = all.first(where: { $0.1 == hit.label })?.0 else { continue }
                let original = InvoiceText.slice(line, hit.lower, hit.upper)
                var weight = 1.0
                // A title: the keyword alone in its cell, or written in capitals.
                if cells.contains(where: { InvoiceText.fold($0).filter { $0.isLetter || $0 == " " } == Array(hit.label.map(InvoiceText.fold)) }) {
                    weight += 3
                } else if original.count > 3, original == original.uppercased() {
                    weight += 2
                }
                if Double(index) < Double(lineCount) * 0.4 { weight *= 1.5 }
                scores[kind, default: 0] += weight
                evidence[kind, default: []].append((weight, span(line: index, hit.lower, hit.upper)))
            }
        }
        let ranked = scores.sorted { $0.value > $1.value }
        guard let best = ranked.first, best.value >= 1 else {
            return DocumentClassification(kind: .other, confidence: 0.5, evidence: [])
        }
        let second = ranked.dropFirst().first?.value ?? 0
        let confidence = min(0.99, 0.5 + 0.5 * (best.value - second) / best.value)
        let spans = (evidence[best.key] ?? []).sorted { $0.0 > $1.0 }.prefix(5).map(\.1)
        return DocumentClassification(kind: best.key, confidence: confidence, evidence: Array(spans))
    }

    // MARK: Currency

    mutating func readCurrency() {
        var counts: [String: (count: Int, span: TextSpan)] = [:]
        for (index, line) in document.lines.enumerated() where !line.isBlank {
            let characters = Array(line.text)
            for (symbol, code) in InvoiceVocabulary.currencySymbols {
                let needle = Array(symbol)
                var position = 0
                while position + needle.count <= characters.count {
                    if Array(line.folded[position..<position + needle.count]) == needle.map(InvoiceText.fold) {
                        // "fr." is a currency only before or after a number.
                        if symbol != "fr." || characters[position...].dropFirst(3).first == " " {
                            let entry = counts[code] ?? (0, span(line: index, position, position + needle.count))
                            counts[code] = (entry.count + 1, entry.span)
                        }
                    }
                    position += 1
                }
            }
            for hit in InvoiceText.hits(of: InvoiceVocabulary.currencyCodes.map { $0.lowercased() }, in: line) {
                guard InvoiceText.slice(line, hit.lower, hit.upper) == hit.label.uppercased() else { continue }
                let code = hit.label.uppercased()
                let entry = counts[code] ?? (0, span(line: index, hit.lower, hit.upper))
                counts[code] = (entry.count + 2, entry.span)
            }
        }
        if let best = counts.max(by: { $0.value.count < $1.value.count || ($0.value.count == $1.value.count && $0.key > $1.key) }) {
            let total = counts.values.reduce(0) { $0 + $1.count }
            set(.currency, .string(best.key), confidence: 0.6 + 0.35 * Double(best.value.count) / Double(total), span: best.value.span)
        } else if let currency = hints.defaultCurrency {
            set(.currency, .string(currency), confidence: 0.4, span: nil, source: .derived)
        }
    }

    // MARK: Dates

    mutating func readDates() {
        var perLine: [[InvoiceDate.Candidate]] = []
        var all: [InvoiceDate.Candidate] = []
        for line in document.lines {
            let candidates = line.isBlank ? [] : InvoiceDate.candidates(in: line.text)
            perLine.append(candidates)
            all += candidates
        }
        if let implied = InvoiceDate.impliedOrder(all) {
            dateOrder = implied
        } else if let hinted = hints.dateOrder {
            dateOrder = hinted
        } else {
            let currency = fields[.currency]?.string
            dateOrder = language == "en" && (currency == "USD" || currency == nil && hints.defaultCurrency == "USD") ? .monthDay : .dayMonth
        }
        let labels = InvoiceVocabulary.issueDate + InvoiceVocabulary.dueDate + InvoiceVocabulary.otherDates
        let due = Set(InvoiceVocabulary.dueDate)
        let issue = Set(InvoiceVocabulary.issueDate)
        var firstDate: (Int, InvoiceDate.Candidate)?
        for (index, line) in document.lines.enumerated() where !line.isBlank {
            if firstDate == nil, let first = perLine[index].first { firstDate = (index, first) }
            for hit in InvoiceText.dominant(InvoiceText.hits(of: labels, in: line)) {
                let field: InvoiceField
                if due.contains(hit.label) { field = .dueDate } else if issue.contains(hit.label) { field = .issueDate } else { continue }
                guard fields[field] == nil else { continue }
                // The value follows the label on its line, or sits on the next line.
                if let (lineIndex, candidate) = firstCandidate(after: hit, line: index, perLine: perLine),
                    let value = candidate.resolved(order: dateOrder), let (lower, upper) = InvoiceText.characterRange(candidate.range, in: document.lines[lineIndex].text)
                {
                    let generic = ["date", "datum", "fecha", "data", "due"].contains(hit.label)
                    set(field, .string(value), confidence: generic ? 0.75 : 0.85, span: span(line: lineIndex, lower, upper))
                }
            }
        }
        if fields[.issueDate] == nil, let (index, candidate) = firstDate, let value = candidate.resolved(order: dateOrder),
            fields[.dueDate]?.value != .string(value),
            let (lower, upper) = InvoiceText.characterRange(candidate.range, in: document.lines[index].text)
        {
            set(.issueDate, .string(value), confidence: 0.45, span: span(line: index, lower, upper))
        }
    }

    func firstCandidate(after hit: InvoiceText.Hit, line index: Int, perLine: [[InvoiceDate.Candidate]]) -> (Int, InvoiceDate.Candidate)? {
        let text = document.lines[index].text
        for candidate in perLine[index] {
            if let (lower, _) = InvoiceText.characterRange(candidate.range, in: text), lower >= hit.upper, lower - hit.upper < 60 {
                // Stop at another label between the two (two label/value pairs on one line).
                return (index, candidate)
            }
        }
        var next = index + 1
        while next < document.lines.count, next <= index + 2 {
            let line = document.lines[next]
            if !line.isBlank {
                // A date under its own label belongs to that label.
                let labels = InvoiceVocabulary.issueDate + InvoiceVocabulary.dueDate + InvoiceVocabulary.otherDates
                if !InvoiceText.hits(of: labels, in: line).isEmpty { return nil }
                for candidate in perLine[next] {
                    if let (lower, _) = InvoiceText.characterRange(candidate.range, in: line.text), abs(lower - hit.lower) < 25 {
                        return (next, candidate)
                    }
                }
                return nil
            }
            next += 1
        }
        return nil
    }

    // MARK: Invoice number, PO number, VAT id, IBAN, BIC

    mutating func readIdentifiers() {
        let number = Set(InvoiceVocabulary.number)
        let labels = InvoiceVocabulary.number + InvoiceVocabulary.purchaseOrder
        for (index, line) in document.lines.enumerated() where !line.isBlank {
            for hit in InvoiceText.dominant(InvoiceText.hits(of: labels, in: line)) {
                let field: InvoiceField = number.contains(hit.label) ? .invoiceNumber : .poNumber
                guard fields[field] == nil else { continue }
                if let (lower, upper, value) = identifier(after: hit, in: line) {
                    set(field, .string(value), confidence: 0.85, span: span(line: index, lower, upper))
                } else if InvoiceText.slice(line, hit.upper, line.text.count).trimmingCharacters(in: CharacterSet(charactersIn: " :#.-")).isEmpty,
                    let (lineIndex, lower, upper, value) = identifierBelow(line: index)
                {
                    set(field, .string(value), confidence: 0.55, span: span(line: lineIndex, lower, upper))
                }
            }
        }
        readVATID()
        readBank()
    }

    /// The first token after a label that holds a digit: `INV-2025-0012`, `2025/017`, `PO-12345`.
    func identifier(after hit: InvoiceText.Hit, in line: InvoiceText.Line) -> (Int, Int, String)? {
        let characters = Array(line.text)
        var position = hit.upper
        // Skip punctuation and a number sign the label left out ("Invoice No.:", "Nr.", "n°", "#").
        while position < characters.count, " \t:#.°º-".contains(characters[position]) { position += 1 }
        for prefix in ["no.", "nr.", "n°", "nº", "no", "nr", "n.", "num."] {
            let folded = String(line.folded[position...].prefix(prefix.count))
            if folded == prefix, position + prefix.count < characters.count, " :#".contains(characters[position + prefix.count]) || prefix.hasSuffix(".") {
                position += prefix.count
                while position < characters.count, " \t:#".contains(characters[position]) { position += 1 }
                break
            }
        }
        var end = position
        while end < characters.count, characters[end].isLetter || characters[end].isNumber || "-/_.".contains(characters[end]) { end += 1 }
        while end > position, ".-/".contains(characters[end - 1]) { end -= 1 }
        var token = String(characters[position..<end])
        // OCR reads a leading O before a letter as 0 ("0C2548210" for "OC2548210").
        if token.count > 2, token.first == "0", Array(token)[1].isUppercase { token = "O" + token.dropFirst() }
        guard token.count >= 2, token.contains(where: \.isNumber), end - hit.upper < 50 else { return nil }
        return (position, end, token)
    }

    /// The value of a label with nothing after it: OCR puts it on one of the next lines, alone.
    func identifierBelow(line index: Int) -> (Int, Int, Int, String)? {
        var next = index + 1
        var seen = 0
        while next < document.lines.count, seen < 3 {
            let line = document.lines[next]
            next += 1
            if line.isBlank { continue }
            seen += 1
            let token = line.text.trimmingCharacters(in: .whitespaces)
            guard !token.contains(" "), token.count >= 2, token.contains(where: \.isNumber),
                token.allSatisfy({ $0.isLetter || $0.isNumber || "-/_.".contains($0) }),
                InvoiceDate.candidates(in: token).isEmpty, AmountScanner.scan(token, decimalSeparator: decimalSeparator).allSatisfy({ !$0.hasDecimals })
            else { continue }
            let lower = line.text.distance(from: line.text.startIndex, to: line.text.firstIndex { !$0.isWhitespace } ?? line.text.startIndex)
            return (next - 1, lower, lower + token.count, token)
        }
        return nil
    }

    static let vatPattern = try? NSRegularExpression(pattern:
        #"(?<![A-Z0-9])(ATU ?\d{8}|BE ?[01]\d{9}|DE ?\d{9}|FR ?[0-9A-Z]{2} ?\d{9}|ES ?[0-9A-Z]\d{7}[0-9A-Z]|NL ?\d{9}B\d{2}|IT ?\d{11}|GB ?(?:\d{9}|\d{12})|CHE[- ]?\d{3}\.?\d{3}\.?\d{3}|DK ?\d{8}|SE ?\d{12}|PL ?\d{10}|PT ?\d{9}|LU ?\d{8}|IE ?\d{7}[A-Z]{1,2}|AT ?U\d{8})(?![A-Z0-9])"#)

    mutating func readVATID() {
        guard let pattern = Self.vatPattern else { return }
        var best: (Double, String, TextSpan)?
        for (index, line) in document.lines.enumerated() where !line.isBlank {
            let labelled = !InvoiceText.hits(of: InvoiceVocabulary.vatIDLabels, in: line).isEmpty
            let repaired = InvoiceText.repairedIdentifiers(line.text)
            for match in pattern.matches(in: repaired, range: NSRange(location: 0, length: (repaired as NSString).length)) {
                guard let (lower, upper) = InvoiceText.characterRange(match.range, in: repaired) else { continue }
                var value = (repaired as NSString).substring(with: match.range).replacingOccurrences(of: " ", with: "")
                if value.hasPrefix("CHE"), !value.hasPrefix("CHE-") { value = "CHE-" + value.dropFirst(3) }
                let wasRepaired = InvoiceText.slice(line, lower, upper) != (repaired as NSString).substring(with: match.range)
                let confidence = (labelled ? 0.9 : 0.6) - (wasRepaired ? 0.15 : 0)
                if best == nil || confidence > (best?.0 ?? 0) { best = (confidence, value, span(line: index, lower, upper)) }
            }
        }
        if let best { set(.vatID, .string(best.1), confidence: best.0, span: best.2) }
    }

    static let ibanStart = try? NSRegularExpression(pattern: #"(?<![A-Z0-9])[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}"#)
    static let bicPattern = try? NSRegularExpression(pattern: #"(?<![A-Za-z0-9])([A-Z]{4}[A-Z]{2}[A-Z0-9]{2}(?:[A-Za-z0-9]{3})?)(?![A-Za-z0-9])"#)

    mutating func readBank() {
        for (index, line) in document.lines.enumerated() where !line.isBlank && fields[.iban] == nil {
            let repaired = InvoiceText.repairedIdentifiers(line.text)
            let string = repaired as NSString
            for match in Self.ibanStart?.matches(in: repaired, range: NSRange(location: 0, length: string.length)) ?? [] {
                guard let (lower, _) = InvoiceText.characterRange(match.range, in: repaired) else { continue }
                let rest = Array(repaired)[lower...]
                if let (iban, length) = IBAN.read(Substring(String(rest))) {
                    set(.iban, .string(iban), confidence: 0.97, span: span(line: index, lower, lower + length))
                    break
                }
            }
        }
        for (index, line) in document.lines.enumerated() where !line.isBlank && fields[.bic] == nil {
            let hits = InvoiceText.hits(of: ["bic", "swift", "swift/bic", "bic/swift", "swift code"], in: line)
            guard let hit = hits.first else { continue }
            let after = InvoiceText.slice(line, hit.upper, line.text.count)
            let string = after as NSString
            if let match = Self.bicPattern?.firstMatch(in: after, range: NSRange(location: 0, length: string.length)),
                let (lower, upper) = InvoiceText.characterRange(match.range, in: after)
            {
                // OCR writes a branch code XXX as "Xxx".
                let value = string.substring(with: match.range).uppercased()
                let country = String(Array(value)[4..<6])
                let known = IBAN.lengths[country] != nil || ["US", "CA", "JP", "CN", "AU"].contains(country)
                set(.bic, .string(value), confidence: known ? 0.9 : 0.6, span: span(line: index, hit.upper + lower, hit.upper + upper))
            }
        }
    }

    // MARK: Issuer

    mutating func readIssuer() {
        let kindWords = InvoiceVocabulary.kinds.flatMap(\.1)
        for (index, line) in document.lines.enumerated().prefix(12) where !line.isBlank {
            // The first cell of the first line that is not a title, a date or an address-like number line.
            var cell = line.text.components(separatedBy: "   ").map { $0.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty } ?? ""
            let foldedCell = String(InvoiceText.fold(cell)).trimmingCharacters(in: .punctuationCharacters)
            if kindWords.contains(foldedCell) || cell.filter(\.isLetter).count < 3 { continue }
            // OCR joins columns with one space: drop a trailing title word.
            for word in kindWords where foldedCell.hasSuffix(" " + word) {
                cell = String(cell.dropLast(word.count)).trimmingCharacters(in: .whitespaces)
            }
            guard let lower = line.text.range(of: cell).map({ line.text.distance(from: line.text.startIndex, to: $0.lowerBound) }) else { continue }
            // OCR's l in "S.r.l." comes out as |, !, 1 or I.
            if let last = cell.split(separator: " ").last, last.count >= 4, last.count <= 7 {
                let mapped = String(last.map { "|!1I".contains($0) ? "l" : $0 })
                if mapped != String(last), InvoiceVocabulary.legalForms.contains(String(InvoiceText.fold(mapped))) {
                    cell = String(cell.dropLast(last.count)) + mapped
                }
            }
            let words = cell.split(separator: " ").map { String(InvoiceText.fold($0.trimmingCharacters(in: .punctuationCharacters))) }
            let hasLegalForm = words.contains { word in InvoiceVocabulary.legalForms.contains(word) || InvoiceVocabulary.legalForms.contains(word + ".") }
            let digits = cell.filter(\.isNumber).count
            guard digits < 4 else { continue }
            set(.issuer, .string(cell), confidence: hasLegalForm ? 0.8 : 0.6, span: span(line: index, lower, lower + cell.count))
            return
        }
    }

    // MARK: Amounts

    mutating func readAmounts() {
        let vocabulary: [(AmountRole, [String])] = [
            (.subtotal, InvoiceVocabulary.subtotal), (.total, InvoiceVocabulary.total), (.tax, InvoiceVocabulary.tax),
            (.masked, InvoiceVocabulary.taxMask + InvoiceVocabulary.vatIDLabels),
        ]
        let labels = vocabulary.flatMap(\.1)
        var totals: [(Double, TextSpan)] = []
        var subtotals: [(Double, TextSpan)] = []
        var taxes: [(Double, TextSpan, rate: (Double, TextSpan)?)] = []
        for (index, line) in document.lines.enumerated() where !line.isBlank {
            let hits = InvoiceText.hits(of: labels, in: line)
            guard let hit = hits.max(by: { $0.length < $1.length || ($0.length == $1.length && $0.lower > $1.lower) }) else { continue }
            // A longest label naming a tax-inclusive total ("Total TTC") still counts as a total.
            var role = vocabulary.first { $0.1.contains(hit.label) }?.0 ?? .masked
            if role == .masked, hits.contains(where: { InvoiceVocabulary.total.contains($0.label) }), ["ttc", "incl. vat", "inkl. mwst", "incl. btw"].contains(hit.label) {
                role = .total
            }
            if role == .masked { continue }
            roles[index] = (role, hit)
            let amounts = AmountScanner.scan(line.text, decimalSeparator: decimalSeparator).filter { $0.lower >= hit.upper }
            var amountSpan: TextSpan
            var amount: AmountToken
            if let found = amounts.last(where: \.hasDecimals) ?? amounts.last {
                amount = found
                amountSpan = span(line: index, found.lower, found.upper)
            } else if let (nextIndex, found) = amountAlone(after: index) {
                // OCR put the label's amount on a line of its own.
                amount = found
                amountSpan = span(line: nextIndex, found.lower, found.upper)
            } else {
                continue
            }
            switch role {
            case .total: totals.append((amount.value, amountSpan))
            case .subtotal: subtotals.append((amount.value, amountSpan))
            case .tax:
                let rate = readRate(line: index, before: amount.lower)
                taxes.append((amount.value, amountSpan, rate))
            case .masked: break
            }
        }
        if let subtotal = subtotals.first { set(.subtotal, .number(subtotal.0), confidence: 0.75, span: subtotal.1) }
        if !taxes.isEmpty {
            let sum = taxes.reduce(0) { $0 + $1.0 }
            set(.tax, .number((sum * 100).rounded() / 100), confidence: taxes.count == 1 ? 0.75 : 0.6, span: taxes[0].1)
            let rates = Set(taxes.compactMap { $0.rate?.0 })
            if rates.count == 1, let rate = taxes.first(where: { $0.rate != nil })?.rate {
                set(.taxRate, .number(rate.0), confidence: 0.75, span: rate.1)
            }
        } else {
            let taxLines = roles.filter { $0.value.role == .tax }.keys.sorted()
            if let (rate, rateSpan) = taxLines.compactMap({ readRate(line: $0, before: .max) }).first {
                set(.taxRate, .number(rate), confidence: 0.6, span: rateSpan)
            }
        }
        // The total that subtotal + tax explains, else the largest total line.
        // Plain lets, not nested optional closures: Swift 6.3's release optimizer crashed on the
        // closure form here (an ownership-verifier failure in this function).
        var expected: Double?
        let subtotalValue = fields[.subtotal]?.number
        let taxValue = fields[.tax]?.number
        if let subtotalValue, let taxValue { expected = subtotalValue + taxValue }
        if let expected, let match = totals.first(where: { abs($0.0 - expected) < 0.015 }) {
            set(.total, .number(match.0), confidence: 0.8, span: match.1)
        } else if let largest = totals.max(by: { $0.0 < $1.0 }) {
            set(.total, .number(largest.0), confidence: totals.count == 1 ? 0.75 : 0.65, span: largest.1)
        }
    }

    /// The next non-blank line when it holds nothing but one amount (and maybe a currency).
    func amountAlone(after index: Int) -> (Int, AmountToken)? {
        var next = index + 1
        while next < document.lines.count, next <= index + 2 {
            let line = document.lines[next]
            if !line.isBlank {
                let amounts = AmountScanner.scan(line.text, decimalSeparator: decimalSeparator)
                guard amounts.count == 1, let amount = amounts.first, amount.hasDecimals,
                    line.text.filter(\.isLetter).count <= 3
                else { return nil }
                return (next, amount)
            }
            next += 1
        }
        return nil
    }

    static let ratePattern = try? NSRegularExpression(pattern: #"(?<![\d.,])(\d{1,2}(?:[.,]\d{1,3})?) ?%"#)

    func readRate(line index: Int, before limit: Int) -> (Double, TextSpan)? {
        let text = document.lines[index].text
        guard let match = Self.ratePattern?.firstMatch(in: text, range: NSRange(location: 0, length: (text as NSString).length)),
            let (lower, upper) = InvoiceText.characterRange(match.range, in: text), lower < limit,
            let value = Double((text as NSString).substring(with: match.range(at: 1)).replacingOccurrences(of: ",", with: "."))
        else { return nil }
        return (value, span(line: index, lower, upper))
    }

    // MARK: Line items

    mutating func readLineItems() -> [LineItem] {
        let header = document.lines.firstIndex(where: { line in
            InvoiceVocabulary.columns.filter { !InvoiceText.hits(of: $0, in: line).isEmpty }.count >= 2
                && AmountScanner.scan(line.text, decimalSeparator: decimalSeparator).filter(\.hasDecimals).isEmpty
        })
        // Without a header, items sit after a rule line (receipts) or anywhere above the totals; then only
        // rows whose quantity × unit price gives their amount count.
        let rule = document.lines.firstIndex(where: isRule)
        let start = header.map { $0 + 1 } ?? rule.map { $0 + 1 } ?? 0
        let strict = header == nil
        var items: [LineItem] = []
        var pending: (Int, String)?
        for index in start..<document.lines.count {
            let line = document.lines[index]
            if line.isBlank { continue }
            if roles[index] != nil || (isRule(line) && !items.isEmpty) { break }
            if let item = parseItem(line: index, pendingDescription: pending, strict: strict) {
                items.append(item)
                pending = nil
            } else if line.text.contains(where: \.isLetter), AmountScanner.scan(line.text, decimalSeparator: decimalSeparator).allSatisfy({ !$0.hasDecimals }) {
                pending = (index, line.text.trimmingCharacters(in: .whitespaces))
            } else {
                pending = nil
            }
        }
        return items
    }

    func isRule(_ line: InvoiceText.Line) -> Bool {
        let text = line.text.trimmingCharacters(in: .whitespaces)
        return text.count >= 8 && text.allSatisfy { "-=_*~—".contains($0) }
    }

    /// One item row: `description qty unit amount` (columns or single spaces), or `qty x unit amount`
    /// under a description line. Quantity × unit price must match the amount for a confident item.
    func parseItem(line index: Int, pendingDescription: (Int, String)?, strict: Bool) -> LineItem? {
        let line = document.lines[index]
        let characters = Array(line.text)
        // Tokens with their Character ranges.
        var tokens: [(String, Int, Int)] = []
        var position = 0
        while position < characters.count {
            if characters[position].isWhitespace { position += 1; continue }
            let start = position
            while position < characters.count, !characters[position].isWhitespace { position += 1 }
            var token = String(characters[start..<position])
            // Table rules OCR reads as bars and brackets.
            token = token.trimmingCharacters(in: CharacterSet(charactersIn: "|[]()"))
            if token.isEmpty { continue }
            // "2x" / "2×" as OCR joins them.
            if token.count >= 2, let last = token.last, "xX×".contains(last), token.dropLast().allSatisfy(\.isNumber) {
                tokens.append((String(token.dropLast()), start, position - 1))
                tokens.append(("x", position - 1, position))
                continue
            }
            tokens.append((token, start, position))
        }
        func clean(_ token: String) -> String {
            token.trimmingCharacters(in: CharacterSet(charactersIn: "€$£¥"))
        }
        func isNumeric(_ token: String) -> Bool {
            let text = clean(token)
            return !text.isEmpty && text.allSatisfy { $0.isNumber || ".,'’-".contains($0) } && text.contains(where: \.isNumber)
        }
        var numericStart = tokens.count
        while numericStart > 0, isNumeric(tokens[numericStart - 1].0) || ["€", "EUR", "GBP", "USD", "CHF", "$", "£"].contains(tokens[numericStart - 1].0) {
            numericStart -= 1
        }
        let numbers = tokens[numericStart...].filter { isNumeric($0.0) }
        guard !numbers.isEmpty else { return nil }
        // Values made of one token, or two when the second is a space-separated thousands group.
        func value(_ slice: ArraySlice<(String, Int, Int)>) -> Double? {
            guard slice.count == 1 || (slice.count == 2 && clean(slice.last?.0 ?? "").count >= 3 && (clean(slice.first?.0 ?? "").count <= 3)) else { return nil }
            let text = slice.map { clean($0.0) }.joined(separator: " ")
            // "032,34" is the tail of a space-grouped "1 032,34", not a value of its own.
            if text.count > 1, text.first == "0", let second = text.dropFirst().first, second.isNumber { return nil }
            return InvoiceAmount.parse(text, decimalSeparator: decimalSeparator)
        }
        let numberArray = Array(numbers)
        var descriptionEnd = numericStart
        var best: (quantity: Double?, unit: Double?, amount: Double, used: Int, confidence: Double)?
        for amountWidth in [1, 2] where amountWidth <= numberArray.count {
            guard let amount = value(numberArray[(numberArray.count - amountWidth)...]) else { continue }
            let rest = numberArray.count - amountWidth
            for unitWidth in [1, 2] where unitWidth + 1 <= rest {
                guard let unit = value(numberArray[(rest - unitWidth)..<rest]),
                    let quantity = InvoiceAmount.parse(clean(numberArray[rest - unitWidth - 1].0), decimalSeparator: decimalSeparator)
                else { continue }
                let used = amountWidth + unitWidth + 1
                if abs(quantity * unit - amount) <= 0.011 + abs(amount) * 0.0001, used > (best?.used ?? 0) {
                    best = (quantity, unit, amount, used, 0.9)
                }
            }
        }
        // "2 x 12,50   25,00" under its description.
        if best == nil, let times = tokens.firstIndex(where: { ["x", "X", "×", "*"].contains($0.0) }), times > 0, times + 1 < tokens.count,
            let quantity = InvoiceAmount.parse(tokens[times - 1].0, decimalSeparator: decimalSeparator),
            let unit = InvoiceAmount.parse(clean(tokens[times + 1].0), decimalSeparator: decimalSeparator),
            let amount = numberArray.last.flatMap({ InvoiceAmount.parse(clean($0.0), decimalSeparator: decimalSeparator) }),
            abs(quantity * unit - amount) <= 0.011 + abs(amount) * 0.0001
        {
            let inline = tokens[..<(times - 1)].map(\.0).joined(separator: " ")
            let description = inline.isEmpty ? pendingDescription?.1 ?? "" : inline
            guard !description.isEmpty else { return nil }
            let spanLine = inline.isEmpty ? pendingDescription?.0 ?? index : index
            return LineItem(
                description: description, quantity: quantity, unitPrice: unit, amount: amount, confidence: 0.85,
                span: span(line: spanLine, 0, document.lines[spanLine].text.count))
        }
        if best == nil, !strict, numberArray.count == 1, numberArray[0].0.contains(where: { $0 == "," || $0 == "." }),
            let amount = value(numberArray[...])
        {
            best = (nil, nil, amount, 1, 0.4)
        }
        guard let best else { return nil }
        descriptionEnd = numberArray[numberArray.count - best.used].1
        let description = String(characters[0..<descriptionEnd]).trimmingCharacters(in: .whitespaces)
        guard description.contains(where: \.isLetter) else { return nil }
        let lower = characters.firstIndex { !$0.isWhitespace } ?? 0
        return LineItem(
            description: description, quantity: best.quantity, unitPrice: best.unit, amount: best.amount, confidence: best.confidence,
            span: span(line: index, lower, numberArray.last?.2 ?? characters.count))
    }

    // MARK: Consistency

    mutating func checkConsistency(items: [LineItem]) {
        func adjust(_ field: InvoiceField, by delta: Double) {
            if var extracted = fields[field] {
                extracted.confidence = min(0.99, max(0.05, extracted.confidence + delta))
                fields[field] = extracted
            }
        }
        func round2(_ value: Double) -> Double { (value * 100).rounded() / 100 }
        let total = fields[.total]?.number
        let subtotal = fields[.subtotal]?.number
        let tax = fields[.tax]?.number
        let itemSum = items.isEmpty ? nil : round2(items.reduce(0) { $0 + $1.amount })
        switch (subtotal, tax, total) {
        case let (subtotal?, tax?, total?):
            let delta = abs(subtotal + tax - total) < 0.015 ? 0.2 : -0.25
            for field in [InvoiceField.subtotal, .tax, .total] { adjust(field, by: delta) }
        case let (nil, tax?, total?):
            let derived = round2(total - tax)
            set(.subtotal, .number(derived), confidence: itemSum.map { abs($0 - derived) < 0.015 ? 0.8 : 0.45 } ?? 0.5, span: nil, source: .derived)
        case let (subtotal?, nil, total?) where total >= subtotal:
            let derived = round2(total - subtotal)
            set(.tax, .number(derived), confidence: 0.5, span: nil, source: .derived)
        case let (subtotal?, tax?, nil):
            set(.total, .number(round2(subtotal + tax)), confidence: 0.5, span: nil, source: .derived)
        case let (nil, nil, total?):
            if let itemSum, abs(itemSum - total) < 0.015 { adjust(.total, by: 0.1) }
        default: break
        }
        if let itemSum, let subtotal = fields[.subtotal]?.number {
            if abs(itemSum - subtotal) < 0.015 { adjust(.subtotal, by: 0.1) }
        }
        if let subtotal = fields[.subtotal]?.number, let tax = fields[.tax]?.number, subtotal > 0 {
            if let rate = fields[.taxRate]?.number {
                let delta = abs(subtotal * rate / 100 - tax) <= max(0.02, tax * 0.005) ? 0.2 : -0.25
                adjust(.taxRate, by: delta)
                adjust(.tax, by: delta / 2)
            } else if tax > 0 {
                let raw = tax / subtotal * 100
                let known = [2.1, 2.5, 3, 4, 5, 5.5, 6, 7, 7.7, 8, 8.1, 9, 10, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24, 25, 27]
                if let snapped = known.first(where: { abs($0 - raw) < 0.05 }) {
                    set(.taxRate, .number(snapped), confidence: 0.6, span: nil, source: .derived)
                }
            }
        }
        // The tax rate also rises when a total-only document states the rate and tax consistently.
        if fields[.subtotal] == nil, let total = fields[.total]?.number, let tax = fields[.tax]?.number, let rate = fields[.taxRate]?.number, rate > 0,
            abs((total - tax) * rate / 100 - tax) <= 0.02
        {
            adjust(.taxRate, by: 0.15)
        }
    }
}
