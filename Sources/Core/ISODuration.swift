public import Foundation

/// ISO 8601 durations as the configuration and the CLI write them (`PT30M`, `PT1H30M`, `P1D`,
/// `P2W`, `P1DT12H`). Only exact units: weeks, days (always 24 hours: a scheduling buffer or
/// notice is elapsed time, not calendar arithmetic), hours, minutes and whole seconds. Years and
/// months are refused because their length varies.
public enum ISODuration {
    /// Seconds, or nil when `text` is not such a duration (or is negative / too large).
    public static func parse(_ text: String) -> TimeInterval? {
        var rest = Substring(text.uppercased())
        guard rest.first == "P", rest.count > 1 else { return nil }
        rest = rest.dropFirst()
        var total: Double = 0
        var inTime = false
        var sawUnit = false
        var number = ""
        for character in rest {
            if character.isASCII, character.isNumber {
                number.append(character)
                continue
            }
            if character == "T" {
                guard !inTime, number.isEmpty else { return nil }
                inTime = true
                continue
            }
            guard !number.isEmpty, number.count <= 9, let value = Double(number) else { return nil }
            number = ""
            let unit: Double
            switch (character, inTime) {
            case ("W", false): unit = 604_800
            case ("D", false): unit = 86_400
            case ("H", true): unit = 3_600
            case ("M", true): unit = 60
            case ("S", true): unit = 1
            default: return nil
            }
            total += value * unit
            sawUnit = true
        }
        guard number.isEmpty, sawUnit, !(inTime && rest.last == "T") else { return nil }
        return total
    }

    /// The shortest form of whole seconds: `PT30M`, `PT1H30M`, `P1D`, `PT0S`.
    public static func format(_ seconds: TimeInterval) -> String {
        var remaining = Int(seconds.rounded())
        guard remaining > 0 else { return "PT0S" }
        let days = remaining / 86_400
        remaining %= 86_400
        var text = "P"
        if days > 0 { text += "\(days)D" }
        guard remaining > 0 else { return text }
        text += "T"
        if remaining >= 3_600 { text += "\(remaining / 3_600)H" }
        remaining %= 3_600
        if remaining >= 60 { text += "\(remaining / 60)M" }
        if remaining % 60 > 0 { text += "\(remaining % 60)S" }
        return text
    }
}
