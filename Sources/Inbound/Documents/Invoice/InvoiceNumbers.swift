import Foundation

/// Amounts as invoices print them: 1,234.56 / 1.234,56 / 1 234,56 / 1'234.56 / 1234,56 / -12.50.
public enum InvoiceAmount {
    /// Parses one amount token. `decimalSeparator` settles a lone separator followed by three digits
    /// ("1.234"): with `,` as the document's decimal separator it is a thousands separator.
    public static func parse(_ token: String, decimalSeparator: Character? = nil) -> Double? {
        var text = token.trimmingCharacters(in: .whitespaces)
        var negative = false
        if let first = text.first, first == "-" || first == "−" {
            negative = true
            text.removeFirst()
        }
        guard let firstDigit = text.first, firstDigit.isASCII, firstDigit.isNumber else { return nil }
        var digits = ""
        var separators: [(Character, Int)] = []  // separator and the count of digits after it
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
                if !separators.isEmpty { separators[separators.count - 1].1 += 1 }
            } else if ".,'’ \u{00A0}\u{202F}".contains(character) {
                separators.append((character, 0))
            } else {
                return nil
            }
        }
        var decimals = 0
        if let last = separators.last {
            let isSpaceLike = " '’\u{00A0}\u{202F}".contains(last.0)
            let kinds = Set(separators.map(\.0))
            if isSpaceLike {
                decimals = 0
            } else if kinds.count > 1 || last.1 != 3 {
                decimals = last.1
            } else if separators.count > 1 {
                decimals = 0  // 1.234.567
            } else {
                decimals = decimalSeparator == last.0 ? 3 : 0
            }
            // Every separator but a decimal one must close a group of three.
            let groups = decimals > 0 ? separators.dropLast() : separators[...]
            guard groups.allSatisfy({ $0.1 == 3 }) else { return nil }
            guard decimals <= 3 else { return nil }
        }
        guard var value = Double(digits) else { return nil }
        if decimals > 0 { value /= pow(10, Double(decimals)) }
        return negative ? -value : value
    }

    /// The decimal separator of a token that has a decimal part (`12,50` → `,`), or nil.
    static func decimalSeparator(of token: String) -> Character? {
        let characters = Array(token)
        guard characters.count >= 3 else { return nil }
        let separator = characters[characters.count - 3]
        guard separator == "." || separator == ",", characters.suffix(2).allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return separator
    }
}

/// Dates as invoices print them, in English, German, French, Spanish, Dutch and Italian.
public enum InvoiceDate {
    /// Month names and their usual abbreviations, folded (lower case, no diacritics).
    static let months: [[String]] = [
        ["january", "januar", "janvier", "enero", "januari", "gennaio", "jan", "janv", "ene", "gen", "jänner"],
        ["february", "februar", "fevrier", "febrero", "februari", "febbraio", "feb", "fev", "fevr", "febr"],
        ["march", "marz", "maerz", "mars", "marzo", "maart", "mar", "mrt"],
        ["april", "avril", "abril", "aprile", "apr", "avr", "abr"],
        ["may", "mai", "mayo", "mei", "maggio", "mag"],
        ["june", "juni", "juin", "junio", "giugno", "jun", "giu"],
        ["july", "juli", "juillet", "julio", "luglio", "jul", "juil", "lug"],
        ["august", "aout", "agosto", "augustus", "aug", "ago"],
        ["september", "septembre", "septiembre", "settembre", "sep", "sept", "set"],
        ["october", "oktober", "octobre", "octubre", "ottobre", "oct", "okt", "ott"],
        ["november", "novembre", "noviembre", "nov"],
        ["december", "dezember", "decembre", "diciembre", "dicembre", "dec", "dez", "dic"],
    ]

    /// The month (1...12) a word names, full or abbreviated (at least three letters), or nil.
    public static func month(named word: String) -> Int? {
        let folded = fold(word).trimmingCharacters(in: CharacterSet(charactersIn: "."))
        guard folded.count >= 3 else { return nil }
        for (index, names) in months.enumerated() where names.contains(folded) { return index + 1 }
        guard folded.count >= 4 else { return nil }
        for (index, names) in months.enumerated() where names.contains(where: { $0.count > folded.count && $0.hasPrefix(folded) }) {
            return index + 1
        }
        return nil
    }

    static func fold(_ text: String) -> String {
        text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil).lowercased()
    }

    /// A date found in text: its parts before the day/month order is settled.
    struct Candidate {
        var range: NSRange
        var first: Int
        var second: Int
        var year: Int
        /// Set when the text fixes the order (month name, ISO, dotted European dates).
        var month: Int?
        var separator: Character?

        func resolved(order: DateOrder) -> String? {
            let (day, monthValue): (Int, Int)
            if let month {
                (day, monthValue) = (first, month)
            } else if order == .monthDay {
                (day, monthValue) = (second, first)
            } else {
                (day, monthValue) = (first, second)
            }
            var components = DateComponents()
            components.year = year
            components.month = monthValue
            components.day = day
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
            guard (1...12).contains(monthValue), (1...31).contains(day), (1900...2200).contains(year),
                let date = calendar.date(from: components),
                calendar.component(.day, from: date) == day
            else { return nil }
            return String(format: "%04d-%02d-%02d", year, monthValue, day)
        }
    }

    // Compiled once; the patterns are constants, so a failure is a programming error caught by tests.
    static let numeric = try? NSRegularExpression(pattern: #"(?<![\d./-])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\d]|[./-]\d)"#)
    static let iso = try? NSRegularExpression(pattern: #"(?<![\d./-])(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)"#)
    static let dayMonthName = try? NSRegularExpression(
        pattern: #"(?<![\d\p{L}])(\d{1,2})(?:st|nd|rd|th|er|º)?\.?\s*(?:de\s+)?(\p{L}{3,10})\.?,?\s*(?:de\s+)?(\d{4})(?!\d)"#)
    static let monthNameDay = try? NSRegularExpression(
        pattern: #"(?<!\p{L})(\p{L}{3,10})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?!\d)"#)

    static func candidates(in text: String) -> [Candidate] {
        let string = text as NSString
        let whole = NSRange(location: 0, length: string.length)
        func int(_ match: NSTextCheckingResult, _ group: Int) -> Int? {
            let range = match.range(at: group)
            return range.location == NSNotFound ? nil : Int(string.substring(with: range))
        }
        var found: [Candidate] = []
        func overlaps(_ range: NSRange) -> Bool { found.contains { NSIntersectionRange($0.range, range).length > 0 } }
        for match in iso?.matches(in: text, range: whole) ?? [] {
            if let year = int(match, 1), let month = int(match, 2), let day = int(match, 3) {
                found.append(Candidate(range: match.range, first: day, second: month, year: year, month: month, separator: "-"))
            }
        }
        for match in dayMonthName?.matches(in: text, range: whole) ?? [] where !overlaps(match.range) {
            let name = string.substring(with: match.range(at: 2))
            if let day = int(match, 1), let month = month(named: name), let year = int(match, 3) {
                found.append(Candidate(range: match.range, first: day, second: month, year: year, month: month))
            }
        }
        for match in monthNameDay?.matches(in: text, range: whole) ?? [] where !overlaps(match.range) {
            let name = string.substring(with: match.range(at: 1))
            if let month = month(named: name), let day = int(match, 2), let year = int(match, 3) {
                found.append(Candidate(range: match.range, first: day, second: month, year: year, month: month))
            }
        }
        for match in numeric?.matches(in: text, range: whole) ?? [] where !overlaps(match.range) {
            guard let first = int(match, 1), let second = int(match, 3), var year = int(match, 4) else { continue }
            if year < 100 { year += 2000 }
            let separator = Character(string.substring(with: match.range(at: 2)))
            // Dotted dates are day-first everywhere they are written.
            let month: Int? = separator == "." ? second : nil
            found.append(Candidate(range: match.range, first: first, second: second, year: year, month: month, separator: separator))
        }
        return found.sorted { $0.range.location < $1.range.location }
    }

    /// The day/month order the document's own all-numeric dates imply (a part above 12 settles it), or nil.
    static func impliedOrder(_ candidates: [Candidate]) -> DateOrder? {
        var dayFirst = 0
        var monthFirst = 0
        for candidate in candidates where candidate.month == nil {
            if candidate.first > 12, candidate.second <= 12 { dayFirst += 1 }
            if candidate.second > 12, candidate.first <= 12 { monthFirst += 1 }
        }
        if dayFirst > monthFirst { return .dayMonth }
        if monthFirst > dayFirst { return .monthDay }
        return nil
    }

    /// Parses one date on its own (`31.12.2025`, `December 31, 2025`, `31 de diciembre de 2025`, ...)
    /// to ISO 8601 `YYYY-MM-DD`; an all-numeric date uses `order` (day first by default).
    public static func parse(_ text: String, order: DateOrder = .dayMonth) -> String? {
        candidates(in: text).first?.resolved(order: order)
    }
}

/// International bank account numbers (ISO 13616) and bank identifier codes (ISO 9362).
public enum IBAN {
    /// Lengths per country for the SEPA area and common others.
    static let lengths: [String: Int] = [
        "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24,
        "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20,
        "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19,
        "SK": 24, "SM": 27, "TR": 26,
    ]

    /// True when `iban` (no spaces, upper case) has its country's length and passes the mod-97 check.
    public static func isValid(_ iban: String) -> Bool {
        let characters = Array(iban)
        guard characters.count >= 15, characters.count <= 34, characters.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isUppercase) }) else {
            return false
        }
        let country = String(characters[0..<2])
        if let length = lengths[country], length != characters.count { return false }
        guard characters[2].isNumber, characters[3].isNumber else { return false }
        var remainder = 0
        for character in characters[4...] + characters[0..<4] {
            guard let value = character.isNumber ? character.wholeNumberValue : character.asciiValue.map({ Int($0) - 55 }) else { return false }
            remainder = (remainder * (value >= 10 ? 100 : 10) + value) % 97
        }
        return remainder == 1
    }

    /// Finds a valid IBAN starting at a country code in `text` (spaces between groups allowed);
    /// returns the normalized IBAN and the number of characters of `text` it spans.
    static func read(_ text: Substring) -> (iban: String, length: Int)? {
        var compact = ""
        var consumed: [Int] = []  // characters consumed for each compact character
        var count = 0
        for character in text {
            count += 1
            if character == " " { continue }
            guard character.isASCII, character.isLetter || character.isNumber else { break }
            compact.append(Character(character.uppercased()))
            consumed.append(count)
            if compact.count >= 34 { break }
        }
        guard compact.count >= 15, compact.prefix(2).allSatisfy(\.isLetter) else { return nil }
        let country = String(compact.prefix(2))
        let candidates = lengths[country].map { [$0] } ?? Array((15...min(34, compact.count)).reversed())
        for length in candidates where length <= compact.count {
            let iban = String(compact.prefix(length))
            if isValid(iban) { return (iban, consumed[length - 1]) }
            // OCR reads 0 as O and 1 as I or l in all-digit positions.
            let repaired = String(iban.prefix(2)) + iban.dropFirst(2).map { $0 == "O" ? "0" : $0 == "I" ? "1" : $0 }.map(String.init).joined()
            if repaired != iban, isValid(repaired) { return (repaired, consumed[length - 1]) }
        }
        return nil
    }
}
