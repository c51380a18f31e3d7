import Foundation

/// The text of one document as lines, with a folded copy (lower case, no diacritics) kept one
/// Character for one Character, so offsets found in the folded copy are offsets into the text.
struct InvoiceText {
    struct Line {
        /// Character offset of the line's first character in the whole text.
        var start: Int
        var text: String
        var folded: [Character]
        var isBlank: Bool
    }

    let lines: [Line]
    let text: String

    /// Invoices are short: past these the text is not read (a hostile or huge text stays cheap).
    static let maxCharacters = 60_000
    static let maxLineLength = 500

    init(_ text: String) {
        self.text = text
        var lines: [Line] = []
        var start = 0
        for line in text.prefix(Self.maxCharacters).split(separator: "\n", omittingEmptySubsequences: false) {
            let string = String(line.prefix(Self.maxLineLength))
            let folded = string.map(Self.fold)
            lines.append(Line(start: start, text: string, folded: folded, isBlank: string.allSatisfy(\.isWhitespace)))
            start += line.count + 1
        }
        self.lines = lines
    }

    /// One Character folded to one Character: lower case, first scalar of its canonical decomposition.
    static func fold(_ character: Character) -> Character {
        let lower = character.lowercased()
        guard let scalar = lower.decomposedStringWithCanonicalMapping.unicodeScalars.first else { return character }
        if scalar == "\u{2019}" { return "'" }
        if scalar == "\u{00BA}" { return "\u{00B0}" }  // nº → n°
        return Character(scalar)
    }

    static func fold(_ text: String) -> [Character] { text.map(fold) }

    /// A label occurrence in a line: Character offsets within the line.
    struct Hit: Equatable {
        var label: String
        var lower: Int
        var upper: Int
        var length: Int { upper - lower }
    }

    /// Every occurrence of every label in `line`, on word boundaries.
    static func hits(of labels: [String], in line: Line) -> [Hit] {
        var found: [Hit] = []
        let haystack = line.folded
        for label in labels {
            let needle = Array(label.map(fold))
            guard !needle.isEmpty, needle.count <= haystack.count else { continue }
            var index = 0
            while index + needle.count <= haystack.count {
                var equal = true
                for offset in 0..<needle.count where haystack[index + offset] != needle[offset] {
                    // OCR reads the ordinal sign of "nº" as 2, e, ®, o...: any one character will do.
                    if needle[offset] == "°", !haystack[index + offset].isWhitespace { continue }
                    equal = false
                    break
                }
                if equal {
                    let before = index > 0 ? haystack[index - 1] : " "
                    let after = index + needle.count < haystack.count ? haystack[index + needle.count] : " "
                    let startsWord = !(needle[0].isLetter && before.isLetter)
                    let endsWord = !(needle[needle.count - 1].isLetter && after.isLetter)
                    if startsWord, endsWord {
                        found.append(Hit(label: label, lower: index, upper: index + needle.count))
                    }
                }
                index += 1
            }
        }
        return found
    }

    /// The longest hits that do not overlap a longer one, in order of position.
    static func dominant(_ hits: [Hit]) -> [Hit] {
        var kept: [Hit] = []
        for hit in hits.sorted(by: { $0.length > $1.length }) where !kept.contains(where: { $0.lower < hit.upper && hit.lower < $0.upper }) {
            kept.append(hit)
        }
        return kept.sorted { $0.lower < $1.lower }
    }

    /// The line with OCR's usual misreadings in identifiers undone, Character for Character (so
    /// offsets still hold): `1T` → `IT` before digits, and `O` → `0` after a two-letter country code
    /// in a token that is otherwise digits (VAT ids, IBANs).
    static func repairedIdentifiers(_ text: String) -> String {
        var characters = Array(text)
        var start = 0
        while start < characters.count {
            while start < characters.count, characters[start].isWhitespace { start += 1 }
            var end = start
            while end < characters.count, !characters[end].isWhitespace { end += 1 }
            if end - start >= 4 {
                if characters[start] == "1", characters[start + 1] == "T", characters[start + 2].isNumber { characters[start] = "I" }
                if characters[start].isUppercase, characters[start + 1].isUppercase {
                    for index in (start + 2)..<end where characters[index] == "O" {
                        let previous = characters[index - 1]
                        if previous.isNumber || index == start + 2 { characters[index] = "0" }
                    }
                }
            }
            start = end
        }
        return String(characters)
    }

    /// `Substring` of a line between Character offsets.
    static func slice(_ line: Line, _ lower: Int, _ upper: Int) -> String {
        let characters = Array(line.text)
        let lower = max(0, min(lower, characters.count))
        let upper = max(lower, min(upper, characters.count))
        return String(characters[lower..<upper])
    }

    /// An NSRange (UTF-16) inside `string` as Character offsets.
    static func characterRange(_ range: NSRange, in string: String) -> (Int, Int)? {
        guard let swiftRange = Range(range, in: string) else { return nil }
        let lower = string.distance(from: string.startIndex, to: swiftRange.lowerBound)
        return (lower, lower + string.distance(from: swiftRange.lowerBound, to: swiftRange.upperBound))
    }
}

/// An amount found on a line.
struct AmountToken {
    var value: Double
    var lower: Int
    var upper: Int
    var text: String
    var hasDecimals: Bool
}

enum AmountScanner {
    static let pattern = try? NSRegularExpression(
        pattern: #"(?<![\p{L}\d.,'’/-])(?:(?<=\s|^|[(€$£:])[-−])?(?:\d{1,3}(?:(?:[.,'’]|[ \u00A0\u202F])\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?![\p{L}\d/]|[.,]\d|\s?%)"#)

    /// Amount-like numbers on a line (percentages, dates' parts and numbers glued to words excluded).
    static func scan(_ text: String, decimalSeparator: Character?) -> [AmountToken] {
        guard let pattern else { return [] }
        let string = text as NSString
        var tokens: [AmountToken] = []
        for match in pattern.matches(in: text, range: NSRange(location: 0, length: string.length)) {
            let token = string.substring(with: match.range)
            guard let value = InvoiceAmount.parse(token, decimalSeparator: decimalSeparator),
                let (lower, upper) = InvoiceText.characterRange(match.range, in: text)
            else { continue }
            tokens.append(AmountToken(value: value, lower: lower, upper: upper, text: token, hasDecimals: InvoiceAmount.decimalSeparator(of: token) != nil))
        }
        return tokens
    }
}
