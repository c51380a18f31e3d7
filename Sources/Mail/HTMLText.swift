import Foundation

/// Readable text of an HTML mail body, for routing rules and people: no markup, comments,
/// scripts, styles or titles; character references decoded; whitespace collapsed as a browser
/// would; block elements become line breaks and paragraphs blank lines; table cells are
/// separated by a tab. A forgiving scanner, not a validating parser: any input gives some text.
public enum HTMLText {
    /// Elements whose content is never text for a reader.
    static let skippedElements: Set<String> = ["script", "style", "title", "noscript", "template"]
    /// Elements that stand apart by a blank line.
    static let paragraphElements: Set<String> = [
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "dl", "table", "pre", "hr", "figure", "address", "form", "fieldset",
    ]
    /// Elements that start on a new line.
    static let lineElements: Set<String> = [
        "div", "li", "tr", "section", "article", "header", "footer", "nav", "aside", "main", "dt", "dd", "caption", "center", "body", "html",
    ]

    public static func plainText(_ html: String) -> String {
        let s = Array(html.unicodeScalars)
        var out = TextBuilder()
        var pre = 0
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == "<" {
                if matches(s, at: i, "<!--") {
                    i = find(s, "-->", from: i + 4).map { $0 + 3 } ?? s.count
                    continue
                }
                if i + 1 < s.count, s[i + 1] == "!" || s[i + 1] == "?" {
                    i = find(s, ">", from: i + 1).map { $0 + 1 } ?? s.count
                    continue
                }
                var j = i + 1
                let closing = j < s.count && s[j] == "/"
                if closing { j += 1 }
                let nameStart = j
                while j < s.count, s[j].properties.isAlphabetic || ("0"..."9").contains(s[j]) { j += 1 }
                guard j > nameStart else {
                    out.append(c, preformatted: pre > 0)
                    i += 1
                    continue
                }
                let name = String(String.UnicodeScalarView(s[nameStart..<j])).lowercased()
                i = endOfTag(s, from: j)
                if !closing, skippedElements.contains(name) {
                    i = endOfElement(s, named: name, from: i)
                    continue
                }
                if name == "pre" { pre = max(0, pre + (closing ? -1 : 1)) }
                out.element(name, closing: closing)
                continue
            }
            if c == "&", let (decoded, next) = entity(s, at: i) {
                for scalar in decoded.unicodeScalars { out.append(scalar == "\u{00A0}" ? " " : scalar, preformatted: pre > 0) }
                i = next
                continue
            }
            out.append(c, preformatted: pre > 0)
            i += 1
        }
        return out.result
    }

    // MARK: Scanning

    private static func matches(_ s: [Unicode.Scalar], at index: Int, _ literal: String) -> Bool {
        var k = index
        for scalar in literal.unicodeScalars {
            guard k < s.count, asciiLowercased(s[k]) == asciiLowercased(scalar) else { return false }
            k += 1
        }
        return true
    }

    private static func asciiLowercased(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        guard ("A"..."Z").contains(scalar) else { return scalar }
        return Unicode.Scalar(UInt8(scalar.value + 32))
    }

    private static func find(_ s: [Unicode.Scalar], _ literal: String, from start: Int) -> Int? {
        guard let first = literal.unicodeScalars.first else { return nil }
        var k = start
        while k < s.count {
            if s[k] == first, matches(s, at: k, literal) { return k }
            k += 1
        }
        return nil
    }

    /// Index after the `>` closing a tag whose name ended at `start`; quoted attribute values
    /// may contain `>`.
    private static func endOfTag(_ s: [Unicode.Scalar], from start: Int) -> Int {
        var k = start
        var quote: Unicode.Scalar?
        var previous: Unicode.Scalar = " "
        while k < s.count {
            let d = s[k]
            if let open = quote {
                if d == open { quote = nil }
            } else if (d == "\"" || d == "'") && previous == "=" {
                quote = d
            } else if d == ">" {
                return k + 1
            }
            if d != " " && d != "\t" && d != "\n" && d != "\r" { previous = d }
            k += 1
        }
        return s.count
    }

    /// Index after `</name ...>`, case-insensitively; the end of input when it never closes.
    private static func endOfElement(_ s: [Unicode.Scalar], named name: String, from start: Int) -> Int {
        var k = start
        while let open = find(s, "</", from: k) {
            if matches(s, at: open + 2, name) {
                let after = open + 2 + name.unicodeScalars.count
                if after >= s.count || !(s[after].properties.isAlphabetic || ("0"..."9").contains(s[after])) {
                    return endOfTag(s, from: after)
                }
            }
            k = open + 2
        }
        return s.count
    }

    /// A character reference at `index` (`&amp;`, `&#233;`, `&#xE9;`) and the index after it;
    /// nil when it is not one (the `&` is then text).
    private static func entity(_ s: [Unicode.Scalar], at index: Int) -> (String, Int)? {
        var k = index + 1
        guard k < s.count else { return nil }
        if s[k] == "#" {
            k += 1
            var hex = false
            if k < s.count, s[k] == "x" || s[k] == "X" { hex = true; k += 1 }
            let digitsStart = k
            while k < s.count, k - digitsStart < 8, (hex ? s[k].properties.isASCIIHexDigit : ("0"..."9").contains(s[k])) { k += 1 }
            guard k > digitsStart, let value = UInt32(String(String.UnicodeScalarView(s[digitsStart..<k])), radix: hex ? 16 : 10) else { return nil }
            if k < s.count, s[k] == ";" { k += 1 }
            return (numericReference(value), k)
        }
        let nameStart = k
        while k < s.count, k - nameStart < 32, s[k].properties.isAlphabetic || ("0"..."9").contains(s[k]) { k += 1 }
        guard k > nameStart, k < s.count, s[k] == ";" else { return nil }
        let name = String(String.UnicodeScalarView(s[nameStart..<k]))
        guard let decoded = namedEntities[name] ?? namedEntities[name.lowercased()] else { return nil }
        return (decoded, k + 1)
    }

    /// Browsers read `&#128;`–`&#159;` as windows-1252; 0, surrogates and out-of-range become U+FFFD.
    private static func numericReference(_ value: UInt32) -> String {
        if (0x80...0x9F).contains(value) {
            let windows1252: [Unicode.Scalar?] = [
                "\u{20AC}", nil, "\u{201A}", "\u{0192}", "\u{201E}", "\u{2026}", "\u{2020}", "\u{2021}", "\u{02C6}", "\u{2030}", "\u{0160}", "\u{2039}", "\u{0152}", nil, "\u{017D}", nil,
                nil, "\u{2018}", "\u{2019}", "\u{201C}", "\u{201D}", "\u{2022}", "\u{2013}", "\u{2014}", "\u{02DC}", "\u{2122}", "\u{0161}", "\u{203A}", "\u{0153}", nil, "\u{017E}", "\u{0178}",
            ]
            return windows1252[Int(value - 0x80)].map { String($0) } ?? "\u{FFFD}"
        }
        guard value != 0, let scalar = Unicode.Scalar(value) else { return "\u{FFFD}" }
        return String(scalar)
    }

    /// HTML 4 entities: the Latin-1 block in code point order, then the rest that mail uses.
    static let namedEntities: [String: String] = {
        let latin1 = [
            "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf", "laquo", "not", "shy", "reg", "macr",
            "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
            "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml",
            "ETH", "Ntilde", "Ograve", "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN", "szlig",
            "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml",
            "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
        ]
        var table: [String: String] = [:]
        for (offset, name) in latin1.enumerated() {
            if let scalar = Unicode.Scalar(UInt32(0xA0 + offset)) { table[name] = String(scalar) }
        }
        let others: [String: UInt32] = [
            "quot": 0x22, "amp": 0x26, "apos": 0x27, "lt": 0x3C, "gt": 0x3E,
            "OElig": 0x152, "oelig": 0x153, "Scaron": 0x160, "scaron": 0x161, "Yuml": 0x178, "fnof": 0x192, "circ": 0x2C6, "tilde": 0x2DC,
            "ensp": 0x2002, "emsp": 0x2003, "thinsp": 0x2009, "zwnj": 0x200C, "zwj": 0x200D, "lrm": 0x200E, "rlm": 0x200F,
            "ndash": 0x2013, "mdash": 0x2014, "lsquo": 0x2018, "rsquo": 0x2019, "sbquo": 0x201A, "ldquo": 0x201C, "rdquo": 0x201D, "bdquo": 0x201E,
            "dagger": 0x2020, "Dagger": 0x2021, "bull": 0x2022, "hellip": 0x2026, "permil": 0x2030, "prime": 0x2032, "Prime": 0x2033,
            "lsaquo": 0x2039, "rsaquo": 0x203A, "oline": 0x203E, "euro": 0x20AC, "trade": 0x2122,
            "larr": 0x2190, "uarr": 0x2191, "rarr": 0x2192, "darr": 0x2193, "harr": 0x2194,
            "minus": 0x2212, "le": 0x2264, "ge": 0x2265, "ne": 0x2260, "infin": 0x221E, "asymp": 0x2248,
        ]
        for (name, value) in others {
            if let scalar = Unicode.Scalar(value) { table[name] = String(scalar) }
        }
        return table
    }()
}

/// Collects text with HTML's whitespace rules and block breaks.
private struct TextBuilder {
    private enum Gap { case none, space, tab }

    private var out = String.UnicodeScalarView()
    /// Newlines wanted before the next text (0, 1 or 2).
    private var pendingBreaks = 0
    private var pendingGap = Gap.none

    private var atLineStart: Bool { out.isEmpty || out.last == "\n" }

    mutating func append(_ scalar: Unicode.Scalar, preformatted: Bool) {
        if preformatted {
            flush()
            out.append(scalar == "\r" ? "\n" : scalar)
            return
        }
        if scalar.properties.isWhitespace {
            if pendingGap == .none { pendingGap = .space }
            return
        }
        flush()
        out.append(scalar)
    }

    mutating func element(_ name: String, closing: Bool) {
        if name == "br" {
            pendingBreaks = min(2, pendingBreaks + 1)
            pendingGap = .none
        } else if HTMLText.paragraphElements.contains(name) {
            pendingBreaks = 2
            pendingGap = .none
        } else if HTMLText.lineElements.contains(name) {
            pendingBreaks = max(pendingBreaks, 1)
            pendingGap = .none
        } else if (name == "td" || name == "th") && !closing {
            pendingGap = .tab
        }
    }

    private mutating func flush() {
        if pendingBreaks > 0 {
            if !out.isEmpty {
                while let last = out.last, last == " " || last == "\t" { out.removeLast() }
                // A break after an existing blank line adds nothing.
                let existing = out.reversed().prefix { $0 == "\n" }.count
                for _ in 0..<max(0, pendingBreaks - existing) { out.append("\n") }
            }
            pendingBreaks = 0
            pendingGap = .none
            return
        }
        if !atLineStart {
            switch pendingGap {
            case .none: break
            case .space: out.append(" ")
            case .tab: out.append("\t")
            }
        }
        pendingGap = .none
    }

    var result: String {
        let lines = String(out).split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var line = Substring(line)
            while let last = line.last, last == " " || last == "\t" { line = line.dropLast() }
            return String(line)
        }
        return lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
